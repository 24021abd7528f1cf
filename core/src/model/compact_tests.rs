use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::*;
use crate::clinical::SOWS_ITEMS;
use crate::model::{Body, DoseBody, NoteBody, PainBody, PegAnswers, Route, Unit, WithdrawalBody};

fn round_trip(entry: &Entry) -> Entry {
    let mut bytes = Vec::new();
    to_compact(entry, &mut bytes).unwrap();
    from_compact(&bytes).unwrap()
}

/// Equal in every stored part, the offset too (`OffsetDateTime` equality compares instants).
fn assert_same(read: &Entry, written: &Entry) {
    assert_eq!(read, written);
    assert_eq!(read.occurred_at.offset(), written.occurred_at.offset());
    assert_eq!(
        serde_json::to_value(read).unwrap(),
        serde_json::to_value(written).unwrap()
    );
}

fn dose_entry() -> Entry {
    Entry::from_json(json!({
        "id": "019a1b2c-3d4e-7f00-8a00-000000000001",
        "kind": "dose",
        "occurred_at": "2026-11-20T08:15:30.125+05:30",
        "rev": "0190f5c3a2b1-0003-phone-a",
        "device_id": "phone-a",
        "body": {"medication": "other", "name": "Tramadol \"retard\" ✓", "amount": 12.5,
                 "unit": "mg", "route": "oral", "prn": true}
    }))
    .unwrap()
}

#[test]
fn a_dose_reads_back_whole_in_about_half_the_bytes_of_its_json() {
    let entry = dose_entry();
    assert_same(&round_trip(&entry), &entry);
    let mut bytes = Vec::new();
    to_compact(&entry, &mut bytes).unwrap();
    let json = serde_json::to_vec(&entry).unwrap();
    assert!(
        bytes.len() * 10 < json.len() * 7,
        "{} compact bytes against {} of JSON",
        bytes.len(),
        json.len()
    );
}

#[test]
fn it_appends_to_what_the_buffer_holds() {
    let entry = dose_entry();
    let mut bytes = vec![9, 9];
    to_compact(&entry, &mut bytes).unwrap();
    assert_eq!(&bytes[..2], &[9, 9]);
    assert_same(&from_compact(&bytes[2..]).unwrap(), &entry);
}

#[test]
fn a_deletion_reads_back_without_a_body() {
    let entry = dose_entry();
    let deleted = entry.tombstone(Stamp::new(
        entry.rev.millis() + 1,
        0,
        DeviceId::new("phone-b").unwrap(),
    ));
    assert_same(&round_trip(&deleted), &deleted);
}

#[test]
fn damaged_records_are_errors_not_panics() {
    let mut bytes = Vec::new();
    to_compact(&dose_entry(), &mut bytes).unwrap();
    for end in 0..bytes.len() {
        assert!(from_compact(&bytes[..end]).is_err(), "truncated at {end}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(from_compact(&longer).is_err());
    let mut unknown_kind = bytes.clone();
    unknown_kind[16] = 9;
    assert!(
        from_compact(&unknown_kind)
            .unwrap_err()
            .to_string()
            .contains("kind")
    );
    // Every single-byte change either reads as some entry or is an error.
    for at in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[at] ^= 0xa5;
        let _ = from_compact(&changed);
    }
}

#[test]
fn an_entry_whose_stamp_names_another_device_is_refused() {
    let mut entry = dose_entry();
    entry.device_id = DeviceId::new("phone-b").unwrap();
    assert!(to_compact(&entry, &mut Vec::new()).is_err());
}

#[test]
fn an_entry_that_would_not_read_back_is_refused() {
    let live = dose_entry();
    let mut other_kind = live.clone();
    other_kind.kind = crate::model::EntryKind::Note;
    let mut live_without_body = live.clone();
    live_without_body.body = None;
    let mut deleted_with_body = live.clone();
    deleted_with_body.deleted = true;
    for entry in [other_kind, live_without_body, deleted_with_body] {
        let mut buffer = vec![7];
        assert!(to_compact(&entry, &mut buffer).is_err(), "{entry:?}");
        assert_eq!(buffer, [7]);
    }
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\/\n\t\u{e9}\u{2713}\u{1F600}]{1,40}"
}

