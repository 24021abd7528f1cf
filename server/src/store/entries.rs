//! The diary on the server: each patient's entries (latest revision, tombstones included),
//! the per-patient change log that pulls read, and the daily summaries kept current on every
//! accepted change, so that care-team queries never rescan raw entries.
//!
//! A change is applied with last-writer-wins by `rev`. One push is applied in one sled
//! transaction: the entry, its place in the change log, the patient's sequence counter, the
//! contributions of the days it touches and those days' summaries move together.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, btree_map};

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use taperlog_core::clinical::MmeTable;
use taperlog_core::model::{Entry, EntryId, Stamp};
use taperlog_core::summary::{DailySummary, DayContribution, contributions, summarize_day};
use time::{Date, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::codec::{decode, decode_txn, encode, encode_txn};
use super::{ServerStore, StoreError, txn_error};

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

const ENTRIES: &str = "entries";
const SEQ_BY_ENTRY: &str = "seq_by_entry";
const CHANGES_BY_PATIENT_SEQ: &str = "changes_by_patient_seq";
const PATIENT_SEQ: &str = "last_seq_by_patient";
const CONTRIBUTIONS_BY_DAY: &str = "contributions_by_patient_day";
const SUMMARY_BY_DAY: &str = "daily_summary_by_patient_day";
const ENTRY_BY_DAY: &str = "entry_by_patient_day";
const ACTIVITY: &str = "activity_by_patient";

fn key2(patient: Uuid, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + rest.len());
    key.extend_from_slice(patient.as_bytes());
    key.extend_from_slice(rest);
    key
}

/// A date as 4 bytes that sort in calendar order.
fn date_bytes(date: Date) -> [u8; 4] {
    ((i64::from(date.to_julian_day()) + (1 << 31)) as u32).to_be_bytes()
}

fn date_of_bytes(bytes: &[u8]) -> Option<Date> {
    let raw = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    Date::from_julian_day((i64::from(raw) - (1 << 31)) as i32).ok()
}

fn day_key(patient: Uuid, date: Date) -> Vec<u8> {
    key2(patient, &date_bytes(date))
}

fn entry_day_key(patient: Uuid, date: Date, id: EntryId) -> Vec<u8> {
    let mut key = day_key(patient, date);
    key.extend_from_slice(id.as_bytes());
    key
}

fn seq_of(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

type Abortable<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The trees of this area inside one transaction.
struct Tx<'a> {
    entries: &'a TransactionalTree,
    seq_by_entry: &'a TransactionalTree,
    changes: &'a TransactionalTree,
    patient_seq: &'a TransactionalTree,
    contributions: &'a TransactionalTree,
    summaries: &'a TransactionalTree,
    entry_by_day: &'a TransactionalTree,
    activity: &'a TransactionalTree,
    /// The touched days' contributions, staged in memory and written once per transaction
    /// (a push of 500 entries touches a few days; writing each day per change would
    /// re-encode it hundreds of times).
    days: RefCell<BTreeMap<Date, BTreeMap<EntryId, DayContribution>>>,
    /// The patient's last sequence number, staged likewise.
    last_seq: Cell<Option<u64>>,
}

