//! Unit tests of the operations the sync engine drives, and of the summaries.

use time::macros::{date, datetime};

use super::test_util::*;
use super::tests_local::check_invariants;
use super::{StoreError, codec};
use crate::model::{Body, DoseBody, Entry, Route, Stamp, Unit};

fn remote(entry_id: uuid::Uuid, millis: u64, body: Body) -> Entry {
    Entry::live(
        entry_id,
        morning(),
        body,
        Stamp::new(millis, 0, device("tablet-2")),
    )
}

#[test]
fn outbox_collapses_edits_and_keeps_change_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let a = store.record(morning(), pain(1)).unwrap();
    let b = store.record(morning(), pain(2)).unwrap();
    store.edit(a.id, morning(), pain(3)).unwrap();
    let a_last = store.edit(a.id, morning(), pain(4)).unwrap();
    let c = store.record(morning(), pain(5)).unwrap();
    let c_gone = store.delete(c.id).unwrap();

    assert_eq!(store.pending_count(), 3);
    let pending = store.pending_changes(10).unwrap();
    assert_eq!(pending, vec![b.clone(), a_last.clone(), c_gone.clone()]);
    assert_eq!(store.pending_changes(2).unwrap(), vec![b, a_last]);
    check_invariants(&store);
}

#[test]
fn acknowledge_keeps_an_edit_made_during_the_push() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let a = store.record(morning(), pain(1)).unwrap();
    let b = store.record(morning(), pain(2)).unwrap();
    let pushed = store.pending_changes(500).unwrap();
    // The patient edits `a` while the push is in flight.
    let a2 = store.edit(a.id, morning(), pain(7)).unwrap();
    let accepted: Vec<_> = pushed.iter().map(|e| (e.id, e.rev.clone())).collect();
    assert_eq!(store.acknowledge(&accepted).unwrap(), 1);
    assert_eq!(store.pending_changes(500).unwrap(), vec![a2.clone()]);
    // Acknowledging again is harmless.
    assert_eq!(store.acknowledge(&accepted).unwrap(), 0);
    assert_eq!(store.acknowledge(&[(a2.id, a2.rev.clone())]).unwrap(), 1);
    assert_eq!(store.pending_count(), 0);
    assert_eq!(store.entry(b.id).unwrap(), Some(b));
    check_invariants(&store);
}

#[test]
fn resend_all_queues_every_revision_but_rejected_ones_and_forgets_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let a = store.record(morning(), oxycodone(10.0)).unwrap();
    let b = store.record(morning(), pain(2)).unwrap();
    let gone = store.record(morning(), pain(3)).unwrap();
    let gone = store.delete(gone.id).unwrap();
    let refused = store.record(morning(), pain(4)).unwrap();
    let pushed: Vec<_> = [&a, &b, &gone]
        .iter()
        .map(|e| (e.id, e.rev.clone()))
        .collect();
    store.acknowledge_at(&pushed, Some("3-0123")).unwrap();
    assert_eq!(store.acked_position().unwrap().as_deref(), Some("3-0123"));
    store
        .reject(refused.id, &refused.rev, "validation_failed", "no", None)
        .unwrap();
    let theirs = remote(uuid::Uuid::now_v7(), NOON_MILLIS - 5, pain(6));
    store
        .apply_pulled(std::slice::from_ref(&theirs), "17")
        .unwrap();
    assert_eq!(store.pending_count(), 0);

    // An edit waiting in the outbox stays queued once, as its current revision.
    let a2 = store.edit(a.id, morning(), oxycodone(5.0)).unwrap();
    assert_eq!(store.resend_all().unwrap(), 3);
    let mut pending = store.pending_changes(100).unwrap();
    pending.sort_by_key(|e| e.id);
    let mut expected = vec![a2, b, gone, theirs];
    expected.sort_by_key(|e| e.id);
    assert_eq!(pending, expected);
    assert_eq!(store.pending_count(), 4);
    assert_eq!(store.cursor().unwrap(), None);
    assert_eq!(store.acked_position().unwrap(), None);
    assert_eq!(store.rejected().unwrap().len(), 1);
    // Again: nothing new to queue.
    assert_eq!(store.resend_all().unwrap(), 0);
    check_invariants(&store);
}

