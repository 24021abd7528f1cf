//! Property test: random sequences of local writes, pulls, acknowledgements and restarts
//! leave the store equal to a straightforward in-memory model of last-writer-wins.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::test_util::*;
use super::tests_local::check_invariants;
use super::{DeviceStore, StoreError};
use crate::model::{Body, Entry, EntryId, Stamp};

#[derive(Debug, Clone)]
enum Op {
    Record {
        at: OffsetDateTime,
        body: Body,
    },
    Edit {
        pick: usize,
        at: OffsetDateTime,
        body: Body,
    },
    Delete {
        pick: usize,
    },
    Pull {
        changes: Vec<PulledChange>,
    },
    Acknowledge {
        count: usize,
    },
    Reopen,
}

#[derive(Debug, Clone)]
struct PulledChange {
    /// An existing id (by index into the known ids) or a new one.
    pick: Option<usize>,
    new_id: u128,
    millis_delta: i64,
    counter: u16,
    deleted: bool,
    at: OffsetDateTime,
    body: Body,
}

fn time_strategy() -> impl Strategy<Value = OffsetDateTime> {
    (
        0i64..10,
        0i64..1440,
        prop::sample::select(vec![-5i8, 0, 1, 9]),
    )
        .prop_map(|(day, minute, hours)| {
            (datetime!(2026-11-12 00:00 UTC) + Duration::days(day) + Duration::minutes(minute))
                .to_offset(UtcOffset::from_hms(hours, 0, 0).unwrap())
        })
}

fn body_strategy() -> impl Strategy<Value = Body> {
    prop_oneof![
        (0u8..=10).prop_map(pain),
        (1u32..100).prop_map(|mg| oxycodone(f64::from(mg))),
        "[a-z ]{1,12}".prop_map(|text| note(&text)),
    ]
}

fn pulled_strategy() -> impl Strategy<Value = PulledChange> {
    (
        prop::option::of(0usize..64),
        any::<u128>(),
        -100_000i64..100_000,
        0u16..4,
        prop::bool::weighted(0.2),
        time_strategy(),
        body_strategy(),
    )
        .prop_map(
            |(pick, new_id, millis_delta, counter, deleted, at, body)| PulledChange {
                pick,
                new_id,
                millis_delta,
                counter,
                deleted,
                at,
                body,
            },
        )
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (time_strategy(), body_strategy()).prop_map(|(at, body)| Op::Record { at, body }),
        3 => (0usize..64, time_strategy(), body_strategy())
            .prop_map(|(pick, at, body)| Op::Edit { pick, at, body }),
        2 => (0usize..64).prop_map(|pick| Op::Delete { pick }),
        2 => prop::collection::vec(pulled_strategy(), 0..6).prop_map(|changes| Op::Pull { changes }),
        1 => (0usize..8).prop_map(|count| Op::Acknowledge { count }),
        1 => Just(Op::Reopen),
    ]
}

/// The model: the current revision per id and the outbox (id → queued rev).
#[derive(Default)]
struct Model {
    entries: BTreeMap<EntryId, Entry>,
    outbox: BTreeMap<EntryId, Stamp>,
    ids: Vec<EntryId>,
}

impl Model {
    fn pick(&self, pick: usize) -> Option<EntryId> {
        (!self.ids.is_empty()).then(|| self.ids[pick % self.ids.len()])
    }

    fn local_write(&mut self, entry: Entry) {
        // Every local stamp must order after everything the device has seen.
        for known in self.entries.values() {
            assert!(
                entry.rev > known.rev,
                "{} not after {}",
                entry.rev,
                known.rev
            );
        }
        if !self.entries.contains_key(&entry.id) {
            self.ids.push(entry.id);
        }
        self.outbox.insert(entry.id, entry.rev.clone());
        self.entries.insert(entry.id, entry);
    }

    fn pending(&self) -> Vec<Entry> {
        let mut queued: Vec<(&Stamp, &EntryId)> =
            self.outbox.iter().map(|(id, rev)| (rev, id)).collect();
        queued.sort();
        queued
            .iter()
            .map(|(_, id)| self.entries[*id].clone())
            .collect()
    }
}

