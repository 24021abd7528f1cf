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
    /// Writes being applied that have no ticket yet.
    in_flight: AtomicU64,
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

    /// Runs `apply` (a write to the store) and returns its result with its ticket. While it
    /// runs the write counts as in flight, so that a reader never misses it.
    pub fn write<T>(&self, apply: impl FnOnce() -> T) -> (T, u64) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = apply();
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        (result, ticket)
    }

    /// Returns once everything visible to a read made before this call is on disk: readers
    /// (pulls) use it so that they never hand out a change a crash could still take back.
    /// Costs nothing when every write is already durable and none is under way.
    pub async fn barrier(&self, store: &Arc<ServerStore>) -> Result<(), StoreError> {
        // A write the read saw either has its ticket by now, or is still counted in flight
        // (it takes its ticket before it stops counting).
        let ticket = if self.in_flight.load(Ordering::SeqCst) > 0 {
            self.written.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.written.load(Ordering::SeqCst)
        };
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
        store.flush().await?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        *durable = target;
        Ok(())
    }
}
