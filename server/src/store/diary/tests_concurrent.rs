//! A pull reading the change log while pushes of the same patient are written: following
//! the cursor never skips a change (sled's iterators are not snapshots).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use taperlog_core::clinical::DEFAULT_MME_TABLE;
use taperlog_core::model::{Body, DeviceId, Entry, EntryId, HybridClock, PainBody};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use crate::store::ServerStore;

const ENTRIES: usize = 300;
const PUSHES: usize = 400;
const PER_PUSH: usize = 12;

fn pain(nrs: u8) -> Body {
    Body::Pain(PainBody {
        nrs,
        peg: None,
        note: None,
    })
}

#[test]
fn a_pull_following_its_cursor_during_pushes_misses_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ServerStore::open(dir.path()).unwrap());
    let patient = Uuid::now_v7();
    let ids: Vec<EntryId> = (0..ENTRIES).map(|_| Uuid::now_v7()).collect();
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (store, ids, done) = (Arc::clone(&store), ids.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut clock = HybridClock::new(DeviceId::new("w").unwrap());
            let mut next = 0usize;
            for push in 0..PUSHES {
                let changes: Vec<Entry> = (0..PER_PUSH)
                    .map(|_| {
                        // Mostly re-edits of earlier entries, so the log has stale pointers.
                        next = (next * 7 + 13) % ENTRIES;
                        Entry::live(
                            ids[next],
                            datetime!(2026-11-20 08:00 +01:00),
                            pain((push % 11) as u8),
                            clock.now(push as u64 + 1),
                        )
                    })
                    .collect();
                store
                    .apply_changes(
                        patient,
                        &changes,
                        DEFAULT_MME_TABLE,
                        OffsetDateTime::now_utc(),
                    )
                    .unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    let mut seen: BTreeMap<EntryId, Entry> = BTreeMap::new();
    let mut cursor = 0;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let page = store.changes_after(patient, cursor, 13).unwrap();
        for change in page.changes {
            match seen.get(&change.id) {
                Some(held) if held.rev >= change.rev => {}
                _ => {
                    seen.insert(change.id, change);
                }
            }
        }
        cursor = page.last_seq;
        if finished && !page.more {
            break;
        }
    }
    writer.join().unwrap();

    for id in &ids {
        assert_eq!(
            seen.get(id).map(|e| &e.rev),
            store
                .entry_revision(patient, *id)
                .unwrap()
                .as_ref()
                .map(|e| &e.rev),
            "the pull missed the latest change of {id}"
        );
    }
}
