//! Validation of entries, with errors that name the offending field.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::{Duration, OffsetDateTime};

use super::body::{Body, DoseBody, PainBody, Route, Unit, WithdrawalBody};
use super::entry::Entry;
use super::hlc::{DeviceId, Stamp};
use crate::clinical::{self, MedicationClass, NRS_MAX, PEG_ITEM_MAX, SOWS_ITEM_MAX, SOWS_ITEMS};

/// Explicit limits on what an entry may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest amount in `mg`.
    pub max_amount_mg: f64,
    /// Largest amount in `mcg`.
    pub max_amount_mcg: f64,
    /// Largest patch rate in `mcg/h`.
    pub max_rate_mcg_per_hour: f64,
    /// Shortest and longest time a patch is worn, in hours.
    pub patch_hours: (f64, f64),
    /// Longest note or free-text field, in characters.
    pub max_text_chars: usize,
    /// Longest free-text medication name, in characters.
    pub max_name_chars: usize,
    /// How far in the future `occurred_at` and a `rev` may be.
    pub max_future: Duration,
    /// The earliest year an entry may have occurred in.
    pub min_year: i32,
}

/// The limits in force.
pub const LIMITS: Limits = Limits {
    max_amount_mg: 10_000.0,
    max_amount_mcg: 100_000.0,
    max_rate_mcg_per_hour: 1_000.0,
    patch_hours: (1.0, 168.0),
    max_text_chars: 4_000,
    max_name_chars: 200,
    max_future: Duration::hours(24),
    min_year: 1970,
};

/// An input that breaks a rule, with the dotted path of the field (`body.amount`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted path of the field, `""` for the whole value.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
}

impl ValidationError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        ValidationError {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (_, true) => prefix.to_string(),
        (true, false) => rest.to_string(),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

/// The field a serde error is about: a missing field is reported at its parent, so its
/// own name is taken from the message.
fn field_of_serde_error(path: &str, message: &str) -> String {
    let path = if path == "." || path == "?" { "" } else { path };
    // serde names a missing or repeated field in its message, not in the path.
    for marker in ["missing field `", "duplicate field `"] {
        if let Some(start) = message.find(marker) {
            let name = &message[start + marker.len()..];
            if let Some(end) = name.find('`') {
                return join_path(path, &name[..end]);
            }
        }
    }
    path.to_string()
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Every type the readers below read is a struct, which serde also reads from a JSON array
/// by field position: `"peg": [4, 5, 6]` would be taken as pain 4, enjoyment 5, activity 6,
/// whatever order the sender meant. API.md's values are objects; anything else is refused.
fn not_an_object(prefix: &str) -> ValidationError {
    ValidationError::new(prefix, "must be a JSON object")
}

/// Deserialises `value` (a JSON object) as `T`, naming the failing field (prefixed by
/// `prefix`).
pub(crate) fn parse_json_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ValidationError> {
    if !value.is_object() {
        return Err(not_an_object(prefix));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        ValidationError::new(
            join_path(prefix, &field_of_serde_error(&path, &message)),
            strip_position(&message),
        )
    })
}

/// Deserialises JSON bytes (an object) as `T` (borrowing from them where `T` does), naming
/// the failing field prefixed by `prefix`.
pub(crate) fn parse_json_prefixed<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    prefix: &str,
) -> Result<T, ValidationError> {
    // Tracking the path costs about as much as the parse itself, and only an error needs
    // it: valid input (nearly all of it) is read once without, invalid input a second time
    // with it.
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        return Err(not_an_object(prefix));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let fast = T::deserialize(&mut *deserializer).and_then(|value| {
        deserializer.end()?;
        Ok(value)
    });
    match fast {
        Ok(value) => Ok(value),
        Err(error) => Err(parse_error_with_path::<T>(bytes, prefix)
            .unwrap_or_else(|| ValidationError::new(prefix, strip_position(&error.to_string())))),
    }
}

