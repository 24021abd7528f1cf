use std::collections::BTreeMap;

use proptest::prelude::*;
use time::macros::{date, datetime, offset};
use time::{Date, Duration};

use super::*;
use crate::summary::FlagCode;

fn day(date: Date, mme: f64) -> DailySummary {
    DailySummary {
        date,
        mme_total: mme,
        mme_by_medication: BTreeMap::new(),
        unconverted_doses: 0,
        buprenorphine_mg: None,
        ketamine_mg: None,
        ketamine_mg_by_route: BTreeMap::new(),
        pain_nrs_mean: None,
        pain_nrs_max: None,
        peg_mean: None,
        sows_max: None,
        entries: 1,
        mme_table: "cdc-2022".into(),
        mme_beyond_table: false,
    }
}

/// `values[i]` is the MME of `start + i` days.
fn series(start: Date, values: &[f64]) -> Vec<DailySummary> {
    values
        .iter()
        .enumerate()
        .map(|(i, mme)| day(start + Duration::days(i as i64), *mme))
        .collect()
}

fn input(daily: &[DailySummary], enrolled_on: Date, today: Date) -> TrendInput<'_> {
    TrendInput {
        daily,
        enrolled_on,
        baseline_set: None,
        today,
        days: 90,
    }
}

fn codes(trends: &Trends) -> Vec<FlagCode> {
    trends.flags.iter().map(|f| f.code).collect()
}

const START: Date = date!(2026 - 01 - 01);

#[test]
fn today_follows_the_latest_entry_offset() {
    let now = datetime!(2026-11-21 23:30 UTC);
    assert_eq!(today_for(None, now), date!(2026 - 11 - 21));
    assert_eq!(today_for(Some(offset!(+1)), now), date!(2026 - 11 - 22));
    assert_eq!(today_for(Some(offset!(-5)), now), date!(2026 - 11 - 21));
}

#[test]
fn baseline_sources_in_order() {
    let daily = series(START, &[100.0; 20]);
    let enrolled = START + Duration::days(10);
    let pre = trends(input(&daily, enrolled, START + Duration::days(19)));
    assert_eq!(
        (pre.baseline_mme, pre.baseline_source),
        (Some(100.0), Some(BaselineSource::PreEnrolment))
    );

    let first_week = trends(input(&daily, START, START + Duration::days(19)));
    assert_eq!(first_week.baseline_source, Some(BaselineSource::FirstWeek));

    let set = trends(TrendInput {
        baseline_set: Some(120.0),
        ..input(&daily, START, START + Duration::days(19))
    });
    assert_eq!(
        (set.baseline_mme, set.baseline_source),
        (Some(120.0), Some(BaselineSource::Set))
    );
    let change = set.change_from_baseline_pct.unwrap();
    assert!((change - (100.0 - 120.0) / 120.0 * 100.0).abs() < 1e-9);
}

#[test]
fn seven_day_mean_counts_days_with_data_only_and_zero_mme_days() {
    // Days 0..=6: data on days 0, 2 (0 MME: a pain entry only), 6.
    let daily = vec![
        day(START, 60.0),
        day(START + Duration::days(2), 0.0),
        day(START + Duration::days(6), 90.0),
    ];
    let t = trends(input(&daily, START, START + Duration::days(6)));
    let last = t.series.last().unwrap();
    assert_eq!(last.mme_7d, Some(50.0));
    assert_eq!(last.mme_total, Some(90.0));
    let day_5 = &t.series[t.series.len() - 2];
    assert_eq!(day_5.mme_total, None);
    assert_eq!(t.series.len(), 90);
}

#[test]
fn a_patch_that_delivers_no_mme_makes_no_day_with_data() {
    // Day 0: oxycodone 40 mg (60 MME) and a buprenorphine patch worn for a week; days 1..=6
    // are covered by the patch alone (listed by /daily, with 0 MME and no entry).
    let mut daily = vec![day(START, 60.0)];
    for offset in 1..=6 {
        let mut covered = day(START + Duration::days(offset), 0.0);
        covered.entries = 0;
        covered.buprenorphine_mg = Some(0.24);
        daily.push(covered);
    }
    let t = trends(input(&daily, START, START + Duration::days(6)));
    assert_eq!(t.series.last().unwrap().mme_7d, Some(60.0));
    assert_eq!(t.baseline_mme, Some(60.0));
    // A fentanyl patch delivers MME: the days it alone covers are days with data.
    for d in daily.iter_mut().skip(1) {
        d.mme_total = 30.0;
    }
    let t = trends(input(&daily, START, START + Duration::days(6)));
    assert_eq!(t.series.last().unwrap().mme_7d, Some(240.0 / 7.0));
}

