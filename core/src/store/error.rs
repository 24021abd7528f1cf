//! The errors of the device store.

use crate::model::{DeviceId, EntryId, ValidationError};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The entry breaks a rule of `model::validate_entry`; the error names the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No live entry has this id (it never existed here, or it was deleted).
    #[error("no live entry with id {0}")]
    NotFound(EntryId),
    /// The store was written by a newer program; this one refuses to touch it.
    #[error(
        "the store has format version {found}, newer than the {supported} this program reads; update the app"
    )]
    NewerFormat {
        /// The version found on disk.
        found: u32,
        /// The newest version this program reads.
        supported: u32,
    },
    /// The store's files or values cannot be read as a Taperlog store.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// The store belongs to another device than the one the config names.
    #[error("the store belongs to device {stored}, not {requested}")]
    DeviceMismatch {
        /// The device id kept in the store.
        stored: DeviceId,
        /// The device id the config asked for.
        requested: DeviceId,
    },
    /// A date range that runs backwards or spans more than [`super::MAX_RANGE_DAYS`].
    #[error("bad date range {from}..={to}: {reason}")]
    BadRange {
        /// The first day asked for.
        from: time::Date,
        /// The last day asked for.
        to: time::Date,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The engine failed (I/O, a lock held by another process, ...).
    #[error("storage failure: {0}")]
    Storage(#[source] sled::Error),
    /// The store's own files beside sled's could not be read or written.
    #[error("store file I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        match error {
            sled::Error::Corruption { at, .. } => StoreError::Corrupt(match at {
                Some(at) => format!("sled reports corruption at {at}"),
                None => "sled reports corruption".to_string(),
            }),
            other => StoreError::Storage(other),
        }
    }
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(error: sled::transaction::TransactionError<StoreError>) -> Self {
        match error {
            sled::transaction::TransactionError::Abort(error) => error,
            sled::transaction::TransactionError::Storage(error) => error.into(),
        }
    }
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
