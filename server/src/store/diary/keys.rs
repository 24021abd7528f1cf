//! The diary's key layout: one sled tree, every key starting with a kind byte and (but for
//! the one greatest-rev record) the patient id, so that one `apply_batch` writes a whole group of pushes atomically (sled
//! batches are atomic within one tree) and a patient's records of a kind sort together.

use sha2::{Digest, Sha256};
use taperlog_core::model::{EntryId, Stamp};
use time::Date;
use uuid::Uuid;

use super::super::StoreError;
use super::super::codec::FORMAT_VERSION;

/// The name of the diary's tree.
pub(crate) const TREE: &str = "diary";

/// `E` ‖ patient ‖ entry id → the entry's latest revision and its sequence number.
pub(super) const ENTRY: u8 = b'E';
/// `C` ‖ patient ‖ first sequence number → the entry ids of one push's applied changes,
/// at that sequence number and the ones after it: the change log pulls read. A pointer whose
/// entry has since changed again is stale (the entry's record holds its current number) and
/// is skipped, so applying a change never rewrites an older part of the log.
pub(super) const CHANGE: u8 = b'C';
/// `K` ‖ patient ‖ day → the day's contributions by entry id.
pub(super) const CONTRIBUTIONS: u8 = b'K';
/// `S` ‖ patient ‖ day → the day's summary.
pub(super) const SUMMARY: u8 = b'S';
/// `P` ‖ patient → the patient's state that every push reads and writes: the last sequence
/// number, the latest entry and the last sync (one record, so a push pays one read and one
/// write for it; pulls update the last sync under the writers' lock).
pub(super) const PATIENT: u8 = b'P';
/// `H` → the greatest `rev` the diary has applied (one record for the whole diary). The
/// server's clock resumes after it on restart, so `server_hlc` never falls below a stamp
/// the server accepted: a device that rebases its own clock on `server_hlc` after a clock
/// jump (see `core::sync`) then still stamps after every revision the server holds.
pub(super) const GREATEST_REV: u8 = b'H';
/// The key of the [`GREATEST_REV`] record.
pub(super) const GREATEST_REV_KEY: [u8; 1] = [GREATEST_REV];
/// Kinds of the previous development layout, which kept the patient's state in three
/// records (`N` last sequence number, `A` latest entry, `Y` last sync). A tree holding them
/// is refused at open rather than read with those fields missing.
pub(super) const EARLIER_KINDS: [u8; 3] = [b'N', b'A', b'Y'];

/// Names of each kind for error messages.
pub(super) fn kind_name(kind: u8) -> &'static str {
    match kind {
        ENTRY => "diary/entry",
        CHANGE => "diary/change",
        CONTRIBUTIONS => "diary/contributions",
        SUMMARY => "diary/summary",
        PATIENT => "diary/patient",
        GREATEST_REV => "diary/greatest_rev",
        _ => "diary",
    }
}

/// The prefix of every key of `kind` for `patient`.
pub(super) fn patient_key(kind: u8, patient: Uuid) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 16 + 16);
    key.push(kind);
    key.extend_from_slice(patient.as_bytes());
    key
}

/// `kind` ‖ patient ‖ `rest`.
pub(super) fn key(kind: u8, patient: Uuid, rest: &[u8]) -> Vec<u8> {
    let mut key = patient_key(kind, patient);
    key.extend_from_slice(rest);
    key
}

/// The key of an entry.
pub(super) fn entry_key(patient: Uuid, id: EntryId) -> Vec<u8> {
    key(ENTRY, patient, id.as_bytes())
}

/// The key of a change-log position.
pub(super) fn change_key(patient: Uuid, seq: u64) -> Vec<u8> {
    key(CHANGE, patient, &seq.to_be_bytes())
}

/// The key of a day's record of `kind` (contributions or summary).
pub(super) fn day_key(kind: u8, patient: Uuid, date: Date) -> Vec<u8> {
    key(kind, patient, &date_bytes(date))
}

/// Where the part after the patient id starts in every key.
pub(super) const REST: usize = 17;

/// A date as 4 bytes that sort in calendar order.
fn date_bytes(date: Date) -> [u8; 4] {
    ((i64::from(date.to_julian_day()) + (1 << 31)) as u32).to_be_bytes()
}