#[test]
fn mme_thresholds_and_since() {
    let mut values = vec![40.0; 10];
    values.extend([95.0; 10]);
    let daily = series(START, &values);
    let today = START + Duration::days(19);
    let t = trends(input(&daily, START, today));
    let over_90 = t
        .flags
        .iter()
        .find(|f| f.code == FlagCode::MmeOver90)
        .unwrap();
    // mean over days 13..=19 is 95 on day 19; on day 14 it is (3×40 + 5×95)/8? no: window 8..=14 = 2×40 + 5×95 = 555/7 ≈ 79.3.
    // ≥ 90 first when at most one 40 remains: window 10..=16 → 95 ≥ 90; window 9..=15 = (40 + 6×95)/7 ≈ 87.1.
    assert_eq!(over_90.since, START + Duration::days(16));
    assert!(!codes(&t).contains(&FlagCode::MmeOver50));
    assert!(codes(&t).contains(&FlagCode::DoseEscalation));
}

#[test]
fn rapid_taper_against_four_weeks_earlier() {
    let mut values = vec![100.0; 28];
    values.extend([70.0; 14]);
    let daily = series(START, &values);
    let t = trends(input(&daily, START, START + Duration::days(41)));
    assert!(codes(&t).contains(&FlagCode::RapidTaper));
    let slow: Vec<f64> = (0..42).map(|i| 100.0 - i as f64 * 0.3).collect();
    let t = trends(input(
        &series(START, &slow),
        START,
        START + Duration::days(41),
    ));
    assert!(!codes(&t).contains(&FlagCode::RapidTaper));
}

#[test]
fn severe_withdrawal_within_a_week() {
    let mut daily = series(START, &[10.0; 10]);
    daily[3].sows_max = Some(21);
    let holds_until = START + Duration::days(9);
    let t = trends(input(&daily, START, holds_until));
    let flag = t
        .flags
        .iter()
        .find(|f| f.code == FlagCode::SevereWithdrawal)
        .unwrap();
    assert_eq!(flag.since, START + Duration::days(3));
    let later = series(START, &[10.0; 11]);
    let mut later = later;
    later[3].sows_max = Some(21);
    assert!(
        !codes(&trends(input(&later, START, START + Duration::days(10))))
            .contains(&FlagCode::SevereWithdrawal)
    );
}

#[test]
fn pain_up_with_dose() {
    let mut daily = series(START, &[50.0; 28]);
    for (i, d) in daily.iter_mut().enumerate() {
        if i >= 21 {
            d.mme_total = 56.0;
            d.pain_nrs_mean = Some(6.0);
        } else {
            d.pain_nrs_mean = Some(4.5);
        }
    }
    let t = trends(input(&daily, START, START + Duration::days(27)));
    assert!(codes(&t).contains(&FlagCode::PainUpWithDose));
}

/// MME `before` then `after` (from day 21), NRS `pain_before` then `pain_after`: the
/// flags on day 27.
fn flags_after_three_weeks(
    before: f64,
    after: f64,
    pain_before: &[f64],
    pain_after: &[f64],
) -> Vec<FlagCode> {
    let mut daily = series(START, &[before; 28]);
    for (i, d) in daily.iter_mut().enumerate() {
        if i >= 21 {
            d.mme_total = after;
            d.pain_nrs_mean = Some(pain_after[i % pain_after.len()]);
        } else {
            d.pain_nrs_mean = Some(pain_before[i % pain_before.len()]);
        }
    }
    codes(&trends(input(&daily, START, START + Duration::days(27))))
}

