//! Applying pushes: last-writer-wins by `rev` per entry, the change log, and the touched
//! days' contributions and summaries, for a whole group of pushes in one atomic batch.

use std::collections::{BTreeMap, btree_map};

use taperlog_core::clinical::MmeTable;
use taperlog_core::model::{Entry, EntryId};
use taperlog_core::summary::{DayContribution, contributions, summarize_day};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::super::codec::{decode, encode};
use super::super::{ServerStore, StoreError};
use super::keys::{
    CONTRIBUTIONS, ENTRY_ACTIVITY, LAST_SEQ, LAST_SYNC, SUMMARY, change_key, day_key, decode_entry,
    decode_seq, encode_entry, encode_log, encode_seq, entry_key, kind_name, patient_key,
};
use super::staging::{Layer, View};
use super::{ChangeOutcome, EntryActivity, PushToApply};

/// One push being applied over its group's writes.
struct PushApply<'a> {
    view: View<'a>,
    patient: Uuid,
    /// The touched days' contributions, decoded once and written once per push (a push of
    /// 500 entries touches a few dozen days; writing a day per change would re-encode it
    /// hundreds of times).
    days: BTreeMap<Date, BTreeMap<EntryId, DayContribution>>,
    /// The patient's last sequence number, once read.
    last_seq: Option<u64>,
    /// The sequence number of this push's first applied change, and the applied ids in order.
    log: Option<(u64, Vec<EntryId>)>,
}

impl PushApply<'_> {
    fn entry(&self, id: EntryId) -> Result<Option<(u64, Entry)>, StoreError> {
        match self.view.get(&entry_key(self.patient, id))? {
            Some(bytes) => Ok(Some(decode_entry(&bytes)?)),
            None => Ok(None),
        }
    }

    fn next_seq(&mut self) -> Result<u64, StoreError> {
        let last = match self.last_seq {
            Some(last) => last,
            None => match self.view.get(&patient_key(LAST_SEQ, self.patient))? {
                Some(bytes) => decode_seq(&bytes)?,
                None => 0,
            },
        };
        self.last_seq = Some(last + 1);
        Ok(last + 1)
    }

    fn day(&mut self, date: Date) -> Result<&mut BTreeMap<EntryId, DayContribution>, StoreError> {
        match self.days.entry(date) {
            btree_map::Entry::Occupied(slot) => Ok(slot.into_mut()),
            btree_map::Entry::Vacant(slot) => {
                let key = day_key(CONTRIBUTIONS, self.patient, date);
                let stored = match self.view.get(&key)? {
                    Some(bytes) => decode(kind_name(CONTRIBUTIONS), &bytes)?,
                    None => BTreeMap::new(),
                };
                Ok(slot.insert(stored))
            }
        }
    }

    /// Replaces `old`'s contributions by `new`'s in the staged days.
    fn stage_contributions(&mut self, old: Option<&Entry>, new: &Entry) -> Result<(), StoreError> {
        for item in old.map(contributions).unwrap_or_default() {
            self.day(item.date)?.remove(&new.id);
        }
        for item in contributions(new) {
            self.day(item.date)?.insert(new.id, item);
        }
        Ok(())
    }

    fn apply(&mut self, change: &Entry) -> Result<ChangeOutcome, StoreError> {
        let old = self.entry(change.id)?;
        match &old {
            Some((_, old)) if old.rev == change.rev => return Ok(ChangeOutcome::AlreadyHad),
            Some((_, old)) if old.rev > change.rev => return Ok(ChangeOutcome::Superseded),
            _ => {}
        }
        let seq = self.next_seq()?;
        self.log
            .get_or_insert_with(|| (seq, Vec::new()))
            .1
            .push(change.id);
        self.view.own.insert(
            entry_key(self.patient, change.id),
            encode_entry(seq, change)?,
        );
        self.stage_contributions(old.as_ref().map(|(_, e)| e), change)?;
        Ok(ChangeOutcome::Applied(seq))
    }

    /// Writes the staged days (contributions and re-computed summaries), the sequence
    /// number and the patient's activity.
    fn finish(
        &mut self,
        table: &MmeTable,
        latest: Option<&Entry>,
        received_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        for (date, by_entry) in std::mem::take(&mut self.days) {
            let summary_key = day_key(SUMMARY, self.patient, date);
            match summarize_day(date, by_entry.values(), table) {
                Some(summary) => {
                    let bytes = encode(kind_name(SUMMARY), &summary)?;
                    self.view.own.insert(summary_key, bytes);
                }
                None => self.view.own.remove(summary_key),
            }
            let key = day_key(CONTRIBUTIONS, self.patient, date);
            if by_entry.is_empty() {
                self.view.own.remove(key);
            } else {
                let bytes = encode(kind_name(CONTRIBUTIONS), &by_entry)?;
                self.view.own.insert(key, bytes);
            }
        }
        if let Some(last) = self.last_seq {
            self.view
                .own
                .insert(patient_key(LAST_SEQ, self.patient), encode_seq(last));
        }
        if let Some((first, ids)) = self.log.take() {
            self.view
                .own
                .insert(change_key(self.patient, first), encode_log(&ids));
        }
        if let Some(entry) = latest {
            let activity_key = patient_key(ENTRY_ACTIVITY, self.patient);
            let activity: EntryActivity = match self.view.get(&activity_key)? {
                Some(bytes) => decode(kind_name(ENTRY_ACTIVITY), &bytes)?,
                None => EntryActivity::default(),
            };
            if activity
                .last_entry_at
                .is_none_or(|at| entry.occurred_at >= at)
            {
                let activity = EntryActivity {
                    last_entry_at: Some(entry.occurred_at),
                    latest_offset_seconds: Some(entry.occurred_at.offset().whole_seconds()),
                };
                let bytes = encode(kind_name(ENTRY_ACTIVITY), &activity)?;
                self.view.own.insert(activity_key, bytes);
            }
        }
        let sync_key = patient_key(LAST_SYNC, self.patient);
        let stored = self.view.get(&sync_key)?;
        self.view
            .own
            .insert(sync_key, later_sync(stored.as_deref(), received_at)?);
        Ok(())
    }
}

