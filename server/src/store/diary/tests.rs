use proptest::prelude::*;
use taperlog_core::clinical::DEFAULT_MME_TABLE;
use taperlog_core::model::{
    Body, DeviceId, DoseBody, HybridClock, NoteBody, PainBody, Route, Stamp, Unit,
};
use taperlog_core::summary::daily_summaries;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use std::collections::BTreeMap;

use super::keys::{self, entry_key};
use super::*;
use crate::store::{ServerStore, StoreError};

pub(super) const NOW: OffsetDateTime = datetime!(2026-11-21 12:00 UTC);

pub(super) fn store() -> (tempfile::TempDir, ServerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ServerStore::open(dir.path()).unwrap();
    (dir, store)
}

pub(super) fn oxycodone(mg: f64) -> Body {
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

pub(super) fn patch(rate: f64) -> Body {
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

#[test]
fn a_push_that_fails_in_a_group_fails_alone() {
    let (_dir, store) = store();
    let (good, broken) = (Uuid::now_v7(), Uuid::now_v7());
    let mut clock = HybridClock::new(DeviceId::new("a").unwrap());
    let mut note = |text: &str| {
        Entry::live(
            Uuid::now_v7(),
            datetime!(2026-11-20 08:00 +01:00),
            Body::Note(NoteBody { text: text.into() }),
            clock.now(1),
        )
    };
    let (first, second) = (note("first"), note("second"));
    let (unreadable, fine) = (note("stored value unreadable"), note("fine"));
    // A stored record of an unknown format makes the broken patient's push fail.
    store
        .trees
        .diary
        .insert(entry_key(broken, unreadable.id), b"\x09garbage".to_vec())
        .unwrap();
    let broken_push = [fine.clone(), unreadable.clone()];
    let pushes = [
        PushToApply {
            patient: good,
            changes: std::slice::from_ref(&first),
            received_at: NOW,
        },
        PushToApply {
            patient: broken,
            changes: &broken_push,
            received_at: NOW,
        },
        PushToApply {
            patient: good,
            changes: std::slice::from_ref(&second),
            received_at: NOW,
        },
    ];
    let outcomes = store.apply_pushes(&pushes, DEFAULT_MME_TABLE).unwrap();
    assert_eq!(
        outcomes[0].as_ref().unwrap(),
        &vec![ChangeOutcome::Applied(1)]
    );
    assert!(matches!(outcomes[1], Err(StoreError::Format { .. })));
    assert_eq!(
        outcomes[2].as_ref().unwrap(),
        &vec![ChangeOutcome::Applied(2)]
    );
    let page = store.changes_after(good, 0, 10).unwrap();
    assert_eq!(page.changes, vec![first, second]);
    // Nothing of the failed push went in, not even its valid first change.
    assert_eq!(store.entry_revision(broken, fine.id).unwrap(), None);
    assert!(
        store
            .changes_after(broken, 0, 10)
            .unwrap()
            .changes
            .is_empty()
    );
    assert_eq!(
        store.patient_activity(broken).unwrap(),
        PatientActivity::default()
    );
    assert!(store.patient_activity(good).unwrap().last_sync_at.is_some());
}

#[test]
fn a_pull_never_moves_last_sync_back() {
    let (_dir, store) = store();
    let patient = Uuid::now_v7();
    store.note_pull(patient, NOW).unwrap();
    store.note_pull(patient, NOW - Duration::hours(1)).unwrap();
    store
        .apply_changes(patient, &[], DEFAULT_MME_TABLE, NOW - Duration::hours(2))
        .unwrap();
    assert_eq!(
        store.patient_activity(patient).unwrap().last_sync_at,
        Some(NOW)
    );
}

#[test]
fn the_patient_state_carries_sequence_numbers_and_the_latest_entry_across_pushes_and_pulls() {
    let (_dir, store) = store();
    let patient = Uuid::now_v7();
    let mut clock = HybridClock::new(DeviceId::new("a").unwrap());
    let later = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-20 21:00 +02:00),
        oxycodone(10.0),
        clock.now(1),
    );
    let earlier = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-19 08:00 +01:00),
        oxycodone(5.0),
        clock.now(2),
    );
    let push = |entries: &[Entry]| {
        store
            .apply_changes(patient, entries, DEFAULT_MME_TABLE, NOW)
            .unwrap()
    };
    assert_eq!(
        push(std::slice::from_ref(&later)),
        vec![ChangeOutcome::Applied(1)]
    );
    // A pull rewrites the state (last sync) and must keep the sequence number.
    store
        .note_pull(patient, NOW + Duration::minutes(1))
        .unwrap();
    // An entry that happened earlier does not become the latest one.
    assert_eq!(push(&[earlier]), vec![ChangeOutcome::Applied(2)]);
    let activity = store.patient_activity(patient).unwrap();
    assert_eq!(activity.last_entry_at, Some(later.occurred_at));
    assert_eq!(activity.latest_offset_seconds, Some(2 * 3600));
    assert_eq!(activity.last_sync_at, Some(NOW + Duration::minutes(1)));
    assert_eq!(store.changes_after(patient, 0, 10).unwrap().last_seq, 2);
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
        let (patient, other) = (Uuid::now_v7(), Uuid::now_v7());
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
                if batch_size == 3 {
                    // Two pushes and another patient's in one group, as the writer groups
                    // concurrent pushes: each builds on the writes before it.
                    let (first, second) = batch.split_at(1);
                    let pushes = [
                        PushToApply { patient, changes: first, received_at: NOW },
                        PushToApply { patient: other, changes: &batch, received_at: NOW },
                        PushToApply { patient, changes: second, received_at: NOW },
                    ];
                    for outcome in store.apply_pushes(&pushes, DEFAULT_MME_TABLE).unwrap() {
                        outcome.unwrap();
                    }
                } else {
                    store.apply_changes(patient, &batch, DEFAULT_MME_TABLE, NOW).unwrap();
                }
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
        // Paging through the change log in small pages yields each entry once, at its
        // latest revision, although edits left stale pointers behind.
        let mut pulled: BTreeMap<Uuid, Entry> = BTreeMap::new();
        let mut cursor = 0;
        loop {
            let page = store.changes_after(patient, cursor, 2).unwrap();
            prop_assert!(page.last_seq >= cursor);
            for change in page.changes {
                prop_assert!(pulled.insert(change.id, change).is_none(), "pulled twice");
            }
            cursor = page.last_seq;
            if !page.more {
                break;
            }
        }
        prop_assert_eq!(&pulled, &latest);
        // The entries found by day are exactly the live ones.
        let mut live: Vec<Entry> = latest.into_values().filter(|e| !e.deleted).collect();
        live.sort_by_key(|e| (e.occurred_at, e.id));
        let found = store
            .entries_between(patient, date!(2026 - 10 - 01), date!(2026 - 12 - 31))
            .unwrap();
        prop_assert_eq!(found, live);
    }
}

