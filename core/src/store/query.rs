//! Reading the diary: entries, the outbox's size, rejections, the cursor.

use time::Date;

use super::codec;
use super::error::{StoreError, StoreResult};
use super::{DeviceStore, MAX_RANGE_DAYS, RejectedChange};
use crate::model::{Entry, EntryId};

impl DeviceStore {
    /// The live entry with this id; `None` if it does not exist or was deleted.
    pub fn entry(&self, id: EntryId) -> StoreResult<Option<Entry>> {
        Ok(self.revision(id)?.filter(|entry| !entry.deleted))
    }

    /// The current revision of an entry, a tombstone included.
    pub fn revision(&self, id: EntryId) -> StoreResult<Option<Entry>> {
        match self.trees.entries.get(codec::id_key(&id))? {
            Some(value) => codec::decode_entry(&value).map(Some),
            None => Ok(None),
        }
    }

    /// The live entries whose patient-local date lies in `from..=to`, sorted by
    /// `occurred_at` (then id). The range may span at most [`MAX_RANGE_DAYS`] days.
    pub fn entries_between(&self, from: Date, to: Date) -> StoreResult<Vec<Entry>> {
        check_range(from, to)?;
        let mut entries = self.scan_dates(from, to)?;
        entries.sort_by_key(|entry| (entry.occurred_at, entry.id));
        Ok(entries)
    }

    /// Live entries of the local dates `from..=to`, in index order.
    pub(super) fn scan_dates(&self, from: Date, to: Date) -> StoreResult<Vec<Entry>> {
        let mut start = codec::date_prefix(from).to_vec();
        start.extend_from_slice(&[0; 16]);
        let mut end = codec::date_prefix(to).to_vec();
        end.extend_from_slice(&[0xff; 16]);
        let mut entries = Vec::new();
        for item in self.trees.by_date.range(start..=end) {
            let (key, _) = item?;
            let id = codec::id_of_date_key(&key)?;
            // An index key whose entry is gone or deleted would be a bug; skip rather than show it.
            if let Some(entry) = self.entry(id)? {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// How many entries have changes waiting to be pushed.
    pub fn pending_count(&self) -> usize {
        self.trees.outbox.len()
    }

    /// The changes the server refused, with its answers, in entry-id order.
    pub fn rejected(&self) -> StoreResult<Vec<RejectedChange>> {
        self.trees
            .rejected
            .iter()
            .values()
            .map(|value| codec::decode_rejection(&value?))
            .collect()
    }

    /// The sync cursor stored by the last pull, `None` before the first one.
    pub fn cursor(&self) -> StoreResult<Option<String>> {
        match self.trees.meta.get(codec::META_CURSOR)? {
            Some(value) => codec::decode_text(&value).map(Some),
            None => Ok(None),
        }
    }

    /// Where the server's change log stood at its last push answer (opaque), if it said.
    pub fn acked_position(&self) -> StoreResult<Option<String>> {
        match self.trees.meta.get(codec::META_ACKED)? {
            Some(value) => codec::decode_text(&value).map(Some),
            None => Ok(None),
        }
    }
}

/// Refuses a backwards range or one longer than [`MAX_RANGE_DAYS`].
pub(super) fn check_range(from: Date, to: Date) -> StoreResult<()> {
    if from > to {
        return Err(StoreError::BadRange {
            from,
            to,
            reason: "`from` is after `to`",
        });
    }
    if (to - from).whole_days() >= MAX_RANGE_DAYS {
        return Err(StoreError::BadRange {
            from,
            to,
            reason: "spans more days than MAX_RANGE_DAYS",
        });
    }
    Ok(())
}
