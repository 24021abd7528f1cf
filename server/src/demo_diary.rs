//! A few weeks of plausible diary data for the demo patients: a fentanyl patch taper, an
//! oral taper after ketamine, stable methadone with rising pain, buprenorphine with a patient
//! who stopped logging, and a fast morphine taper with withdrawal. Deterministic.

use std::collections::BTreeMap;

use taperlog_core::clinical::SOWS_ITEMS;
use taperlog_core::model::{
    Body, DeviceId, DoseBody, Entry, HybridClock, NoteBody, PainBody, PegAnswers, Route, Unit,
    WithdrawalBody,
};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

/// How many demo diary profiles there are.
pub const DEMO_PROFILES: usize = 5;

/// A small deterministic generator (SplitMix64), so the demo is the same on every machine.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Diary {
    clock: HybridClock,
    now: OffsetDateTime,
    entries: Vec<Entry>,
}

impl Diary {
    fn add(&mut self, date: Date, hour: u8, minute: u8, body: Body) {
        let time = Time::from_hms(hour.min(23), minute.min(59), 0).unwrap_or(Time::MIDNIGHT);
        let at: OffsetDateTime =
            PrimitiveDateTime::new(date, time).assume_offset(self.now.offset());
        if at > self.now {
            return;
        }
        let millis = (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let rev = self.clock.now(millis);
        let id = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            at.unix_timestamp().max(0) as u64,
            0,
        ));
        self.entries.push(Entry::live(id, at, body, rev));
    }

    fn dose(
        &mut self,
        (date, hour): (Date, u8),
        medication: &str,
        amount: f64,
        unit: Unit,
        route: Route,
        prn: bool,
    ) {
        let body = DoseBody {
            medication: medication.into(),
            name: None,
            amount,
            unit,
            route,
            duration_h: None,
            prn: prn.then_some(true),
        };
        self.add(date, hour, 0, Body::Dose(body));
    }

    fn patch(&mut self, date: Date, rate: f64) {
        let body = DoseBody {
            medication: "fentanyl_transdermal".into(),
            name: None,
            amount: rate,
            unit: Unit::McgPerHour,
            route: Route::Transdermal,
            duration_h: Some(72.0),
            prn: None,
        };
        self.add(date, 9, 0, Body::Dose(body));
    }

    fn pain(&mut self, date: Date, nrs: u8, peg: Option<(u8, u8, u8)>) {
        let peg = peg.map(|(pain, enjoyment, activity)| PegAnswers {
            pain,
            enjoyment,
            activity,
        });
        self.add(
            date,
            20,
            30,
            Body::Pain(PainBody {
                nrs: nrs.min(10),
                peg,
                note: None,
            }),
        );
    }

    fn sows(&mut self, date: Date, noise: &mut Noise, level: u64) {
        let sows: BTreeMap<String, u8> = SOWS_ITEMS
            .iter()
            .map(|item| (item.key.to_string(), noise.below(level + 1).min(4) as u8))
            .collect();
        self.add(
            date,
            21,
            0,
            Body::Withdrawal(WithdrawalBody { sows, note: None }),
        );
    }
}

