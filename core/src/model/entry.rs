//! The diary entry and its wire form (API.md, "Entries").

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};
use time::OffsetDateTime;
use uuid::Uuid;

use super::body::{Body, DoseBody, EntryKind, NoteBody, PainBody, WithdrawalBody};
use super::hlc::{DeviceId, Stamp};
use super::validate::{ValidationError, parse_json_prefixed, parse_json_value};

/// An entry's id: a UUIDv7 made on the device.
pub type EntryId = Uuid;

/// One revision of one thing a patient logged.
///
/// Invariant: `body` is `Some` with a body of `kind` exactly when `deleted` is false.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The entry's id, the same for every revision.
    pub id: EntryId,
    /// What kind of entry this is.
    pub kind: EntryKind,
    /// When it happened, with the patient's UTC offset; its date is the patient's local day.
    pub occurred_at: OffsetDateTime,
    /// The HLC stamp of this revision; the greatest revision wins.
    pub rev: Stamp,
    /// The device that made this revision.
    pub device_id: DeviceId,
    /// Whether this revision deletes the entry.
    pub deleted: bool,
    /// The body, absent on a deletion.
    pub body: Option<Body>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct WireEntry {
    #[serde(deserialize_with = "canonical_uuid")]
    id: Uuid,
    kind: EntryKind,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    rev: String,
    device_id: String,
    #[serde(default)]
    deleted: bool,
    /// The body of `kind` (API.md, "Entries"); omitted or null on a deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::body::EntryBody>))]
    body: Option<serde_json::Value>,
}

/// [`WireEntry`] read without building a `serde_json::Value`: the body stays raw JSON text
/// until its kind is known, and is then read once as that kind's type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntryText<'a> {
    #[serde(deserialize_with = "canonical_uuid")]
    id: Uuid,
    kind: EntryKind,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    rev: String,
    device_id: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default, borrow)]
    body: Option<&'a serde_json::value::RawValue>,
}

/// [`WireEntry`] written straight from an [`Entry`], without building a `serde_json::Value`.
#[derive(Serialize)]
struct WireEntryRef<'a> {
    id: Uuid,
    kind: EntryKind,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    #[serde(serialize_with = "serialize_display")]
    rev: &'a Stamp,
    device_id: &'a str,
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<PlainBody<'a>>,
}

/// A UUID only in its canonical text form (lowercase, hyphenated). The `uuid` crate also
/// reads upper case, braces, `urn:uuid:` and no hyphens, but the server answers with the
/// canonical form: a client matching acknowledgements to its outbox by text would never see
/// its change acknowledged, and a pull would bring back an id it does not know.
fn canonical_uuid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uuid, D::Error> {
    struct Canonical;

    impl serde::de::Visitor<'_> for Canonical {
        type Value = Uuid;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a UUID in its canonical form (lowercase hex, hyphenated)")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Uuid, E> {
            match Uuid::try_parse(text) {
                Ok(id) if id.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == text => {
                    Ok(id)
                }
                _ => Err(E::custom(
                    "must be a UUID in its canonical form (lowercase hex, hyphenated)",
                )),
            }
        }
    }

    deserializer.deserialize_str(Canonical)
}

fn serialize_display<S: Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// A body written as its kind's object, as on the wire (the kind is a field of the entry).
struct PlainBody<'a>(&'a Body);