/// The error of reading `bytes` as `T`, with the failing field's path; `None` if the
/// value reads (only trailing data after it was wrong).
fn parse_error_with_path<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    prefix: &str,
) -> Option<ValidationError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(deserializer) {
        Ok(_) => None,
        Err(error) => {
            let path = error.path().to_string();
            let message = error.inner().to_string();
            Some(ValidationError::new(
                join_path(prefix, &field_of_serde_error(&path, &message)),
                strip_position(&message),
            ))
        }
    }
}

/// Deserialises a JSON request body as `T`, naming the failing field: the one way the
/// server and tools read JSON, so every client sees the same errors. `T` may borrow from
/// `bytes`; anything after the value is refused.
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ValidationError> {
    parse_json_prefixed(bytes, "")
}

/// Checks a device id in the form API.md gives.
pub fn validate_device_id(text: &str, field: &str) -> Result<DeviceId, ValidationError> {
    DeviceId::new(text).map_err(|e| ValidationError::new(field, e))
}

/// Refuses a stamp more than [`Limits::max_future`] ahead of `now`.
pub fn validate_rev_not_ahead(rev: &Stamp, now: OffsetDateTime) -> Result<(), ValidationError> {
    let now_millis = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    let limit = now_millis + LIMITS.max_future.whole_milliseconds() as u64;
    if rev.millis() > limit {
        return Err(ValidationError::new(
            "rev",
            "is more than 24 hours ahead of the server's clock",
        ));
    }
    Ok(())
}

/// Checks an entry against the clinical and size rules; `now` bounds `occurred_at`.
pub fn validate_entry(entry: &Entry, now: OffsetDateTime) -> Result<(), ValidationError> {
    // A UUIDv7 carries its creation time, which exports rely on to leave ids out; and a
    // device-made v7 id cannot collide with another device's.
    if entry.id.get_version_num() != 7 {
        return Err(ValidationError::new(
            "id",
            "must be a UUIDv7 made on the device",
        ));
    }
    if entry.occurred_at > now + LIMITS.max_future {
        return Err(ValidationError::new(
            "occurred_at",
            "is more than 24 hours in the future",
        ));
    }
    // The wire form is RFC 3339, whose offsets are hours below 24 and whole minutes: an
    // entry recorded with another offset could be stored but never pushed.
    let offset = entry.occurred_at.offset();
    if offset.seconds_past_minute() != 0 || offset.whole_hours().unsigned_abs() > 23 {
        return Err(ValidationError::new(
            "occurred_at",
            "its UTC offset must be whole minutes, less than 24 hours",
        ));
    }
    if entry.occurred_at.year() < LIMITS.min_year {
        return Err(ValidationError::new(
            "occurred_at",
            format!("must be in {} or later", LIMITS.min_year),
        ));
    }
    match &entry.body {
        None => Ok(()),
        Some(Body::Dose(dose)) => validate_dose(dose),
        Some(Body::Pain(pain)) => validate_pain(pain),
        Some(Body::Withdrawal(withdrawal)) => validate_withdrawal(withdrawal),
        Some(Body::Note(note)) => validate_text(&note.text, "body.text", 1),
    }
}

fn validate_text(text: &str, field: &str, min_chars: usize) -> Result<(), ValidationError> {
    let chars = text.chars().count();
    if chars < min_chars || chars > LIMITS.max_text_chars {
        return Err(ValidationError::new(
            field,
            format!(
                "must be {min_chars} to {} characters",
                LIMITS.max_text_chars
            ),
        ));
    }
    Ok(())
}