/// The entries of demo profile `profile` (0-based, wraps) for a patient enrolled on
/// `enrolled_on`, from a week before enrolment up to `now` (whose offset is the patient's).
pub fn demo_diary(profile: usize, enrolled_on: Date, now: OffsetDateTime) -> Vec<Entry> {
    let today = now.date();
    let device = DeviceId::new(format!("demo-{profile}"))
        .unwrap_or_else(|_| unreachable!("a valid constant form"));
    let mut diary = Diary {
        clock: HybridClock::new(device),
        now,
        entries: Vec::new(),
    };
    let mut noise = Noise(0x7a9e_0000 + profile as u64);
    let start = enrolled_on - Duration::days(7);
    let days = (today - start).whole_days().max(0);
    let profile = profile % DEMO_PROFILES;
    for index in 0..=days {
        let date = start + Duration::days(index);
        let day = index - 7; // days since enrolment
        match profile {
            // Fentanyl patch taper, 50 → 37 → 25 → 12 mcg/h, oxycodone as needed.
            0 => {
                if index % 3 == 0 {
                    let rate = match day {
                        ..=6 => 50.0,
                        7..=20 => 37.0,
                        21..=34 => 25.0,
                        _ => 12.0,
                    };
                    diary.patch(date, rate);
                }
                for _ in 0..noise.below(3) {
                    let hour = 8 + noise.below(12) as u8;
                    diary.dose((date, hour), "oxycodone", 5.0, Unit::Mg, Route::Oral, true);
                }
                diary.pain(
                    date,
                    4 + noise.below(4) as u8,
                    (index % 7 == 0).then_some((5, 6, 5)),
                );
                if index % 7 == 3 || matches!(day, 7 | 8 | 21 | 22) {
                    diary.sows(date, &mut noise, 2);
                }
            }
            // Oral oxycodone after a 5-day ketamine infusion at enrolment.
            1 => {
                let mg = match day {
                    ..=-1 => 40.0,
                    0..=13 => 20.0,
                    14..=27 => 15.0,
                    _ => 10.0,
                };
                diary.dose((date, 8), "oxycodone", mg, Unit::Mg, Route::Oral, false);
                diary.dose((date, 20), "oxycodone", mg, Unit::Mg, Route::Oral, false);
                if (0..5).contains(&day) {
                    diary.dose(
                        (date, 10),
                        "ketamine",
                        60.0,
                        Unit::Mg,
                        Route::Intravenous,
                        false,
                    );
                }
                diary.pain(
                    date,
                    5 + noise.below(3) as u8,
                    (index % 7 == 0).then_some((6, 5, 6)),
                );
                if index % 4 == 0 {
                    diary.sows(date, &mut noise, 1);
                }
            }
            // Stable methadone, rising pain and a dose increase: possible hyperalgesia.
            2 => {
                let mg = if day < 14 { 20.0 } else { 25.0 };
                diary.dose((date, 9), "methadone", mg, Unit::Mg, Route::Oral, false);
                let nrs = if day < 14 { 4 } else { 6 } + noise.below(2) as u8;
                diary.pain(date, nrs, (index % 7 == 0).then_some((nrs, 6, 6)));
            }
            // Buprenorphine with low-dose naltrexone; stopped logging five days ago.
            3 => {
                if today - date < Duration::days(5) {
                    continue;
                }
                diary.dose(
                    (date, 8),
                    "buprenorphine",
                    8.0,
                    Unit::Mg,
                    Route::Sublingual,
                    false,
                );
                diary.dose(
                    (date, 22),
                    "naltrexone",
                    4500.0,
                    Unit::Mcg,
                    Route::Oral,
                    false,
                );
                diary.pain(date, 3 + noise.below(3) as u8, None);
                if index % 10 == 0 {
                    diary.add(
                        date,
                        12,
                        0,
                        Body::Note(NoteBody {
                            text: "Slept better this week.".into(),
                        }),
                    );
                }
            }
            // Fast morphine taper with severe withdrawal in the last days.
            _ => {
                let mg = (60.0 - 2.0 * day.max(0) as f64).max(10.0);
                diary.dose((date, 8), "morphine", mg, Unit::Mg, Route::Oral, false);
                diary.dose((date, 20), "morphine", mg, Unit::Mg, Route::Oral, false);
                if noise.chance(30) {
                    let body = DoseBody {
                        medication: "other".into(),
                        name: Some("loperamide".into()),
                        amount: 2.0,
                        unit: Unit::Mg,
                        route: Route::Oral,
                        duration_h: None,
                        prn: Some(true),
                    };
                    diary.add(date, 14, 0, Body::Dose(body));
                }
                diary.pain(date, 5 + noise.below(3) as u8, None);
                let level = if today - date < Duration::days(6) {
                    4
                } else {
                    1
                };
                diary.sows(date, &mut noise, level);
            }
        }
    }
    diary.entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use taperlog_core::clinical::DEFAULT_MME_TABLE;
    use taperlog_core::model::validate_entry;
    use taperlog_core::summary::{FlagCode, TrendInput, daily_summaries, trends};
    use time::macros::{date, datetime};

    const ENROLLED: Date = date!(2026 - 10 - 19);
    const TODAY: Date = date!(2026 - 11 - 23);
    const NOW: OffsetDateTime = datetime!(2026-11-23 22:00 +01:00);

    fn flags_of(profile: usize) -> Vec<FlagCode> {
        let entries = demo_diary(profile, ENROLLED, NOW);
        let daily = daily_summaries(&entries, DEFAULT_MME_TABLE);
        let input = TrendInput {
            daily: &daily,
            enrolled_on: ENROLLED,
            baseline_set: None,
            today: TODAY,
            days: 90,
        };
        trends(input).flags.into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn every_demo_entry_is_valid_and_distinct() {
        for profile in 0..DEMO_PROFILES {
            let entries = demo_diary(profile, ENROLLED, NOW);
            assert!(entries.len() > 40, "profile {profile}: {}", entries.len());
            for entry in &entries {
                validate_entry(entry, datetime!(2026-11-23 23:59 +01:00)).unwrap();
            }
            let mut ids: Vec<_> = entries.iter().map(|e| e.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), entries.len());
        }
    }

    #[test]
    fn the_profiles_show_what_they_are_for() {
        assert!(
            flags_of(2).contains(&FlagCode::PainUpWithDose)
                || flags_of(2).contains(&FlagCode::MmeOver90)
        );
        assert!(flags_of(3).contains(&FlagCode::NoRecentEntries));
        assert!(flags_of(4).contains(&FlagCode::SevereWithdrawal));
        assert!(flags_of(4).contains(&FlagCode::RapidTaper));
    }
}
