//! Diary entries: identity, wire form, typed bodies, validation and the hybrid logical clock.

mod body;
mod compact;
mod entry;
mod hlc;
mod numbers;
mod validate;

pub use body::{
    Body, DoseBody, EntryKind, NoteBody, PainBody, PegAnswers, Route, Unit, WithdrawalBody,
};
pub use compact::{CompactEntryError, from_compact, rev_of_compact, to_compact};
pub use entry::{Entry, EntryId};
pub use hlc::{DeviceId, HybridClock, Stamp, StampError, SystemWallClock, WallClock};
pub use validate::{
    LIMITS, Limits, ValidationError, parse_json, validate_device_id, validate_entry,
    validate_rev_not_ahead,
};
