//! Where the daemon's socket lives when nobody says.

use std::path::{Path, PathBuf};

/// Environment variable naming the socket, for `pend` and its clients alike.
pub const SOCKET_ENV: &str = "PEND_SOCKET";

/// Environment variable naming the JSON socket.
pub const JSON_SOCKET_ENV: &str = "PEND_JSON_SOCKET";

/// Where records are kept by default: the user's data directory
/// (`~/.local/share/pend`), or `/var/lib/pend` for root.
pub fn default_state_dir() -> PathBuf {
    if rustix::process::getuid().is_root() {
        return PathBuf::from("/var/lib/pend");
    }
    directories::ProjectDirs::from("", "", "pend")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("pend-state"))
}

/// Where the trusted limits-signing keys are by default: `/etc/pend/keys` for root, else
/// the user's config directory (`~/.config/pend/keys`).
pub fn default_trusted_keys_dir() -> PathBuf {
    if rustix::process::getuid().is_root() {
        return PathBuf::from("/etc/pend/keys");
    }
    directories::ProjectDirs::from("", "", "pend")
        .map(|dirs| dirs.config_dir().join("keys"))
        .unwrap_or_else(|| PathBuf::from("/etc/pend/keys"))
}

/// The JSON socket beside the main one: `pend.sock` -> `pend.json.sock`.
pub fn json_socket_beside(main: &Path) -> PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pend".into());
    main.with_file_name(format!("{stem}.json.sock"))
}

/// The default socket path: `$XDG_RUNTIME_DIR/pend/pend.sock` when there is a user runtime
/// directory, `/run/pend/pend.sock` for root without one, else a per-user folder under the
/// system's temporary directory.
pub fn default_socket_path() -> PathBuf {
    let uid = rustix::process::getuid().as_raw();
    let dir = match directories::BaseDirs::new().and_then(|d| d.runtime_dir().map(PathBuf::from)) {
        Some(runtime) => runtime.join("pend"),
        None if uid == 0 => PathBuf::from("/run/pend"),
        None => std::env::temp_dir().join(format!("pend-{uid}")),
    };
    dir.join("pend.sock")
}

/// The socket path to use: `explicit` if given, else `$PEND_SOCKET`, else the default.
pub fn socket_path(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from))
        .unwrap_or_else(default_socket_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_socket_sits_beside_the_main_one() {
        assert_eq!(
            json_socket_beside(Path::new("/run/pend/pend.sock")),
            Path::new("/run/pend/pend.json.sock")
        );
        assert_eq!(
            json_socket_beside(Path::new("/tmp/x/other")),
            Path::new("/tmp/x/other.json.sock")
        );
    }
}