impl Tx<'_> {
    fn entry(&self, patient: Uuid, id: EntryId) -> Abortable<Option<Entry>> {
        match self.entries.get(key2(patient, id.as_bytes()))? {
            Some(bytes) => Ok(Some(decode_txn(ENTRIES, &bytes)?)),
            None => Ok(None),
        }
    }

    fn next_seq(&self, patient: Uuid) -> Abortable<u64> {
        let last = match self.last_seq.get() {
            Some(last) => last,
            None => self
                .patient_seq
                .get(patient.as_bytes())?
                .map(|b| seq_of(&b))
                .unwrap_or(0),
        };
        self.last_seq.set(Some(last + 1));
        Ok(last + 1)
    }

    /// Replaces `old`'s contributions by `new`'s in the staged days.
    fn stage_contributions(
        &self,
        patient: Uuid,
        old: Option<&Entry>,
        new: &Entry,
    ) -> Abortable<()> {
        let removed = old.map(contributions).unwrap_or_default();
        let added = contributions(new);
        let mut days = self.days.borrow_mut();
        for item in removed.iter().chain(&added) {
            let by_entry = match days.entry(item.date) {
                btree_map::Entry::Occupied(slot) => slot.into_mut(),
                btree_map::Entry::Vacant(slot) => {
                    let stored = match self.contributions.get(day_key(patient, item.date))? {
                        Some(bytes) => decode_txn(CONTRIBUTIONS_BY_DAY, &bytes)?,
                        None => BTreeMap::new(),
                    };
                    slot.insert(stored)
                }
            };
            by_entry.remove(&new.id);
        }
        for item in added {
            days.entry(item.date).or_default().insert(new.id, item);
        }
        if let Some(old) = old {
            self.entry_by_day
                .remove(entry_day_key(patient, old.local_date(), old.id))?;
        }
        if !new.deleted {
            self.entry_by_day
                .insert(entry_day_key(patient, new.local_date(), new.id), &[])?;
        }
        Ok(())
    }

    /// Writes the staged days (contributions and re-computed summaries) and sequence number.
    fn write_staged(&self, patient: Uuid, table: &MmeTable) -> Abortable<()> {
        for (date, by_entry) in self.days.borrow().iter() {
            let key = day_key(patient, *date);
            match summarize_day(*date, by_entry.values(), table) {
                Some(summary) => {
                    self.summaries
                        .insert(key.as_slice(), encode_txn(SUMMARY_BY_DAY, &summary)?)?;
                }
                None => {
                    self.summaries.remove(key.as_slice())?;
                }
            }
            if by_entry.is_empty() {
                self.contributions.remove(key)?;
            } else {
                self.contributions
                    .insert(key, encode_txn(CONTRIBUTIONS_BY_DAY, by_entry)?)?;
            }
        }
        if let Some(last) = self.last_seq.get() {
            self.patient_seq
                .insert(patient.as_bytes(), &last.to_be_bytes())?;
        }
        Ok(())
    }

    fn apply(&self, patient: Uuid, change: &Entry) -> Abortable<ChangeOutcome> {
        let old = self.entry(patient, change.id)?;
        match &old {
            Some(old) if old.rev == change.rev => return Ok(ChangeOutcome::AlreadyHad),
            Some(old) if old.rev > change.rev => return Ok(ChangeOutcome::Superseded),
            _ => {}
        }
        let seq = self.next_seq(patient)?;
        let entry_key = key2(patient, change.id.as_bytes());
        if let Some(previous) = self.seq_by_entry.get(&entry_key)? {
            self.changes.remove(key2(patient, &previous))?;
        }
        self.seq_by_entry
            .insert(entry_key.as_slice(), &seq.to_be_bytes())?;
        self.changes
            .insert(key2(patient, &seq.to_be_bytes()), change.id.as_bytes())?;
        self.entries
            .insert(entry_key, encode_txn(ENTRIES, change)?)?;
        self.stage_contributions(patient, old.as_ref(), change)?;
        Ok(ChangeOutcome::Applied(seq))
    }

    fn note_activity(
        &self,
        patient: Uuid,
        latest: Option<&Entry>,
        synced_at: OffsetDateTime,
    ) -> Abortable<()> {
        let mut activity: PatientActivity = match self.activity.get(patient.as_bytes())? {
            Some(bytes) => decode_txn(ACTIVITY, &bytes)?,
            None => PatientActivity::default(),
        };
        activity.last_sync_at = Some(synced_at);
        if let Some(entry) = latest
            && activity
                .last_entry_at
                .is_none_or(|at| entry.occurred_at >= at)
        {
            activity.last_entry_at = Some(entry.occurred_at);
            activity.latest_offset_seconds = Some(entry.occurred_at.offset().whole_seconds());
        }
        self.activity
            .insert(patient.as_bytes(), encode_txn(ACTIVITY, &activity)?)?;
        Ok(())
    }
}

