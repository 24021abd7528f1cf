//! How the store lays out its keys and values.
//!
//! Trees:
//! - `meta`: `format_version` (u32 BE), `device_id`, `clock` (the last HLC stamp), `cursor`.
//! - `entries`: entry id (16 bytes) → the current revision, live or tombstone.
//! - `by_date`: local date (4 bytes, order-preserving) ++ entry id → empty; live entries only.
//! - `outbox`: rev ++ entry id → empty: the revisions waiting to be pushed, in the order they
//!   were made. A queued rev is always the entry's current rev (a newer local revision
//!   replaces the item, a newer pulled one removes it), so one key per entry and no id-keyed
//!   copy is needed: one write fewer on every durable write.
//! - `rejected`: entry id → the rejected revision and the server's error.
//!
//! Every value except `format_version` starts with a version byte, so a later program can
//! tell old values from new ones: [`VALUE_VERSION`], or [`ENTRY_VALUE_COMPACT`] for entries.

use serde::{Deserialize, Serialize};
use time::Date;

use super::error::{StoreError, StoreResult};
use crate::model::{Entry, EntryId, Stamp, from_compact, to_compact};

/// The layout of the trees; bumped when a program could misread an older store.
pub const FORMAT_VERSION: u32 = 1;
/// The first byte of every stored value but entries written today.
pub const VALUE_VERSION: u8 = 1;
/// The first byte of an entry's value written today: the compact form follows.
pub const ENTRY_VALUE_COMPACT: u8 = 2;

pub(crate) const TREE_ENTRIES: &str = "entries";
pub(crate) const TREE_BY_DATE: &str = "by_date";
pub(crate) const TREE_OUTBOX: &str = "outbox";
pub(crate) const TREE_REJECTED: &str = "rejected";
pub(crate) const TREE_META: &str = "meta";

pub(crate) const META_FORMAT: &[u8] = b"format_version";
pub(crate) const META_DEVICE: &[u8] = b"device_id";
pub(crate) const META_CLOCK: &[u8] = b"clock";
pub(crate) const META_CURSOR: &[u8] = b"cursor";
/// The log position of the server's last push answer (`PushResponse::log_position`).
pub(crate) const META_ACKED: &[u8] = b"acked_position";
/// The patient whose diary this is, from the first sync's login.
pub(crate) const META_PATIENT: &[u8] = b"patient";
/// The greatest stamp received from the server (`server_hlc`, pulled revs): a clock moved
/// back after it ran ahead never goes below it.
pub(crate) const META_SERVER_FLOOR: &[u8] = b"server_floor";

/// The key of an entry in `entries` and `rejected`.
pub(crate) fn id_key(id: &EntryId) -> [u8; 16] {
    *id.as_bytes()
}

/// A date as 4 bytes whose byte order is date order (the sign bit flipped, big-endian).
pub(crate) fn date_prefix(date: Date) -> [u8; 4] {
    ((date.to_julian_day() as u32) ^ 0x8000_0000).to_be_bytes()
}

/// The key of a live entry in `by_date`.
pub(crate) fn date_key(entry: &Entry) -> Vec<u8> {
    let mut key = Vec::with_capacity(20);
    key.extend_from_slice(&date_prefix(entry.local_date()));
    key.extend_from_slice(entry.id.as_bytes());
    key
}

/// The entry id at the end of a `by_date` key.
pub(crate) fn id_of_date_key(key: &[u8]) -> StoreResult<EntryId> {
    key.get(4..20)
        .and_then(|bytes| EntryId::from_slice(bytes).ok())
        .ok_or_else(|| StoreError::Corrupt("a by_date key is not date ++ id".into()))
}

/// The key of an outbox item.
pub(crate) fn outbox_key(rev: &Stamp, id: &EntryId) -> Vec<u8> {
    let rev = rev.to_string();
    let mut key = Vec::with_capacity(rev.len() + 16);
    key.extend_from_slice(rev.as_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The entry id at the end of an outbox key.
pub(crate) fn id_of_outbox_key(key: &[u8]) -> StoreResult<EntryId> {
    key.len()
        .checked_sub(16)
        .and_then(|start| EntryId::from_slice(&key[start..]).ok())
        .ok_or_else(|| StoreError::Corrupt("an outbox key is not rev ++ id".into()))
}

fn versioned(payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(payload.len() + 1);
    value.push(VALUE_VERSION);
    value.extend_from_slice(payload);
    value
}

fn payload<'a>(value: &'a [u8], what: &str) -> StoreResult<&'a [u8]> {
    match value.split_first() {
        Some((&VALUE_VERSION, rest)) => Ok(rest),
        Some((version, _)) => Err(StoreError::Corrupt(format!(
            "{what} has value version {version}, this program reads {VALUE_VERSION}"
        ))),
        None => Err(StoreError::Corrupt(format!("{what} is empty"))),
    }
}

