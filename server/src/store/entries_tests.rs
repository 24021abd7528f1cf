use proptest::prelude::*;
use taperlog_core::clinical::DEFAULT_MME_TABLE;
use taperlog_core::model::{
    Body, DeviceId, DoseBody, HybridClock, NoteBody, PainBody, Route, Unit,
};
use taperlog_core::summary::daily_summaries;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-21 12:00 UTC);

fn store() -> (tempfile::TempDir, ServerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ServerStore::open(dir.path()).unwrap();
    (dir, store)
}

fn oxycodone(mg: f64) -> Body {
    Body::Dose(DoseBody {
        medication: "oxycodone".into(),
        name: None,
        amount: mg,
        unit: Unit::Mg,
        route: Route::Oral,
        duration_h: None,
        prn: None,
    })
}

fn patch(rate: f64) -> Body {
    Body::Dose(DoseBody {
        medication: "fentanyl_transdermal".into(),
        name: None,
        amount: rate,
        unit: Unit::McgPerHour,
        route: Route::Transdermal,
        duration_h: Some(72.0),
        prn: None,
    })
}

#[test]
fn retried_and_older_changes_change_nothing() {
    let (_dir, store) = store();
    let patient = Uuid::now_v7();
    let mut clock = HybridClock::new(DeviceId::new("a").unwrap());
    let first = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-20 08:00 +01:00),
        oxycodone(10.0),
        clock.now(1),
    );
    let mut edited = first.clone();
    edited.rev = clock.now(2);
    edited.body = Some(oxycodone(20.0));

    assert_eq!(
        store
            .apply_changes(
                patient,
                std::slice::from_ref(&first),
                DEFAULT_MME_TABLE,
                NOW
            )
            .unwrap(),
        vec![ChangeOutcome::Applied(1)]
    );
    assert_eq!(
        store
            .apply_changes(
                patient,
                std::slice::from_ref(&first),
                DEFAULT_MME_TABLE,
                NOW
            )
            .unwrap(),
        vec![ChangeOutcome::AlreadyHad]
    );
    assert_eq!(
        store
            .apply_changes(patient, &[edited.clone()], DEFAULT_MME_TABLE, NOW)
            .unwrap(),
        vec![ChangeOutcome::Applied(2)]
    );
    assert_eq!(
        store
            .apply_changes(patient, &[first], DEFAULT_MME_TABLE, NOW)
            .unwrap(),
        vec![ChangeOutcome::Superseded]
    );

    let page = store.changes_after(patient, 0, 10).unwrap();
    assert_eq!(page.changes, vec![edited]);
    assert_eq!((page.last_seq, page.more), (2, false));
    let day = store
        .daily_summaries(patient, date!(2026 - 11 - 20), date!(2026 - 11 - 20))
        .unwrap();
    assert_eq!(day[0].mme_total, 30.0);
    assert_eq!(store.entry_count(patient).unwrap(), 1);
    // Another patient's log is separate.
    assert!(
        store
            .changes_after(Uuid::now_v7(), 0, 10)
            .unwrap()
            .changes
            .is_empty()
    );
}

#[test]
fn deleting_a_patch_clears_every_day_it_covered() {
    let (_dir, store) = store();
    let patient = Uuid::now_v7();
    let mut clock = HybridClock::new(DeviceId::new("a").unwrap());
    let live = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-01 20:00 UTC),
        patch(25.0),
        clock.now(1),
    );
    store
        .apply_changes(patient, std::slice::from_ref(&live), DEFAULT_MME_TABLE, NOW)
        .unwrap();
    assert_eq!(
        store
            .daily_summaries(patient, date!(2026 - 11 - 01), date!(2026 - 11 - 30))
            .unwrap()
            .len(),
        4
    );
    store
        .apply_changes(
            patient,
            &[live.tombstone(clock.now(2))],
            DEFAULT_MME_TABLE,
            NOW,
        )
        .unwrap();
    assert!(
        store
            .daily_summaries(patient, date!(2026 - 11 - 01), date!(2026 - 11 - 30))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .entries_between(patient, date!(2026 - 11 - 01), date!(2026 - 11 - 30))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn pages_follow_the_change_log() {
    let (_dir, store) = store();
    let patient = Uuid::now_v7();
    let mut clock = HybridClock::new(DeviceId::new("a").unwrap());
    let changes: Vec<Entry> = (0..25)
        .map(|i| {
            Entry::live(
                Uuid::now_v7(),
                NOW - Duration::hours(i),
                Body::Note(NoteBody {
                    text: format!("{i}"),
                }),
                clock.now(1),
            )
        })
        .collect();
    store
        .apply_changes(patient, &changes, DEFAULT_MME_TABLE, NOW)
        .unwrap();
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.changes_after(patient, cursor, 10).unwrap();
        seen.extend(page.changes.iter().map(|c| c.id));
        cursor = page.last_seq;
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, changes.iter().map(|c| c.id).collect::<Vec<_>>());
    assert_eq!(
        store
            .entries_between(patient, date!(2026 - 11 - 20), date!(2026 - 11 - 21))
            .unwrap()
            .len(),
        25
    );
}

fn body_strategy() -> impl Strategy<Value = Body> {
    prop_oneof![
        (1u32..100).prop_map(|mg| oxycodone(f64::from(mg))),
        (1u32..100).prop_map(|rate| patch(f64::from(rate))),
        (0u8..=10).prop_map(|nrs| Body::Pain(PainBody {
            nrs,
            peg: None,
            note: None
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Summaries kept incrementally over any sequence of edits, deletes and retries in any
    /// batching equal summaries recomputed from the final entries.
    #[test]
    fn incremental_summaries_equal_a_recomputation(
        ops in proptest::collection::vec((0usize..6, 0i64..240, body_strategy(), proptest::bool::weighted(0.2), 1usize..4), 1..40)
    ) {
        let (_dir, store) = store();
        let patient = Uuid::now_v7();
        let mut clock = HybridClock::new(DeviceId::new("dev").unwrap());
        let ids: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
        let mut latest: BTreeMap<Uuid, Entry> = BTreeMap::new();
        let mut batch = Vec::new();
        for (slot, hour, body, delete, batch_size) in ops {
            let at = (datetime!(2026-11-01 00:00 UTC) + Duration::hours(hour)).to_offset(time::macros::offset!(+2));
            let entry = match (delete, latest.get(&ids[slot])) {
                (true, Some(old)) => old.tombstone(clock.now(1)),
                _ => Entry::live(ids[slot], at, body, clock.now(1)),
            };
            latest.insert(entry.id, entry.clone());
            batch.push(entry);
            if batch.len() >= batch_size {
                store.apply_changes(patient, &batch, DEFAULT_MME_TABLE, NOW).unwrap();
                // A retried push changes nothing.
                store.apply_changes(patient, &batch, DEFAULT_MME_TABLE, NOW).unwrap();
                batch.clear();
            }
        }
        store.apply_changes(patient, &batch, DEFAULT_MME_TABLE, NOW).unwrap();
        let expected = daily_summaries(latest.values(), DEFAULT_MME_TABLE);
        let stored = store.all_daily_summaries(patient).unwrap();
        prop_assert_eq!(stored.len(), expected.len());
        for (s, e) in stored.iter().zip(&expected) {
            prop_assert_eq!(s.date, e.date);
            prop_assert!((s.mme_total - e.mme_total).abs() < 1e-9);
            prop_assert_eq!(s.entries, e.entries);
            prop_assert_eq!(s.pain_nrs_max, e.pain_nrs_max);
        }
    }
}
