//! The limits-signing keys this daemon trusts: a directory of public key files.
//!
//! `DIR/*.pub` are trusted; `DIR/retired/*.pub` are known but retired: bundles signed with
//! them are refused, with a message that says so. Rotating keys is adding the new key's file
//! and moving the old one into `retired/`; the directory is read whenever a bundle is
//! checked, so no restart is needed.

use std::path::{Path, PathBuf};

use pen_protocol::limits::{keyfile, TrustedKey};

/// A key directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyDirError {
    /// A key file is not a public key file.
    #[error("{path} is not a limits public key file (expected one line: pen-limits ed25519 public <64 hex digits>)")]
    BadFile {
        /// The file.
        path: PathBuf,
    },
    /// The directory or a file could not be read.
    #[error("cannot read the trusted keys in {path}: {source}")]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn read_keys(dir: &Path, retired: bool, into: &mut Vec<TrustedKey>) -> Result<(), KeyDirError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(KeyDirError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| KeyDirError::Io {
            path: path.clone(),
            source,
        })?;
        let public = keyfile::parse_public(&text).ok_or(KeyDirError::BadFile { path })?;
        into.push(TrustedKey { public, retired });
    }
    Ok(())
}

/// The keys in `dir`: trusted ones first, then retired ones. A missing directory trusts
/// nothing (pens without a bundle keep the default limits; bundles are refused).
pub fn load_trusted_keys(dir: &Path) -> Result<Vec<TrustedKey>, KeyDirError> {
    let mut keys = Vec::new();
    read_keys(dir, false, &mut keys)?;
    read_keys(&dir.join("retired"), true, &mut keys)?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pen_protocol::limits::public_key;

    #[test]
    fn active_and_retired_keys_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("retired")).unwrap();
        let (new, old) = (public_key(&[1; 32]), public_key(&[2; 32]));
        std::fs::write(dir.path().join("new.pub"), keyfile::format_public(&new)).unwrap();
        std::fs::write(
            dir.path().join("retired/old.pub"),
            keyfile::format_public(&old),
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let keys = load_trusted_keys(dir.path()).unwrap();
        assert_eq!(
            keys,
            [
                TrustedKey {
                    public: new,
                    retired: false
                },
                TrustedKey {
                    public: old,
                    retired: true
                }
            ]
        );
        assert!(load_trusted_keys(&dir.path().join("missing"))
            .unwrap()
            .is_empty());
        std::fs::write(dir.path().join("bad.pub"), "nonsense").unwrap();
        assert!(matches!(
            load_trusted_keys(dir.path()),
            Err(KeyDirError::BadFile { .. })
        ));
    }
}
