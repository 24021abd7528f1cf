//! Unit tests of opening, local writes and queries.

use time::Duration;
use time::macros::{date, datetime};

use super::codec;
use super::test_util::*;
use super::{DeviceStore, FORMAT_VERSION, StoreConfig, StoreError};

/// Checks that the date index and the outbox agree with the entries.
pub(super) fn check_invariants(store: &DeviceStore) {
    let mut live = 0;
    for value in store.trees.entries.iter().values() {
        let entry = codec::decode_entry(&value.unwrap()).unwrap();
        let indexed = store
            .trees
            .by_date
            .contains_key(codec::date_key(&entry))
            .unwrap();
        assert_eq!(indexed, !entry.deleted, "index of {}", entry.id);
        live += usize::from(!entry.deleted);
    }
    assert_eq!(store.trees.by_date.len(), live, "stray index keys");
    // Each outbox key is the current revision of its entry, at most one per entry.
    let mut queued = std::collections::BTreeSet::new();
    for key in store.trees.outbox.iter().keys() {
        let key = key.unwrap();
        let id = codec::id_of_outbox_key(&key).unwrap();
        let rev = std::str::from_utf8(&key[..key.len() - 16]).unwrap();
        let current = store.revision(id).unwrap().expect("queued entry exists");
        assert_eq!(
            current.rev.to_string(),
            rev,
            "outbox holds a stale rev of {id}"
        );
        assert!(queued.insert(id), "{id} queued twice");
    }
}

#[test]
fn record_edit_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let first = store.record(morning(), oxycodone(10.0)).unwrap();
    assert_eq!(first.id.get_version_num(), 7);
    assert_eq!(first.device_id.as_str(), "phone-1");
    assert_eq!(store.entry(first.id).unwrap(), Some(first.clone()));

    let edited = store
        .edit(first.id, morning() + Duration::hours(1), oxycodone(5.0))
        .unwrap();
    assert!(edited.rev > first.rev);
    assert_eq!(store.entry(first.id).unwrap(), Some(edited.clone()));

    let tombstone = store.delete(first.id).unwrap();
    assert!(tombstone.deleted && tombstone.rev > edited.rev);
    assert_eq!(store.entry(first.id).unwrap(), None);
    assert_eq!(store.revision(first.id).unwrap(), Some(tombstone));
    assert!(matches!(store.delete(first.id), Err(StoreError::NotFound(id)) if id == first.id));
    assert!(matches!(
        store.edit(first.id, morning(), pain(3)),
        Err(StoreError::NotFound(_))
    ));
    // One entry, changed three times: one outbox item.
    assert_eq!(store.pending_count(), 1);
    check_invariants(&store);
}

#[test]
fn entries_stored_as_json_before_the_compact_form_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let entry = store.record(morning(), oxycodone(7.5)).unwrap();
    let stored = store
        .trees
        .entries
        .get(codec::id_key(&entry.id))
        .unwrap()
        .unwrap();
    assert_eq!(stored[0], codec::ENTRY_VALUE_COMPACT);
    let mut json_value = vec![super::VALUE_VERSION];
    json_value.extend_from_slice(&serde_json::to_vec(&entry).unwrap());
    assert!(json_value.len() > stored.len() * 3 / 2);
    store
        .trees
        .entries
        .insert(codec::id_key(&entry.id), json_value)
        .unwrap();
    assert_eq!(store.entry(entry.id).unwrap(), Some(entry.clone()));
    let edited = store.edit(entry.id, morning(), oxycodone(5.0)).unwrap();
    assert_eq!(store.entry(entry.id).unwrap(), Some(edited));
    check_invariants(&store);
    store
        .trees
        .entries
        .insert(codec::id_key(&entry.id), vec![3, 0])
        .unwrap();
    let refused = store.entry(entry.id).unwrap_err().to_string();
    assert!(refused.contains("value version 3"), "{refused}");
}

#[test]
fn validation_errors_come_back_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let error = store.record(morning(), oxycodone(-1.0)).unwrap_err();
    match error {
        StoreError::Invalid(e) => assert_eq!(e.field, "body.amount"),
        other => panic!("unexpected {other:?}"),
    }
    // "Future" is judged by the device's own clock.
    let error = store
        .record(datetime!(2026-11-24 12:00 UTC), pain(2))
        .unwrap_err();
    assert!(matches!(error, StoreError::Invalid(e) if e.field == "occurred_at"));
    assert_eq!(store.pending_count(), 0);
    assert!(store.trees.entries.is_empty());
}