impl Serialize for PlainBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Body::Dose(body) => body.serialize(serializer),
            Body::Pain(body) => body.serialize(serializer),
            Body::Withdrawal(body) => body.serialize(serializer),
            Body::Note(body) => body.serialize(serializer),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Entry {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <WireEntry as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Entry {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Entry")
    }

    /// The schemas the wire form refers to (`EntryKind`), so that the document has them.
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <WireEntry as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Entry {
    /// A live entry made by the device that stamped `rev`.
    pub fn live(id: EntryId, occurred_at: OffsetDateTime, body: Body, rev: Stamp) -> Entry {
        Entry {
            id,
            kind: body.kind(),
            occurred_at,
            device_id: rev.device().clone(),
            rev,
            deleted: false,
            body: Some(body),
        }
    }

    /// The deletion of `self` as a new revision stamped `rev`.
    pub fn tombstone(&self, rev: Stamp) -> Entry {
        Entry {
            id: self.id,
            kind: self.kind,
            occurred_at: self.occurred_at,
            device_id: rev.device().clone(),
            rev,
            deleted: true,
            body: None,
        }
    }

    /// The patient's local calendar day of this entry.
    pub fn local_date(&self) -> time::Date {
        self.occurred_at.date()
    }

    /// Reads an entry from its JSON wire form, naming the offending field on error.
    ///
    /// This checks the form (types, required fields, `rev` matching `device_id`); the
    /// clinical ranges are checked by [`super::validate_entry`].
    pub fn from_json(value: serde_json::Value) -> Result<Entry, ValidationError> {
        let wire: WireEntry = parse_json_value(value, "")?;
        Entry::from_wire(wire)
    }

    /// Reads an entry from the bytes of its JSON wire form, as [`Entry::from_json`] does
    /// (same checks, same field names in errors) but without an intermediate
    /// `serde_json::Value`: the server reads every pushed change and stored entry this way.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Entry, ValidationError> {
        let wire: WireEntryText<'_> = parse_json_prefixed(bytes, "")?;
        let (device_id, rev) = checked_identity(wire.device_id, &wire.rev)?;
        let body = match (wire.deleted, wire.body) {
            (true, _) => None,
            // serde reads `"body": null` as `None`, as it does an absent body.
            (false, None) => return Err(body_required()),
            (false, Some(raw)) => Some(parse_body_text(wire.kind, raw.get())?),
        };
        Ok(Entry {
            id: wire.id,
            kind: wire.kind,
            occurred_at: wire.occurred_at,
            rev,
            device_id,
            deleted: wire.deleted,
            body,
        })
    }

    /// The JSON wire form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_wire()).unwrap_or(serde_json::Value::Null)
    }

    fn from_wire(wire: WireEntry) -> Result<Entry, ValidationError> {
        let (device_id, rev) = checked_identity(wire.device_id, &wire.rev)?;
        let body = match (wire.deleted, wire.body) {
            // A deleted entry travels without its body; one sent anyway is dropped, not kept.
            (true, _) => None,
            (false, None | Some(serde_json::Value::Null)) => return Err(body_required()),
            (false, Some(body)) => Some(parse_body(wire.kind, body)?),
        };
        Ok(Entry {
            id: wire.id,
            kind: wire.kind,
            occurred_at: wire.occurred_at,
            rev,
            device_id,
            deleted: wire.deleted,
            body,
        })
    }

    fn to_wire(&self) -> WireEntry {
        WireEntry {
            id: self.id,
            kind: self.kind,
            occurred_at: self.occurred_at,
            rev: self.rev.to_string(),
            device_id: self.device_id.to_string(),
            deleted: self.deleted,
            body: self.body.as_ref().map(Body::to_json),
        }
    }
}

/// The device id and the stamp of a wire entry, checked to agree.
fn checked_identity(device_id: String, rev: &str) -> Result<(DeviceId, Stamp), ValidationError> {
    let device_id = DeviceId::new(device_id).map_err(|e| ValidationError::new("device_id", e))?;
    let rev: Stamp = rev.parse().map_err(|e| ValidationError::new("rev", e))?;
    if rev.device() != &device_id {
        return Err(ValidationError::new(
            "rev",
            "the stamp's device part must equal device_id",
        ));
    }
    Ok((device_id, rev))
}

fn body_required() -> ValidationError {
    ValidationError::new("body", "is required unless the entry is deleted")
}

/// The body as its kind's JSON object, as on the wire.
pub(super) fn body_json(body: &Body) -> Result<String, serde_json::Error> {
    serde_json::to_string(&PlainBody(body))
}

