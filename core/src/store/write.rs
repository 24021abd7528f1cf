//! The patient's own writes: record, edit, delete.

use time::OffsetDateTime;
use uuid::Uuid;

use super::DeviceStore;
use super::codec;
use super::error::{StoreError, StoreResult};
use super::tx::abort;
use crate::model::{Body, Entry, EntryId, validate_entry};

impl DeviceStore {
    /// Records a new entry: a new UUIDv7 id, a fresh `rev`, validated, written with its date
    /// index and outbox item in one transaction, and flushed before returning.
    ///
    /// A rule the entry breaks comes back as [`StoreError::Invalid`] naming the field.
    pub fn record(&self, occurred_at: OffsetDateTime, body: Body) -> StoreResult<Entry> {
        self.write_live(Uuid::now_v7(), occurred_at, body, false)
    }

    /// Replaces a live entry's time and body with a new revision (durable on return).
    ///
    /// [`StoreError::NotFound`] when no live entry has this id.
    pub fn edit(&self, id: EntryId, occurred_at: OffsetDateTime, body: Body) -> StoreResult<Entry> {
        self.write_live(id, occurred_at, body, true)
    }

    /// Deletes a live entry: a tombstone revision that syncs like any other change.
    /// Returns the tombstone (durable on return).
    pub fn delete(&self, id: EntryId) -> StoreResult<Entry> {
        let tombstone = {
            let mut clock = self.lock_clock();
            let rev = clock.now(self.wall.now_millis());
            let last = clock.last();
            self.trees.transact(|tx| {
                let old = match tx.revision(&id)? {
                    Some(old) if !old.deleted => old,
                    _ => return Err(abort(StoreError::NotFound(id))),
                };
                let tombstone = old.tombstone(rev.clone());
                let encoded = codec::encode_entry(&tombstone).map_err(abort)?;
                tx.put_revision(&tombstone, &encoded, Some(&old))?;
                tx.enqueue(&tombstone, Some(&old))?;
                tx.save_clock(&last)?;
                Ok(tombstone)
            })?
        };
        self.flush()?;
        Ok(tombstone)
    }

    fn write_live(
        &self,
        id: EntryId,
        occurred_at: OffsetDateTime,
        body: Body,
        must_exist: bool,
    ) -> StoreResult<Entry> {
        let entry = {
            let mut clock = self.lock_clock();
            let wall = self.wall.now_millis();
            let entry = Entry::live(id, occurred_at, body, clock.now(wall));
            validate_entry(&entry, wall_time(wall))?;
            let encoded = codec::encode_entry(&entry)?;
            let last = clock.last();
            self.trees.transact(|tx| {
                let old = tx.revision(&id)?;
                match &old {
                    Some(old) if must_exist && old.deleted => {
                        return Err(abort(StoreError::NotFound(id)));
                    }
                    None if must_exist => return Err(abort(StoreError::NotFound(id))),
                    _ => {}
                }
                tx.put_revision(&entry, &encoded, old.as_ref())?;
                tx.enqueue(&entry, old.as_ref())?;
                tx.save_clock(&last)?;
                Ok(())
            })?;
            entry
        };
        self.flush()?;
        Ok(entry)
    }
}

/// The wall clock's reading as a time, for validation ("not more than 24 h in the future"
/// by the device's own clock, however wrong it is).
fn wall_time(millis: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
