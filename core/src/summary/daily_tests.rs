use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime, UtcOffset};

use super::*;
use crate::clinical::{DEFAULT_MME_TABLE, SOWS_ITEMS, mme_table};
use crate::model::{DeviceId, HybridClock, NoteBody, PainBody, PegAnswers, WithdrawalBody};

fn clock() -> HybridClock {
    HybridClock::new(DeviceId::new("test").unwrap())
}

fn dose(medication: &str, amount: f64, unit: Unit, route: Route) -> Body {
    Body::Dose(DoseBody {
        medication: medication.into(),
        name: None,
        amount,
        unit,
        route,
        duration_h: None,
        prn: None,
    })
}

fn patch(medication: &str, rate: f64, hours: f64) -> Body {
    Body::Dose(DoseBody {
        medication: medication.into(),
        name: None,
        amount: rate,
        unit: Unit::McgPerHour,
        route: Route::Transdermal,
        duration_h: Some(hours),
        prn: None,
    })
}

fn entry(clock: &mut HybridClock, at: OffsetDateTime, body: Body) -> Entry {
    let rev = clock.now(1);
    Entry::live(uuid::Uuid::now_v7(), at, body, rev)
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn a_day_of_oral_doses_pain_and_withdrawal() {
    let mut c = clock();
    let sows = SOWS_ITEMS.iter().map(|i| (i.key.to_string(), 2)).collect();
    let entries = vec![
        entry(
            &mut c,
            datetime!(2026-11-21 08:00 +01:00),
            dose("oxycodone", 10.0, Unit::Mg, Route::Oral),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 20:00 +01:00),
            dose("oxycodone", 10.0, Unit::Mg, Route::Oral),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 09:00 +01:00),
            dose("morphine", 5000.0, Unit::Mcg, Route::Oral),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 09:00 +01:00),
            dose("buprenorphine", 2.0, Unit::Mg, Route::Sublingual),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 10:00 +01:00),
            dose("ketamine", 25.0, Unit::Mg, Route::Nasal),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 10:00 +01:00),
            dose("naltrexone", 4500.0, Unit::Mcg, Route::Oral),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 10:00 +01:00),
            Body::Dose(DoseBody {
                name: Some("gabapentin".into()),
                ..dose_body("other", 300.0)
            }),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 11:00 +01:00),
            Body::Pain(PainBody {
                nrs: 6,
                peg: None,
                note: None,
            }),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 18:00 +01:00),
            Body::Pain(PainBody {
                nrs: 3,
                peg: Some(PegAnswers {
                    pain: 3,
                    enjoyment: 6,
                    activity: 6,
                }),
                note: None,
            }),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 19:00 +01:00),
            Body::Withdrawal(WithdrawalBody { sows, note: None }),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 22:00 +01:00),
            Body::Note(NoteBody { text: "ok".into() }),
        ),
    ];
    let days = daily_summaries(&entries, DEFAULT_MME_TABLE);
    assert_eq!(days.len(), 1);
    let day = &days[0];
    assert_eq!(day.date, date!(2026 - 11 - 21));
    assert!(approx(day.mme_total, 35.0), "{}", day.mme_total);
    assert!(approx(day.mme_by_medication["oxycodone"], 30.0));
    assert!(approx(day.mme_by_medication["morphine"], 5.0));
    assert_eq!(day.unconverted_doses, 1);
    assert_eq!(day.buprenorphine_mg, Some(2.0));
    assert_eq!(day.ketamine_mg, Some(25.0));
    assert_eq!(day.ketamine_mg_by_route["nasal"], 25.0);
    assert_eq!(day.pain_nrs_mean, Some(4.5));
    assert_eq!(day.pain_nrs_max, Some(6));
    assert_eq!(day.peg_mean, Some(5.0));
    assert_eq!(day.sows_max, Some(32));
    assert_eq!(day.entries, 11);
    assert_eq!(day.mme_table, "cdc-2022");
}

fn dose_body(medication: &str, mg: f64) -> DoseBody {
    DoseBody {
        medication: medication.into(),
        name: None,
        amount: mg,
        unit: Unit::Mg,
        route: Route::Oral,
        duration_h: None,
        prn: None,
    }
}

#[test]
fn a_patch_spreads_across_midnight_and_days() {
    let mut c = clock();
    // 25 mcg/h for 72 h from 20:00: 4 h on day 1, 24 h on days 2 and 3, 20 h on day 4.
    let entries = vec![entry(
        &mut c,
        datetime!(2026-11-01 20:00 +01:00),
        patch("fentanyl_transdermal", 25.0, 72.0),
    )];
    let days = daily_summaries(&entries, DEFAULT_MME_TABLE);
    let got: Vec<(Date, f64, u32)> = days
        .iter()
        .map(|d| (d.date, d.mme_total, d.entries))
        .collect();
    let expected = [(1, 4.0, 1), (2, 24.0, 0), (3, 24.0, 0), (4, 20.0, 0)];
    assert_eq!(got.len(), expected.len());
    for ((date, mme, count), (day, hours, entries)) in got.iter().zip(expected) {
        assert_eq!(date.day(), day);
        assert!(approx(*mme, 25.0 * 2.4 * hours / 24.0), "{date}: {mme}");
        assert_eq!(*count, entries);
    }
}

