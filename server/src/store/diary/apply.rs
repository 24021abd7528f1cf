//! Applying pushes: last-writer-wins by `rev` per entry, the change log, and the touched
//! days' contributions and summaries, for a whole group of pushes in one atomic batch.

use std::collections::{BTreeMap, btree_map};

use taperlog_core::clinical::MmeTable;
use taperlog_core::model::{Entry, EntryId, Stamp};
use taperlog_core::summary::{DayContribution, contributions, summarize_day};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::super::codec::{decode, encode};
use super::super::{ServerStore, StoreError};
use super::day_record::{decode_day, encode_day};
use super::entry_record::{decode_entry, encode_entry, rev_of_entry};
use super::keys::{
    CONTRIBUTIONS, ENTRY, GREATEST_REV, GREATEST_REV_KEY, PATIENT, SUMMARY, chain_digest,
    change_key, day_key, encode_log, entry_key, kind_name, patient_key,
};
use super::staging::{Layer, View};
use super::{ChangeOutcome, PatientState, PushToApply};

/// One push being applied over its group's writes.
struct PushApply<'a> {
    view: View<'a>,
    patient: Uuid,
    /// The touched days' contributions, decoded once and written once per push (a push of
    /// 500 entries touches a few dozen days; writing a day per change would re-encode it
    /// hundreds of times).
    days: BTreeMap<Date, BTreeMap<EntryId, DayContribution>>,
    /// The patient's state, once read.
    state: Option<PatientState>,
    /// The sequence number of this push's first applied change, and the applied ids in order
    /// with the log's digest at each.
    log: Option<(u64, Vec<(EntryId, u64)>)>,
}

impl PushApply<'_> {
    fn entry(&self, id: EntryId) -> Result<Option<(u64, Entry)>, StoreError> {
        match self.view.get(&entry_key(self.patient, id))? {
            Some(bytes) => Ok(Some(decode_entry(&bytes)?)),
            None => Ok(None),
        }
    }

    fn state(&mut self) -> Result<&mut PatientState, StoreError> {
        let state = match self.state.take() {
            Some(state) => state,
            None => read_state(|key| self.view.get(key), self.patient)?,
        };
        Ok(self.state.insert(state))
    }

    /// Gives `change` the next position of the change log: its sequence number, and the
    /// log's digest there.
    fn next_position(&mut self, change: &Entry) -> Result<(u64, u64), StoreError> {
        let state = self.state()?;
        state.last_seq += 1;
        let digest = chain_digest(state.log_digest.unwrap_or(0), change.id, &change.rev);
        state.log_digest = Some(digest);
        Ok((state.last_seq, digest))
    }

    fn day(&mut self, date: Date) -> Result<&mut BTreeMap<EntryId, DayContribution>, StoreError> {
        match self.days.entry(date) {
            btree_map::Entry::Occupied(slot) => Ok(slot.into_mut()),
            btree_map::Entry::Vacant(slot) => {
                let key = day_key(CONTRIBUTIONS, self.patient, date);
                let stored = match self.view.get(&key)? {
                    Some(bytes) => decode_day(date, &bytes)?,
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
        let (seq, digest) = self.next_position(change)?;
        self.log
            .get_or_insert_with(|| (seq, Vec::new()))
            .1
            .push((change.id, digest));
        self.view.own.insert(
            entry_key(self.patient, change.id),
            encode_entry(seq, change)?,
        );
        self.stage_contributions(old.as_ref().map(|(_, e)| e), change)?;
        Ok(ChangeOutcome::Applied(seq))
    }

    /// Writes the staged days (contributions and re-computed summaries), the change-log
    /// record and the patient's state.
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
                let bytes = encode_day(&by_entry)?;
                self.view.own.insert(key, bytes);
            }
        }
        if let Some((first, ids)) = self.log.take() {
            self.view
                .own
                .insert(change_key(self.patient, first), encode_log(&ids));
        }
        let state = self.state()?;
        if let Some(entry) = latest {
            state.note_entry(entry);
        }
        state.note_sync(received_at);
        let bytes = encode(kind_name(PATIENT), state)?;
        self.view
            .own
            .insert(patient_key(PATIENT, self.patient), bytes);
        Ok(())
    }
}

