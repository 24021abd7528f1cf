//! The device's diary on sled: entries, their date index, the outbox of changes waiting to
//! be pushed, rejected changes, the sync cursor, the device id and its hybrid logical clock.
//!
//! Every write is one sled transaction across the trees it touches, flushed to disk before
//! the call returns: a write that returned survives a killed process.

mod codec;
mod config;
mod error;
mod marker;
mod open;
mod query;
mod summaries;
mod sync_ops;
mod tx;
mod write;

#[cfg(test)]
mod model_test;
#[cfg(test)]
pub(crate) mod test_util;

use std::sync::{Arc, Mutex, MutexGuard};

use crate::clinical::MmeTable;
use crate::model::{DeviceId, HybridClock, WallClock};

pub use codec::{FORMAT_VERSION, RejectedChange, VALUE_VERSION};
pub use config::{DEFAULT_CACHE_BYTES, StoreConfig};
pub use error::{StoreError, StoreResult};
pub use marker::MARKER_FILE;
pub use sync_ops::{RESTAMP_MARGIN, Restamp};

/// The longest date range one query may ask for (about ten years).
pub const MAX_RANGE_DAYS: i64 = 3_660;

/// The device's diary. Cheap to share across threads behind an `Arc`.
pub struct DeviceStore {
    db: sled::Db,
    trees: tx::Trees,
    device_id: DeviceId,
    /// Held across a write's transaction so stamps reach the disk in the order they were made.
    clock: Mutex<HybridClock>,
    wall: Arc<dyn WallClock>,
    mme_table: &'static MmeTable,
}

impl DeviceStore {
    /// This device's id, the device part of every stamp it makes.
    pub fn device_id(&self) -> &DeviceId {
        &self.device_id
    }

    fn lock_clock(&self) -> MutexGuard<'_, HybridClock> {
        // The clock is two integers; a panic elsewhere cannot leave it half-updated.
        self.clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the writes so far durable; every write operation ends with it.
    fn flush(&self) -> StoreResult<()> {
        self.db.flush()?;
        Ok(())
    }
}

impl std::fmt::Debug for DeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStore")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests_local;
#[cfg(test)]
mod tests_summary;
#[cfg(test)]
mod tests_sync;