/// Reads a body of `kind` from its JSON object, naming the offending field under `body`.
pub(super) fn parse_body_text(kind: EntryKind, text: &str) -> Result<Body, ValidationError> {
    fn typed<T: DeserializeOwned>(text: &str) -> Result<T, ValidationError> {
        parse_json_prefixed(text.as_bytes(), "body")
    }
    Ok(match kind {
        EntryKind::Dose => Body::Dose(typed::<DoseBody>(text)?),
        EntryKind::Pain => Body::Pain(typed::<PainBody>(text)?),
        EntryKind::Withdrawal => Body::Withdrawal(typed::<WithdrawalBody>(text)?),
        EntryKind::Note => Body::Note(typed::<NoteBody>(text)?),
    })
}

fn parse_body(kind: EntryKind, body: serde_json::Value) -> Result<Body, ValidationError> {
    fn typed<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ValidationError> {
        parse_json_value(body, "body")
    }
    Ok(match kind {
        EntryKind::Dose => Body::Dose(typed::<DoseBody>(body)?),
        EntryKind::Pain => Body::Pain(typed::<PainBody>(body)?),
        EntryKind::Withdrawal => Body::Withdrawal(typed::<WithdrawalBody>(body)?),
        EntryKind::Note => Body::Note(typed::<NoteBody>(body)?),
    })
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireEntryRef {
            id: self.id,
            kind: self.kind,
            occurred_at: self.occurred_at,
            rev: &self.rev,
            device_id: self.device_id.as_str(),
            deleted: self.deleted,
            body: self.body.as_ref().map(PlainBody),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireEntry::deserialize(deserializer)?;
        Entry::from_wire(wire).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dose_json() -> serde_json::Value {
        json!({
            "id": "0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f",
            "kind": "dose",
            "occurred_at": "2026-11-21T08:30:00+01:00",
            "rev": "0193a0c47e1b-0000-ios-7f3a9c",
            "device_id": "ios-7f3a9c",
            "deleted": false,
            "body": {"medication": "oxycodone", "amount": 10, "unit": "mg", "route": "oral", "prn": true}
        })
    }

    #[test]
    fn wire_form_round_trips() {
        let entry = Entry::from_json(dose_json()).unwrap();
        assert_eq!(entry.local_date(), time::macros::date!(2026 - 11 - 21));
        assert_eq!(entry.occurred_at.offset().whole_hours(), 1);
        let back = entry.to_json();
        assert_eq!(back["occurred_at"], "2026-11-21T08:30:00+01:00");
        assert_eq!(Entry::from_json(back).unwrap(), entry);
    }

    /// Reads `value` both ways (from a `Value` and from bytes), which must agree.
    fn read(value: serde_json::Value) -> Result<Entry, ValidationError> {
        let bytes = serde_json::to_vec(&value).unwrap();
        let from_value = Entry::from_json(value);
        let from_bytes = Entry::from_json_slice(&bytes);
        match (&from_value, &from_bytes) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.field, b.field, "{a:?} / {b:?}"),
            _ => panic!("the two readers disagree: {from_value:?} / {from_bytes:?}"),
        }
        from_bytes
    }

    #[test]
    fn ids_are_read_only_in_their_canonical_form() {
        for id in [
            "0193A0C4-7E1B-7CC2-9F3E-2A5B0C1D2E3F",
            "{0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f}",
            "0193a0c47e1b7cc29f3e2a5b0c1d2e3f",
            "urn:uuid:0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f",
            " 0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f",
            "not a uuid",
        ] {
            let mut value = dose_json();
            value["id"] = json!(id);
            assert_eq!(read(value).unwrap_err().field, "id", "{id}");
        }
        let mut value = dose_json();
        value["id"] = json!(7);
        assert_eq!(read(value).unwrap_err().field, "id");
        assert!(read(dose_json()).is_ok());
    }

    #[test]
    fn a_bad_sows_answer_is_named_by_its_item() {
        for bad in [json!(-1), json!(2.5), json!(300), json!("two")] {
            let sows: serde_json::Map<String, serde_json::Value> = crate::clinical::SOWS_ITEMS
                .iter()
                .map(|item| (item.key.to_string(), json!(1)))
                .collect();
            let mut value = dose_json();
            value["kind"] = json!("withdrawal");
            value["body"] = json!({ "sows": sows });
            assert!(read(value.clone()).is_ok());
            value["body"]["sows"]["aches"] = bad.clone();
            assert_eq!(read(value).unwrap_err().field, "body.sows.aches", "{bad}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let mut value = dose_json();
        value["body"]["amount"] = json!("ten");
        assert_eq!(read(value).unwrap_err().field, "body.amount");

        let mut value = dose_json();
        value["body"]["colour"] = json!("red");
        assert_eq!(read(value).unwrap_err().field, "body.colour");

        let mut value = dose_json();
        value.as_object_mut().unwrap().remove("occurred_at");
        assert_eq!(read(value).unwrap_err().field, "occurred_at");

        let mut value = dose_json();
        value["rev"] = json!("0193a0c47e1b-0000-android-1");
        assert_eq!(read(value).unwrap_err().field, "rev");

        let mut value = dose_json();
        value["body"] = json!(null);
        assert_eq!(read(value).unwrap_err().field, "body");

        let mut value = dose_json();
        value["surprise"] = json!(1);
        assert_eq!(read(value).unwrap_err().field, "surprise");

        let mut value = dose_json();
        value["kind"] = json!("pain");
        assert_eq!(read(value).unwrap_err().field, "body.amount");

        assert!(Entry::from_json_slice(b"{").is_err());
        assert!(Entry::from_json_slice(b"[]").is_err());
    }

    #[test]
    fn both_readers_and_the_writer_agree_on_every_kind() {
        let bodies = [
            json!({"medication": "oxycodone", "amount": 10.0, "unit": "mg", "route": "oral"}),
            json!({"nrs": 6, "peg": {"pain": 6, "enjoyment": 4.0, "activity": 5}, "note": "\"sore\" \u{00e9}"}),
            json!({"sows": {"yawning": 2}, "note": null}),
            json!({"text": "line one\nline two"}),
        ];
        for (kind, body) in ["dose", "pain", "withdrawal", "note"]
            .into_iter()
            .zip(bodies)
        {
            let mut value = dose_json();
            value["kind"] = json!(kind);
            value["body"] = body;
            let entry = read(value).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            // Serialising writes the wire form, which both readers read back unchanged.
            let written = serde_json::to_vec(&entry).unwrap();
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&written).unwrap(),
                entry.to_json()
            );
            assert_eq!(Entry::from_json_slice(&written).unwrap(), entry);
            assert_eq!(serde_json::from_slice::<Entry>(&written).unwrap(), entry);
        }
    }

    #[test]
    fn a_deletion_needs_no_body() {
        let mut value = dose_json();
        value["deleted"] = json!(true);
        value.as_object_mut().unwrap().remove("body");
        let entry = read(value).unwrap();
        assert!(entry.deleted && entry.body.is_none());
        assert!(entry.to_json().get("body").is_none());
    }

    #[test]
    fn amounts_cross_the_wire_to_the_last_bit() {
        // serde_json's default float reader may land one unit in the last place off; the
        // phone and the server would then sum slightly different doses.
        for amount in [
            2.169_881_161_547_311e-308_f64,
            0.1 + 0.2,
            7.5,
            1.0 / 3.0,
            123_456.789,
        ] {
            let mut value = dose_json();
            value["body"]["amount"] = json!(amount);
            let entry = read(value).unwrap();
            let written = serde_json::to_vec(&entry).unwrap();
            let Some(Body::Dose(dose)) = Entry::from_json_slice(&written).unwrap().body else {
                panic!("a dose");
            };
            assert_eq!(dose.amount.to_bits(), amount.to_bits(), "{amount:e}");
        }
    }
}
