//! The compact binary form of an [`Entry`], for storage.
//!
//! The wire form is JSON with the id, times and stamp as text: about 280 bytes for a dose.
//! Stored that way, every entry costs the store its bytes twice (the tree and its log) and a
//! text parse on every read. Here the id, local date-time, offset and stamp are binary
//! (postcard's varints), and only the body stays JSON, read back with the same typed reader as the wire
//! form: about half the bytes, and no RFC 3339 or UUID text to parse.
//!
//! The form has no version byte of its own: the stores that keep it prefix their records
//! with their format version, and a change of this form must come with a new one there.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::body::EntryKind;
use super::entry::{Entry, body_json, parse_body_text};
use super::hlc::{DeviceId, MAX_STAMP_MILLIS, Stamp};

/// Why bytes are not an entry in compact form, or an entry cannot be put in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compact entry: {0}")]
pub struct CompactEntryError(String);

/// The stored fields, in order. `device` is both the entry's device and its stamp's: an
/// [`Entry`] read from the wire always has the two equal, and [`to_compact`] refuses one
/// that does not.
#[derive(Serialize, Deserialize)]
struct Compact<'a> {
    id: [u8; 16],
    kind: u8,
    /// The local date and time as seconds since 1970-01-01T00:00 (that is, of the instant's
    /// UTC reading with the offset replaced by UTC): every local time `time` holds is in its
    /// range, while the instant of 9999-12-31T23:30-01:00 is not.
    local_seconds: i64,
    nanosecond: u32,
    offset_seconds: i32,
    rev_millis: u64,
    rev_counter: u16,
    device: &'a str,
    deleted: bool,
    /// The body's JSON (its kind's object, as on the wire).
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
}

/// The stable code of each kind (never reuse or renumber one: stored records keep it).
fn kind_code(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Dose => 0,
        EntryKind::Pain => 1,
        EntryKind::Withdrawal => 2,
        EntryKind::Note => 3,
    }
}

fn kind_of_code(code: u8) -> Result<EntryKind, CompactEntryError> {
    Ok(match code {
        0 => EntryKind::Dose,
        1 => EntryKind::Pain,
        2 => EntryKind::Withdrawal,
        3 => EntryKind::Note,
        other => return Err(CompactEntryError(format!("unknown kind code {other}"))),
    })
}

/// Appends the compact form of `entry` to `out` (left as it was on an error). Refuses an
/// entry that would not read back: one whose body is missing while live, present while
/// deleted, or of another kind, or whose stamp names another device.
pub fn to_compact(entry: &Entry, out: &mut Vec<u8>) -> Result<(), CompactEntryError> {
    let consistent = match (&entry.body, entry.deleted) {
        (None, true) => true,
        (Some(body), false) => body.kind() == entry.kind,
        _ => false,
    };
    if !consistent {
        return Err(CompactEntryError(
            "the body must be present exactly when the entry is not deleted, and match its kind"
                .into(),
        ));
    }
    if entry.rev.device() != &entry.device_id {
        return Err(CompactEntryError(
            "the stamp's device part differs from device_id".into(),
        ));
    }
    let body = match &entry.body {
        Some(body) => Some(Cow::Owned(
            body_json(body).map_err(|e| CompactEntryError(format!("body: {e}")))?,
        )),
        None => None,
    };
    let compact = Compact {
        id: entry.id.into_bytes(),
        kind: kind_code(entry.kind),
        local_seconds: entry
            .occurred_at
            .replace_offset(UtcOffset::UTC)
            .unix_timestamp(),
        nanosecond: entry.occurred_at.nanosecond(),
        offset_seconds: entry.occurred_at.offset().whole_seconds(),
        rev_millis: entry.rev.millis(),
        rev_counter: entry.rev.counter(),
        device: entry.device_id.as_str(),
        deleted: entry.deleted,
        body,
    };
    let start = out.len();
    postcard::to_extend(&compact, Append(out))
        .map(|_| ())
        .map_err(|e| {
            out.truncate(start);
            CompactEntryError(e.to_string())
        })
}

/// Writes postcard's output at the end of a caller's buffer (postcard's own `Vec` output
/// would take the buffer, and lose it on an error).
struct Append<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Append<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0.extend(bytes);
    }
}

/// Reads an entry written by [`to_compact`]; `bytes` must hold exactly one.
pub fn from_compact(bytes: &[u8]) -> Result<Entry, CompactEntryError> {
    let bad = |what: &str, detail: String| CompactEntryError(format!("{what}: {detail}"));
    let (compact, rest): (Compact<'_>, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|e| bad("record", e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad(
            "record",
            format!("{} bytes after the entry", rest.len()),
        ));
    }
    let kind = kind_of_code(compact.kind)?;
    let offset = UtcOffset::from_whole_seconds(compact.offset_seconds)
        .map_err(|e| bad("offset", e.to_string()))?;
    let occurred_at = OffsetDateTime::from_unix_timestamp(compact.local_seconds)
        .and_then(|at| at.replace_nanosecond(compact.nanosecond))
        .map_err(|e| bad("occurred_at", e.to_string()))?
        .replace_offset(offset);
    let rev = stamp(compact.rev_millis, compact.rev_counter, compact.device)?;
    let device_id = rev.device().clone();
    let body = match (compact.deleted, compact.body) {
        (false, Some(text)) => {
            Some(parse_body_text(kind, &text).map_err(|e| bad(&e.field, e.message.to_string()))?)
        }
        (true, None) => None,
        _ => return Err(bad("body", "present exactly when not deleted".into())),
    };
    Ok(Entry {
        id: Uuid::from_bytes(compact.id),
        kind,
        occurred_at,
        rev,
        device_id,
        deleted: compact.deleted,
        body,
    })
}

/// The stamp of a record; refuses what [`Stamp::new`] would silently clamp.
fn stamp(millis: u64, counter: u16, device: &str) -> Result<Stamp, CompactEntryError> {
    if millis > MAX_STAMP_MILLIS {
        return Err(CompactEntryError(format!(
            "rev: {millis} ms is beyond what a stamp holds"
        )));
    }
    let device = DeviceId::new(device).map_err(|e| CompactEntryError(format!("device_id: {e}")))?;
    Ok(Stamp::new(millis, counter, device))
}

/// The fields of [`Compact`] up to the stamp: postcard reads fields in order, so a record's
/// stamp can be read without its body.
#[derive(Deserialize)]
struct Head<'a> {
    _id: [u8; 16],
    _kind: u8,
    _local_seconds: i64,
    _nanosecond: u32,
    _offset_seconds: i32,
    rev_millis: u64,
    rev_counter: u16,
    device: &'a str,
}

/// Only the `rev` of an entry written by [`to_compact`] (for scans that need no more, and
/// should not fail on a body a later reader might refuse).
pub fn rev_of_compact(bytes: &[u8]) -> Result<Stamp, CompactEntryError> {
    let (head, _): (Head<'_>, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|e| CompactEntryError(format!("record: {e}")))?;
    stamp(head.rev_millis, head.rev_counter, head.device)
}

#[cfg(test)]
#[path = "compact_tests.rs"]
mod tests;