fn body_strategy() -> impl Strategy<Value = Body> {
    let dose = (
        prop::sample::select(vec!["oxycodone", "morphine", "buprenorphine", "other"]),
        prop::option::of(text()),
        any::<f64>().prop_filter("finite, positive", |a| a.is_finite() && *a > 0.0),
        prop::sample::select(vec![Unit::Mg, Unit::Mcg, Unit::McgPerHour]),
        prop::sample::select(vec![
            Route::Oral,
            Route::Transdermal,
            Route::Intravenous,
            Route::Sublingual,
        ]),
        prop::option::of(1.0f64..200.0),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(medication, name, amount, unit, route, duration_h, prn)| {
            Body::Dose(DoseBody {
                medication: medication.into(),
                name,
                amount,
                unit,
                route,
                duration_h,
                prn,
            })
        });
    let pain = (
        0u8..=10,
        prop::option::of((0u8..=10, 0u8..=10, 0u8..=10)),
        prop::option::of(text()),
    )
        .prop_map(|(nrs, peg, note)| {
            Body::Pain(PainBody {
                nrs,
                peg: peg.map(|(pain, enjoyment, activity)| PegAnswers {
                    pain,
                    enjoyment,
                    activity,
                }),
                note,
            })
        });
    let withdrawal = (
        prop::collection::vec(0u8..=4, SOWS_ITEMS.len()),
        prop::option::of(text()),
    )
        .prop_map(|(answers, note)| {
            let sows: BTreeMap<String, u8> = SOWS_ITEMS
                .iter()
                .map(|item| item.key.to_string())
                .zip(answers)
                .collect();
            Body::Withdrawal(WithdrawalBody { sows, note })
        });
    let note = text().prop_map(|text| Body::Note(NoteBody { text }));
    prop_oneof![dose, pain, withdrawal, note]
}

fn entry_strategy() -> impl Strategy<Value = Entry> {
    (
        any::<u128>(),
        // Local times from year -1000 to the last second of 9999 (whose instant at a western
        // offset is in year 10000).
        prop_oneof![
            -93_700_000_000i64..253_402_300_800,
            253_402_213_000i64..253_402_300_800,
        ],
        0u32..1_000_000_000,
        -86_399i32..=86_399,
        any::<u64>(),
        any::<u16>(),
        "[a-z0-9-]{1,24}",
        any::<bool>(),
        body_strategy(),
    )
        .prop_filter_map(
            "a valid device id",
            |(id, seconds, nanos, offset, millis, counter, device, deleted, body)| {
                let offset = UtcOffset::from_whole_seconds(offset).ok()?;
                let at = OffsetDateTime::from_unix_timestamp(seconds)
                    .ok()?
                    .replace_nanosecond(nanos)
                    .ok()?
                    .replace_offset(offset);
                let device = DeviceId::new(device).ok()?;
                let live = Entry::live(
                    Uuid::from_u128(id),
                    at,
                    body,
                    Stamp::new(millis, counter, device.clone()),
                );
                Some(if deleted {
                    live.tombstone(Stamp::new(millis, counter, device))
                } else {
                    live
                })
            },
        )
}

proptest! {
    #[test]
    fn every_entry_reads_back_as_written(entry in entry_strategy()) {
        let mut bytes = Vec::new();
        to_compact(&entry, &mut bytes).unwrap();
        let read = from_compact(&bytes).unwrap();
        prop_assert_eq!(&read, &entry);
        prop_assert_eq!(read.occurred_at.offset(), entry.occurred_at.offset());
        prop_assert_eq!(read.occurred_at.nanosecond(), entry.occurred_at.nanosecond());
    }
}

fn note_at(occurred_at: &str) -> Entry {
    Entry::from_json(json!({
        "id": "019a1b2c-3d4e-7f00-8a00-000000000009",
        "kind": "note",
        "occurred_at": occurred_at,
        "rev": "0190f5c3a2b1-0003-phone-a",
        "device_id": "phone-a",
        "body": {"text": "x"}
    }))
    .unwrap()
}

