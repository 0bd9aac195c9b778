//! The audit trail: append-only, durable, tamper-evident.
//!
//! Entries live in the records database, one row each, appended in a transaction with
//! `synchronous = FULL`: a crash leaves the trail as it was before the entry or with the
//! whole entry, never half of one. Each entry carries the SHA-256 of its own fields and the
//! previous entry's hash, so changing, removing or reordering any row breaks the chain from
//! that row on; [`verify`] names the first broken one.

use pen_protocol::api::{ApiError, AuditEntry, ErrorKind, Request, Response};
use pen_protocol::Micrometres;
use rusqlite::params;
use sha2::{Digest, Sha256};

use crate::records::{RecordError, RecordStore};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is being recorded (the id, time and hash are the trail's to give).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Who: user id.
    pub uid: u32,
    /// Who: user name.
    pub user: String,
    /// Who: role.
    pub role: String,
    /// What.
    pub action: String,
    /// Which pen.
    pub pen: String,
    /// What came of it.
    pub outcome: String,
    /// Old and new values, reasons.
    pub details: String,
}

/// The hash of an entry: SHA-256 over the previous hash and every field, each field
/// length-prefixed so no two different entries can hash alike by moving text between
/// fields.
pub fn entry_hash(previous: &str, id: u64, at_unix_s: u64, record: &Record) -> String {
    let mut hasher = Sha256::new();
    let fields: [&[u8]; 10] = [
        previous.as_bytes(),
        &id.to_le_bytes(),
        &at_unix_s.to_le_bytes(),
        &record.uid.to_le_bytes(),
        record.user.as_bytes(),
        record.role.as_bytes(),
        record.action.as_bytes(),
        record.pen.as_bytes(),
        record.outcome.as_bytes(),
        record.details.as_bytes(),
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What checking the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries checked.
    pub entries: u64,
    /// The first broken entry and why.
    pub first_broken: Option<(u64, String)>,
}

/// What a request and its outcome put in the trail, if anything: sessions, every safety
/// refusal, calibrations and limits, and permission refusals. `(action, pen, outcome,
/// details)`.
pub fn describe(
    request: &Request,
    result: &Result<Response, ApiError>,
) -> Option<(String, String, String, String)> {
    let outcome = |ok: &str| match result {
        Ok(_) => (ok.to_string(), String::new()),
        Err(e) if e.kind == ErrorKind::PermissionDenied => {
            ("permission denied".into(), e.message.clone())
        }
        Err(e) => ("refused".into(), e.message.clone()),
    };
    let safety_refused = matches!(result, Err(e) if e.kind.is_safety_refusal());
    let denied = matches!(result, Err(e) if e.kind == ErrorKind::PermissionDenied);
    let (action, pen, ok) = match request {
        Request::OpenSession {
            pen, client_name, ..
        } => (format!("open session ({client_name})"), pen, "granted"),
        Request::CloseSession { pen } => ("close session".into(), pen, "closed"),
        Request::SetDepth { pen, depth_um, .. } if safety_refused || denied => {
            (format!("set depth {}", Micrometres(*depth_um)), pen, "set")
        }
        Request::StartNeedling { pen, strokes_per_s } if safety_refused || denied => {
            (format!("start needling {strokes_per_s}/s"), pen, "started")
        }
        Request::StartCalibration { pen, gauge, .. } => (
            format!("start calibration with gauge {gauge}"),
            pen,
            "started",
        ),
        Request::AbortCalibration { pen } => ("abort calibration".into(), pen, "aborted"),
        Request::FlashLimits {
            pen,
            dry_run: false,
            ..
        } => {
            let (outcome, mut details) = outcome("flashed");
            if let Ok(Response::LimitsFlash(report)) = result {
                details = report.changes.join("; ");
            }
            return Some(("flash limits".into(), pen.clone(), outcome, details));
        }
        _ if denied => (
            format!("{request:?}").chars().take(80).collect(),
            &String::new(),
            "",
        ),
        _ => return None,
    };
    let (outcome, details) = outcome(ok);
    Some((action, pen.clone(), outcome, details))
}

/// Checks a chain of entries, oldest first. Pure.
pub fn verify(entries: &[(AuditEntry, String)]) -> Verification {
    let mut previous = GENESIS.to_string();
    for (expected_id, (entry, stored_previous)) in (1..).zip(entries) {
        let record = Record {
            uid: entry.uid,
            user: entry.user.clone(),
            role: entry.role.clone(),
            action: entry.action.clone(),
            pen: entry.pen.clone(),
            outcome: entry.outcome.clone(),
            details: entry.details.clone(),
        };
        let broken = if entry.id != expected_id {
            Some(format!("entry {expected_id} is missing"))
        } else if *stored_previous != previous {
            Some("it does not link to the entry before it".to_string())
        } else if entry_hash(&previous, entry.id, entry.at_unix_s, &record) != entry.hash {
            Some("its content does not match its hash: it was changed".to_string())
        } else {
            None
        };
        if let Some(why) = broken {
            return Verification {
                entries: entries.len() as u64,
                first_broken: Some((entry.id, why)),
            };
        }
        previous = entry.hash.clone();
    }
    Verification {
        entries: entries.len() as u64,
        first_broken: None,
    }
}

impl RecordStore {
    /// Appends `record` at `at_unix_s`; returns its id.
    pub async fn append_audit(&self, record: Record, at_unix_s: u64) -> Result<u64, RecordError> {
        self.with_db(move |db| {
            let tx = db.transaction()?;
            let last: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .ok();
            let (id, previous) = match last {
                Some((id, hash)) => (id as u64 + 1, hash),
                None => (1, GENESIS.to_string()),
            };
            let hash = entry_hash(&previous, id, at_unix_s, &record);
            tx.execute(
                "INSERT INTO audit (id, at, uid, user, role, action, pen, outcome, details, previous, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id as i64,
                    at_unix_s as i64,
                    record.uid,
                    record.user,
                    record.role,
                    record.action,
                    record.pen,
                    record.outcome,
                    record.details,
                    previous,
                    hash
                ],
            )?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// Entries, oldest first, each with the previous hash it stored.
    async fn audit_rows(
        &self,
        pen: Option<String>,
        since_unix_s: u64,
    ) -> Result<Vec<(AuditEntry, String)>, RecordError> {
        self.with_db(move |db| {
            let mut statement = db.prepare(
                "SELECT id, at, uid, user, role, action, pen, outcome, details, hash, previous
                 FROM audit WHERE (?1 IS NULL OR pen = ?1) AND at >= ?2 ORDER BY id",
            )?;
            let rows = statement.query_map(params![pen, since_unix_s as i64], |row| {
                Ok((
                    AuditEntry {
                        id: row.get::<_, i64>(0)? as u64,
                        at_unix_s: row.get::<_, i64>(1)? as u64,
                        uid: row.get(2)?,
                        user: row.get(3)?,
                        role: row.get(4)?,
                        action: row.get(5)?,
                        pen: row.get(6)?,
                        outcome: row.get(7)?,
                        details: row.get(8)?,
                        hash: row.get(9)?,
                    },
                    row.get::<_, String>(10)?,
                ))
            })?;
            rows.collect()
        })
        .await
    }

    /// The latest `limit` entries (about `pen`, since `since_unix_s`), oldest first.
    pub async fn list_audit(
        &self,
        pen: Option<String>,
        since_unix_s: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, RecordError> {
        let rows = self.audit_rows(pen, since_unix_s).await?;
        let skip = rows.len().saturating_sub(limit);
        Ok(rows
            .into_iter()
            .skip(skip)
            .map(|(entry, _)| entry)
            .collect())
    }

    /// Checks the whole chain.
    pub async fn verify_audit(&self) -> Result<Verification, RecordError> {
        Ok(verify(&self.audit_rows(None, 0).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str) -> Record {
        Record {
            uid: 1000,
            user: "alice".into(),
            role: "operator".into(),
            action: action.into(),
            pen: "SIM-0001".into(),
            outcome: "refused".into(),
            details: "over the ceiling".into(),
        }
    }

    #[tokio::test]
    async fn a_chain_verifies_and_any_change_is_found_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        for i in 1..=5 {
            assert_eq!(
                store
                    .append_audit(record(&format!("set depth {i}")), 100 + i)
                    .await
                    .unwrap(),
                i
            );
        }
        assert_eq!(store.verify_audit().await.unwrap().first_broken, None);
        assert_eq!(store.list_audit(None, 103, 2).await.unwrap().len(), 2);

        let db = rusqlite::Connection::open(dir.path().join("records.sqlite3")).unwrap();
        // The database refuses changes; a tamperer would drop its guards first.
        assert!(db
            .execute("UPDATE audit SET outcome = 'granted' WHERE id = 3", [])
            .is_err());
        assert!(db.execute("DELETE FROM audit WHERE id = 3", []).is_err());
        db.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
            .unwrap();
        db.execute("UPDATE audit SET outcome = 'granted' WHERE id = 3", [])
            .unwrap();
        let found = store.verify_audit().await.unwrap();
        assert_eq!(found.first_broken.map(|(id, _)| id), Some(3));

        db.execute("UPDATE audit SET outcome = 'refused' WHERE id = 3", [])
            .unwrap();
        db.execute("DELETE FROM audit WHERE id = 2", []).unwrap();
        let found = store.verify_audit().await.unwrap();
        assert_eq!(found.first_broken, Some((3, "entry 2 is missing".into())));
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let a = Record {
            action: "ab".into(),
            pen: "c".into(),
            ..record("")
        };
        let b = Record {
            action: "a".into(),
            pen: "bc".into(),
            ..record("")
        };
        assert_ne!(entry_hash(GENESIS, 1, 1, &a), entry_hash(GENESIS, 1, 1, &b));
    }
}