#[test]
fn reject_moves_to_the_rejected_list_until_a_newer_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let a = store.record(morning(), oxycodone(10.0)).unwrap();
    let b = store.record(morning(), pain(2)).unwrap();
    assert!(
        store
            .reject(
                a.id,
                &a.rev,
                "validation_failed",
                "too much",
                Some("body.amount")
            )
            .unwrap()
    );
    assert_eq!(store.pending_changes(10).unwrap(), vec![b.clone()]);
    let rejected = store.rejected().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].entry, a);
    assert_eq!(rejected[0].code, "validation_failed");
    assert_eq!(rejected[0].field.as_deref(), Some("body.amount"));

    // A rejection of a revision already replaced is moot.
    let b2 = store.edit(b.id, morning(), pain(3)).unwrap();
    assert!(
        !store
            .reject(b.id, &b.rev, "validation_failed", "x", None)
            .unwrap()
    );
    assert_eq!(store.pending_changes(10).unwrap(), vec![b2]);

    // Fixing the rejected entry queues it again and clears the rejection.
    let fixed = store.edit(a.id, morning(), oxycodone(5.0)).unwrap();
    assert!(store.rejected().unwrap().is_empty());
    assert!(store.pending_changes(10).unwrap().contains(&fixed));
    check_invariants(&store);
}

#[test]
fn apply_pulled_is_last_writer_wins_and_stores_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let local = store.record(morning(), pain(1)).unwrap();
    let newer_local = store.record(morning(), pain(2)).unwrap();
    let fresh_id = uuid::Uuid::now_v7();

    let older = remote(newer_local.id, NOON_MILLIS - 1_000, pain(9));
    let newer = remote(local.id, NOON_MILLIS + 60_000, pain(8));
    let new_one = remote(fresh_id, NOON_MILLIS - 5_000, note("from the tablet"));
    let applied = store
        .apply_pulled(&[older, newer.clone(), new_one.clone()], "c-1")
        .unwrap();
    assert_eq!(applied, 2);
    assert_eq!(store.entry(local.id).unwrap(), Some(newer.clone()));
    assert_eq!(
        store.entry(newer_local.id).unwrap(),
        Some(newer_local.clone())
    );
    assert_eq!(store.entry(fresh_id).unwrap(), Some(new_one));
    assert_eq!(store.cursor().unwrap().as_deref(), Some("c-1"));
    // The local change that lost leaves the outbox; the one that won stays.
    assert_eq!(
        store.pending_changes(10).unwrap(),
        vec![newer_local.clone()]
    );

    // Equal revs change nothing; the same batch again is idempotent.
    assert_eq!(
        store
            .apply_pulled(std::slice::from_ref(&newer), "c-2")
            .unwrap(),
        0
    );
    assert_eq!(store.cursor().unwrap().as_deref(), Some("c-2"));

    // The clock merged the pulled rev: a local edit now wins over it.
    let edit = store.edit(local.id, morning(), pain(0)).unwrap();
    assert!(edit.rev > newer.rev);

    // A pulled tombstone deletes; it leaves the index.
    let gone = newer_local.tombstone(Stamp::new(NOON_MILLIS + 120_000, 0, device("tablet-2")));
    store.apply_pulled(&[gone], "c-3").unwrap();
    assert_eq!(store.entry(newer_local.id).unwrap(), None);
    let day = store
        .entries_between(date!(2026 - 11 - 21), date!(2026 - 11 - 21))
        .unwrap();
    assert!(day.iter().all(|e| e.id != newer_local.id));
    check_invariants(&store);
}

#[test]
fn a_bad_pulled_change_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    store.apply_pulled(&[], "c-0").unwrap();
    let good = remote(uuid::Uuid::now_v7(), NOON_MILLIS, pain(3));
    let mut bad = remote(uuid::Uuid::now_v7(), NOON_MILLIS, pain(3));
    bad.body = None;
    let error = store.apply_pulled(&[good.clone(), bad], "c-1").unwrap_err();
    assert!(
        matches!(&error, StoreError::Invalid(e) if e.field == "changes[1].body"),
        "{error:?}"
    );
    assert_eq!(store.entry(good.id).unwrap(), None);
    assert_eq!(store.cursor().unwrap().as_deref(), Some("c-0"));
}

