//! The audit log: append-only, each record chained to the one before by a SHA-256 hash.
//!
//! A record's hash covers the previous record's hash and the record's own fields, so
//! changing, inserting or deleting a record in the middle breaks every hash after it.
//! (Cutting records off the end is only visible against a head hash kept elsewhere, which
//! `admin verify-audit` prints.)

use std::sync::MutexGuard;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};
use time::OffsetDateTime;
use uuid::Uuid;

use super::codec::{decode, encode};
use super::{ServerStore, StoreError};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something to record: who did what to whom, and how it went.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// When.
    pub at: OffsetDateTime,
    /// Who (none for the operator's command line).
    pub user_id: Option<Uuid>,
    /// Their role (`system` for the command line).
    pub role: String,
    /// What (`patient.read`, `user.create`, …).
    pub action: String,
    /// Whose data, when a patient's.
    pub patient_id: Option<Uuid>,
    /// For people: which fields, which values changed, …
    pub detail: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
}

/// An audit record as stored and as `GET /v1/admin/audit` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// Who (null for the operator's command line).
    pub user_id: Option<Uuid>,
    /// Their role.
    pub role: String,
    /// What.
    pub action: String,
    /// Whose data.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patient_id: Option<Uuid>,
    /// Details for people.
    pub detail: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    /// The previous record's hash.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this record's fields.
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record must carry, computed from its fields and `prev_hash`.
    pub fn expected_hash(&self) -> String {
        #[derive(Serialize)]
        struct Hashed<'a> {
            seq: u64,
            at: i128,
            user_id: Option<Uuid>,
            role: &'a str,
            action: &'a str,
            patient_id: Option<Uuid>,
            detail: &'a str,
            outcome: &'a str,
        }
        let fields = Hashed {
            seq: self.seq,
            at: self.at.unix_timestamp_nanos(),
            user_id: self.user_id,
            role: &self.role,
            action: &self.action,
            patient_id: self.patient_id,
            detail: &self.detail,
            outcome: &self.outcome,
        };
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(b"\n");
        // A struct of plain fields serialises to one fixed byte string.
        hasher.update(serde_json::to_vec(&fields).unwrap_or_default());
        hex::encode(hasher.finalize())
    }
}

/// Which records `GET /v1/admin/audit` wants.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this patient's.
    pub patient_id: Option<Uuid>,
    /// At or after.
    pub from: Option<OffsetDateTime>,
    /// Before.
    pub to: Option<OffsetDateTime>,
    /// At most this many (the oldest first).
    pub limit: usize,
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record {seq} is broken: {reason}")]
pub struct AuditBreak {
    /// The sequence number of the first broken record.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// One record to insert: its key in `audit_by_seq`, the encoded record, and its key in
/// `audit_seq_by_patient` when it is about a patient.
type AuditRow = ([u8; 8], Vec<u8>, Option<Vec<u8>>);

/// Audit records chained onto the log's head, encoded and ready to insert.
pub(super) struct ChainedRows {
    /// The rows, in sequence order.
    rows: Vec<AuditRow>,
    /// The records as written.
    records: Vec<AuditRecord>,
}

impl ChainedRows {
    /// Chains `events` after the record `(seq, prev_hash)` (see [`ServerStore::audit_head`]).
    pub(super) fn build(
        head: &(u64, String),
        events: &[AuditEvent],
    ) -> Result<ChainedRows, StoreError> {
        let (mut seq, mut prev_hash) = head.clone();
        let mut records = Vec::with_capacity(events.len());
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            seq += 1;
            let mut record = AuditRecord {
                seq,
                at: event.at,
                user_id: event.user_id,
                role: event.role.clone(),
                action: event.action.clone(),
                patient_id: event.patient_id,
                detail: event.detail.clone(),
                outcome: event.outcome.clone(),
                prev_hash: prev_hash.clone(),
                hash: String::new(),
            };
            record.hash = record.expected_hash();
            prev_hash = record.hash.clone();
            let index_key = record.patient_id.map(|patient_id| {
                let mut key = patient_id.as_bytes().to_vec();
                key.extend_from_slice(&seq_key(seq));
                key
            });
            rows.push((seq_key(seq), encode("audit_by_seq", &record)?, index_key));
            records.push(record);
        }
        Ok(ChainedRows { rows, records })
    }

    /// Inserts the records and their index entries inside a transaction over
    /// `audit_by_seq` (`log`) and `audit_seq_by_patient` (`index`).
    pub(super) fn insert(
        &self,
        log: &TransactionalTree,
        index: &TransactionalTree,
    ) -> Result<(), UnabortableTransactionError> {
        for (key, value, index_key) in &self.rows {
            log.insert(key, value.as_slice())?;
            if let Some(index_key) = index_key {
                index.insert(index_key.as_slice(), &[])?;
            }
        }
        Ok(())
    }

    /// The records as written.
    pub(super) fn into_records(self) -> Vec<AuditRecord> {
        self.records
    }
}

