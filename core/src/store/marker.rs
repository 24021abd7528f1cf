//! A small file beside sled's own that records that a Taperlog store was created here.
//!
//! sled 0.34 treats a damaged log as a torn write and recovers what precedes it, possibly
//! nothing; without this file a store whose log was destroyed would open as a new, empty one
//! and the patient's diary would vanish silently. With it, such a store is refused as corrupt.
//! It is written (and synced) only after the new store's format version is durable, so a crash
//! while creating a store leaves no marker and the next open simply creates it again.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::error::{StoreError, StoreResult};

/// The marker's file name inside the store directory.
pub const MARKER_FILE: &str = "taperlog-store";
const PREFIX: &str = "taperlog-store format=";

/// The format version the marker records, `None` when there is no marker.
pub(crate) fn read(dir: &Path) -> StoreResult<Option<u32>> {
    let text = match fs::read_to_string(dir.join(MARKER_FILE)) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StoreError::Io(error)),
    };
    text.trim_end()
        .strip_prefix(PREFIX)
        .and_then(|version| version.parse().ok())
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt(format!("the file {MARKER_FILE} is not readable")))
}

/// Writes the marker atomically (temporary file, sync, rename, sync of the directory).
pub(crate) fn write(dir: &Path, version: u32) -> StoreResult<()> {
    let temporary = dir.join(format!("{MARKER_FILE}.tmp"));
    let mut file = fs::File::create(&temporary)?;
    writeln!(file, "{PREFIX}{version}")?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(MARKER_FILE))?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}