impl ServerStore {
    fn diary_trees(&self) -> Result<[sled::Tree; 8], StoreError> {
        Ok([
            self.open_tree(ENTRIES)?,
            self.open_tree(SEQ_BY_ENTRY)?,
            self.open_tree(CHANGES_BY_PATIENT_SEQ)?,
            self.open_tree(PATIENT_SEQ)?,
            self.open_tree(CONTRIBUTIONS_BY_DAY)?,
            self.open_tree(SUMMARY_BY_DAY)?,
            self.open_tree(ENTRY_BY_DAY)?,
            self.open_tree(ACTIVITY)?,
        ])
    }

    /// Applies validated changes of one patient with last-writer-wins, in one transaction.
    /// Not durable until the store is flushed: callers flush before acknowledging.
    pub fn apply_changes(
        &self,
        patient: Uuid,
        changes: &[Entry],
        table: &MmeTable,
        now: OffsetDateTime,
    ) -> Result<Vec<ChangeOutcome>, StoreError> {
        let trees = self.diary_trees()?;
        let latest = changes
            .iter()
            .filter(|c| !c.deleted)
            .max_by_key(|c| c.occurred_at);
        trees[..]
            .transaction(|views| {
                let tx = Tx {
                    entries: &views[0],
                    seq_by_entry: &views[1],
                    changes: &views[2],
                    patient_seq: &views[3],
                    contributions: &views[4],
                    summaries: &views[5],
                    entry_by_day: &views[6],
                    activity: &views[7],
                    days: RefCell::new(BTreeMap::new()),
                    last_seq: Cell::new(None),
                };
                let outcomes = changes
                    .iter()
                    .map(|change| tx.apply(patient, change))
                    .collect::<Abortable<Vec<_>>>()?;
                tx.write_staged(patient, table)?;
                tx.note_activity(patient, latest, now)?;
                Ok(outcomes)
            })
            .map_err(txn_error)
    }

    /// Notes that a patient's device pulled (for `last_sync_at`).
    pub fn note_pull(&self, patient: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        let tree = self.open_tree(ACTIVITY)?;
        let mut activity = self.patient_activity(patient)?;
        activity.last_sync_at = Some(now);
        tree.insert(patient.as_bytes(), encode(ACTIVITY, &activity)?)?;
        Ok(())
    }

    /// The patient's activity (empty before their first sync).
    pub fn patient_activity(&self, patient: Uuid) -> Result<PatientActivity, StoreError> {
        match self.open_tree(ACTIVITY)?.get(patient.as_bytes())? {
            Some(bytes) => decode(ACTIVITY, &bytes),
            None => Ok(PatientActivity::default()),
        }
    }

    /// Up to `limit` changes of a patient after sequence number `after`.
    pub fn changes_after(
        &self,
        patient: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let log = self.open_tree(CHANGES_BY_PATIENT_SEQ)?;
        let entries = self.open_tree(ENTRIES)?;
        let start = key2(patient, &(after.saturating_add(1)).to_be_bytes());
        let end = key2(patient, &u64::MAX.to_be_bytes());
        let mut page = ChangePage {
            changes: Vec::new(),
            last_seq: after,
            more: false,
        };
        for item in log.range(start..=end) {
            let (key, id) = item?;
            if page.changes.len() == limit {
                page.more = true;
                break;
            }
            let entry_key = key2(patient, &id);
            if let Some(bytes) = entries.get(entry_key)? {
                page.changes.push(decode(ENTRIES, &bytes)?);
            }
            page.last_seq = seq_of(&key[16..]);
        }
        Ok(page)
    }

