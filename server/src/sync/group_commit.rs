//! Group commit: concurrent writers share fsyncs.
//!
//! A writer applies its change in memory, takes a ticket, and waits until a flush that began
//! after its ticket has finished. While one flush runs, the writers arriving meanwhile queue
//! behind it and are all covered by the next one, so 200 devices pushing at once pay a few
//! fsyncs, not 200 in a row.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

use crate::store::{ServerStore, StoreError};

/// Coalesces the flushes of concurrent writers.
#[derive(Debug, Default)]
pub struct GroupCommit {
    /// Tickets handed out: one per write applied in memory.
    written: AtomicU64,
    /// The highest ticket known durable; the lock also makes flushes run one at a time.
    durable: Mutex<u64>,
    /// Flushes performed (for benchmarks and tests).
    flushes: AtomicU64,
}

impl GroupCommit {
    /// A new coordinator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that a write was applied in memory; returns its ticket.
    pub fn ticket(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once everything visible to a read made before this call is on disk: readers
    /// (pulls) use it so that they never hand out a change a crash could still take back.
    pub async fn barrier(&self, store: &Arc<ServerStore>) -> Result<(), StoreError> {
        let ticket = self.ticket();
        self.wait_durable(store, ticket).await
    }

    /// How many flushes ran.
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Returns once every write up to `ticket` is on disk.
    pub async fn wait_durable(
        &self,
        store: &Arc<ServerStore>,
        ticket: u64,
    ) -> Result<(), StoreError> {
        let mut durable = self.durable.lock().await;
        if *durable >= ticket {
            return Ok(());
        }
        // Every write with a ticket up to here was applied before the flush starts.
        let target = self.written.load(Ordering::SeqCst);
        let flushing = Arc::clone(store);
        tokio::task::spawn_blocking(move || flushing.flush_blocking())
            .await
            .map_err(|e| {
                StoreError::Engine(sled::Error::ReportableBug(format!(
                    "flush task failed: {e}"
                )))
            })??;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        *durable = target;
        Ok(())
    }
}
