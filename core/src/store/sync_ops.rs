//! The operations the sync engine drives: read the outbox, settle pushed changes, apply
//! pulled ones, keep the cursor and the clock.

use time::Duration;

use super::codec;
use super::error::StoreResult;
use super::tx::abort;
use super::{DeviceStore, RejectedChange};
use crate::model::{Entry, EntryId, HybridClock, LIMITS, Stamp, ValidationError};

/// How far inside the server's limit (a `rev` at most [`LIMITS`]`.max_future` ahead of its
/// clock) this device's wall clock must be before a refused change is given a fresh stamp:
/// the device knows the server's clock only as `server_hlc`, which may run ahead of it.
pub const RESTAMP_MARGIN: Duration = Duration::hours(1);

/// What became of a change the server refused because its `rev` was too far ahead of the
/// server's clock (this device's clock had run ahead when it was made).
#[derive(Debug, Clone, PartialEq)]
pub enum Restamp {
    /// It waits in the outbox again as this revision: the same content under a fresh stamp.
    Restamped(Entry),
    /// The refused revision has since been replaced (edited again, or overtaken by a pulled
    /// change): nothing to do.
    Moot,
    /// No stamp this device can make now would be well below the refused one: its wall
    /// clock is still (about as far) ahead, or the refusal was not about the clock. A fresh
    /// stamp would be refused too, so the change belongs on the rejected list.
    WallClockAhead,
}

/// [`Restamp`] with the moved clock, as the transaction decides it.
enum Outcome {
    Restamped(Box<(Entry, HybridClock)>),
    Moot,
    WallClockAhead,
}

impl DeviceStore {
    /// Up to `limit` changes waiting to be pushed, oldest change first: the current revision
    /// of each entry in the outbox (an entry edited twice before a sync is pushed once).
    pub fn pending_changes(&self, limit: usize) -> StoreResult<Vec<Entry>> {
        let mut changes: Vec<Entry> = Vec::new();
        for item in self.trees.outbox.iter().keys() {
            if changes.len() >= limit {
                break;
            }
            let id = codec::id_of_outbox_key(&item?)?;
            // Reading outside a transaction can meet an entry twice while it is being edited.
            if changes.iter().any(|change| change.id == id) {
                continue;
            }
            if let Some(entry) = self.revision(id)? {
                changes.push(entry);
            }
        }
        Ok(changes)
    }

    /// Settles pushed changes the server accepted: an outbox item goes only if it still holds
    /// the acknowledged rev, so an edit made during the push stays pending. Returns how many
    /// items left the outbox. Durable on return.
    pub fn acknowledge(&self, accepted: &[(EntryId, Stamp)]) -> StoreResult<usize> {
        self.acknowledge_at(accepted, None)
    }

    /// [`DeviceStore::acknowledge`], keeping in the same step where the server's change log
    /// stood once it had them (`log_position`, opaque): the pulls send it back, so that a
    /// server restored from a backup that lost them says so. Durable on return.
    pub fn acknowledge_at(
        &self,
        accepted: &[(EntryId, Stamp)],
        log_position: Option<&str>,
    ) -> StoreResult<usize> {
        let position = log_position.map(codec::encode_text);
        let removed = self.trees.transact(|tx| {
            let mut removed = 0;
            for (id, rev) in accepted {
                if tx.dequeue(id, rev)? {
                    removed += 1;
                }
            }
            if let Some(position) = &position {
                tx.meta.insert(codec::META_ACKED, position.clone())?;
            }
            Ok(removed)
        })?;
        self.flush()?;
        Ok(removed)
    }

    /// Moves a change the server refused from the outbox to the rejected list, with the
    /// server's error. A rejection of a revision that has since been replaced (edited again,
    /// or overtaken by a pulled change) is moot and ignored: returns whether it was recorded.
    /// Durable on return.
    pub fn reject(
        &self,
        id: EntryId,
        rev: &Stamp,
        code: &str,
        message: &str,
        field: Option<&str>,
    ) -> StoreResult<bool> {
        let recorded = self.trees.transact(|tx| {
            let current = match tx.revision(&id)? {
                Some(current) if &current.rev == rev => current,
                _ => return Ok(false),
            };
            tx.dequeue(&id, rev)?;
            tx.put_rejection(&RejectedChange {
                entry: current,
                code: code.to_string(),
                message: message.to_string(),
                field: field.map(str::to_string),
            })?;
            Ok(true)
        })?;
        self.flush()?;
        Ok(recorded)
    }