impl ServerStore {
    /// Holds off every other audit append (and so every other change audited with
    /// [`ChainedRows`]) until dropped, so that the head read next stays the head.
    pub(crate) fn audit_lock(&self) -> MutexGuard<'_, ()> {
        // A poisoned lock only means another append panicked; the log itself is intact.
        self.audit_append
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last record's sequence number and hash (0 and [`GENESIS_HASH`] for an empty
    /// log). Read it under [`ServerStore::audit_lock`].
    pub(super) fn audit_head(&self) -> Result<(u64, String), StoreError> {
        Ok(match self.trees.audit_by_seq.last()? {
            Some((_, bytes)) => {
                let last: AuditRecord = decode("audit_by_seq", &bytes)?;
                (last.seq, last.hash)
            }
            None => (0, GENESIS_HASH.to_string()),
        })
    }

    /// Appends events in order, each chained to the one before. The caller flushes.
    pub fn append_audit(&self, events: &[AuditEvent]) -> Result<Vec<AuditRecord>, StoreError> {
        let _guard = self.audit_lock();
        let chained = ChainedRows::build(&self.audit_head()?, events)?;
        // The record and its index entry land together, or neither does.
        let t = &self.trees;
        (&t.audit_by_seq, &t.audit_seq_by_patient)
            .transaction(|(log, index)| Ok(chained.insert(log, index)?))
            .map_err(super::txn_error)?;
        Ok(chained.into_records())
    }

    /// Records matching `filter`, oldest first.
    pub fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let wanted = |r: &AuditRecord| {
            filter.from.is_none_or(|from| r.at >= from) && filter.to.is_none_or(|to| r.at < to)
        };
        let mut out = Vec::new();
        match filter.patient_id {
            Some(patient_id) => {
                for item in self
                    .trees
                    .audit_seq_by_patient
                    .scan_prefix(patient_id.as_bytes())
                {
                    let (key, _) = item?;
                    let Some(seq) = key.get(16..24) else { continue };
                    if let Some(bytes) = self.trees.audit_by_seq.get(seq)? {
                        let record: AuditRecord = decode("audit_by_seq", &bytes)?;
                        if wanted(&record) {
                            out.push(record);
                        }
                    }
                    if out.len() >= filter.limit {
                        break;
                    }
                }
            }
            None => {
                for item in self.trees.audit_by_seq.iter().values() {
                    let record: AuditRecord = decode("audit_by_seq", &item?)?;
                    if wanted(&record) {
                        out.push(record);
                    }
                    if out.len() >= filter.limit {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Checks the whole chain; returns the number of records and the head hash, or the
    /// first broken record.
    pub fn verify_audit_chain(&self) -> Result<Result<(u64, String), AuditBreak>, StoreError> {
        let mut prev_hash = GENESIS_HASH.to_string();
        let mut expected_seq = 1u64;
        for item in self.trees.audit_by_seq.iter() {
            let (key, bytes) = item?;
            let key_seq = key.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            let broken = |reason: String| {
                Ok(Err(AuditBreak {
                    seq: key_seq,
                    reason,
                }))
            };
            let record: AuditRecord = match decode("audit_by_seq", &bytes) {
                Ok(record) => record,
                Err(e) => return broken(format!("unreadable: {e}")),
            };
            if key_seq != expected_seq {
                return Ok(Err(AuditBreak {
                    seq: expected_seq,
                    reason: format!("missing (the next record present is {key_seq})"),
                }));
            }
            if record.seq != key_seq {
                return broken(format!("stored under {key_seq} but says {}", record.seq));
            }
            if record.prev_hash != prev_hash {
                return broken("does not chain onto the record before it".into());
            }
            if record.expected_hash() != record.hash {
                return broken("its content does not match its hash (altered)".into());
            }
            prev_hash = record.hash;
            expected_seq += 1;
        }
        Ok(Ok((expected_seq - 1, prev_hash)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: &str) -> AuditEvent {
        AuditEvent {
            at: OffsetDateTime::now_utc(),
            user_id: Some(Uuid::now_v7()),
            role: "admin".into(),
            action: "user.create".into(),
            patient_id: Some(Uuid::now_v7()),
            detail: detail.into(),
            outcome: "ok".into(),
        }
    }

    #[test]
    fn the_chain_verifies_and_an_altered_record_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        store.append_audit(&[event("a"), event("b")]).unwrap();
        store.append_audit(&[event("c")]).unwrap();
        let (count, _) = store.verify_audit_chain().unwrap().unwrap();
        assert_eq!(count, 3);
        let mut second: AuditRecord = decode(
            "audit_by_seq",
            &store.trees.audit_by_seq.get(seq_key(2)).unwrap().unwrap(),
        )
        .unwrap();
        second.detail = "forged".into();
        store
            .trees
            .audit_by_seq
            .insert(seq_key(2), encode("audit_by_seq", &second).unwrap())
            .unwrap();
        let broken = store.verify_audit_chain().unwrap().unwrap_err();
        assert_eq!(broken.seq, 2);
        store.trees.audit_by_seq.remove(seq_key(2)).unwrap();
        assert_eq!(store.verify_audit_chain().unwrap().unwrap_err().seq, 2);
    }

    #[test]
    fn records_can_be_filtered_by_patient() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let e = event("x");
        let pid = e.patient_id.unwrap();
        store.append_audit(&[e, event("y")]).unwrap();
        let filter = AuditFilter {
            patient_id: Some(pid),
            limit: 10,
            ..Default::default()
        };
        let found = store.audit_records(&filter).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].detail, "x");
    }
}
