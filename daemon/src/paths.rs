//! Where the daemon's files live when nobody says: systemd's directories for the service
//! (`StateDirectory=`, `RuntimeDirectory=`, `ConfigurationDirectory=`), else the user's.

use std::path::{Path, PathBuf};

/// Environment variable naming the socket, for `pend` and its clients alike.
pub const SOCKET_ENV: &str = "PEND_SOCKET";

/// Environment variable naming the JSON socket.
pub const JSON_SOCKET_ENV: &str = "PEND_JSON_SOCKET";

/// A directory systemd gave the service through `variable` (`STATE_DIRECTORY` and the
/// like; the first, if it lists several).
pub fn systemd_directory(variable: &str) -> Option<PathBuf> {
    let value = std::env::var_os(variable)?;
    let first = value.to_string_lossy().split(':').next()?.to_string();
    (!first.is_empty()).then(|| PathBuf::from(first))
}

/// Whether pend runs as the system service: started by systemd with its directories, or as
/// root.
pub fn system_mode() -> bool {
    systemd_directory("STATE_DIRECTORY").is_some()
        || systemd_directory("RUNTIME_DIRECTORY").is_some()
        || rustix::process::getuid().is_root()
}

/// Where records are kept by default: `$STATE_DIRECTORY` under systemd, the user's data
/// directory (`~/.local/share/pend`), or `/var/lib/pend` for root.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = systemd_directory("STATE_DIRECTORY") {
        return dir;
    }
    if rustix::process::getuid().is_root() {
        return PathBuf::from("/var/lib/pend");
    }
    directories::ProjectDirs::from("", "", "pend")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("pend-state"))
}

/// Where the trusted limits-signing keys are by default: `keys` in systemd's
/// `$CONFIGURATION_DIRECTORY`, `/etc/pend/keys` for root, else the user's config directory
/// (`~/.config/pend/keys`).
pub fn default_trusted_keys_dir() -> PathBuf {
    if let Some(dir) = systemd_directory("CONFIGURATION_DIRECTORY") {
        return dir.join("keys");
    }
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

/// The system service's socket.
pub const SYSTEM_SOCKET: &str = "/run/pend/pend.sock";

/// The default socket path: `pend.sock` in systemd's `$RUNTIME_DIRECTORY`, else
/// `$XDG_RUNTIME_DIR/pend/pend.sock` when there is a user runtime directory,
/// `/run/pend/pend.sock` for root without one, else a per-user folder under the system's
/// temporary directory.
pub fn default_socket_path() -> PathBuf {
    if let Some(dir) = systemd_directory("RUNTIME_DIRECTORY") {
        return dir.join("pend.sock");
    }
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

/// The socket a client uses: as [`socket_path`], except that when no pend of the user's own
/// listens at the default place and the system service's socket exists, that one.
pub fn client_socket_path(explicit: Option<PathBuf>) -> PathBuf {
    let chosen = socket_path(explicit.clone());
    let named = explicit.is_some() || std::env::var_os(SOCKET_ENV).is_some();
    if !named && !chosen.exists() && Path::new(SYSTEM_SOCKET).exists() {
        return PathBuf::from(SYSTEM_SOCKET);
    }
    chosen
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