#[test]
fn failed_edit_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let entry = store.record(morning(), pain(4)).unwrap();
    store.delete(entry.id).unwrap();
    let before: Vec<_> = store.trees.entries.iter().collect();
    let outbox_before: Vec<_> = store.trees.outbox.iter().collect();
    assert!(store.edit(entry.id, morning(), pain(5)).is_err());
    assert!(
        store
            .edit(uuid::Uuid::now_v7(), morning(), pain(5))
            .is_err()
    );
    let after: Vec<_> = store.trees.entries.iter().collect();
    let outbox_after: Vec<_> = store.trees.outbox.iter().collect();
    assert_eq!(before, after);
    assert_eq!(outbox_before, outbox_after);
    check_invariants(&store);
}

#[test]
fn entries_between_uses_the_patient_local_date_and_sorts_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    // 00:30 local on the 21st in Tokyo is still the 20th in UTC: it belongs to the 21st.
    let tokyo = store
        .record(datetime!(2026-11-21 00:30 +09:00), pain(3))
        .unwrap();
    let late = store
        .record(datetime!(2026-11-21 23:30 -05:00), pain(4))
        .unwrap();
    let mid = store
        .record(datetime!(2026-11-21 12:00 UTC), pain(5))
        .unwrap();
    let other_day = store
        .record(datetime!(2026-11-20 23:59 UTC), pain(6))
        .unwrap();

    let day = store
        .entries_between(date!(2026 - 11 - 21), date!(2026 - 11 - 21))
        .unwrap();
    assert_eq!(day, vec![tokyo.clone(), mid.clone(), late.clone()]);
    let both = store
        .entries_between(date!(2026 - 11 - 20), date!(2026 - 11 - 21))
        .unwrap();
    assert_eq!(both.len(), 4);
    assert!(both.contains(&other_day));

    // An edit that moves the entry to another day moves it in the index; a deletion hides it.
    store
        .edit(mid.id, datetime!(2026-11-19 12:00 UTC), pain(5))
        .unwrap();
    store.delete(tokyo.id).unwrap();
    let day = store
        .entries_between(date!(2026 - 11 - 21), date!(2026 - 11 - 21))
        .unwrap();
    assert_eq!(day, vec![late]);
    assert!(matches!(
        store.entries_between(date!(2026 - 11 - 22), date!(2026 - 11 - 21)),
        Err(StoreError::BadRange { .. })
    ));
    assert!(matches!(
        store.entries_between(date!(2000 - 01 - 01), date!(2026 - 11 - 21)),
        Err(StoreError::BadRange { .. })
    ));
    check_invariants(&store);
}

#[test]
fn writes_and_clock_survive_reopen_even_with_the_wall_clock_moved_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(NOON_MILLIS);
    let (first, merged) = {
        let store = open(dir.path(), clock.clone());
        let first = store.record(morning(), note("before")).unwrap();
        // A server whose clock is an hour ahead.
        let server = crate::model::Stamp::new(NOON_MILLIS + 3_600_000, 7, device("server"));
        store.merge_clock(&server).unwrap();
        (first, server)
    };
    clock.set(NOON_MILLIS - 86_400_000);
    let store = open(dir.path(), clock.clone());
    assert_eq!(store.entry(first.id).unwrap(), Some(first.clone()));
    let second = store.record(morning(), note("after")).unwrap();
    assert!(second.rev > first.rev);
    assert!((second.rev.millis(), second.rev.counter()) > (merged.millis(), merged.counter()));
    drop(store);

    let store = open(dir.path(), clock);
    let third = store.record(morning(), note("again")).unwrap();
    assert!(third.rev > second.rev);
    assert_eq!(store.pending_count(), 3);
}

#[test]
fn device_id_is_generated_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = DeviceStore::open(dir.path(), StoreConfig::default()).unwrap();
        let id = store.device_id().clone();
        assert!(
            id.as_str().starts_with("dev-") && id.as_str().len() == 18,
            "{id}"
        );
        id
    };
    let store = DeviceStore::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(store.device_id(), &id);
    drop(store);
    let error = DeviceStore::open(
        dir.path(),
        StoreConfig::default().with_device_id(device("someone-else")),
    )
    .unwrap_err();
    assert!(matches!(error, StoreError::DeviceMismatch { stored, .. } if stored == id));

    let other = tempfile::tempdir().unwrap();
    let another = DeviceStore::open(other.path(), StoreConfig::default()).unwrap();
    assert_ne!(another.device_id(), &id);
}

