//! Opening a store: the format check, the device id and the clock's resumption.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::DeviceStore;
use super::codec::{self, FORMAT_VERSION};
use super::config::StoreConfig;
use super::error::{StoreError, StoreResult};
use super::marker;
use super::tx::Trees;
use crate::model::{DeviceId, HybridClock};

impl DeviceStore {
    /// Opens (or creates) the store in the directory `path`.
    ///
    /// Refuses a store written by a newer format ([`StoreError::NewerFormat`]), one that cannot
    /// be read or whose data is gone ([`StoreError::Corrupt`]), and one that belongs to another
    /// device than `config.device_id` ([`StoreError::DeviceMismatch`]).
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> StoreResult<DeviceStore> {
        let path = path.as_ref();
        let marked = marker::read(path)?;
        if let Some(found) = marked.filter(|found| *found > FORMAT_VERSION) {
            return Err(StoreError::NewerFormat {
                found,
                supported: FORMAT_VERSION,
            });
        }
        let db = open_sled(path, config.cache_capacity_bytes)?;
        let trees = Trees::open(&db)?;
        check_format(&trees, marked.is_some())?;
        let device_id = device_id(&trees, config.device_id)?;
        let clock = match trees.meta.get(codec::META_CLOCK)? {
            Some(value) => HybridClock::resume(device_id.clone(), &codec::decode_stamp(&value)?),
            None => HybridClock::new(device_id.clone()),
        };
        db.flush()?;
        if marked.is_none() {
            marker::write(path, FORMAT_VERSION)?;
        }
        Ok(DeviceStore {
            db,
            trees,
            device_id,
            clock: Mutex::new(clock),
            wall: config.wall_clock,
            mme_table: config.mme_table,
        })
    }
}

/// How long `open` waits for sled's file lock, which a store of this same process that was
/// just dropped can still hold: sled releases its file through deferred (epoch) reclamation.
const LOCK_WAIT: Duration = Duration::from_secs(2);
const LOCK_RETRY_EVERY: Duration = Duration::from_millis(10);

fn open_sled(path: &Path, cache_capacity_bytes: u64) -> StoreResult<sled::Db> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let result = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity_bytes)
            .open();
        match result {
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(LOCK_RETRY_EVERY);
            }
            other => return Ok(other?),
        }
    }
}

/// Writes the format version into a new store, or checks the one found. `marked`: the
/// directory's marker says a store was created here before.
fn check_format(trees: &Trees, marked: bool) -> StoreResult<()> {
    match trees.meta.get(codec::META_FORMAT)? {
        Some(value) => {
            let bytes: [u8; 4] = value.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt("the format version is not a 4-byte number".into())
            })?;
            match u32::from_be_bytes(bytes) {
                found if found > FORMAT_VERSION => Err(StoreError::NewerFormat {
                    found,
                    supported: FORMAT_VERSION,
                }),
                0 => Err(StoreError::Corrupt("the format version is 0".into())),
                _ => Ok(()),
            }
        }
        None if marked => Err(StoreError::Corrupt(
            "the store's data is gone (sled recovered no format version from a damaged log)".into(),
        )),
        None => {
            // The meta tree may hold a device id from an open interrupted before this point.
            let untouched =
                trees.entries.is_empty() && trees.outbox.is_empty() && trees.rejected.is_empty();
            if !untouched {
                return Err(StoreError::Corrupt(
                    "the store holds data but no format version".into(),
                ));
            }
            trees
                .meta
                .insert(codec::META_FORMAT, &FORMAT_VERSION.to_be_bytes()[..])?;
            Ok(())
        }
    }
}

/// The stored device id; on first open the configured one or a new random one.
fn device_id(trees: &Trees, requested: Option<DeviceId>) -> StoreResult<DeviceId> {
    if let Some(value) = trees.meta.get(codec::META_DEVICE)? {
        let stored = DeviceId::new(codec::decode_text(&value)?)
            .map_err(|_| StoreError::Corrupt("the stored device id is not valid".into()))?;
        return match requested {
            Some(requested) if requested != stored => {
                Err(StoreError::DeviceMismatch { stored, requested })
            }
            _ => Ok(stored),
        };
    }
    let device = match requested {
        Some(device) => device,
        None => random_device_id(),
    };
    trees
        .meta
        .insert(codec::META_DEVICE, codec::encode_text(device.as_str()))?;
    Ok(device)
}

/// `dev-` and 14 hex digits taken from the random part of a UUIDv7 (its last 7 bytes are
/// drawn from the OS's random source), so no second source of randomness is needed.
fn random_device_id() -> DeviceId {
    let uuid = uuid::Uuid::now_v7();
    let hex: String = uuid.as_bytes()[9..]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    DeviceId::new(format!("dev-{hex}")).expect("`dev-` and 14 hex digits form a valid device id")
}