fn pulled_entry(model: &Model, change: &PulledChange) -> Entry {
    let id = match change.pick.and_then(|pick| model.pick(pick)) {
        Some(id) => id,
        None => uuid::Builder::from_u128(change.new_id)
            .with_version(uuid::Version::SortRand)
            .into_uuid(),
    };
    let millis = NOON_MILLIS.saturating_add_signed(change.millis_delta);
    let rev = Stamp::new(millis, change.counter, device("tablet-2"));
    let live = Entry::live(id, change.at, change.body.clone(), rev.clone());
    if change.deleted {
        live.tombstone(rev)
    } else {
        live
    }
}

fn run(ops: Vec<Op>, walls: Vec<i64>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(NOON_MILLIS);
    let mut store: DeviceStore = open(dir.path(), Arc::clone(&clock));
    let mut model = Model::default();
    for (step, (op, wall)) in ops.into_iter().zip(walls.into_iter().cycle()).enumerate() {
        clock.set(NOON_MILLIS.saturating_add_signed(wall));
        match op {
            Op::Record { at, body } => {
                let entry = store.record(at, body).unwrap();
                model.local_write(entry);
            }
            Op::Edit { pick, at, body } => {
                let Some(id) = model.pick(pick) else { continue };
                match store.edit(id, at, body) {
                    Ok(entry) => {
                        prop_assert!(!model.entries[&id].deleted);
                        model.local_write(entry);
                    }
                    Err(StoreError::NotFound(_)) => prop_assert!(model.entries[&id].deleted),
                    Err(other) => panic!("step {step}: {other}"),
                }
            }
            Op::Delete { pick } => {
                let Some(id) = model.pick(pick) else { continue };
                match store.delete(id) {
                    Ok(entry) => {
                        prop_assert!(entry.deleted && !model.entries[&id].deleted);
                        model.local_write(entry);
                    }
                    Err(StoreError::NotFound(_)) => prop_assert!(model.entries[&id].deleted),
                    Err(other) => panic!("step {step}: {other}"),
                }
            }
            Op::Pull { changes } => {
                let changes: Vec<Entry> = changes.iter().map(|c| pulled_entry(&model, c)).collect();
                let mut expected_applied = 0;
                for change in &changes {
                    if model
                        .entries
                        .get(&change.id)
                        .is_some_and(|old| old.rev >= change.rev)
                    {
                        continue;
                    }
                    if !model.entries.contains_key(&change.id) {
                        model.ids.push(change.id);
                    }
                    model.outbox.remove(&change.id);
                    model.entries.insert(change.id, change.clone());
                    expected_applied += 1;
                }
                let cursor = format!("cursor-{step}");
                prop_assert_eq!(
                    store.apply_pulled(&changes, &cursor).unwrap(),
                    expected_applied
                );
                prop_assert_eq!(store.cursor().unwrap(), Some(cursor));
            }
            Op::Acknowledge { count } => {
                let pushed: Vec<_> = model.pending().into_iter().take(count).collect();
                let accepted: Vec<_> = pushed.iter().map(|e| (e.id, e.rev.clone())).collect();
                prop_assert_eq!(store.acknowledge(&accepted).unwrap(), pushed.len());
                for entry in pushed {
                    model.outbox.remove(&entry.id);
                }
            }
            Op::Reopen => {
                drop(store);
                store = open(dir.path(), Arc::clone(&clock));
            }
        }
        prop_assert_eq!(store.trees.entries.len(), model.entries.len());
        for (id, entry) in &model.entries {
            prop_assert_eq!(store.revision(*id).unwrap(), Some(entry.clone()));
        }
        prop_assert_eq!(store.pending_changes(usize::MAX).unwrap(), model.pending());
        prop_assert_eq!(store.pending_count(), model.outbox.len());
    }
    check_invariants(&store);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_a_last_writer_wins_model(
        ops in prop::collection::vec(op_strategy(), 1..40),
        walls in prop::collection::vec(-50_000i64..50_000, 1..8),
    ) {
        run(ops, walls)?;
    }
}