fn set_raw_format(dir: &std::path::Path, value: &[u8]) {
    let db = sled::open(dir).unwrap();
    db.open_tree(codec::TREE_META)
        .unwrap()
        .insert(codec::META_FORMAT, value)
        .unwrap();
    db.flush().unwrap();
}

#[test]
fn a_newer_format_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), ManualClock::at(NOON_MILLIS)));
    set_raw_format(dir.path(), &(FORMAT_VERSION + 1).to_be_bytes());
    let error = DeviceStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerFormat { found, supported }
            if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
        "{error:?}"
    );
    assert!(error.to_string().contains("newer"));
}

#[test]
fn corrupt_stores_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), ManualClock::at(NOON_MILLIS)));
    set_raw_format(dir.path(), b"\x01\x02");
    let error = DeviceStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");

    // Data without a format version is not a store this program made.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree(codec::TREE_ENTRIES)
            .unwrap()
            .insert(b"x", b"y")
            .unwrap();
        db.flush().unwrap();
    }
    let error = DeviceStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");

    // A stored entry that cannot be read is reported, not unwrapped.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let entry = store.record(morning(), pain(1)).unwrap();
    store
        .trees
        .entries
        .insert(codec::id_key(&entry.id), &b"\x01{not json"[..])
        .unwrap();
    assert!(matches!(store.entry(entry.id), Err(StoreError::Corrupt(_))));
}

#[test]
fn cache_size_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let store = DeviceStore::open(
        dir.path(),
        StoreConfig::default().with_cache_capacity(256 * 1024),
    )
    .unwrap();
    store
        .record(morning(), pain(2))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn concurrent_writers_get_distinct_stamps_and_the_clock_keeps_the_greatest() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path(), ManualClock::at(NOON_MILLIS)));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                (0..25)
                    .map(|n| store.record(morning(), pain(n % 11)).unwrap().rev)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut revs: Vec<_> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect();
    revs.sort();
    revs.dedup();
    assert_eq!(revs.len(), 100);
    let saved = store.trees.meta.get(codec::META_CLOCK).unwrap().unwrap();
    assert_eq!(codec::decode_stamp(&saved).unwrap(), *revs.last().unwrap());
    assert_eq!(store.pending_count(), 100);
    check_invariants(&store);
}

#[test]
fn a_store_whose_log_was_destroyed_is_refused_not_recreated_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
        for n in 0..20 {
            store.record(morning(), pain(n % 11)).unwrap();
        }
    }
    assert!(dir.path().join(super::MARKER_FILE).exists());
    let log = dir.path().join("db");
    let garbled: Vec<u8> = std::fs::read(&log)
        .unwrap()
        .iter()
        .map(|b| b ^ 0x5a)
        .collect();
    std::fs::write(&log, garbled).unwrap();
    let error = DeviceStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
}

#[test]
fn a_newer_marker_is_refused_before_sled_touches_the_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(super::MARKER_FILE),
        format!("taperlog-store format={}\n", FORMAT_VERSION + 1),
    )
    .unwrap();
    let error = DeviceStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(error, StoreError::NewerFormat { .. }), "{error:?}");
    assert!(!dir.path().join("db").exists());
}

/// Found in review: a pulled change late on 9999-12-31 at a western offset (its instant is in
/// year 10000) was stored and then made the entry, and every scan of the store, unreadable.
#[test]
fn a_pulled_change_at_the_end_of_year_9999_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let change = crate::model::Entry::from_json(serde_json::json!({
        "id": "019a1b2c-3d4e-7f00-8a00-000000000009",
        "kind": "note",
        "occurred_at": "9999-12-31T23:30:00-01:00",
        "rev": "0190f5c3a2b1-0003-server",
        "device_id": "server",
        "body": {"text": "x"}
    }))
    .unwrap();
    store
        .apply_pulled(std::slice::from_ref(&change), "c1")
        .unwrap();
    assert_eq!(store.entry(change.id).unwrap(), Some(change));
    check_invariants(&store);
}