/// The patient's stored state (the default before their first push or pull), read with `get`.
pub(super) fn read_state(
    get: impl FnOnce(&[u8]) -> Result<Option<sled::IVec>, StoreError>,
    patient: Uuid,
) -> Result<PatientState, StoreError> {
    match get(&patient_key(PATIENT, patient))? {
        Some(bytes) => decode(kind_name(PATIENT), &bytes),
        None => Ok(PatientState::default()),
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
        state: None,
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

/// The greatest rev among the changes of `pushes` that were applied.
fn greatest_applied<'a>(
    pushes: &'a [PushToApply<'_>],
    outcomes: &[Result<Vec<ChangeOutcome>, StoreError>],
) -> Option<&'a Stamp> {
    pushes
        .iter()
        .zip(outcomes)
        .filter_map(|(push, outcomes)| Some(push.changes.iter().zip(outcomes.as_ref().ok()?)))
        .flatten()
        .filter(|(_, outcome)| matches!(outcome, ChangeOutcome::Applied(_)))
        .map(|(change, _)| &change.rev)
        .max()
}

/// Stages `rev` as the diary's greatest applied rev if it is greater than the stored one.
fn stage_greatest_rev(tree: &sled::Tree, group: &mut Layer, rev: &Stamp) -> Result<(), StoreError> {
    if read_greatest_rev(tree)?.is_none_or(|stored| *rev > stored) {
        group.insert(
            GREATEST_REV_KEY.to_vec(),
            encode(kind_name(GREATEST_REV), rev)?,
        );
    }
    Ok(())
}

/// The diary's greatest applied rev. A record that cannot be read is rebuilt from the
/// entries rather than failing every push (or the server's start) until someone repairs it.
pub(super) fn read_greatest_rev(tree: &sled::Tree) -> Result<Option<Stamp>, StoreError> {
    let Some(bytes) = tree.get(GREATEST_REV_KEY)? else {
        return Ok(None);
    };
    match decode(kind_name(GREATEST_REV), &bytes) {
        Ok(rev) => Ok(Some(rev)),
        Err(error) => {
            tracing::warn!(%error, "the diary's greatest-rev record cannot be read; rebuilding it");
            record_greatest_rev_of_entries(tree)
        }
    }
}

/// Writes the greatest-rev record from the diary's entries, whose revs include every
/// applied one, and returns it: for a diary in the layout before the record
/// ([`super::LAYOUT_WITHOUT_GREATEST_REV`], once, at open) or one whose record cannot be
/// read. Reads only each entry's `rev`; an entry that cannot be read is skipped (and
/// counted in the log) rather than stopping the server.
pub(crate) fn record_greatest_rev_of_entries(
    tree: &sled::Tree,
) -> Result<Option<Stamp>, StoreError> {
    let mut greatest: Option<Stamp> = None;
    let mut unreadable = 0usize;
    for item in tree.scan_prefix([ENTRY]) {
        let (_, bytes) = item?;
        match rev_of_entry(&bytes) {
            Ok(rev) if greatest.as_ref().is_none_or(|g| rev > *g) => greatest = Some(rev),
            Ok(_) => {}
            Err(_) => unreadable += 1,
        }
    }
    if unreadable > 0 {
        tracing::warn!(unreadable, "entries skipped while finding the greatest rev");
    }
    if let Some(rev) = &greatest {
        tree.insert(GREATEST_REV_KEY, encode(kind_name(GREATEST_REV), rev)?)?;
    }
    Ok(greatest)
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
        let outcomes: Vec<_> = pushes
            .iter()
            .map(|push| apply_push(tree, &mut group, push, table))
            .collect();
        if let Some(rev) = greatest_applied(pushes, &outcomes) {
            stage_greatest_rev(tree, &mut group, rev)?;
        }
        let batch = group.into_batch();
        let started = std::time::Instant::now();
        tree.apply_batch(batch)?;
        self.note_diary_batch(started.elapsed());
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
        let tree = &self.trees.diary;
        let mut state = read_state(|key| Ok(tree.get(key)?), patient)?;
        state.note_sync(now);
        tree.insert(
            patient_key(PATIENT, patient),
            encode(kind_name(PATIENT), &state)?,
        )?;
        Ok(())
    }
}
