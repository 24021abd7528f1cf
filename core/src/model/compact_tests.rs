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
        -62_000_000_000i64..250_000_000_000,
        0u32..1_000_000_000,
        -86_399i32..=86_399,
        any::<u64>(),
        any::<u16>(),
        "[a-z0-9-]{1,24}",
        any::<bool>(),
        body_strategy(),
    )
        .prop_filter_map(
            "an instant that exists at its offset",
            |(id, seconds, nanos, offset, millis, counter, device, deleted, body)| {
                let offset = UtcOffset::from_whole_seconds(offset).ok()?;
                let at = OffsetDateTime::from_unix_timestamp(seconds)
                    .ok()?
                    .replace_nanosecond(nanos)
                    .ok()?
                    .checked_to_offset(offset)?;
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