#[test]
fn pulled_revs_push_the_clock_forward_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(NOON_MILLIS);
    let far = remote(uuid::Uuid::now_v7(), NOON_MILLIS + 86_400_000, pain(3));
    {
        let store = open(dir.path(), clock.clone());
        store
            .apply_pulled(std::slice::from_ref(&far), "c-1")
            .unwrap();
    }
    let store = open(dir.path(), clock);
    let mine = store.edit(far.id, morning(), pain(4)).unwrap();
    assert!(mine.rev > far.rev);
    let stored = store.trees.meta.get(codec::META_CLOCK).unwrap().unwrap();
    assert_eq!(codec::decode_stamp(&stored).unwrap(), mine.rev);
}

fn patch(mcg_per_hour: f64) -> Body {
    Body::Dose(DoseBody {
        medication: "fentanyl_transdermal".into(),
        name: None,
        amount: mcg_per_hour,
        unit: Unit::McgPerHour,
        route: Route::Transdermal,
        duration_h: Some(72.0),
        prn: None,
    })
}

#[test]
fn daily_summaries_count_patches_started_before_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    store
        .record(datetime!(2026-11-18 00:00 +01:00), patch(25.0))
        .unwrap();
    store
        .record(datetime!(2026-11-20 08:00 +01:00), oxycodone(10.0))
        .unwrap();
    let deleted = store
        .record(datetime!(2026-11-20 09:00 +01:00), oxycodone(20.0))
        .unwrap();
    store.delete(deleted.id).unwrap();
    store
        .record(datetime!(2026-11-22 08:00 +01:00), pain(6))
        .unwrap();

    let days = store
        .daily_summaries(date!(2026 - 11 - 20), date!(2026 - 11 - 21))
        .unwrap();
    // The patch was worn 18–20 Nov; on the 20th it still counts (25 mcg/h × 2.4 = 60 MME).
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].date, date!(2026 - 11 - 20));
    assert!(
        (days[0].mme_total - (60.0 + 15.0)).abs() < 1e-9,
        "{:?}",
        days[0]
    );
    assert_eq!(days[0].entries, 1);

    let all = store
        .daily_summaries(date!(2026 - 11 - 01), date!(2026 - 11 - 30))
        .unwrap();
    let dates: Vec<_> = all.iter().map(|d| d.date).collect();
    assert_eq!(
        dates,
        vec![
            date!(2026 - 11 - 18),
            date!(2026 - 11 - 19),
            date!(2026 - 11 - 20),
            date!(2026 - 11 - 22)
        ]
    );
    assert!(
        store
            .daily_summaries(date!(2026 - 11 - 30), date!(2026 - 11 - 01))
            .is_err()
    );
}

#[test]
fn today_follows_the_entry_that_happened_last_not_the_latest_local_date() {
    let dir = tempfile::tempdir().unwrap();
    // 2026-03-02T20:00Z.
    let store = open(dir.path(), ManualClock::at(1_772_481_600_000));
    assert_eq!(
        store.today().unwrap(),
        date!(2026 - 03 - 02),
        "UTC with no entry"
    );
    // Dated 03-02 locally, but happened at 03-01T15:30Z.
    store
        .record(datetime!(2026-03-02 00:30 +09:00), pain(4))
        .unwrap();
    assert_eq!(store.today().unwrap(), date!(2026 - 03 - 03));
    // Dated 03-01 locally, but happened later, at 03-02T04:00Z: its offset decides.
    let later = store
        .record(datetime!(2026-03-01 23:00 -05:00), pain(5))
        .unwrap();
    assert_eq!(store.today().unwrap(), date!(2026 - 03 - 02));
    // Deleted, it no longer counts.
    store.delete(later.id).unwrap();
    assert_eq!(store.today().unwrap(), date!(2026 - 03 - 03));
}

