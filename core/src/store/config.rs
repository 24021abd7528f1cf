//! How a device store is opened.

use std::fmt;
use std::sync::Arc;

use crate::clinical::{DEFAULT_MME_TABLE, MmeTable};
use crate::model::{DeviceId, SystemWallClock, WallClock};

/// The page cache sled may use by default: a phone app should stay small.
pub const DEFAULT_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// Options for [`super::DeviceStore::open`].
#[derive(Clone)]
pub struct StoreConfig {
    /// Bytes of page cache sled may keep in memory.
    pub cache_capacity_bytes: u64,
    /// The device id to use when the store is created; `None` makes a random `dev-<hex>`.
    /// On later opens it must match the stored id (or be `None`).
    pub device_id: Option<DeviceId>,
    /// Where physical time comes from (tests pass a wrong clock).
    pub wall_clock: Arc<dyn WallClock>,
    /// The MME table the store's summaries are computed with.
    pub mme_table: &'static MmeTable,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_capacity_bytes: DEFAULT_CACHE_BYTES,
            device_id: None,
            wall_clock: Arc::new(SystemWallClock),
            mme_table: DEFAULT_MME_TABLE,
        }
    }
}

impl StoreConfig {
    /// This config with a fixed device id.
    pub fn with_device_id(mut self, device_id: DeviceId) -> Self {
        self.device_id = Some(device_id);
        self
    }

    /// This config with another source of physical time.
    pub fn with_wall_clock(mut self, wall_clock: Arc<dyn WallClock>) -> Self {
        self.wall_clock = wall_clock;
        self
    }

    /// This config with another cache size.
    pub fn with_cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity_bytes = bytes;
        self
    }

    /// This config with another MME table for summaries.
    pub fn with_mme_table(mut self, table: &'static MmeTable) -> Self {
        self.mme_table = table;
        self
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("cache_capacity_bytes", &self.cache_capacity_bytes)
            .field("device_id", &self.device_id)
            .field("mme_table", &self.mme_table.version)
            .finish_non_exhaustive()
    }
}
