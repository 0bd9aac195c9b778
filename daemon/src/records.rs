//! The daemon's durable records: one SQLite database in the state directory.
//!
//! Calibration records are stored whole (as the JSON of the certificate) in one row each,
//! inserted in a transaction with `synchronous = FULL`: after a crash a record is either
//! all there or not there at all, never half-written.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

/// The records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The database could not be opened.
    #[error("cannot open the records database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The state directory could not be made.
    #[error("cannot create the state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A query failed (disk full, I/O error...).
    #[error("the records database failed: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// A stored calibration record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCalibration {
    /// Its number.
    pub id: u64,
    /// The record, as JSON.
    pub json: String,
}

/// The records database.
#[derive(Clone)]
pub struct RecordStore {
    db: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore")
            .field("path", &self.path)
            .finish()
    }
}

impl RecordStore {
    /// Opens (or creates) `records.sqlite3` in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<RecordStore, RecordError> {
        std::fs::create_dir_all(state_dir).map_err(|source| RecordError::Dir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join("records.sqlite3");
        let open_error = |source| RecordError::Open {
            path: path.clone(),
            source,
        };
        let db = Connection::open(&path).map_err(open_error)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS calibrations (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 pen TEXT NOT NULL,
                 started_at INTEGER NOT NULL,
                 finished_at INTEGER NOT NULL,
                 passed INTEGER NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS calibrations_by_pen ON calibrations (pen, id);
             CREATE TABLE IF NOT EXISTS audit (
                 id INTEGER PRIMARY KEY,
                 at INTEGER NOT NULL,
                 uid INTEGER NOT NULL,
                 user TEXT NOT NULL,
                 role TEXT NOT NULL,
                 action TEXT NOT NULL,
                 pen TEXT NOT NULL,
                 outcome TEXT NOT NULL,
                 details TEXT NOT NULL,
                 previous TEXT NOT NULL,
                 hash TEXT NOT NULL
             );
             CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
             BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
             CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
             BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",
        )
        .map_err(open_error)?;
        Ok(RecordStore {
            db: Arc::new(Mutex::new(db)),
            path,
        })
    }

    /// Runs `work` on the database on a blocking thread.
    pub(crate) async fn with_db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, RecordError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut db = db.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut db)
        })
        .await
        .expect("database work does not panic")
        .map_err(RecordError::Sql)
    }

    /// Stores a calibration record; returns its number. `record` is built from the number
    /// (the certificate carries it), so it is a function of it.
    pub async fn add_calibration(
        &self,
        pen: &str,
        started_at: u64,
        finished_at: u64,
        passed: bool,
        record: impl FnOnce(u64) -> String + Send + 'static,
    ) -> Result<u64, RecordError> {
        let pen = pen.to_string();
        self.with_db(move |db| {
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO calibrations (pen, started_at, finished_at, passed, record)
                 VALUES (?1, ?2, ?3, ?4, '')",
                params![pen, started_at as i64, finished_at as i64, passed],
            )?;
            let id = tx.last_insert_rowid() as u64;
            tx.execute(
                "UPDATE calibrations SET record = ?1 WHERE id = ?2",
                params![record(id), id as i64],
            )?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// The latest calibration record of `pen`.
    pub async fn latest_calibration(
        &self,
        pen: &str,
    ) -> Result<Option<StoredCalibration>, RecordError> {
        let pen = pen.to_string();
        self.with_db(move |db| {
            db.query_row(
                "SELECT id, record FROM calibrations WHERE pen = ?1 ORDER BY id DESC LIMIT 1",
                params![pen],
                |row| {
                    Ok(StoredCalibration {
                        id: row.get::<_, i64>(0)? as u64,
                        json: row.get(1)?,
                    })
                },
            )
            .optional()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        assert_eq!(store.latest_calibration("P1").await.unwrap(), None);
        let first = store
            .add_calibration("P1", 1, 2, true, |id| format!("{{\"id\":{id}}}"))
            .await
            .unwrap();
        let second = store
            .add_calibration("P1", 3, 4, false, |id| format!("{{\"id\":{id}}}"))
            .await
            .unwrap();
        assert_eq!((first, second), (1, 2));
        drop(store);
        let store = RecordStore::open(dir.path()).unwrap();
        assert_eq!(
            store.latest_calibration("P1").await.unwrap(),
            Some(StoredCalibration {
                id: 2,
                json: "{\"id\":2}".into()
            })
        );
        assert_eq!(store.latest_calibration("P2").await.unwrap(), None);
    }
}