fn validate_dose(dose: &DoseBody) -> Result<(), ValidationError> {
    let Some(medication) = clinical::medication(&dose.medication) else {
        return Err(ValidationError::new(
            "body.medication",
            "is not a catalogue code or 'other'",
        ));
    };
    match (&dose.name, medication.class) {
        (None, MedicationClass::Other) => {
            return Err(ValidationError::new(
                "body.name",
                "is required when medication is 'other'",
            ));
        }
        (Some(name), _) => {
            let chars = name.trim().chars().count();
            if chars == 0 || name.chars().count() > LIMITS.max_name_chars {
                return Err(ValidationError::new(
                    "body.name",
                    format!("must be 1 to {} characters", LIMITS.max_name_chars),
                ));
            }
        }
        (None, _) => {}
    }
    if !dose.amount.is_finite() || dose.amount <= 0.0 {
        return Err(ValidationError::new(
            "body.amount",
            "must be a number greater than 0",
        ));
    }
    let max = match dose.unit {
        Unit::Mg => LIMITS.max_amount_mg,
        Unit::Mcg => LIMITS.max_amount_mcg,
        Unit::McgPerHour => LIMITS.max_rate_mcg_per_hour,
    };
    if dose.amount > max {
        return Err(ValidationError::new(
            "body.amount",
            format!("must be at most {max} {}", dose.unit.as_str()),
        ));
    }
    if !medication.units.contains(&dose.unit) {
        return Err(ValidationError::new(
            "body.unit",
            format!("{} is not given in {}", medication.code, dose.unit.as_str()),
        ));
    }
    if !medication.routes.contains(&dose.route) {
        return Err(ValidationError::new(
            "body.route",
            format!("{} is not taken {}", medication.code, dose.route.as_str()),
        ));
    }
    if dose.unit == Unit::McgPerHour && dose.route != Route::Transdermal {
        return Err(ValidationError::new(
            "body.unit",
            "mcg/h is only for transdermal patches",
        ));
    }
    if let Some(hours) = dose.duration_h {
        if dose.route != Route::Transdermal {
            return Err(ValidationError::new(
                "body.duration_h",
                "is only for transdermal patches",
            ));
        }
        let (min, max) = LIMITS.patch_hours;
        if !hours.is_finite() || hours < min || hours > max {
            return Err(ValidationError::new(
                "body.duration_h",
                format!("must be from {min} to {max} hours"),
            ));
        }
    }
    Ok(())
}

fn validate_score(value: u8, max: u8, field: &str) -> Result<(), ValidationError> {
    if value > max {
        return Err(ValidationError::new(
            field,
            format!("must be a whole number from 0 to {max}"),
        ));
    }
    Ok(())
}

fn validate_pain(pain: &PainBody) -> Result<(), ValidationError> {
    validate_score(pain.nrs, NRS_MAX, "body.nrs")?;
    if let Some(peg) = &pain.peg {
        validate_score(peg.pain, PEG_ITEM_MAX, "body.peg.pain")?;
        validate_score(peg.enjoyment, PEG_ITEM_MAX, "body.peg.enjoyment")?;
        validate_score(peg.activity, PEG_ITEM_MAX, "body.peg.activity")?;
    }
    if let Some(note) = &pain.note {
        validate_text(note, "body.note", 0)?;
    }
    Ok(())
}

fn validate_withdrawal(withdrawal: &WithdrawalBody) -> Result<(), ValidationError> {
    for key in withdrawal.sows.keys() {
        if !SOWS_ITEMS.iter().any(|item| item.key == key) {
            return Err(ValidationError::new(
                format!("body.sows.{key}"),
                "is not a SOWS item",
            ));
        }
    }
    for item in SOWS_ITEMS {
        match withdrawal.sows.get(item.key) {
            None => {
                return Err(ValidationError::new(
                    format!("body.sows.{}", item.key),
                    "is required: SOWS has 16 items",
                ));
            }
            Some(value) => {
                validate_score(*value, SOWS_ITEM_MAX, &format!("body.sows.{}", item.key))?
            }
        }
    }
    if let Some(note) = &withdrawal.note {
        validate_text(note, "body.note", 0)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
