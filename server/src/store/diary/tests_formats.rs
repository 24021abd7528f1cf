//! A diary written before the compact formats keeps working: its JSON records read, and
//! are rewritten compactly as changes touch them.

use taperlog_core::clinical::DEFAULT_MME_TABLE;
use taperlog_core::model::{DeviceId, Entry, HybridClock};
use taperlog_core::summary::daily_summaries;
use time::macros::datetime;
use uuid::Uuid;

use super::day_record::decode_day;
use super::entry_record::decode_entry;
use super::keys;
use super::tests::{NOW, oxycodone, patch, store};
use crate::store::codec::encode;

/// The JSON format's byte, as those records were written.
const JSON_FORMAT: u8 = 1;

#[test]
fn a_diary_of_json_records_keeps_working_after_compact_writes() {
    let (_dir, store) = store();
    let patient = Uuid::now_v7();
    let mut clock = HybridClock::new(DeviceId::new("a").unwrap());
    let worn = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-01 20:00 +05:30),
        patch(25.0),
        clock.now(1),
    );
    let dose = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-02 08:00 -03:00),
        oxycodone(7.5),
        clock.now(2),
    );
    let untouched = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-09 08:00 UTC),
        oxycodone(5.0),
        clock.now(3),
    );
    let first = [worn.clone(), dose.clone(), untouched.clone()];
    store
        .apply_changes(patient, &first, DEFAULT_MME_TABLE, NOW)
        .unwrap();

    // Every entry and contributions record back to the JSON format.
    let tree = &store.trees.diary;
    let (mut entries, mut days) = (0, 0);
    for item in tree.iter() {
        let (key, bytes) = item.unwrap();
        match key[0] {
            keys::ENTRY => {
                let (seq, entry) = decode_entry(&bytes).unwrap();
                let mut json = vec![JSON_FORMAT];
                json.extend_from_slice(&seq.to_be_bytes());
                serde_json::to_writer(&mut json, &entry).unwrap();
                tree.insert(key, json).unwrap();
                entries += 1;
            }
            keys::CONTRIBUTIONS => {
                let day = decode_day(keys::date_of_key(&key).unwrap(), &bytes).unwrap();
                let json = encode("test", &day).unwrap();
                assert_eq!(json[0], JSON_FORMAT);
                tree.insert(key, json).unwrap();
                days += 1;
            }
            _ => {}
        }
    }
    assert_eq!(entries, 3);
    assert!(days >= 4, "{days} days");

    let mut edited = dose.clone();
    edited.rev = clock.now(4);
    edited.body = Some(oxycodone(20.0));
    let removed = worn.tombstone(clock.now(5));
    let fresh = Entry::live(
        Uuid::now_v7(),
        datetime!(2026-11-02 21:00 +01:00),
        oxycodone(2.5),
        clock.now(6),
    );
    let second = [edited.clone(), removed.clone(), fresh.clone()];
    store
        .apply_changes(patient, &second, DEFAULT_MME_TABLE, NOW)
        .unwrap();

    let latest = [edited, removed, fresh, untouched.clone()];
    let expected = daily_summaries(latest.iter(), DEFAULT_MME_TABLE);
    let stored = store.all_daily_summaries(patient).unwrap();
    assert_eq!(stored.len(), expected.len());
    for (stored, expected) in stored.iter().zip(&expected) {
        assert_eq!(
            (stored.date, stored.entries),
            (expected.date, expected.entries)
        );
        assert!(
            (stored.mme_total - expected.mme_total).abs() < 1e-9,
            "{stored:?}"
        );
    }
    // Touched records are compact now; the untouched ones are still JSON, and read.
    let format_of = |key: Vec<u8>| tree.get(key).unwrap().unwrap()[0];
    assert_eq!(format_of(keys::entry_key(patient, dose.id)), 2);
    assert_eq!(
        format_of(keys::entry_key(patient, untouched.id)),
        JSON_FORMAT
    );
    assert_eq!(
        store.entry_revision(patient, untouched.id).unwrap(),
        Some(untouched)
    );
    let rebuilt = super::apply::record_greatest_rev_of_entries(tree)
        .unwrap()
        .unwrap();
    assert_eq!(rebuilt, latest.iter().map(|e| e.rev.clone()).max().unwrap());
    assert_eq!(
        store.changes_after(patient, 0, 100).unwrap().changes.len(),
        4
    );
}