/// The date of a day key.
pub(super) fn date_of_key(key: &[u8]) -> Result<Date, StoreError> {
    let bad = || StoreError::Format {
        tree: TREE,
        detail: "bad day key".into(),
    };
    let raw = u32::from_be_bytes(
        key.get(REST..REST + 4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    Date::from_julian_day((i64::from(raw) - (1 << 31)) as i32).map_err(|_| bad())
}

/// A big-endian u64 (sequence numbers in keys).
pub(super) fn u64_of(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Format {
            tree: TREE,
            detail: "bad sequence number".into(),
        })
}

/// The change-log record format with the log's digest at each position (records of
/// [`FORMAT_VERSION`] hold the entry ids alone, and are still read).
const LOG_FORMAT_CHAINED: u8 = 2;

/// One position of a patient's change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// The entry changed there.
    pub id: EntryId,
    /// The log's digest up to and including this position ([`chain_digest`]); none in
    /// records written before digests.
    pub digest: Option<u64>,
}

/// The log's digest after a change of `id` to `rev`, following the digest `previous` of the
/// position before (0 at the start). A pull cursor carries it: a log restored from an
/// earlier backup and grown again differs from the one the device read at some position up
/// to the cursor's, and so does the digest at the cursor's.
pub(crate) fn chain_digest(previous: u64, id: EntryId, rev: &Stamp) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(previous.to_be_bytes());
    hasher.update(id.as_bytes());
    hasher.update(rev.millis().to_be_bytes());
    hasher.update(rev.counter().to_be_bytes());
    hasher.update(rev.device().as_str().as_bytes());
    let hash = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(first)
}

/// A change-log record: the format, then per position the entry id (16 bytes) and the
/// log's digest there (8 bytes).
pub(super) fn encode_log(positions: &[(EntryId, u64)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + 24 * positions.len());
    bytes.push(LOG_FORMAT_CHAINED);
    for (id, digest) in positions {
        bytes.extend_from_slice(id.as_bytes());
        bytes.extend_from_slice(&digest.to_be_bytes());
    }
    bytes
}

/// Reads a record written by [`encode_log`], or one of ids alone ([`FORMAT_VERSION`]).
pub(super) fn decode_log(bytes: &[u8]) -> Result<Vec<LogPosition>, StoreError> {
    let id_of = |bytes: &[u8]| Uuid::from_slice(bytes).unwrap_or_default();
    match bytes.split_first() {
        Some((&FORMAT_VERSION, ids)) if ids.len() % 16 == 0 => Ok(ids
            .chunks_exact(16)
            .map(|id| LogPosition {
                id: id_of(id),
                digest: None,
            })
            .collect()),
        Some((&LOG_FORMAT_CHAINED, positions)) if positions.len() % 24 == 0 => Ok(positions
            .chunks_exact(24)
            .map(|position| {
                let (id, digest) = position.split_at(16);
                let mut digest_bytes = [0u8; 8];
                digest_bytes.copy_from_slice(digest);
                LogPosition {
                    id: id_of(id),
                    digest: Some(u64::from_be_bytes(digest_bytes)),
                }
            })
            .collect()),
        _ => Err(StoreError::Format {
            tree: kind_name(CHANGE),
            detail: "unknown format".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn day_keys_sort_in_calendar_order_and_read_back() {
        let patient = Uuid::now_v7();
        let days = [
            date!(1999 - 12 - 31),
            date!(2026 - 01 - 01),
            date!(2026 - 11 - 23),
        ];
        let keys: Vec<Vec<u8>> = days.iter().map(|d| day_key(SUMMARY, patient, *d)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (key, day) in keys.iter().zip(days) {
            assert_eq!(date_of_key(key).unwrap(), day);
        }
    }

    #[test]
    fn records_read_back_and_unknown_formats_are_refused() {
        let positions = [(Uuid::now_v7(), 7), (Uuid::now_v7(), u64::MAX)];
        let read: Vec<(EntryId, Option<u64>)> = decode_log(&encode_log(&positions))
            .unwrap()
            .into_iter()
            .map(|p| (p.id, p.digest))
            .collect();
        assert_eq!(read, positions.map(|(id, d)| (id, Some(d))));
        // Records of ids alone, before digests.
        let mut plain = vec![FORMAT_VERSION];
        plain.extend_from_slice(positions[0].0.as_bytes());
        assert_eq!(
            decode_log(&plain).unwrap(),
            [LogPosition {
                id: positions[0].0,
                digest: None
            }]
        );
        let mut newer = encode_log(&positions);
        newer[0] = LOG_FORMAT_CHAINED + 1;
        assert!(decode_log(&newer).is_err());
        assert!(decode_log(&encode_log(&positions)[..20]).is_err());
    }

    #[test]
    fn change_keys_sort_by_sequence_number() {
        let patient = Uuid::now_v7();
        assert!(change_key(patient, 255) < change_key(patient, 256));
        assert!(change_key(patient, u64::MAX) < patient_key(CHANGE + 1, patient));
    }
}