#[test]
fn trends_come_from_the_stored_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    for day in 1..=14u8 {
        let at = datetime!(2026-11-01 08:00 +01:00) + time::Duration::days(i64::from(day));
        store
            .record(at, oxycodone(if day <= 7 { 40.0 } else { 20.0 }))
            .unwrap();
    }
    assert_eq!(store.today().unwrap(), date!(2026 - 11 - 22));
    let trends = store
        .trends(date!(2026 - 11 - 02), None, date!(2026 - 11 - 15), 14)
        .unwrap();
    assert_eq!(trends.series.len(), 14);
    assert_eq!(trends.baseline_mme, Some(60.0));
    let last = trends.series.last().unwrap();
    assert_eq!(last.date, date!(2026 - 11 - 15));
    assert_eq!(last.mme_7d, Some(30.0));
    assert_eq!(trends.change_from_baseline_pct, Some(-50.0));
}

const DAY_MILLIS: u64 = 86_400_000;

#[test]
fn a_change_refused_for_a_clock_that_ran_ahead_is_restamped_once_the_clock_is_right() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(NOON_MILLIS + 3 * DAY_MILLIS);
    let store = open(dir.path(), clock.clone());
    let ahead = store.record(morning(), pain(4)).unwrap();
    let server_hlc = Stamp::new(NOON_MILLIS - 1_000, 3, device("server"));

    // Still ahead: a fresh stamp would be refused too.
    assert_eq!(
        store
            .restamp_refused(ahead.id, &ahead.rev, &server_hlc)
            .unwrap(),
        super::Restamp::WallClockAhead
    );
    assert_eq!(store.pending_changes(10).unwrap(), vec![ahead.clone()]);

    clock.set(NOON_MILLIS);
    let super::Restamp::Restamped(fresh) = store
        .restamp_refused(ahead.id, &ahead.rev, &server_hlc)
        .unwrap()
    else {
        panic!("expected a fresh stamp");
    };
    assert_eq!((fresh.rev.millis(), fresh.rev.counter()), (NOON_MILLIS, 0));
    assert_eq!(
        (fresh.id, fresh.occurred_at, &fresh.body),
        (ahead.id, ahead.occurred_at, &ahead.body)
    );
    assert_eq!(store.pending_changes(10).unwrap(), vec![fresh.clone()]);
    assert_eq!(store.revision(ahead.id).unwrap(), Some(fresh.clone()));
    // The clock now runs from the fresh stamp, below the one that ran ahead.
    let next = store.record(morning(), pain(5)).unwrap();
    assert!(next.rev > fresh.rev && next.rev < ahead.rev);
    // The old revision is gone: a second refusal of it is moot.
    assert_eq!(
        store
            .restamp_refused(ahead.id, &ahead.rev, &server_hlc)
            .unwrap(),
        super::Restamp::Moot
    );
    check_invariants(&store);
}

#[test]
fn restamping_never_goes_below_the_servers_clock_and_takes_from_the_rejected_list() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(NOON_MILLIS + 3 * DAY_MILLIS);
    let store = open(dir.path(), clock.clone());
    let ahead = store.record(morning(), pain(4)).unwrap();
    assert!(
        store
            .reject(
                ahead.id,
                &ahead.rev,
                "validation_failed",
                "is more than 24 hours ahead of the server's clock",
                Some("rev"),
            )
            .unwrap()
    );
    assert_eq!(store.pending_count(), 0);

    // The server's clock is ahead of this device's (put right, but a little behind).
    clock.set(NOON_MILLIS);
    let server_hlc = Stamp::new(NOON_MILLIS + 60_000, 9, device("server"));
    let super::Restamp::Restamped(fresh) = store
        .restamp_refused(ahead.id, &ahead.rev, &server_hlc)
        .unwrap()
    else {
        panic!("expected a fresh stamp");
    };
    assert_eq!(
        (fresh.rev.millis(), fresh.rev.counter()),
        (NOON_MILLIS + 60_000, 10)
    );
    assert!(store.rejected().unwrap().is_empty());
    assert_eq!(store.pending_changes(10).unwrap(), vec![fresh]);
    check_invariants(&store);
}
