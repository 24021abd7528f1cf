//! Validation of entries, with errors that name the offending field.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::{Duration, OffsetDateTime};

use super::body::{Body, DoseBody, PainBody, Route, Unit, WithdrawalBody};
use super::entry::Entry;
use super::hlc::{DeviceId, Stamp};
use crate::clinical::{self, MedicationClass, SOWS_ITEMS};

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

/// Deserialises `value` as `T`, naming the failing field (prefixed by `prefix`).
pub(crate) fn parse_json_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        ValidationError::new(
            join_path(prefix, &field_of_serde_error(&path, &message)),
            strip_position(&message),
        )
    })
}

/// Deserialises JSON bytes as `T` (borrowing from them where `T` does), naming the failing
/// field prefixed by `prefix`.
pub(crate) fn parse_json_prefixed<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    prefix: &str,
) -> Result<T, ValidationError> {
    // Tracking the path costs about as much as the parse itself, and only an error needs
    // it: valid input (nearly all of it) is read once without, invalid input a second time
    // with it.
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
    validate_score(pain.nrs, 10, "body.nrs")?;
    if let Some(peg) = &pain.peg {
        validate_score(peg.pain, 10, "body.peg.pain")?;
        validate_score(peg.enjoyment, 10, "body.peg.enjoyment")?;
        validate_score(peg.activity, 10, "body.peg.activity")?;
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
            Some(value) => validate_score(*value, 4, &format!("body.sows.{}", item.key))?,
        }
    }
    if let Some(note) = &withdrawal.note {
        validate_text(note, "body.note", 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntryKind, HybridClock, NoteBody, PegAnswers};
    use std::collections::BTreeMap;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-21 12:00 UTC);

    fn entry(body: Body) -> Entry {
        let mut clock = HybridClock::new(DeviceId::new("dev").unwrap());
        Entry::live(
            uuid::Uuid::now_v7(),
            datetime!(2026-11-21 08:30 +01:00),
            body,
            clock.now(1),
        )
    }

    fn dose(medication: &str, amount: f64, unit: Unit, route: Route) -> DoseBody {
        DoseBody {
            medication: medication.into(),
            name: None,
            amount,
            unit,
            route,
            duration_h: None,
            prn: None,
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer<'a> {
        name: &'a str,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    struct Inner {
        score: u8,
    }

    #[test]
    fn parse_json_names_the_failing_field_and_refuses_trailing_data() {
        let read: Outer<'_> = parse_json(br#"{"name": "a", "inner": {"score": 3}}"#).unwrap();
        assert_eq!((read.name, read.inner.score), ("a", 3));
        let field = |bytes: &[u8]| parse_json::<Outer<'_>>(bytes).unwrap_err().field;
        assert_eq!(
            field(br#"{"name": "a", "inner": {"score": 300}}"#),
            "inner.score"
        );
        assert_eq!(field(br#"{"name": "a", "inner": {}}"#), "inner.score");
        assert_eq!(field(br#"{"name": "a", "other": 1}"#), "other");
        assert_eq!(field(br#"{"name": 1, "inner": {"score": 3}}"#), "name");
        assert_eq!(
            field(br#"{"name": "a", "name": "b", "inner": {"score": 3}}"#),
            "name"
        );
        assert_eq!(
            field(br#"{"name": "a", "inner": {"score": 3, "score": 4}}"#),
            "inner.score"
        );
        let trailing =
            parse_json::<Outer<'_>>(br#"{"name": "a", "inner": {"score": 3}} {}"#).unwrap_err();
        assert_eq!(trailing.field, "");
        assert!(
            trailing.message.contains("trailing"),
            "{}",
            trailing.message
        );
    }

    fn field_of(body: Body) -> String {
        validate_entry(&entry(body), NOW).unwrap_err().field
    }

    fn sows(value: u8) -> BTreeMap<String, u8> {
        SOWS_ITEMS
            .iter()
            .map(|item| (item.key.to_string(), value))
            .collect()
    }

    #[test]
    fn good_entries_pass() {
        let patch = DoseBody {
            duration_h: Some(72.0),
            ..dose(
                "fentanyl_transdermal",
                25.0,
                Unit::McgPerHour,
                Route::Transdermal,
            )
        };
        for body in [
            Body::Dose(dose("oxycodone", 10.0, Unit::Mg, Route::Oral)),
            Body::Dose(patch),
            Body::Dose(DoseBody {
                name: Some("LDN".into()),
                ..dose("other", 4.5, Unit::Mg, Route::Oral)
            }),
            Body::Pain(PainBody {
                nrs: 10,
                peg: Some(PegAnswers {
                    pain: 0,
                    enjoyment: 10,
                    activity: 5,
                }),
                note: None,
            }),
            Body::Withdrawal(WithdrawalBody {
                sows: sows(4),
                note: None,
            }),
            Body::Note(NoteBody {
                text: "slept badly".into(),
            }),
        ] {
            validate_entry(&entry(body), NOW).unwrap();
        }
    }

    #[test]
    fn bad_doses_name_their_field() {
        assert_eq!(
            field_of(Body::Dose(dose("oxycodone", 0.0, Unit::Mg, Route::Oral))),
            "body.amount"
        );
        assert_eq!(
            field_of(Body::Dose(dose(
                "oxycodone",
                20_000.0,
                Unit::Mg,
                Route::Oral
            ))),
            "body.amount"
        );
        assert_eq!(
            field_of(Body::Dose(dose("heroin-ish", 1.0, Unit::Mg, Route::Oral))),
            "body.medication"
        );
        assert_eq!(
            field_of(Body::Dose(dose("other", 1.0, Unit::Mg, Route::Oral))),
            "body.name"
        );
        assert_eq!(
            field_of(Body::Dose(dose(
                "oxycodone",
                10.0,
                Unit::McgPerHour,
                Route::Oral
            ))),
            "body.unit"
        );
        assert_eq!(
            field_of(Body::Dose(
                dose("other", 10.0, Unit::McgPerHour, Route::Oral).with_name()
            )),
            "body.unit"
        );
        let oral_with_duration = DoseBody {
            duration_h: Some(24.0),
            ..dose("morphine", 10.0, Unit::Mg, Route::Oral)
        };
        assert_eq!(field_of(Body::Dose(oral_with_duration)), "body.duration_h");
        let long_patch = DoseBody {
            duration_h: Some(200.0),
            ..dose(
                "fentanyl_transdermal",
                25.0,
                Unit::McgPerHour,
                Route::Transdermal,
            )
        };
        assert_eq!(field_of(Body::Dose(long_patch)), "body.duration_h");
        assert_eq!(
            field_of(Body::Dose(dose(
                "fentanyl_transdermal",
                25.0,
                Unit::Mg,
                Route::Oral
            ))),
            "body.unit"
        );
    }

    impl DoseBody {
        fn with_name(self) -> Self {
            DoseBody {
                name: Some("x".into()),
                ..self
            }
        }
    }

    #[test]
    fn bad_scales_name_their_field() {
        assert_eq!(
            field_of(Body::Pain(PainBody {
                nrs: 11,
                peg: None,
                note: None
            })),
            "body.nrs"
        );
        let peg = Some(PegAnswers {
            pain: 1,
            enjoyment: 11,
            activity: 0,
        });
        assert_eq!(
            field_of(Body::Pain(PainBody {
                nrs: 1,
                peg,
                note: None
            })),
            "body.peg.enjoyment"
        );
        let mut items = sows(1);
        items.remove("craving");
        assert_eq!(
            field_of(Body::Withdrawal(WithdrawalBody {
                sows: items,
                note: None
            })),
            "body.sows.craving"
        );
        let mut items = sows(1);
        items.insert("aches".into(), 5);
        assert_eq!(
            field_of(Body::Withdrawal(WithdrawalBody {
                sows: items,
                note: None
            })),
            "body.sows.aches"
        );
        assert_eq!(
            field_of(Body::Note(NoteBody {
                text: String::new()
            })),
            "body.text"
        );
        assert_eq!(
            field_of(Body::Note(NoteBody {
                text: "é".repeat(4001)
            })),
            "body.text"
        );
    }

    #[test]
    fn ids_must_be_uuid_v7() {
        let mut other = entry(Body::Note(NoteBody { text: "x".into() }));
        for id in [
            "12345678-9abc-4def-8123-456789abcdef",
            "00000000-0000-0000-0000-000000000000",
        ] {
            other.id = id.parse().unwrap();
            assert_eq!(validate_entry(&other, NOW).unwrap_err().field, "id");
        }
        other.id = "0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f".parse().unwrap();
        validate_entry(&other, NOW).unwrap();
    }

    #[test]
    fn the_future_is_bounded() {
        let mut late = entry(Body::Note(NoteBody { text: "x".into() }));
        late.occurred_at = NOW + Duration::hours(25);
        assert_eq!(validate_entry(&late, NOW).unwrap_err().field, "occurred_at");
        late.occurred_at = NOW + Duration::hours(23);
        validate_entry(&late, NOW).unwrap();
        assert_eq!(late.kind, EntryKind::Note);
    }

    #[test]
    fn json_errors_name_fields() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Login {
            username: String,
            password: String,
        }
        assert_eq!(
            parse_json::<Login>(br#"{"username":"a"}"#)
                .unwrap_err()
                .field,
            "password"
        );
        assert_eq!(
            parse_json::<Login>(br#"{"username":"a","password":"b","x":1}"#)
                .unwrap_err()
                .field,
            "x"
        );
        assert_eq!(
            parse_json::<Login>(br#"{"username":1,"password":"b"}"#)
                .unwrap_err()
                .field,
            "username"
        );
        assert_eq!(parse_json::<Login>(b"{").unwrap_err().field, "");
    }
}