#[test]
fn boundaries_hold_exactly_despite_floating_point() {
    // 100 × 1.10 and 50 × 1.10 are not exact in binary: a rise of exactly 10% still counts.
    for (before, after) in [(100.0, 110.0), (50.0, 55.0), (90.0, 99.0), (200.0, 220.0)] {
        assert!(
            flags_after_three_weeks(before, after, &[3.0], &[4.0])
                .contains(&FlagCode::PainUpWithDose),
            "{before} -> {after}"
        );
        assert!(
            !flags_after_three_weeks(before, after - 0.01, &[3.0], &[4.0])
                .contains(&FlagCode::PainUpWithDose),
            "{before} -> {after} - 0.01"
        );
    }
    // Means 3.33… then 4.33…: a rise of exactly one point.
    assert!(
        flags_after_three_weeks(100.0, 120.0, &[3.0, 3.0, 4.0], &[4.0, 4.0, 5.0])
            .contains(&FlagCode::PainUpWithDose)
    );
    // A fall of exactly 20% is not "more than 20%" (12 × 0.8 is 9.600000000000001).
    for (before, after) in [(12.0, 9.6), (3.0, 2.4), (17.0, 13.6), (100.0, 80.0)] {
        let mut values = vec![before; 28];
        values.extend([after; 14]);
        let t = trends(input(
            &series(START, &values),
            START,
            START + Duration::days(41),
        ));
        assert!(
            !codes(&t).contains(&FlagCode::RapidTaper),
            "{before} -> {after}"
        );
    }
    // Exactly 10% above the baseline is not "more than 10%"; just above it is.
    for (baseline, mme, holds) in [
        (30.0, 33.0, false),
        (70.0, 77.0, false),
        (30.0, 33.01, true),
    ] {
        let t = trends(TrendInput {
            baseline_set: Some(baseline),
            ..input(&series(START, &[mme; 7]), START, START + Duration::days(6))
        });
        assert_eq!(
            codes(&t).contains(&FlagCode::DoseEscalation),
            holds,
            "{baseline} {mme}"
        );
    }
}

#[test]
fn no_recent_entries() {
    let daily = series(START, &[10.0; 5]);
    let t = trends(input(&daily, START, START + Duration::days(7)));
    let flag = t
        .flags
        .iter()
        .find(|f| f.code == FlagCode::NoRecentEntries)
        .unwrap();
    assert_eq!(flag.since, START + Duration::days(7));
    assert!(
        !codes(&trends(input(&daily, START, START + Duration::days(6))))
            .contains(&FlagCode::NoRecentEntries)
    );

    let none = trends(input(&[], START, START + Duration::days(5)));
    let flag = none
        .flags
        .iter()
        .find(|f| f.code == FlagCode::NoRecentEntries)
        .unwrap();
    assert_eq!(flag.since, START + Duration::days(2));
    assert!(
        trends(input(&[], START, START + Duration::days(1)))
            .flags
            .is_empty()
    );

    // A day covered only by a patch is a day with data but not a day with an entry.
    let mut patch_only = series(START, &[60.0; 5]);
    for d in patch_only.iter_mut().skip(2) {
        d.entries = 0;
    }
    let t = trends(input(&patch_only, START, START + Duration::days(4)));
    assert_eq!(
        t.flags
            .iter()
            .find(|f| f.code == FlagCode::NoRecentEntries)
            .unwrap()
            .since,
        START + Duration::days(4)
    );
}

proptest! {
    /// The rolling mean equals a direct mean over the calendar window, for any data pattern.
    #[test]
    fn rolling_means_equal_direct_means(values in proptest::collection::vec(proptest::option::of(0.0f64..500.0), 1..60)) {
        let daily: Vec<DailySummary> = values.iter().enumerate()
            .filter_map(|(i, v)| v.map(|mme| day(START + Duration::days(i as i64), mme)))
            .collect();
        let today = START + Duration::days(values.len() as i64 - 1);
        let t = trends(TrendInput { days: values.len().max(7) as u32, ..input(&daily, START, today) });
        for point in &t.series {
            let offset = (point.date - START).whole_days();
            let window: Vec<f64> = (offset - 6..=offset)
                .filter(|i| *i >= 0 && (*i as usize) < values.len())
                .filter_map(|i| values[i as usize])
                .collect();
            let expected = (!window.is_empty()).then(|| window.iter().sum::<f64>() / window.len() as f64);
            match (point.mme_7d, expected) {
                (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-9),
                (a, b) => prop_assert_eq!(a, b),
            }
        }
        // Flags are mutually consistent: never both MME bands.
        let codes = codes(&t);
        prop_assert!(!(codes.contains(&FlagCode::MmeOver90) && codes.contains(&FlagCode::MmeOver50)));
    }
}
