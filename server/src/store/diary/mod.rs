//! The diary on the server: each patient's entries (latest revision, tombstones included),
//! the per-patient change log that pulls read, and the daily summaries kept current on every
//! accepted change, so that care-team queries never rescan raw entries.
//!
//! A change is applied with last-writer-wins by `rev`. Everything lives in one sled tree
//! (see [`keys`]), so that a whole group of concurrent pushes is written as one atomic
//! batch: the entries, their places in the change log, the patients' sequence counters and
//! the touched days' contributions and summaries move together. A sled transaction over
//! several trees would do the same at several times the cost.

mod apply;
mod day_record;
mod entry_record;
mod keys;

pub use keys::LogPosition;
mod read;
mod staging;

use serde::{Deserialize, Serialize};
use taperlog_core::model::{Entry, Stamp};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

pub(crate) use apply::record_greatest_rev_of_entries;
pub(crate) use keys::TREE;

/// The layout of the diary tree this build reads and writes (one tree; `E`, `C`, `K`, `S`
/// and `P` records, and the `H` record of the greatest applied rev), kept in `meta` under
/// [`LAYOUT_META`].
pub(crate) const LAYOUT: &str = "diary-3";
/// The layout before the `H` record: this build upgrades it at open by computing the
/// record from the entries ([`record_greatest_rev_of_entries`]).
pub(crate) const LAYOUT_WITHOUT_GREATEST_REV: &str = "diary-2";
/// The `meta` name of the diary's layout.
pub(crate) const LAYOUT_META: &str = "diary_layout";

/// Whether the diary tree holds records of the previous development layout (the patient's
/// state in three records instead of one): read with this layout, its patients would lose
/// their sequence numbers and every pull would start over.
pub(crate) fn has_earlier_record_kinds(tree: &sled::Tree) -> Result<bool, super::StoreError> {
    for kind in keys::EARLIER_KINDS {
        if tree.scan_prefix([kind]).next().transpose()?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What became of one change of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// It is now the entry's latest revision, at this sequence number.
    Applied(u64),
    /// The server already had this very revision (a retried push).
    AlreadyHad,
    /// The server has a newer revision; this one changes nothing.
    Superseded,
}

/// One push to apply: a patient's validated changes.
#[derive(Debug, Clone, Copy)]
pub struct PushToApply<'a> {
    /// The patient, from the access token.
    pub patient: Uuid,
    /// The valid changes, in the order the device sent them.
    pub changes: &'a [Entry],
    /// When the push arrived (the patient's `last_sync_at`).
    pub received_at: OffsetDateTime,
}

/// What the care team sees of a patient's activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientActivity {
    /// The latest `occurred_at` of any accepted entry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_entry_at: Option<OffsetDateTime>,
    /// When the patient's device last pushed or pulled.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sync_at: Option<OffsetDateTime>,
    /// The UTC offset of the latest entry, in seconds: it decides the patient's "today".
    pub latest_offset_seconds: Option<i32>,
}

impl PatientActivity {
    /// The UTC offset of the patient's latest entry.
    pub fn latest_offset(&self) -> Option<UtcOffset> {
        self.latest_offset_seconds
            .and_then(|s| UtcOffset::from_whole_seconds(s).ok())
    }
}

/// The `P` record: what pushes and pulls keep of a patient.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PatientState {
    /// The sequence number of the patient's last change.
    last_seq: u64,
    /// The latest `occurred_at` of any accepted live entry.
    #[serde(with = "time::serde::rfc3339::option")]
    last_entry_at: Option<OffsetDateTime>,
    /// Its UTC offset in seconds.
    latest_offset_seconds: Option<i32>,
    /// When a device of the patient last pushed or pulled, in Unix milliseconds.
    last_sync_millis: Option<i64>,
    /// The change log's digest at `last_seq` (`keys::chain_digest`); none before the first
    /// change, and for a log begun before digests until its next change.
    #[serde(default)]
    log_digest: Option<u64>,
}

impl PatientState {
    /// Keeps the later of the stored last sync and `at`.
    fn note_sync(&mut self, at: OffsetDateTime) {
        let at_millis = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        self.last_sync_millis = Some(
            self.last_sync_millis
                .map_or(at_millis, |m| m.max(at_millis)),
        );
    }

    /// Keeps `entry` as the latest if it is not older than the one kept.
    fn note_entry(&mut self, entry: &Entry) {
        if self.last_entry_at.is_none_or(|at| entry.occurred_at >= at) {
            self.last_entry_at = Some(entry.occurred_at);
            self.latest_offset_seconds = Some(entry.occurred_at.offset().whole_seconds());
        }
    }
}

/// One page of a patient's change log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// Latest revisions of the entries changed after the cursor, in sequence order.
    pub changes: Vec<Entry>,
    /// The sequence number of the last change returned (or the cursor given).
    pub last_seq: u64,
    /// Whether more changes follow.
    pub more: bool,
    /// The change log's position `last_seq`, when the page moved past the cursor.
    pub last_position: Option<LogPosition>,
    /// The patient's last sequence number when the page was read: a cursor beyond it was
    /// not given by this change log as it is now (see [`ServerStore::changes_after`]).
    pub log_end: u64,
}

/// The stamp the server merges into its own clock for each applied change.
pub fn greatest_rev<'a>(changes: impl IntoIterator<Item = &'a Entry>) -> Option<&'a Stamp> {
    changes.into_iter().map(|c| &c.rev).max()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_concurrent;
#[cfg(test)]
mod tests_formats;
