//! Unit tests of validation and the JSON reader.

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
fn only_offsets_rfc_3339_can_carry_are_accepted() {
    let mut entry = entry(Body::Note(NoteBody { text: "x".into() }));
    for (hours, minutes, seconds) in [(5, 30, 1), (-3, 0, -20), (24, 0, 0), (-25, -59, -59)] {
        let offset = time::UtcOffset::from_hms(hours, minutes, seconds).unwrap();
        entry.occurred_at = (NOW - Duration::hours(1)).to_offset(offset);
        let refused = validate_entry(&entry, NOW).unwrap_err();
        assert_eq!(refused.field, "occurred_at", "{offset}");
        // What the check guards: such an entry has no wire form.
        assert!(serde_json::to_vec(&entry).is_err(), "{offset}");
    }
    for (hours, minutes) in [(5, 45), (-9, -30), (23, 59), (0, 0)] {
        let offset = time::UtcOffset::from_hms(hours, minutes, 0).unwrap();
        entry.occurred_at = (NOW - Duration::hours(1)).to_offset(offset);
        validate_entry(&entry, NOW).unwrap();
        serde_json::to_vec(&entry).unwrap();
    }
}

/// A pain entry with `body`, read by both readers: (from a `Value`, from bytes), errors
/// as the field they name.
fn pain_read_both_ways(body: &str) -> (Result<Entry, String>, Result<Entry, String>) {
    let entry = format!(
        r#"{{"id":"0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f","kind":"pain",
            "occurred_at":"2026-11-20T08:00:00Z","rev":"0190f5c3a2b1-0000-phone",
            "device_id":"phone","body":{body}}}"#
    );
    let from_value = Entry::from_json(serde_json::from_str(&entry).unwrap()).map_err(|e| e.field);
    let from_slice = Entry::from_json_slice(entry.as_bytes()).map_err(|e| e.field);
    (from_value, from_slice)
}

#[test]
fn structs_are_read_from_objects_only_not_from_arrays_by_position() {
    let pain = |body: &str| {
        let (from_value, from_slice) = pain_read_both_ways(body);
        assert_eq!(
            from_value.clone().map(|e| e.body),
            from_slice.map(|e| e.body)
        );
        from_value
    };
    let answered = pain(r#"{"nrs":3,"peg":{"pain":4,"enjoyment":5,"activity":6}}"#).unwrap();
    let Some(Body::Pain(read)) = answered.body else {
        panic!("a pain body")
    };
    assert_eq!(
        read.peg.map(|p| (p.pain, p.enjoyment, p.activity)),
        Some((4, 5, 6))
    );
    assert!(pain(r#"{"nrs":3,"peg":null}"#).is_ok());
    assert_eq!(pain(r#"{"nrs":3,"peg":[4,5,6]}"#).unwrap_err(), "body.peg");
    assert_eq!(
        pain(r#"{"nrs":3,"peg":{"pain":4}}"#).unwrap_err(),
        "body.peg.enjoyment"
    );
    assert_eq!(pain(r#"[3]"#).unwrap_err(), "body");
    let as_array = br#"["0193a0c4-7e1b-7cc2-9f3e-2a5b0c1d2e3f","note",
        "2026-11-20T08:00:00Z","0190f5c3a2b1-0000-phone","phone",false,{"text":"x"}]"#;
    let refused = Entry::from_json_slice(as_array).unwrap_err();
    assert_eq!(
        (refused.field.as_str(), refused.message.as_str()),
        ("", "must be a JSON object")
    );
    let value = serde_json::from_slice(as_array).unwrap();
    assert_eq!(Entry::from_json(value).unwrap_err().field, "");
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
    assert_eq!(
        parse_json::<Login>(br#" ["a", "b"]"#).unwrap_err().message,
        "must be a JSON object"
    );
}

#[test]
fn peg_errors_name_the_item_whichever_reader_reads_the_entry() {
    let pain = pain_read_both_ways;
    for (body, field) in [
        (
            r#"{"nrs":3,"peg":{"pain":"x","enjoyment":5,"activity":6}}"#,
            "body.peg.pain",
        ),
        (
            r#"{"nrs":3,"peg":{"pain":4,"enjoyment":5.5,"activity":6}}"#,
            "body.peg.enjoyment",
        ),
        (
            r#"{"nrs":3,"peg":{"pain":4,"enjoyment":5,"activity":6,"extra":1}}"#,
            "body.peg.extra",
        ),
        (r#"{"nrs":3,"peg":7}"#, "body.peg"),
        (r#"{"nrs":3,"peg":"x"}"#, "body.peg"),
    ] {
        let (from_value, from_slice) = pain(body);
        assert_eq!(
            from_value.map(|_| ()),
            Err(field.to_string()),
            "value {body}"
        );
        assert_eq!(
            from_slice.map(|_| ()),
            Err(field.to_string()),
            "slice {body}"
        );
    }
    let (from_value, from_slice) =
        pain(r#"{"nrs":3,"peg":{"pain":4.0,"enjoyment":5,"activity":6}}"#);
    assert!(from_value.is_ok() && from_slice.is_ok());
}