    /// Gives a change the server refused as stamped too far ahead of its clock a fresh stamp,
    /// once this device's wall clock is right again: the clock is moved back to the greatest
    /// stamp known from the server (`server_hlc`, or a greater one received before), and the
    /// refused revision (in the outbox or on the rejected list) is replaced by the same
    /// content under a new stamp (the later of that and the wall clock), queued for pushing.
    ///
    /// Moving the clock back is safe because `server_hlc` is at or above every stamp the
    /// server accepted (it merges a push's stamps before applying them, and keeps its clock
    /// across restarts), and stamps above it that this device made were refused, so nobody
    /// else holds them. Durable on return.
    pub fn restamp_refused(
        &self,
        id: EntryId,
        refused: &Stamp,
        server_hlc: &Stamp,
    ) -> StoreResult<Restamp> {
        let mut clock = self.lock_clock();
        let wall = self.wall.now_millis();
        let allowed_ahead = (LIMITS.max_future - RESTAMP_MARGIN).whole_milliseconds() as u64;
        if wall > server_hlc.millis().saturating_add(allowed_ahead) {
            return Ok(Restamp::WallClockAhead);
        }
        let outcome = self.trees.transact(|tx| {
            let current = match tx.revision(&id)? {
                Some(current) if &current.rev == refused => current,
                _ => return Ok(Outcome::Moot),
            };
            // Exactly at the greatest stamp known from the server: the fresh stamp is the
            // later of it and the wall clock.
            let floor = match tx.server_floor()? {
                Some(floor) if floor > *server_hlc => floor,
                _ => server_hlc.clone(),
            };
            let mut rebased = clock.clone();
            rebased.rebase(&floor);
            rebased.merge(&floor);
            let rev = rebased.now(wall);
            // Only worth sending if it is well below the refused stamp; otherwise the wall
            // clock is as far ahead as when that one was made (or the refusal was not about
            // the clock at all) and the server would refuse it again.
            let margin = RESTAMP_MARGIN.whole_milliseconds() as u64;
            if rev.millis().saturating_add(margin) >= refused.millis() {
                return Ok(Outcome::WallClockAhead);
            }
            let fresh = Entry {
                device_id: rev.device().clone(),
                rev: rev.clone(),
                ..current.clone()
            };
            let encoded = codec::encode_entry(&fresh).map_err(abort)?;
            tx.put_revision(&fresh, &encoded, Some(&current))?;
            tx.enqueue(&fresh, Some(&current))?;
            tx.save_clock(&rebased.last())?;
            Ok(Outcome::Restamped(Box::new((fresh, rebased))))
        })?;
        match outcome {
            Outcome::Restamped(restamped) => {
                let (fresh, rebased) = *restamped;
                *clock = rebased;
                drop(clock);
                self.flush()?;
                Ok(Restamp::Restamped(fresh))
            }
            Outcome::Moot => Ok(Restamp::Moot),
            Outcome::WallClockAhead => Ok(Restamp::WallClockAhead),
        }
    }