/// A stamp of device `a` at `millis`.
fn stamp(millis: u64) -> Stamp {
    Stamp::new(millis, 0, DeviceId::new("a").unwrap())
}

/// A revision of entry `id` stamped at `millis`.
fn dose_stamped(id: Uuid, millis: u64) -> Entry {
    Entry::live(
        id,
        datetime!(2026-11-20 08:00 +01:00),
        oxycodone(5.0),
        stamp(millis),
    )
}

#[test]
fn the_greatest_applied_rev_only_grows_and_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let patient = Uuid::now_v7();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    {
        let store = ServerStore::open(dir.path()).unwrap();
        assert_eq!(store.greatest_rev_applied().unwrap(), None);
        let apply = |change: Entry| {
            store
                .apply_changes(patient, &[change], DEFAULT_MME_TABLE, NOW)
                .unwrap()
        };
        apply(dose_stamped(first, 5_000));
        // Applied (a new entry) but older, and superseded: neither lowers it.
        assert_eq!(
            apply(dose_stamped(second, 3_000)),
            vec![ChangeOutcome::Applied(2)]
        );
        assert_eq!(
            apply(dose_stamped(first, 4_000)),
            vec![ChangeOutcome::Superseded]
        );
        assert_eq!(
            store.greatest_rev_applied().unwrap(),
            Some(dose_stamped(first, 5_000).rev)
        );
        apply(dose_stamped(second, 6_000));
        store.flush_blocking().unwrap();
    }
    let store = ServerStore::open(dir.path()).unwrap();
    assert_eq!(
        store.greatest_rev_applied().unwrap(),
        Some(dose_stamped(second, 6_000).rev)
    );
}

#[test]
fn a_diary_of_the_layout_before_the_greatest_rev_gets_it_from_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let patient = Uuid::now_v7();
    // The greatest rev belongs to neither the first nor the last entry in key order.
    let changes: Vec<Entry> = [7_000, 9_000, 8_000]
        .into_iter()
        .map(|millis| dose_stamped(Uuid::now_v7(), millis))
        .collect();
    {
        let store = ServerStore::open(dir.path()).unwrap();
        store
            .apply_changes(patient, &changes, DEFAULT_MME_TABLE, NOW)
            .unwrap();
        // What the layout before it looked like: no greatest-rev record, marked diary-2.
        store.trees.diary.remove(keys::GREATEST_REV_KEY).unwrap();
        store
            .set_meta(LAYOUT_META, LAYOUT_WITHOUT_GREATEST_REV)
            .unwrap();
        store.flush_blocking().unwrap();
    }
    let store = ServerStore::open(dir.path()).unwrap();
    assert_eq!(store.meta(LAYOUT_META).unwrap().as_deref(), Some(LAYOUT));
    let greatest = changes.iter().map(|c| c.rev.clone()).max();
    assert_eq!(store.greatest_rev_applied().unwrap(), greatest);
}

#[test]
fn an_unreadable_greatest_rev_record_is_rebuilt_from_the_entries() {
    let (_dir, store) = store();
    let patient = Uuid::now_v7();
    let entry = |millis| dose_stamped(Uuid::now_v7(), millis);
    store
        .apply_changes(
            patient,
            &[entry(9_000), entry(7_000)],
            DEFAULT_MME_TABLE,
            NOW,
        )
        .unwrap();
    store
        .trees
        .diary
        .insert(keys::GREATEST_REV_KEY, &b"\x01not json"[..])
        .unwrap();
    assert_eq!(store.greatest_rev_applied().unwrap(), Some(stamp(9_000)));
    // Pushes go on, and the record is whole again.
    store
        .trees
        .diary
        .insert(keys::GREATEST_REV_KEY, &b"\x01not json"[..])
        .unwrap();
    store
        .apply_changes(patient, &[entry(8_000)], DEFAULT_MME_TABLE, NOW)
        .unwrap();
    assert_eq!(store.greatest_rev_applied().unwrap(), Some(stamp(9_000)));
}
