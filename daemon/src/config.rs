//! `pend.toml`: the daemon's configuration file. Every key is a command-line flag of the
//! same name; a flag given on the command line wins over the file, the file over the
//! defaults. Unknown keys and bad values are errors that name the file, the line and the key,
//! so a typo never silently leaves a default (a wrong group, a longer calibration age) in
//! force. `pend --check-config` reads the file, checks every value and exits.
//!
//! Where the file is: `--config PATH`; else, for the system service (under systemd, or run
//! as root), `$CONFIGURATION_DIRECTORY/pend.toml` or `/etc/pend/pend.toml`; else the user's
//! config directory (`~/.config/pend/pend.toml`). A missing file at a default place means
//! defaults; a missing file named by `--config` is an error.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The keys of `pend.toml`, in the order the example file documents them.
pub const KEYS: &[&str] = &[
    "socket",
    "json-socket",
    "no-json-socket",
    "socket-group",
    "state-dir",
    "trusted-keys",
    "usb-id",
    "no-usb",
    "sim",
    "sim-socket",
    "operator-group",
    "technician-group",
    "service-group",
    "max-gauge-age-days",
    "max-calibration-age-days",
    "log-level",
];

/// What `pend.toml` may say. Every field is optional: absent means the flag's default.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Socket to listen on.
    pub socket: Option<PathBuf>,
    /// Socket for JSON clients.
    pub json_socket: Option<PathBuf>,
    /// Serve no JSON socket.
    pub no_json_socket: Option<bool>,
    /// Group of the sockets.
    pub socket_group: Option<String>,
    /// Where records are kept.
    pub state_dir: Option<PathBuf>,
    /// Trusted limits keys.
    pub trusted_keys: Option<PathBuf>,
    /// USB VID:PID of pens, hex.
    pub usb_id: Option<String>,
    /// Leave USB alone.
    pub no_usb: Option<bool>,
    /// Simulated pens to attach.
    pub sim: Option<usize>,
    /// `pen-sim` sockets to attach.
    pub sim_socket: Option<Vec<PathBuf>>,
    /// Operators' group.
    pub operator_group: Option<String>,
    /// Technicians' group.
    pub technician_group: Option<String>,
    /// Field service's group.
    pub service_group: Option<String>,
    /// Oldest gauge calibration accepted, days.
    pub max_gauge_age_days: Option<i64>,
    /// Oldest pen calibration accepted for treatment, days.
    pub max_calibration_age_days: Option<u64>,
    /// Log level.
    pub log_level: Option<String>,
}

/// The configuration file is wrong or unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The line (1-based), when known.
    pub line: Option<usize>,
    /// The key, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about `key` in `path` (a value that parsed but means nothing), on the line
    /// that sets it.
    pub fn for_key(path: &Path, key: &str, message: impl Into<String>) -> ConfigError {
        let line = std::fs::read_to_string(path).ok().and_then(|text| {
            text.lines().position(|line| {
                line.split_once('=')
                    .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
            })
        });
        ConfigError {
            path: path.to_path_buf(),
            line: line.map(|l| l + 1),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

/// Parses the text of a configuration file; `path` is only for messages.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let span_start = error.span().map(|span| span.start);
        let line = span_start.map(|start| text[..start.min(text.len())].matches('\n').count() + 1);
        let key = line
            .and_then(|line| text.lines().nth(line - 1))
            .and_then(|source| source.split_once('='))
            .map(|(key, _)| key.trim().trim_matches('"').to_string())
            .filter(|key| !key.is_empty() && !key.starts_with('['));
        ConfigError {
            path: path.to_path_buf(),
            line,
            key,
            // toml's message is its first line; the rest is a source excerpt we replace.
            message: error
                .message()
                .lines()
                .next()
                .unwrap_or("invalid")
                .to_string(),
        }
    })
}

/// Reads the file at `path`. A file that does not exist gives `Ok(None)`.
pub fn load(path: &Path) -> Result<Option<FileConfig>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read it: {error}"),
        }),
    }
}

