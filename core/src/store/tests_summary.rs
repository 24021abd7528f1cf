//! Property test: the store's range summaries equal the summary of every entry, cut to the
//! range — so the date index and the look-back for patches select exactly what counts.

use proptest::prelude::*;
use time::macros::{date, datetime};
use time::{Duration, UtcOffset};

use super::test_util::*;
use crate::clinical::DEFAULT_MME_TABLE;
use crate::model::{Body, DoseBody, Entry, Route, Stamp, Unit};
use crate::summary;

fn entry_strategy() -> impl Strategy<Value = (u128, i64, i8, u8, f64, bool)> {
    (
        any::<u128>(),
        0i64..(40 * 24 * 60),
        prop::sample::select(vec![-8i8, -5, 0, 1, 9, 12]),
        0u8..3,
        1.0f64..168.0,
        prop::bool::weighted(0.15),
    )
}

fn make_entry(
    n: usize,
    (id, minute, hours, kind, x, deleted): (u128, i64, i8, u8, f64, bool),
) -> Entry {
    let at = (datetime!(2026-10-01 00:00 UTC) + Duration::minutes(minute))
        .to_offset(UtcOffset::from_hms(hours, 0, 0).unwrap());
    let body = match kind {
        0 => Body::Dose(DoseBody {
            medication: "fentanyl_transdermal".into(),
            name: None,
            amount: 12.0,
            unit: Unit::McgPerHour,
            route: Route::Transdermal,
            duration_h: Some(x.round()),
            prn: None,
        }),
        1 => oxycodone(x.round()),
        _ => pain((x as u8) % 11),
    };
    let rev = Stamp::new(NOON_MILLIS + n as u64, 0, device("tablet-2"));
    let live = Entry::live(
        uuid::Builder::from_u128(id)
            .with_version(uuid::Version::SortRand)
            .into_uuid(),
        at,
        body,
        rev.clone(),
    );
    if deleted { live.tombstone(rev) } else { live }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn range_summaries_equal_the_full_recomputation(
        raw in prop::collection::vec(entry_strategy(), 0..60),
        start in 0i64..40,
        len in 0i64..20,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
        let entries: Vec<Entry> = raw.into_iter().enumerate().map(|(n, e)| make_entry(n, e)).collect();
        store.apply_pulled(&entries, "c").unwrap();

        let from = date!(2026 - 10 - 01) + Duration::days(start);
        let to = from + Duration::days(len);
        let mut live: Vec<Entry> = entries
            .iter()
            .filter(|e| !e.deleted && store.revision(e.id).unwrap().as_ref() == Some(*e))
            .cloned()
            .collect();
        live.sort_by_key(|e| (e.local_date(), e.id));
        let mut expected = summary::daily_summaries(&live, DEFAULT_MME_TABLE);
        expected.retain(|day| (from..=to).contains(&day.date));
        prop_assert_eq!(store.daily_summaries(from, to).unwrap(), expected);
    }
}
