//! Phones whose clocks are wrong, against a real server on loopback with real sled dirs:
//! a clock a day behind still wins with a later edit (HLC merge), and a clock that ran days
//! ahead stops poisoning the phone's changes once it is put right, across a server restart.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use taperlog_core::model::Entry;
use taperlog_tests::devices::{
    AdjustableClock, Device, PhoneOp, ShiftedClock, TEST_RETRY, assert_converged, oxycodone, pain,
    server_changes,
};
use taperlog_tests::{TEST_PASSWORD, TestOptions, TestServer};
use uuid::Uuid;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A phone with an adjustable clock, logged in to the patient `enrolled` enrolled.
fn phone_with_adjustable_clock(
    server: &TestServer,
    enrolled: &Device,
    name: &str,
) -> (Device, Arc<AdjustableClock>) {
    let clock = Arc::new(AdjustableClock::default());
    let phone = Device::with_clock(name, &server.base_url, clock.clone(), TEST_RETRY);
    phone
        .session
        .restore(enrolled.session.tokens().expect("enrolled"));
    (phone, clock)
}

/// A fresh patient enrolled through a phone whose clock is right until the test moves it.
fn enrolled_phone(server: &TestServer, name: &str) -> (Device, Arc<AdjustableClock>) {
    let team = server.create_care_team("clock team");
    let clinician = server.create_clinician(team);
    let (_, code) = server.create_patient(&clinician, team);
    let clock = Arc::new(AdjustableClock::default());
    let phone = Device::with_clock(name, &server.base_url, clock.clone(), TEST_RETRY);
    phone
        .session
        .enroll(&code, TEST_PASSWORD, Some(name))
        .expect("enrol");
    (phone, clock)
}

#[test]
fn a_phone_whose_clock_is_a_day_behind_still_wins_with_a_later_edit() {
    let server = TestServer::start();
    let team = server.create_care_team("clock team");
    let clinician = server.create_clinician(team);
    let (_, code) = server.create_patient(&clinician, team);
    let right = Device::new("phone-right", &server.base_url);
    let behind = Device::with_clock(
        "phone-behind",
        &server.base_url,
        Arc::new(ShiftedClock {
            shift_ms: -86_400_000,
        }),
        TEST_RETRY,
    );
    let username = right
        .session
        .enroll(&code, TEST_PASSWORD, Some("phone-right"))
        .unwrap()
        .username
        .unwrap();
    behind.login(&username, TEST_PASSWORD);

    let entry = right.record(oxycodone(10.0));
    right.sync();
    behind.sync();
    let edited = behind
        .store
        .edit(entry.id, entry.occurred_at, oxycodone(7.5))
        .unwrap();
    assert!(
        edited.rev > entry.rev,
        "the HLC merged the server's clock: {} vs {}",
        edited.rev,
        entry.rev
    );
    behind.sync();
    right.sync();
    assert_eq!(right.live_entries()[&entry.id].body, Some(oxycodone(7.5)));
    assert_converged(&[right, behind]);
}

#[test]
fn a_phone_whose_clock_ran_days_ahead_syncs_again_once_put_right_across_a_server_restart() {
    let data = tempfile::tempdir().unwrap();
    let options = || TestOptions {
        data_dir: Some(data.path().join("server")),
        ..TestOptions::default()
    };
    let mut server = TestServer::start_with(options());
    server.admin = server.login(&server.admin.username.clone(), TEST_PASSWORD);
    let (mut right, _) = enrolled_phone(&server, "phone-right");
    let (mut jumpy, clock) = phone_with_adjustable_clock(&server, &right, "phone-jumpy");
    let entry = right.record(oxycodone(10.0));
    right.sync();

    // Twenty hours ahead: the server still takes its stamps, and its clock follows them.
    clock.set_shift(20 * HOUR_MS);
    jumpy.sync();
    jumpy
        .store
        .edit(entry.id, entry.occurred_at, oxycodone(7.5))
        .unwrap();
    assert_eq!(jumpy.sync().pushed, 1);

    // Three days ahead and offline: an edit and a new entry at the right time of day.
    clock.set_shift(3 * DAY_MS);
    let ahead_edit = jumpy
        .store
        .edit(entry.id, entry.occurred_at, oxycodone(5.0))
        .unwrap();
    let while_ahead = jumpy.record(pain(6));

    // The server restarts: it must not forget the stamps twenty hours ahead it took, or the
    // phone's fresh stamps below would lose to them.
    server.stop().unwrap();
    let server = TestServer::start_with(options());
    right.reconnect(&server.base_url, TEST_RETRY);
    jumpy.reconnect(&server.base_url, TEST_RETRY);

    // Put right. The clock still stamps after the days-ahead stamps until the server refuses them.
    clock.set_shift(0);
    let after = jumpy.record(pain(3));
    assert!(after.rev > ahead_edit.rev);
    let report = jumpy.sync();
    assert_eq!(
        (report.pushed, report.rejected, report.restamped),
        (3, 0, 3),
        "{report:?}"
    );
    assert!(jumpy.store.rejected().unwrap().is_empty());
    right.sync();
    assert_eq!(right.live_entries()[&entry.id].body, Some(oxycodone(5.0)));
    let converged = assert_converged(&[right, jumpy]);
    assert!(converged.contains_key(&while_ahead.id) && converged.contains_key(&after.id));
}