    /// Applies pulled changes with last-writer-wins per entry (a change replaces the local
    /// revision only if its rev is greater; the outbox of an entry whose local rev is greater
    /// is left alone), stores `new_cursor` and merges every pulled rev into the clock — all
    /// in one transaction, durable on return. Returns how many changes replaced a revision.
    ///
    /// A change that could not be stored and read back (a body that does not match `deleted`
    /// or `kind`, a rev of another device than `device_id`) refuses the whole batch with
    /// [`super::StoreError::Invalid`] naming `changes[i].<field>`.
    pub fn apply_pulled(&self, changes: &[Entry], new_cursor: &str) -> StoreResult<usize> {
        let encoded = changes
            .iter()
            .enumerate()
            .map(|(i, change)| {
                codec::encode_entry(change).map_err(|error| match error {
                    super::StoreError::Invalid(e) => {
                        ValidationError::new(format!("changes[{i}].{}", e.field), e.message).into()
                    }
                    other => other,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut clock = self.lock_clock();
        let mut merged = clock.clone();
        for change in changes {
            merged.merge(&change.rev);
        }
        let last = merged.last();
        let cursor = codec::encode_text(new_cursor);
        let applied = self.trees.transact(|tx| {
            let mut applied = 0;
            for (change, encoded) in changes.iter().zip(&encoded) {
                let old = tx.revision(&change.id)?;
                if let Some(old) = &old {
                    if old.rev >= change.rev {
                        continue;
                    }
                    // A queued local change lost to a newer one the server already has.
                    tx.dequeue(&old.id, &old.rev)?;
                }
                tx.put_revision(change, encoded, old.as_ref())?;
                applied += 1;
            }
            tx.meta.insert(codec::META_CURSOR, cursor.clone())?;
            if let Some(greatest) = changes.iter().map(|c| &c.rev).max() {
                tx.raise_server_floor(greatest)?;
            }
            tx.save_clock(&last)?;
            Ok(applied)
        })?;
        *clock = merged;
        drop(clock);
        self.flush()?;
        Ok(applied)
    }

    /// Takes the server's clock (`server_hlc`) into this device's, so every later local change
    /// orders after it, and keeps it as the floor [`DeviceStore::restamp_refused`] never goes
    /// below. Durable on return.
    pub fn merge_clock(&self, server_hlc: &Stamp) -> StoreResult<()> {
        let mut clock = self.lock_clock();
        let mut merged = clock.clone();
        merged.merge(server_hlc);
        let last = merged.last();
        let changed = last != clock.last();
        self.trees.transact(|tx| {
            tx.raise_server_floor(server_hlc)?;
            if changed {
                tx.save_clock(&last)?;
            }
            Ok(())
        })?;
        *clock = merged;
        drop(clock);
        self.flush()
    }

    /// Queues the current revision of every entry this device holds (its own and pulled
    /// ones, deletions included) to be pushed again, and forgets the pull cursor, in one
    /// transaction (with the last acknowledged log position); durable on return. Returns how many revisions were queued that were not
    /// already.
    ///
    /// For a server that lost changes it had acknowledged: restored from an earlier backup,
    /// which it tells by refusing this device's cursor as beyond its change log. A revision
    /// the server still has is accepted again with no effect, so after the next push the
    /// server holds all this device does, and the next pull starts from the beginning.
    /// Revisions on the rejected list stay there.
    pub fn resend_all(&self) -> StoreResult<usize> {
        let mut revisions = Vec::new();
        for value in self.trees.entries.iter().values() {
            let entry = codec::decode_entry(&value?)?;
            revisions.push((entry.id, entry.rev));
        }
        let queued = self.trees.transact(|tx| {
            let mut queued = 0;
            for (id, rev) in &revisions {
                // Edited since the scan: the edit queued its own revision.
                if tx.revision(id)?.is_none_or(|current| current.rev != *rev) {
                    continue;
                }
                if tx.is_queued(id, rev)? || tx.is_rejected(id, rev)? {
                    continue;
                }
                tx.outbox.insert(codec::outbox_key(rev, id), &[][..])?;
                queued += 1;
            }
            tx.meta.remove(codec::META_CURSOR)?;
            tx.meta.remove(codec::META_ACKED)?;
            Ok(queued)
        })?;
        self.flush()?;
        Ok(queued)
    }

    /// Ties this diary to the patient `patient_id` at its first sync, and says whether it is
    /// that patient's (durable on return). A diary holds one patient's entries, pulled ones
    /// included: synced under another patient's login it would hand them to that account
    /// ([`DeviceStore::resend_all`] sends all of them).
    pub fn bind_patient(&self, patient_id: &str) -> StoreResult<bool> {
        let stored = self.trees.meta.compare_and_swap(
            codec::META_PATIENT,
            None::<&[u8]>,
            Some(codec::encode_text(patient_id)),
        )?;
        match stored {
            Ok(()) => {
                self.flush()?;
                Ok(true)
            }
            Err(current) => Ok(current
                .current
                .map(|bytes| codec::decode_text(&bytes))
                .transpose()?
                .is_some_and(|bound| bound == patient_id)),
        }
    }
}
