//! The entry record: an entry's latest revision and the sequence number of its latest change.
//!
//! The sequence number lives here, not in an index of its own, so that applying a change
//! reads one record and writes two (entry and change log). Records are written in the
//! compact binary form of `taperlog_core::model::to_compact` ([`COMPACT_FORMAT`]): about
//! half the bytes of JSON, which sled writes twice (tree and log) on every push, and no text
//! to parse on every pull. Records of the JSON format written before are still read.

use taperlog_core::model::{Entry, Stamp, from_compact, rev_of_compact, to_compact};

use super::super::StoreError;
use super::keys::{ENTRY, kind_name, u64_of};

/// The format of the records written before [`COMPACT_FORMAT`]: the sequence number, then
/// the entry in its JSON wire form. A literal, not the store codec's `FORMAT_VERSION`: that
/// one may move on, while these records keep the byte they were written with.
const JSON_FORMAT: u8 = 1;
/// Today's format: the sequence number (8 bytes, big-endian), then the compact entry.
const COMPACT_FORMAT: u8 = 2;

fn bad(detail: String) -> StoreError {
    StoreError::Format {
        tree: kind_name(ENTRY),
        detail,
    }
}

/// The record of `entry`, whose latest change has sequence number `seq`.
pub(super) fn encode_entry(seq: u64, entry: &Entry) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::with_capacity(192);
    bytes.push(COMPACT_FORMAT);
    bytes.extend_from_slice(&seq.to_be_bytes());
    to_compact(entry, &mut bytes).map_err(|e| bad(e.to_string()))?;
    Ok(bytes)
}

/// Reads a record of either format: (sequence number, entry).
pub(super) fn decode_entry(bytes: &[u8]) -> Result<(u64, Entry), StoreError> {
    let (format, rest) = bytes
        .split_first()
        .ok_or_else(|| bad("empty value".into()))?;
    if *format != COMPACT_FORMAT && *format != JSON_FORMAT {
        return Err(bad(format!("unknown format version {format}")));
    }
    if rest.len() < 8 {
        return Err(bad("truncated record".into()));
    }
    let (seq, entry) = rest.split_at(8);
    let entry = if *format == COMPACT_FORMAT {
        from_compact(entry).map_err(|e| bad(e.to_string()))?
    } else {
        Entry::from_json_slice(entry).map_err(|e| bad(format!("{}: {}", e.field, e.message)))?
    };
    Ok((u64_of(seq)?, entry))
}

/// Only the `rev` of a record (in the JSON format, reading the rest would cost more and
/// could fail on a field that does not matter here).
pub(super) fn rev_of_entry(bytes: &[u8]) -> Result<Stamp, StoreError> {
    #[derive(serde::Deserialize)]
    struct RevOnly {
        rev: Stamp,
    }
    match bytes.split_first() {
        Some((&JSON_FORMAT, rest)) if rest.len() >= 8 => {
            serde_json::from_slice::<RevOnly>(&rest[8..])
                .map(|r| r.rev)
                .map_err(|e| bad(e.to_string()))
        }
        Some((&COMPACT_FORMAT, rest)) if rest.len() >= 8 => {
            rev_of_compact(&rest[8..]).map_err(|e| bad(e.to_string()))
        }
        _ => Err(bad("not an entry record".into())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dose() -> Entry {
        Entry::from_json(json!({
            "id": "019a1b2c-3d4e-7f00-8a00-000000000001",
            "kind": "dose",
            "occurred_at": "2026-11-20T08:15:30+01:00",
            "rev": "0190f5c3a2b1-0003-phone-a",
            "device_id": "phone-a",
            "body": {"medication": "oxycodone", "amount": 10, "unit": "mg", "route": "oral"}
        }))
        .unwrap()
    }

    /// A record as the JSON format wrote it.
    fn json_record(seq: u64, entry: &Entry) -> Vec<u8> {
        let mut bytes = vec![JSON_FORMAT];
        bytes.extend_from_slice(&seq.to_be_bytes());
        serde_json::to_writer(&mut bytes, entry).unwrap();
        bytes
    }

    #[test]
    fn records_of_both_formats_read_back() {
        let entry = dose();
        let compact = encode_entry(42, &entry).unwrap();
        assert_eq!(compact[0], COMPACT_FORMAT);
        let older = json_record(42, &entry);
        assert!(
            compact.len() * 2 < older.len() + 40,
            "{} vs {}",
            compact.len(),
            older.len()
        );
        for record in [&compact, &older] {
            let (seq, read) = decode_entry(record).unwrap();
            assert_eq!((seq, &read), (42, &entry));
            assert_eq!(read.occurred_at.offset(), entry.occurred_at.offset());
            assert_eq!(rev_of_entry(record).unwrap(), entry.rev);
        }
    }

    #[test]
    fn damaged_and_unknown_records_are_refused() {
        let record = encode_entry(7, &dose()).unwrap();
        assert!(decode_entry(&[]).is_err());
        assert!(decode_entry(&record[..5]).is_err());
        assert!(decode_entry(&record[..record.len() - 1]).is_err());
        assert!(decode_entry(&[JSON_FORMAT, 0, 0]).is_err());
        let mut newer = record.clone();
        newer[0] = COMPACT_FORMAT + 1;
        let refused = decode_entry(&newer).unwrap_err().to_string();
        assert!(refused.contains("unknown format version 3"), "{refused}");
        assert!(rev_of_entry(&newer).is_err());
    }
}
