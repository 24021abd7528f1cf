//! The operations the sync engine drives: read the outbox, settle pushed changes, apply
//! pulled ones, keep the cursor and the clock.

use time::Duration;

use super::codec;
use super::error::StoreResult;
use super::tx::abort;
use super::{DeviceStore, RejectedChange};
use crate::model::{Entry, EntryId, LIMITS, Stamp, ValidationError};

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
    /// This device's wall clock is still too far ahead of the server's: a fresh stamp would
    /// be refused too, so the change belongs on the rejected list.
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
        let removed = self.trees.transact(|tx| {
            let mut removed = 0;
            for (id, rev) in accepted {
                if tx.dequeue(id, rev)? {
                    removed += 1;
                }
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
    /// once this device's wall clock is right again: the clock is moved back to `server_hlc`,
    /// and the refused revision (in the outbox or on the rejected list) is replaced by the
    /// same content under a new stamp (the later of `server_hlc` and the wall clock), queued
    /// for pushing.
    ///
    /// Moving the clock back is safe because `server_hlc` is at or above every stamp the
    /// server accepted (the server keeps its clock across restarts), and stamps above it
    /// that this device made were refused, so nobody else holds them. Durable on return.
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
        // Exactly at `server_hlc`: the fresh stamp is the later of it and the wall clock.
        let mut rebased = clock.clone();
        rebased.rebase(server_hlc);
        rebased.merge(server_hlc);
        let rev = rebased.now(wall);
        let last = rebased.last();
        let fresh = self.trees.transact(|tx| {
            let current = match tx.revision(&id)? {
                Some(current) if &current.rev == refused => current,
                _ => return Ok(None),
            };
            let fresh = Entry {
                device_id: rev.device().clone(),
                rev: rev.clone(),
                ..current.clone()
            };
            let encoded = codec::encode_entry(&fresh).map_err(abort)?;
            tx.put_revision(&fresh, &encoded, Some(&current))?;
            tx.enqueue(&fresh, Some(&current))?;
            tx.save_clock(&last)?;
            Ok(Some(fresh))
        })?;
        let Some(fresh) = fresh else {
            return Ok(Restamp::Moot);
        };
        *clock = rebased;
        drop(clock);
        self.flush()?;
        Ok(Restamp::Restamped(fresh))
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
            tx.save_clock(&last)?;
            Ok(applied)
        })?;
        *clock = merged;
        drop(clock);
        self.flush()?;
        Ok(applied)
    }

    /// Takes a stamp from elsewhere (the server's `server_hlc`) into the clock, so every later
    /// local change orders after it. Durable on return.
    pub fn merge_clock(&self, remote: &Stamp) -> StoreResult<()> {
        let mut clock = self.lock_clock();
        let before = clock.last();
        clock.merge(remote);
        let last = clock.last();
        if last != before {
            self.trees
                .meta
                .insert(codec::META_CLOCK, codec::encode_stamp(&last))?;
        }
        drop(clock);
        self.flush()
    }
}