#[test]
fn a_buprenorphine_patch_counts_in_mg_not_mme() {
    let mut c = clock();
    let entries = vec![entry(
        &mut c,
        datetime!(2026-11-01 00:00 UTC),
        patch("buprenorphine", 10.0, 168.0),
    )];
    let days = daily_summaries(&entries, DEFAULT_MME_TABLE);
    assert_eq!(days.len(), 7);
    for day in &days {
        assert_eq!(day.mme_total, 0.0);
        assert!(approx(day.buprenorphine_mg.unwrap(), 0.24));
    }
}

#[test]
fn deleted_entries_count_for_nothing() {
    let mut c = clock();
    let live = entry(
        &mut c,
        datetime!(2026-11-21 08:00 UTC),
        dose("oxycodone", 10.0, Unit::Mg, Route::Oral),
    );
    let deleted = live.tombstone(c.now(2));
    assert!(daily_summaries([&deleted], DEFAULT_MME_TABLE).is_empty());
}

#[test]
fn methadone_bands_apply_to_the_day_total() {
    let mut c = clock();
    let entries = vec![
        entry(
            &mut c,
            datetime!(2026-11-21 08:00 UTC),
            dose("methadone", 15.0, Unit::Mg, Route::Oral),
        ),
        entry(
            &mut c,
            datetime!(2026-11-21 20:00 UTC),
            dose("methadone", 15.0, Unit::Mg, Route::Oral),
        ),
    ];
    let days = daily_summaries(&entries, mme_table("cdc-2016").unwrap());
    assert!(approx(days[0].mme_total, 240.0));
    assert_eq!(days[0].mme_table, "cdc-2016");
}

// --- property tests against a straightforward recomputation ---

const MEDS: [(&str, Unit, Route); 7] = [
    ("oxycodone", Unit::Mg, Route::Oral),
    ("morphine", Unit::Mcg, Route::Oral),
    ("methadone", Unit::Mg, Route::Oral),
    ("buprenorphine", Unit::Mg, Route::Sublingual),
    ("ketamine", Unit::Mg, Route::Nasal),
    ("naltrexone", Unit::Mcg, Route::Oral),
    ("other", Unit::Mg, Route::Oral),
];

fn entry_strategy() -> impl Strategy<Value = (i64, i8, u8, u32, u32, bool)> {
    // (minute of a 20-day period, offset hours, kind selector, amount, hours worn, deleted)
    (
        0i64..20 * 24 * 60,
        -11i8..=13,
        0u8..12,
        1u32..200,
        1u32..=168,
        proptest::bool::weighted(0.15),
    )
}

fn build(raw: &[(i64, i8, u8, u32, u32, bool)]) -> Vec<Entry> {
    let mut c = clock();
    raw.iter()
        .map(|&(minute, offset, selector, amount, hours, deleted)| {
            let at = (datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(minute))
                .to_offset(UtcOffset::from_hms(offset, 0, 0).unwrap());
            let amount = f64::from(amount);
            let body = match selector {
                0..=6 => {
                    let (med, unit, route) = MEDS[selector as usize];
                    let mut body = DoseBody {
                        medication: med.into(),
                        name: None,
                        amount,
                        unit,
                        route,
                        duration_h: None,
                        prn: None,
                    };
                    if med == "other" {
                        body.name = Some("x".into());
                    }
                    Body::Dose(body)
                }
                7 => patch("fentanyl_transdermal", amount.min(100.0), f64::from(hours)),
                8 => patch("buprenorphine", amount.min(40.0), f64::from(hours)),
                9 => Body::Pain(PainBody {
                    nrs: (amount as u8) % 11,
                    peg: (amount as u32).is_multiple_of(2).then_some(PegAnswers {
                        pain: (amount as u8) % 11,
                        enjoyment: 5,
                        activity: (hours % 11) as u8,
                    }),
                    note: None,
                }),
                10 => Body::Withdrawal(WithdrawalBody {
                    sows: SOWS_ITEMS
                        .iter()
                        .enumerate()
                        .map(|(i, item)| (item.key.to_string(), ((amount as usize + i) % 5) as u8))
                        .collect(),
                    note: None,
                }),
                _ => Body::Note(NoteBody { text: "n".into() }),
            };
            let live = entry(&mut c, at, body);
            if deleted {
                live.tombstone(c.now(3))
            } else {
                live
            }
        })
        .collect()
}

