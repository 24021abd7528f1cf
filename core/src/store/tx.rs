//! The trees, and the steps every write transaction is made of.

use sled::Tree;
use sled::transaction::{
    ConflictableTransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::codec::{self, RejectedChange};
use super::error::{StoreError, StoreResult};
use crate::model::{Entry, EntryId, Stamp};

/// The store's trees.
pub(crate) struct Trees {
    pub entries: Tree,
    pub by_date: Tree,
    pub outbox: Tree,
    pub rejected: Tree,
    pub meta: Tree,
}

/// The trees as seen inside one transaction.
pub(crate) struct Tx<'a> {
    pub entries: &'a TransactionalTree,
    pub by_date: &'a TransactionalTree,
    pub outbox: &'a TransactionalTree,
    pub rejected: &'a TransactionalTree,
    pub meta: &'a TransactionalTree,
}

/// The error a transaction step returns: a conflict (retried by sled) or an abort.
pub(crate) type TxError = ConflictableTransactionError<StoreError>;
pub(crate) type TxResult<T> = Result<T, TxError>;

/// Aborts the transaction with a store error.
pub(crate) fn abort(error: StoreError) -> TxError {
    ConflictableTransactionError::Abort(error)
}

fn unabortable(error: UnabortableTransactionError) -> TxError {
    error.into()
}

impl Trees {
    pub(crate) fn open(db: &sled::Db) -> StoreResult<Trees> {
        Ok(Trees {
            entries: db.open_tree(codec::TREE_ENTRIES)?,
            by_date: db.open_tree(codec::TREE_BY_DATE)?,
            outbox: db.open_tree(codec::TREE_OUTBOX)?,
            rejected: db.open_tree(codec::TREE_REJECTED)?,
            meta: db.open_tree(codec::TREE_META)?,
        })
    }

    /// Runs `step` atomically across all trees. `step` may run more than once (sled retries
    /// on conflict), so it must have no effect outside the transaction.
    pub(crate) fn transact<R>(&self, step: impl Fn(&Tx<'_>) -> TxResult<R>) -> StoreResult<R> {
        use sled::Transactional;
        let trees = (
            &self.entries,
            &self.by_date,
            &self.outbox,
            &self.rejected,
            &self.meta,
        );
        let result = trees.transaction(|(entries, by_date, outbox, rejected, meta)| {
            step(&Tx {
                entries,
                by_date,
                outbox,
                rejected,
                meta,
            })
        })?;
        Ok(result)
    }
}

impl Tx<'_> {
    /// The current revision of an entry, live or tombstone.
    pub(crate) fn revision(&self, id: &EntryId) -> TxResult<Option<Entry>> {
        match self.entries.get(codec::id_key(id)).map_err(unabortable)? {
            Some(value) => codec::decode_entry(&value).map(Some).map_err(abort),
            None => Ok(None),
        }
    }

    /// Replaces the current revision of `new.id` (which was `old`) and keeps the date index.
    pub(crate) fn put_revision(
        &self,
        new: &Entry,
        encoded: &[u8],
        old: Option<&Entry>,
    ) -> TxResult<()> {
        if let Some(old) = old.filter(|old| !old.deleted) {
            self.by_date.remove(codec::date_key(old))?;
        }
        if !new.deleted {
            self.by_date.insert(codec::date_key(new), &[][..])?;
        }
        self.entries.insert(&codec::id_key(&new.id)[..], encoded)?;
        // A newer revision makes an older rejection moot. Removing only what is there keeps
        // the common write from logging a deletion of nothing.
        if self.rejected.get(codec::id_key(&new.id))?.is_some() {
            self.rejected.remove(&codec::id_key(&new.id)[..])?;
        }
        Ok(())
    }

    /// Whether this revision of an entry waits in the outbox.
    pub(crate) fn is_queued(&self, id: &EntryId, rev: &Stamp) -> TxResult<bool> {
        Ok(self
            .outbox
            .get(codec::outbox_key(rev, id))
            .map_err(unabortable)?
            .is_some())
    }

    /// Queues `new` for pushing in place of the revision `old` it replaces.
    pub(crate) fn enqueue(&self, new: &Entry, old: Option<&Entry>) -> TxResult<()> {
        if let Some(old) = old {
            self.dequeue(&old.id, &old.rev)?;
        }
        self.outbox
            .insert(codec::outbox_key(&new.rev, &new.id), &[][..])?;
        Ok(())
    }

    /// Takes a revision out of the outbox; returns whether it was there.
    pub(crate) fn dequeue(&self, id: &EntryId, rev: &Stamp) -> TxResult<bool> {
        let queued = self.is_queued(id, rev)?;
        if queued {
            self.outbox.remove(codec::outbox_key(rev, id))?;
        }
        Ok(queued)
    }

    /// Whether this revision of an entry is on the rejected list.
    pub(crate) fn is_rejected(&self, id: &EntryId, rev: &Stamp) -> TxResult<bool> {
        match self.rejected.get(codec::id_key(id)).map_err(unabortable)? {
            Some(value) => Ok(codec::decode_rejection(&value).map_err(abort)?.entry.rev == *rev),
            None => Ok(false),
        }
    }

    /// Puts a refused revision on the rejected list.
    pub(crate) fn put_rejection(&self, rejection: &RejectedChange) -> TxResult<()> {
        let value = codec::encode_rejection(rejection).map_err(abort)?;
        self.rejected
            .insert(&codec::id_key(&rejection.entry.id)[..], value)?;
        Ok(())
    }

    /// Raises the greatest stamp received from the server to `received` if it is greater.
    pub(crate) fn raise_server_floor(&self, received: &Stamp) -> TxResult<()> {
        let floor = match self.meta.get(codec::META_SERVER_FLOOR)? {
            Some(value) => Some(codec::decode_stamp(&value).map_err(abort)?),
            None => None,
        };
        if floor.is_none_or(|floor| *received > floor) {
            self.meta
                .insert(codec::META_SERVER_FLOOR, codec::encode_stamp(received))?;
        }
        Ok(())
    }

    /// The greatest stamp received from the server, if any.
    pub(crate) fn server_floor(&self) -> TxResult<Option<Stamp>> {
        match self.meta.get(codec::META_SERVER_FLOOR)? {
            Some(value) => codec::decode_stamp(&value).map(Some).map_err(abort),
            None => Ok(None),
        }
    }

    /// Persists the clock's last stamp, so a restart resumes after it.
    pub(crate) fn save_clock(&self, last: &Stamp) -> TxResult<()> {
        self.meta
            .insert(codec::META_CLOCK, codec::encode_stamp(last))?;
        Ok(())
    }
}