/// Where the configuration file is when `--config` does not say.
pub fn default_config_path() -> PathBuf {
    if let Some(dir) = crate::paths::systemd_directory("CONFIGURATION_DIRECTORY") {
        return dir.join("pend.toml");
    }
    if crate::paths::system_mode() {
        return PathBuf::from("/etc/pend/pend.toml");
    }
    directories::ProjectDirs::from("", "", "pend")
        .map(|dirs| dirs.config_dir().join("pend.toml"))
        .unwrap_or_else(|| PathBuf::from("/etc/pend/pend.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../udev/pend.toml");

    fn path() -> &'static Path {
        Path::new("/etc/pend/pend.toml")
    }

    #[test]
    fn a_good_file_reads_every_kind_of_value() {
        let config = parse(
            path(),
            "socket = \"/run/pend/pend.sock\"\nno-usb = true\nsim = 2\n\
             sim-socket = [\"/tmp/a.sock\"]\nmax-gauge-age-days = 180\nusb-id = \"1209:0001\"\n",
        )
        .unwrap();
        assert_eq!(
            config.socket.as_deref(),
            Some(Path::new("/run/pend/pend.sock"))
        );
        assert_eq!(config.no_usb, Some(true));
        assert_eq!(config.sim, Some(2));
        assert_eq!(config.sim_socket, Some(vec![PathBuf::from("/tmp/a.sock")]));
        assert_eq!(config.max_gauge_age_days, Some(180));
        assert_eq!(config.operator_group, None);
    }

    #[test]
    fn an_unknown_key_names_the_file_line_and_key() {
        let error = parse(path(), "sim = 1\n\nmax-calibration-age = 30\n").unwrap_err();
        assert_eq!(error.line, Some(3));
        assert_eq!(error.key.as_deref(), Some("max-calibration-age"));
        let shown = error.to_string();
        assert!(
            shown.starts_with(
                "/etc/pend/pend.toml, line 3, key `max-calibration-age`: unknown field"
            ),
            "{shown}"
        );
        assert!(
            shown.contains("max-calibration-age-days"),
            "suggests the real keys: {shown}"
        );
    }

    #[test]
    fn a_bad_value_names_the_file_line_and_key() {
        let error = parse(path(), "sim = 1\nmax-gauge-age-days = \"a year\"\n").unwrap_err();
        assert_eq!(error.line, Some(2));
        assert_eq!(error.key.as_deref(), Some("max-gauge-age-days"));
        assert!(error.message.contains("invalid type"), "{error}");
        let error = parse(path(), "sim = -3\n").unwrap_err();
        assert_eq!((error.line, error.key.as_deref()), (Some(1), Some("sim")));
    }

    #[test]
    fn broken_toml_says_where() {
        let error = parse(path(), "sim = 1\nsocket = \n").unwrap_err();
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn the_example_file_documents_every_key_and_parses_with_them_all_set() {
        let mut uncommented = String::new();
        for line in EXAMPLE.lines() {
            // Settings are commented out as `# key = value`; prose has no ` = `.
            if let Some(setting) = line.strip_prefix("# ").filter(|l| l.contains(" = ")) {
                uncommented.push_str(setting);
                uncommented.push('\n');
            }
        }
        let config = parse(Path::new("udev/pend.toml"), &uncommented).unwrap();
        for key in KEYS {
            assert!(
                uncommented
                    .lines()
                    .any(|l| l.starts_with(&format!("{key} = "))),
                "the example does not document `{key}`"
            );
        }
        assert_eq!(uncommented.lines().count(), KEYS.len(), "{uncommented}");
        assert!(config.socket.is_some() && config.log_level.is_some());
    }

    #[test]
    fn a_missing_file_is_no_configuration() {
        assert_eq!(load(Path::new("/nonexistent/pend.toml")), Ok(None));
    }
}