/// The naive day-by-day recomputation: patches walked minute by minute.
#[derive(Default, Debug)]
struct Naive {
    mme: f64,
    entries: u32,
    unconverted: u32,
    bup: Option<f64>,
    ket: Option<f64>,
    nrs: Vec<u8>,
    peg: Vec<f64>,
    sows: Option<u8>,
}

fn naive(entries: &[Entry]) -> BTreeMap<Date, Naive> {
    let mut days: BTreeMap<Date, Naive> = BTreeMap::new();
    let mut methadone_mg: BTreeMap<Date, f64> = BTreeMap::new();
    for e in entries.iter().filter(|e| !e.deleted) {
        let day = days.entry(e.local_date()).or_default();
        day.entries += 1;
        match e.body.as_ref().unwrap() {
            Body::Dose(d) if d.is_patch() => {
                let minutes = (d.wear_hours() * 60.0).round() as i64;
                for m in 0..minutes {
                    let date = (e.occurred_at + time::Duration::minutes(m)).date();
                    let slot = days.entry(date).or_default();
                    if d.medication == "fentanyl_transdermal" {
                        slot.mme += d.amount * 2.4 / (24.0 * 60.0);
                    } else {
                        *slot.bup.get_or_insert(0.0) += d.amount / 60.0 / 1000.0;
                    }
                }
            }
            Body::Dose(d) => {
                let mg = if d.unit == Unit::Mcg {
                    d.amount / 1000.0
                } else {
                    d.amount
                };
                match d.medication.as_str() {
                    "oxycodone" => day.mme += mg * 1.5,
                    "morphine" => day.mme += mg,
                    "methadone" => *methadone_mg.entry(e.local_date()).or_default() += mg,
                    "buprenorphine" => *day.bup.get_or_insert(0.0) += mg,
                    "ketamine" => *day.ket.get_or_insert(0.0) += mg,
                    "other" => day.unconverted += 1,
                    _ => {}
                }
            }
            Body::Pain(p) => {
                day.nrs.push(p.nrs);
                if let Some(peg) = &p.peg {
                    day.peg.push(
                        (f64::from(peg.pain) + f64::from(peg.enjoyment) + f64::from(peg.activity))
                            / 3.0,
                    );
                }
            }
            Body::Withdrawal(w) => day.sows = day.sows.max(Some(w.sows.values().sum())),
            Body::Note(_) => {}
        }
    }
    for (date, mg) in methadone_mg {
        days.entry(date).or_default().mme += mg * 4.7;
    }
    days
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() < 1e-6 * (1.0 + a.abs()),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn summaries_equal_a_naive_recomputation(raw in proptest::collection::vec(entry_strategy(), 0..40)) {
        let entries = build(&raw);
        let fast = daily_summaries(&entries, DEFAULT_MME_TABLE);
        let slow = naive(&entries);
        let fast_days: BTreeSet<Date> = fast.iter().map(|d| d.date).collect();
        let slow_days: BTreeSet<Date> = slow.keys().copied().collect();
        prop_assert_eq!(fast_days, slow_days);
        for day in &fast {
            let n = &slow[&day.date];
            prop_assert!(close(Some(day.mme_total), Some(n.mme)), "{}: mme {} vs {}", day.date, day.mme_total, n.mme);
            prop_assert_eq!(day.entries, n.entries);
            prop_assert_eq!(day.unconverted_doses, n.unconverted);
            prop_assert!(close(day.buprenorphine_mg, n.bup));
            prop_assert!(close(day.ketamine_mg, n.ket));
            let nrs_mean = (!n.nrs.is_empty()).then(|| n.nrs.iter().map(|v| f64::from(*v)).sum::<f64>() / n.nrs.len() as f64);
            prop_assert!(close(day.pain_nrs_mean, nrs_mean));
            prop_assert_eq!(day.pain_nrs_max, n.nrs.iter().copied().max());
            let peg_mean = (!n.peg.is_empty()).then(|| n.peg.iter().sum::<f64>() / n.peg.len() as f64);
            prop_assert!(close(day.peg_mean, peg_mean));
            prop_assert_eq!(day.sows_max, n.sows);
        }
    }

    #[test]
    fn patch_spreading_conserves_total_mme(minute in 0i64..24 * 60, offset in -11i8..=13, rate in 1u32..=100, hours in 1u32..=168) {
        let entries = build(&[(minute, offset, 7, rate, hours, false)]);
        let total: f64 = daily_summaries(&entries, DEFAULT_MME_TABLE).iter().map(|d| d.mme_total).sum();
        let expected = f64::from(rate.min(100)) * 2.4 * f64::from(hours) / 24.0;
        prop_assert!((total - expected).abs() < 1e-6, "{} vs {}", total, expected);
    }
}