#[test]
fn changes_refused_while_the_clock_was_ahead_go_through_once_it_is_put_right() {
    let server = TestServer::start();
    let (right, _) = enrolled_phone(&server, "phone-right");
    let (jumpy, clock) = phone_with_adjustable_clock(&server, &right, "phone-jumpy");
    clock.set_shift(3 * DAY_MS);
    let entry: Entry = jumpy.record(pain(6));

    // Still ahead: nothing better to send, so it is on the rejected list, for its stamp.
    let report = jumpy.sync();
    assert_eq!(
        (report.pushed, report.rejected, report.restamped),
        (0, 1, 0)
    );
    let refused = jumpy.store.rejected().unwrap();
    assert_eq!(refused[0].field.as_deref(), Some("rev"));
    assert_eq!(
        jumpy.sync().restamped,
        0,
        "no retry while the clock is ahead"
    );

    clock.set_shift(0);
    let report = jumpy.sync();
    assert_eq!(
        (report.pushed, report.rejected, report.restamped),
        (1, 0, 1),
        "{report:?}"
    );
    assert!(jumpy.store.rejected().unwrap().is_empty());
    let on_server: std::collections::BTreeMap<Uuid, Entry> = server_changes(&right.session);
    assert_eq!(on_server[&entry.id].body, entry.body);
    right.sync();
    assert_converged(&[right, jumpy]);
}

/// One step of a random schedule with clock jumps.
#[derive(Debug, Clone)]
enum Op {
    Phone(PhoneOp),
    /// Sets the phone's clock this many hours off the real time.
    Shift(usize, i64),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..3, 0u8..=10).prop_map(|(p, n)| Op::Phone(PhoneOp::Record(p, n))),
        3 => (0usize..3, 0usize..16, 0u8..=10)
            .prop_map(|(p, i, n)| Op::Phone(PhoneOp::Edit(p, i, n))),
        1 => (0usize..3, 0usize..16).prop_map(|(p, i)| Op::Phone(PhoneOp::Delete(p, i))),
        3 => (0usize..3).prop_map(|p| Op::Phone(PhoneOp::Sync(p))),
        3 => (0usize..3, prop::sample::select(vec![0i64, -12, 20, 72]))
            .prop_map(|(p, h)| Op::Shift(p, h)),
    ]
}

#[test]
fn random_operations_with_clock_jumps_converge_once_the_clocks_are_right() {
    let server = TestServer::start();
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op_strategy(), 1..40), |ops| {
            let (first, first_clock) = enrolled_phone(&server, "jump-a");
            let (second, second_clock) = phone_with_adjustable_clock(&server, &first, "jump-b");
            let (third, third_clock) = phone_with_adjustable_clock(&server, &first, "jump-c");
            let phones = [first, second, third];
            let clocks = [first_clock, second_clock, third_clock];
            let mut recorded: BTreeSet<Uuid> = BTreeSet::new();
            let mut deleted: BTreeSet<Uuid> = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Phone(step) => match (&step, step.run(&phones)) {
                        (PhoneOp::Record(..), Some(made)) => {
                            recorded.insert(made.id);
                        }
                        (PhoneOp::Delete(..), Some(tombstone)) => {
                            deleted.insert(tombstone.id);
                        }
                        _ => {}
                    },
                    Op::Shift(p, hours) => clocks[p].set_shift(hours * HOUR_MS),
                }
            }
            for clock in &clocks {
                clock.set_shift(0);
            }
            for _ in 0..2 {
                for phone in &phones {
                    phone.sync();
                }
            }
            for phone in &phones {
                prop_assert!(
                    phone.store.rejected().unwrap().is_empty(),
                    "{} still has rejected changes",
                    phone.name
                );
            }
            let converged = assert_converged(&phones);
            let live: BTreeSet<Uuid> = converged.keys().copied().collect();
            prop_assert!(live.is_subset(&recorded));
            prop_assert!(recorded.difference(&deleted).all(|id| live.contains(id)));
            Ok(())
        })
        .unwrap();
}
