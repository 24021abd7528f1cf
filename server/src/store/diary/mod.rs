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
mod keys;
mod read;
mod staging;

use serde::{Deserialize, Serialize};
use taperlog_core::model::{Entry, Stamp};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

pub(crate) use keys::TREE;

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

/// The part of [`PatientActivity`] that pushes keep: the latest entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct EntryActivity {
    #[serde(with = "time::serde::rfc3339::option")]
    last_entry_at: Option<OffsetDateTime>,
    latest_offset_seconds: Option<i32>,
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
}

/// The stamp the server merges into its own clock for each applied change.
pub fn greatest_rev<'a>(changes: impl IntoIterator<Item = &'a Entry>) -> Option<&'a Stamp> {
    changes.into_iter().map(|c| &c.rev).max()
}

#[cfg(test)]
mod tests;