/// Applies one push over `group`; its writes join the group only if all of it succeeded.
fn apply_push(
    tree: &sled::Tree,
    group: &mut Layer,
    push: &PushToApply<'_>,
    table: &MmeTable,
) -> Result<Vec<ChangeOutcome>, StoreError> {
    let mut apply = PushApply {
        view: View {
            tree,
            group,
            own: Layer::default(),
        },
        patient: push.patient,
        days: BTreeMap::new(),
        last_seq: None,
        log: None,
    };
    let outcomes = push
        .changes
        .iter()
        .map(|change| apply.apply(change))
        .collect::<Result<Vec<_>, _>>()?;
    let latest = push
        .changes
        .iter()
        .filter(|c| !c.deleted)
        .max_by_key(|c| c.occurred_at);
    apply.finish(table, latest, push.received_at)?;
    let own = apply.view.own;
    group.absorb(own);
    Ok(outcomes)
}

impl ServerStore {
    /// Applies a group of pushes (validated changes, one patient each) with last-writer-wins
    /// per entry, in one atomic write. Each push succeeds or fails alone: a push whose
    /// stored records cannot be read fails with its error, and the others still go in.
    /// The result is `Err` only when the write itself failed, for every push.
    ///
    /// Not durable until the store is flushed: callers flush before acknowledging.
    pub fn apply_pushes(
        &self,
        pushes: &[PushToApply<'_>],
        table: &MmeTable,
    ) -> Result<Vec<Result<Vec<ChangeOutcome>, StoreError>>, StoreError> {
        // Reads and the batch must not interleave with another group's.
        let _writing = self
            .diary_writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tree = &self.trees.diary;
        let mut group = Layer::default();
        let outcomes = pushes
            .iter()
            .map(|push| apply_push(tree, &mut group, push, table))
            .collect();
        tree.apply_batch(group.into_batch())?;
        Ok(outcomes)
    }

    /// Applies one patient's validated changes with last-writer-wins, atomically.
    /// Not durable until the store is flushed: callers flush before acknowledging.
    pub fn apply_changes(
        &self,
        patient: Uuid,
        changes: &[Entry],
        table: &MmeTable,
        now: OffsetDateTime,
    ) -> Result<Vec<ChangeOutcome>, StoreError> {
        let push = PushToApply {
            patient,
            changes,
            received_at: now,
        };
        self.apply_pushes(&[push], table)?
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// Notes that a patient's device pulled (for `last_sync_at`).
    pub fn note_pull(&self, patient: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        // Under the writers' lock: a group writes this record too, from what it read before.
        let _writing = self
            .diary_writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = patient_key(LAST_SYNC, patient);
        let stored = self.trees.diary.get(&key)?;
        self.trees
            .diary
            .insert(key, later_sync(stored.as_deref(), now)?)?;
        Ok(())
    }
}

/// The record of the later of the stored last-sync time and `at`, in Unix milliseconds.
fn later_sync(stored: Option<&[u8]>, at: OffsetDateTime) -> Result<Vec<u8>, StoreError> {
    let at_millis = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    let stored_millis = match stored {
        Some(bytes) => decode::<i64>(kind_name(LAST_SYNC), bytes)?,
        None => i64::MIN,
    };
    encode(kind_name(LAST_SYNC), &at_millis.max(stored_millis))
}