/// An entry's stored value: [`ENTRY_VALUE_COMPACT`], then the entry's compact binary form
/// (`model::to_compact`): about half the bytes of JSON, written on every record, edit and
/// pulled change, and no text to parse on every read. Values of [`VALUE_VERSION`] (the
/// JSON wire form) written before are still read.
///
/// Refuses an entry that could be written but not read back (the reader enforces the
/// wire form's invariants), so a bad pulled change can never make the store unreadable.
pub(crate) fn encode_entry(entry: &Entry) -> StoreResult<Vec<u8>> {
    let consistent = match (&entry.body, entry.deleted) {
        (None, true) => true,
        (Some(body), false) => body.kind() == entry.kind,
        _ => false,
    };
    if !consistent {
        return Err(crate::model::ValidationError::new(
            "body",
            "must be present exactly when the entry is not deleted, and match its kind",
        )
        .into());
    }
    if entry.rev.device() != &entry.device_id {
        return Err(crate::model::ValidationError::new(
            "rev",
            "the stamp's device part must equal device_id",
        )
        .into());
    }
    let mut value = Vec::with_capacity(192);
    value.push(ENTRY_VALUE_COMPACT);
    // Past the checks above only an encoder failure is left: an error of this entry, not of
    // the disk.
    to_compact(entry, &mut value)
        .map_err(|e| crate::model::ValidationError::new("", format!("cannot be stored: {e}")))?;
    Ok(value)
}

/// Reads an entry's stored value, of either version.
pub(crate) fn decode_entry(value: &[u8]) -> StoreResult<Entry> {
    let unreadable = |e: String| StoreError::Corrupt(format!("an entry cannot be read: {e}"));
    match value.split_first() {
        Some((&ENTRY_VALUE_COMPACT, compact)) => {
            from_compact(compact).map_err(|e| unreadable(e.to_string()))
        }
        Some((&VALUE_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|e| unreadable(e.to_string()))
        }
        Some((version, _)) => Err(StoreError::Corrupt(format!(
            "an entry has value version {version}, this program reads {VALUE_VERSION} and \
             {ENTRY_VALUE_COMPACT}"
        ))),
        None => Err(StoreError::Corrupt("an entry is empty".into())),
    }
}

/// A stamp's stored value (the clock).
pub(crate) fn encode_stamp(stamp: &Stamp) -> Vec<u8> {
    versioned(stamp.to_string().as_bytes())
}

/// Reads a stamp's stored value.
pub(crate) fn decode_stamp(value: &[u8]) -> StoreResult<Stamp> {
    std::str::from_utf8(payload(value, "a stamp")?)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("a stored stamp cannot be read".into()))
}

/// A text's stored value (the device id, the cursor).
pub(crate) fn encode_text(text: &str) -> Vec<u8> {
    versioned(text.as_bytes())
}

/// Reads a text's stored value.
pub(crate) fn decode_text(value: &[u8]) -> StoreResult<String> {
    String::from_utf8(payload(value, "a text")?.to_vec())
        .map_err(|_| StoreError::Corrupt("a stored text is not UTF-8".into()))
}

/// A change the server refused, with its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedChange {
    /// The revision the server refused.
    pub entry: Entry,
    /// The server's error code (`validation_failed`, ...).
    pub code: String,
    /// The server's message, for people.
    pub message: String,
    /// The field the error is about, when the server named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A rejection's stored value.
pub(crate) fn encode_rejection(rejection: &RejectedChange) -> StoreResult<Vec<u8>> {
    let json = serde_json::to_vec(rejection)
        .map_err(|e| StoreError::Corrupt(format!("a rejection cannot be written: {e}")))?;
    Ok(versioned(&json))
}

/// Reads a rejection's stored value.
pub(crate) fn decode_rejection(value: &[u8]) -> StoreResult<RejectedChange> {
    serde_json::from_slice(payload(value, "a rejection")?)
        .map_err(|e| StoreError::Corrupt(format!("a rejection cannot be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn date_prefix_sorts_like_dates() {
        let dates = [
            date!(-100 - 01 - 01),
            date!(1969 - 12 - 31),
            date!(1970 - 01 - 01),
            date!(2026 - 11 - 21),
            date!(2026 - 11 - 22),
        ];
        for pair in dates.windows(2) {
            assert!(date_prefix(pair[0]) < date_prefix(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn values_of_another_version_are_refused() {
        let mut value = encode_text("cursor-1");
        assert_eq!(decode_text(&value).unwrap(), "cursor-1");
        value[0] = VALUE_VERSION + 1;
        assert!(matches!(decode_text(&value), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode_text(&[]), Err(StoreError::Corrupt(_))));
    }
}