/// Found in review: the instant of a local time late on 9999-12-31 at a western offset is in
/// year 10000, which `time` cannot hold; stored as an instant it encoded and did not decode.
#[test]
fn the_last_local_times_time_holds_read_back_at_any_offset() {
    for at in [
        "9999-12-31T23:30:00-01:00",
        "9999-12-31T23:59:59.999999999-23:59",
        "0000-01-01T00:00:00+23:59",
    ] {
        let entry = note_at(at);
        let read = round_trip(&entry);
        assert_same(&read, &entry);
    }
}

/// The bytes of format 2 as written today. Records on disk keep them: a change of field
/// order, field type, kind code or variant order fails here rather than misreading stores.
#[test]
fn the_stored_bytes_of_each_kind_are_fixed() {
    let mut pain = note_at("2026-11-20T08:15:30.5+05:30").to_json();
    pain["kind"] = json!("pain");
    pain["body"] = json!({"nrs": 4, "peg": {"pain": 5, "enjoyment": 6, "activity": 7}});
    let pain = Entry::from_json(pain).unwrap();
    let deleted = dose_entry().tombstone(Stamp::new(1_722_110_157_490, 1, device("phone-a")));
    for (entry, hex) in [
        (dose_entry(), DOSE_HEX),
        (pain, PAIN_HEX),
        (deleted, DELETED_HEX),
    ] {
        let mut bytes = Vec::new();
        to_compact(&entry, &mut bytes).unwrap();
        assert_eq!(to_hex(&bytes), hex, "{entry:?}");
        assert_same(&from_compact(&from_hex(hex)).unwrap(), &entry);
    }
}

const DOSE_HEX: &str = concat!(
    "019a1b2c3d4e7f008a0000000000000100c48680b00dc0b2cd3bb0b502b1c58e",
    "ae8f32030770686f6e652d6100016b7b226d656469636174696f6e223a226f74",
    "686572222c226e616d65223a225472616d61646f6c205c227265746172645c22",
    "20e29c93222c22616d6f756e74223a31322e352c22756e6974223a226d67222c",
    "22726f757465223a226f72616c222c2270726e223a747275657d",
);
const PAIN_HEX: &str = concat!(
    "019a1b2c3d4e7f008a0000000000000901c48680b00d80cab5ee01b0b502b1c5",
    "8eae8f32030770686f6e652d610001357b226e7273223a342c22706567223a7b",
    "227061696e223a352c22656e6a6f796d656e74223a362c226163746976697479",
    "223a377d7d",
);
const DELETED_HEX: &str = concat!(
    "019a1b2c3d4e7f008a0000000000000100c48680b00dc0b2cd3bb0b502b2c58e",
    "ae8f32010770686f6e652d610100",
);

fn device(name: &str) -> DeviceId {
    DeviceId::new(name).unwrap()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_rev_reads_without_the_body_and_impossible_stamps_are_refused() {
    let entry = dose_entry();
    let mut bytes = Vec::new();
    to_compact(&entry, &mut bytes).unwrap();
    assert_eq!(rev_of_compact(&bytes).unwrap(), entry.rev);
    // A body a later reader refuses does not hide the rev.
    let mut unreadable_body = entry.clone();
    unreadable_body.body = Some(Body::Note(NoteBody { text: "x".into() }));
    unreadable_body.kind = crate::model::EntryKind::Note;
    let mut bytes = Vec::new();
    to_compact(&unreadable_body, &mut bytes).unwrap();
    bytes[16] = kind_code(crate::model::EntryKind::Dose);
    assert!(from_compact(&bytes).is_err());
    assert_eq!(rev_of_compact(&bytes).unwrap(), entry.rev);
    // A stored millis a stamp cannot hold is an error, not a different (clamped) rev.
    assert!(stamp(MAX_STAMP_MILLIS, 0, "a").is_ok());
    assert!(stamp(MAX_STAMP_MILLIS + 1, 0, "a").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    #[test]
    fn any_bytes_are_an_entry_or_an_error_never_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        let _ = from_compact(&bytes);
        let _ = rev_of_compact(&bytes);
    }
}