    /// The patient's live entries whose local day lies in `from..=to`, by time.
    pub fn entries_between(
        &self,
        patient: Uuid,
        from: Date,
        to: Date,
    ) -> Result<Vec<Entry>, StoreError> {
        let index = self.open_tree(ENTRY_BY_DAY)?;
        let entries = self.open_tree(ENTRIES)?;
        let mut found = Vec::new();
        for item in
            index.range(day_key(patient, from)..day_key(patient, to.next_day().unwrap_or(to)))
        {
            let (key, _) = item?;
            let Some(id) = key.get(20..36).and_then(|b| Uuid::from_slice(b).ok()) else {
                continue;
            };
            if let Some(bytes) = entries.get(key2(patient, id.as_bytes()))? {
                let entry: Entry = decode(ENTRIES, &bytes)?;
                if !entry.deleted {
                    found.push(entry);
                }
            }
        }
        found.sort_by_key(|e| (e.occurred_at, e.id));
        Ok(found)
    }

    /// The patient's daily summaries (days with data) in `from..=to`, kept current on every
    /// accepted change.
    pub fn daily_summaries(
        &self,
        patient: Uuid,
        from: Date,
        to: Date,
    ) -> Result<Vec<DailySummary>, StoreError> {
        let tree = self.open_tree(SUMMARY_BY_DAY)?;
        let end = day_key(patient, to);
        tree.range(day_key(patient, from)..=end)
            .values()
            .map(|bytes| decode(SUMMARY_BY_DAY, &bytes?))
            .collect()
    }

    /// All of the patient's daily summaries, oldest first.
    pub fn all_daily_summaries(&self, patient: Uuid) -> Result<Vec<DailySummary>, StoreError> {
        let tree = self.open_tree(SUMMARY_BY_DAY)?;
        tree.scan_prefix(patient.as_bytes())
            .values()
            .map(|bytes| decode(SUMMARY_BY_DAY, &bytes?))
            .collect()
    }

    /// The patient's day contributions in `from..=to` (to re-summarise with another MME table).
    pub fn day_contributions(
        &self,
        patient: Uuid,
        from: Date,
        to: Date,
    ) -> Result<Vec<(Date, Vec<DayContribution>)>, StoreError> {
        let tree = self.open_tree(CONTRIBUTIONS_BY_DAY)?;
        tree.range(day_key(patient, from)..=day_key(patient, to))
            .map(|item| {
                let (key, bytes) = item?;
                let date = date_of_bytes(&key[16..]).ok_or(StoreError::Format {
                    tree: CONTRIBUTIONS_BY_DAY,
                    detail: "bad day key".into(),
                })?;
                let by_entry: BTreeMap<EntryId, DayContribution> =
                    decode(CONTRIBUTIONS_BY_DAY, &bytes)?;
                Ok((date, by_entry.into_values().collect()))
            })
            .collect()
    }

    /// The latest revision the server holds of an entry (tombstones included).
    pub fn entry_revision(&self, patient: Uuid, id: EntryId) -> Result<Option<Entry>, StoreError> {
        match self.open_tree(ENTRIES)?.get(key2(patient, id.as_bytes()))? {
            Some(bytes) => Ok(Some(decode(ENTRIES, &bytes)?)),
            None => Ok(None),
        }
    }

    /// How many entry revisions (live and deleted) the server holds for a patient.
    pub fn entry_count(&self, patient: Uuid) -> Result<usize, StoreError> {
        Ok(self
            .open_tree(ENTRIES)?
            .scan_prefix(patient.as_bytes())
            .count())
    }
}

/// The stamp the server merges into its own clock for each applied change.
pub fn greatest_rev<'a>(changes: impl IntoIterator<Item = &'a Entry>) -> Option<&'a Stamp> {
    changes.into_iter().map(|c| &c.rev).max()
}

#[cfg(test)]
#[path = "entries_tests.rs"]
mod tests;
