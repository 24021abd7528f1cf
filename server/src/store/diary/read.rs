//! Reading the diary: pages of the change log, entries by day, daily summaries, activity.

use std::collections::BTreeSet;

use taperlog_core::model::{Entry, EntryId, Stamp};
use taperlog_core::summary::{DailySummary, DayContribution};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::super::codec::decode;
use super::super::{ServerStore, StoreError};
use super::apply::{read_greatest_rev, read_state};
use super::day_record::{DayRecord, decode_day};
use super::entry_record::decode_entry;
use super::keys::{
    CHANGE, CONTRIBUTIONS, ENTRY, REST, SUMMARY, change_key, date_of_key, day_key, decode_log,
    entry_key, kind_name, patient_key, u64_of,
};
use super::{ChangePage, LogPosition, PatientActivity};

impl ServerStore {
    /// The greatest `rev` the diary has applied (none before the first change): the server's
    /// clock resumes after it.
    pub fn greatest_rev_applied(&self) -> Result<Option<Stamp>, StoreError> {
        read_greatest_rev(&self.trees.diary)
    }

    /// The patient's activity (empty before their first sync).
    pub fn patient_activity(&self, patient: Uuid) -> Result<PatientActivity, StoreError> {
        let tree = &self.trees.diary;
        let state = read_state(|key| Ok(tree.get(key)?), patient)?;
        let last_sync_at = state.last_sync_millis.and_then(|millis| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
        });
        Ok(PatientActivity {
            last_entry_at: state.last_entry_at,
            last_sync_at,
            latest_offset_seconds: state.latest_offset_seconds,
        })
    }

    /// The end of the patient's change log: its last sequence number (0 before the first
    /// change) and the log's digest there (none for a log begun before digests, until its
    /// next change).
    pub fn log_end(&self, patient: Uuid) -> Result<(u64, Option<u64>), StoreError> {
        let tree = &self.trees.diary;
        let state = read_state(|key| Ok(tree.get(key)?), patient)?;
        Ok((state.last_seq, state.log_digest))
    }

    /// Up to `limit` changes of a patient after sequence number `after`.
    pub fn changes_after(
        &self,
        patient: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let tree = &self.trees.diary;
        // sled's iterators are not snapshots: a scan sees some records written while it runs
        // and not others. Rather than rely on which, the page ends at the last sequence
        // number when the read starts: every record up to it is already in the tree (the
        // patient's state and the records are written in one atomic batch), so the cursor
        // never moves past a change the scan could not see. Later changes are left to the
        // next pull.
        let last = read_state(|key| Ok(tree.get(key)?), patient)?.last_seq;
        let wanted = after.saturating_add(1);
        let mut page = ChangePage {
            changes: Vec::new(),
            last_seq: after,
            more: false,
            last_position: None,
            log_end: last,
        };
        if wanted > last {
            return Ok(page);
        }
        // The record holding `wanted` may start before it.
        let start = match tree
            .range(patient_key(CHANGE, patient)..=change_key(patient, wanted))
            .next_back()
        {
            Some(item) => item?.0.to_vec(),
            None => change_key(patient, wanted),
        };
        'records: for item in tree.range(start..=change_key(patient, last)) {
            let (key, bytes) = item?;
            let first = u64_of(&key[REST..])?;
            for (seq, position) in (first..).zip(decode_log(&bytes)?) {
                let id = position.id;
                if seq < wanted {
                    continue;
                }
                if seq > last {
                    break 'records;
                }
                if page.changes.len() == limit {
                    page.more = true;
                    break 'records;
                }
                // A pointer is current when the entry still has this sequence number.
                if let Some(bytes) = tree.get(entry_key(patient, id))? {
                    let (current, entry) = decode_entry(&bytes)?;
                    if current == seq {
                        page.changes.push(entry);
                    }
                }
                page.last_seq = seq;
                page.last_position = Some(position);
            }
        }
        Ok(page)
    }

    /// Position `seq` of the patient's change log (none beyond its end). Positions are never
    /// rewritten (pointers that went stale stay in place), so a position and its digest stay
    /// the same for as long as the log is this one.
    pub fn change_at(&self, patient: Uuid, seq: u64) -> Result<Option<LogPosition>, StoreError> {
        let Some(item) = self
            .trees
            .diary
            .range(patient_key(CHANGE, patient)..=change_key(patient, seq))
            .next_back()
        else {
            return Ok(None);
        };
        let (key, bytes) = item?;
        let first = u64_of(&key[REST..])?;
        let positions = decode_log(&bytes)?;
        Ok(seq
            .checked_sub(first)
            .and_then(|offset| usize::try_from(offset).ok())
            .and_then(|offset| positions.get(offset).copied()))
    }

    /// The patient's live entries whose local day lies in `from..=to`, by time.
    pub fn entries_between(
        &self,
        patient: Uuid,
        from: Date,
        to: Date,
    ) -> Result<Vec<Entry>, StoreError> {
        // Every live entry contributes to its own local day (marked `logged`), so the days'
        // contributions are the index of entries by day.
        let mut ids = BTreeSet::new();
        for (_, by_entry) in self.contributions_by_day(patient, from, to)? {
            ids.extend(
                by_entry
                    .into_iter()
                    .filter(|(_, item)| item.logged)
                    .map(|(id, _)| id),
            );
        }
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(bytes) = self.trees.diary.get(entry_key(patient, id))? {
                let (_, entry) = decode_entry(&bytes)?;
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
        self.trees
            .diary
            .range(day_key(SUMMARY, patient, from)..=day_key(SUMMARY, patient, to))
            .values()
            .map(|bytes| decode(kind_name(SUMMARY), &bytes?))
            .collect()
    }

    /// All of the patient's daily summaries, oldest first.
    pub fn all_daily_summaries(&self, patient: Uuid) -> Result<Vec<DailySummary>, StoreError> {
        self.trees
            .diary
            .scan_prefix(patient_key(SUMMARY, patient))
            .values()
            .map(|bytes| decode(kind_name(SUMMARY), &bytes?))
            .collect()
    }

    /// The patient's day contributions in `from..=to` (to re-summarise with another MME table).
    pub fn day_contributions(
        &self,
        patient: Uuid,
        from: Date,
        to: Date,
    ) -> Result<Vec<(Date, Vec<DayContribution>)>, StoreError> {
        Ok(self
            .contributions_by_day(patient, from, to)?
            .into_iter()
            .map(|(date, by_entry)| (date, by_entry.into_values().collect()))
            .collect())
    }

    fn contributions_by_day(
        &self,
        patient: Uuid,
        from: Date,
        to: Date,
    ) -> Result<Vec<(Date, DayRecord)>, StoreError> {
        self.trees
            .diary
            .range(day_key(CONTRIBUTIONS, patient, from)..=day_key(CONTRIBUTIONS, patient, to))
            .map(|item| {
                let (key, bytes) = item?;
                let date = date_of_key(&key)?;
                Ok((date, decode_day(date, &bytes)?))
            })
            .collect()
    }

    /// The latest revision the server holds of an entry (tombstones included).
    pub fn entry_revision(&self, patient: Uuid, id: EntryId) -> Result<Option<Entry>, StoreError> {
        match self.trees.diary.get(entry_key(patient, id))? {
            Some(bytes) => Ok(Some(decode_entry(&bytes)?.1)),
            None => Ok(None),
        }
    }

    /// How many entry revisions (live and deleted) the server holds for a patient.
    pub fn entry_count(&self, patient: Uuid) -> Result<usize, StoreError> {
        Ok(self
            .trees
            .diary
            .scan_prefix(patient_key(ENTRY, patient))
            .count())
    }
}
