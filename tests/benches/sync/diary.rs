//! A realistic diary: a patient tapering oxycodone on a fentanyl patch, rating pain (PEG
//! twice a day), filling in SOWS once a day and writing a note most evenings.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use taperlog_core::clinical::SOWS_ITEMS;
use taperlog_core::model::{
    Body, DeviceId, DoseBody, Entry, NoteBody, PainBody, PegAnswers, Route, Stamp, Unit,
    WithdrawalBody,
};
use time::{Date, OffsetDateTime, Time, UtcOffset};
use uuid::Uuid;

/// A small deterministic generator, so that every run pushes the same diary.
pub(crate) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

pub(crate) fn dose(medication: &str, amount: f64, unit: Unit, route: Route, prn: bool) -> Body {
    Body::Dose(DoseBody {
        medication: medication.into(),
        name: None,
        amount,
        unit,
        route,
        duration_h: (route == Route::Transdermal).then_some(72.0),
        prn: Some(prn),
    })
}

pub(crate) const NOTES: [&str; 4] = [
    "Slept badly, woke at 3am with restless legs. Walked the dog in the afternoon, felt better after.",
    "Good day. Went to the physio appointment and did the stretching routine twice.",
    "Cravings in the evening around the usual time of the old dose; used the breathing exercise and it passed.",
    "Back pain flared after gardening. Took the rescue dose at 6pm as agreed with Dr. Patel.",
];

/// The `k`-th body of a diary day (about 11 a day) and its hour of the day.
pub(crate) fn body_of(slot: usize, day: usize, rng: &mut Rng) -> (u8, Body) {
    match slot {
        0 => (8, dose("oxycodone", 20.0, Unit::Mg, Route::Oral, false)),
        1 => (20, dose("oxycodone", 20.0, Unit::Mg, Route::Oral, false)),
        2 if day.is_multiple_of(3) => (
            9,
            dose(
                "fentanyl_transdermal",
                25.0,
                Unit::McgPerHour,
                Route::Transdermal,
                false,
            ),
        ),
        2 | 3 => (
            13 + rng.below(5) as u8,
            dose("oxycodone", 5.0, Unit::Mg, Route::Oral, true),
        ),
        4 => (10, dose("morphine", 15.0, Unit::Mg, Route::Oral, false)),
        5 | 6 => {
            let pain = 3 + rng.below(6) as u8;
            let note = (rng.below(4) == 0).then(|| "worse after sitting for long".to_string());
            (
                if slot == 5 { 9 } else { 21 },
                Body::Pain(PainBody {
                    nrs: pain,
                    peg: Some(PegAnswers {
                        pain,
                        enjoyment: rng.below(11) as u8,
                        activity: rng.below(11) as u8,
                    }),
                    note,
                }),
            )
        }
        7 => (
            15,
            Body::Pain(PainBody {
                nrs: rng.below(11) as u8,
                peg: None,
                note: None,
            }),
        ),
        8 => {
            let sows: BTreeMap<String, u8> = SOWS_ITEMS
                .iter()
                .map(|item| (item.key.to_string(), rng.below(5) as u8))
                .collect();
            (
                19,
                Body::Withdrawal(WithdrawalBody {
                    sows,
                    note: (rng.below(3) == 0).then(|| "yawning and sweating".to_string()),
                }),
            )
        }
        9 => (
            22,
            Body::Note(NoteBody {
                text: NOTES[rng.below(NOTES.len() as u64) as usize].to_string(),
            }),
        ),
        _ => (12, dose("oxycodone", 5.0, Unit::Mg, Route::Oral, true)),
    }
}

/// Slots of a day; `10` is an extra rescue dose on some days.
pub(crate) const SLOTS_PER_DAY: usize = 11;

/// `count` entries of one device's diary, ending today, stamped by `device`.
pub(crate) fn diary(device: &str, count: usize, seed: u64) -> Vec<Entry> {
    let device_id = DeviceId::new(device).expect("device id");
    let mut rng = Rng(seed | 1);
    let offset = UtcOffset::from_hms(1, 0, 0).expect("offset");
    let days = count.div_ceil(SLOTS_PER_DAY);
    let today = OffsetDateTime::now_utc().date();
    let first: Date = today - time::Duration::days(days as i64 + 1);
    // Revisions a little in the past, distinct and increasing, as a device would make them.
    let rev_base = now_millis() - count as u64 - 60_000;
    (0..count)
        .map(|i| {
            let (day, slot) = (i / SLOTS_PER_DAY, i % SLOTS_PER_DAY);
            let (hour, body) = body_of(slot, day, &mut rng);
            let date = first + time::Duration::days(day as i64);
            let minute = rng.below(60) as u8;
            let at = date
                .with_time(Time::from_hms(hour, minute, 0).expect("time"))
                .assume_offset(offset);
            let rev = Stamp::new(rev_base + i as u64, 0, device_id.clone());
            Entry::live(Uuid::now_v7(), at, body, rev)
        })
        .collect()
}

pub(crate) fn push_body(device: &str, entries: &[Entry]) -> Vec<u8> {
    let changes: Vec<Value> = entries.iter().map(Entry::to_json).collect();
    serde_json::to_vec(&json!({"device_id": device, "changes": changes})).expect("json")
}
