//! Sync under faults: answers lost on the way back (a proxy drops connections after the
//! server answered), and the server binary killed with SIGKILL during a storm of pushes from
//! 20 phones, 20 times over. Nothing acknowledged is lost, nothing is doubled, phones converge.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use taperlog_core::model::Entry;
use taperlog_core::sync::{PullResponse, RetryPolicy, Session};
use taperlog_tests::devices::{Device, TEST_RETRY, live, note, oxycodone, pain, server_changes};
use taperlog_tests::proxy::LossyProxy;
use taperlog_tests::seed::schedule_seed;
use taperlog_tests::{ChildServer, StopOnDrop, TEST_PASSWORD, TestServer, post, run_cli};
use uuid::Uuid;

/// The server's change log as pulled, counting every change it sends (a change sent twice
/// would be a duplicate in the log).
fn pulled_log(session: &Session) -> Vec<Entry> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/sync/pull?since={cursor}&limit=1000");
        let page: PullResponse = session.call("GET", &path, Vec::new()).expect("pull");
        all.extend(page.changes);
        cursor = page.cursor;
        if !page.more {
            return all;
        }
    }
}

fn sync_until_done(phone: &Device, deadline: Instant) {
    loop {
        match phone.try_sync() {
            Ok(_) => return,
            Err(error) if Instant::now() < deadline => {
                eprintln!("{}: retrying after {error}", phone.name)
            }
            Err(error) => panic!("{} never finished a sync: {error}", phone.name),
        }
    }
}

#[test]
fn lost_answers_neither_lose_nor_double_anything() {
    let server = TestServer::start();
    let team = server.create_care_team("lossy team");
    let clinician = server.create_clinician(team);
    let (_, code) = server.create_patient(&clinician, team);
    let upstream: SocketAddr = server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = LossyProxy::start(upstream, 35, schedule_seed(0x5eed));

    // Enrol on the direct line (a code works once); then every phone talks through the proxy.
    let mut phones: Vec<Device> = ["lossy-a", "lossy-b", "lossy-c"]
        .iter()
        .map(|n| Device::new(n, &server.base_url))
        .collect();
    let username = phones[0]
        .session
        .enroll(&code, TEST_PASSWORD, Some("lossy-a"))
        .unwrap()
        .username
        .unwrap();
    for phone in &mut phones {
        if phone.session.tokens().is_none() {
            phone.login(&username, TEST_PASSWORD);
        }
        phone.reconnect(&proxy.base_url(), TEST_RETRY);
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut made = 0;
    for round in 0..8u8 {
        for phone in &phones {
            for i in 0..5u8 {
                phone.record(if i % 2 == 0 {
                    pain((round + i) % 11)
                } else {
                    oxycodone(f64::from(i) * 5.0)
                });
                made += 1;
            }
            if let Some(entry) = phone.live_entries().into_values().next() {
                phone
                    .store
                    .edit(
                        entry.id,
                        entry.occurred_at,
                        note(&format!("edited in round {round}")),
                    )
                    .unwrap();
            }
            sync_until_done(phone, deadline);
        }
    }
    for _ in 0..2 {
        for phone in &phones {
            sync_until_done(phone, deadline);
        }
    }
    assert!(
        proxy.dropped() > 0,
        "the proxy lost no answer in {} connections: the test proved nothing",
        proxy.connections()
    );

    let direct = Device::new("lossy-check", &server.base_url);
    direct.login(&username, TEST_PASSWORD);
    let log = pulled_log(&direct.session);
    let distinct: BTreeSet<Uuid> = log.iter().map(|e| e.id).collect();
    assert_eq!(
        log.len(),
        distinct.len(),
        "the change log holds an entry twice"
    );
    assert_eq!(
        distinct.len(),
        made,
        "every entry made is on the server once"
    );
    let on_server = live(&server_changes(&direct.session));
    for phone in &phones {
        let mine = phone.live_entries();
        assert_eq!(mine.len(), made, "{}", phone.name);
        for (id, entry) in &mine {
            assert_eq!(
                entry.rev, on_server[id].rev,
                "{} disagrees on {id}",
                phone.name
            );
        }
    }
    eprintln!(
        "lossy proxy: {} answers lost in {} connections; {made} entries, all present once",
        proxy.dropped(),
        proxy.connections()
    );
}

/// A tiny deterministic generator for kill timings.
struct Timing(u64);

impl Timing {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

const STORM_PHONES: usize = 20;
const PHONES_PER_PATIENT: usize = 5;
const STORM_ROUNDS: usize = 20;
/// Fail fast while the server is down: the next round retries.
const STORM_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    base_delay: Duration::from_millis(5),
    max_delay: Duration::from_millis(20),
};

/// Sets up care team, clinician and patients on a fresh binary; returns usernames per patient.
fn enrol_patients(child: &ChildServer, phones: &[Device]) {
    let login = |user: &str| {
        let reply = post(
            &child.url("/v1/auth/login"),
            None,
            &json!({"username": user, "password": TEST_PASSWORD}),
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["access_token"].as_str().unwrap().to_string()
    };
    let admin = login("storm-admin");
    let team = post(
        &child.url("/v1/admin/care-teams"),
        Some(&admin),
        &json!({"name": "storm"}),
    );
    let team_id = team.body["care_team_id"].as_str().unwrap().to_string();
    let user = post(
        &child.url("/v1/admin/users"),
        Some(&admin),
        &json!({"username": "storm-clinician", "password": TEST_PASSWORD, "role": "clinician"}),
    );
    let clinician_id = user.body["user_id"].as_str().unwrap().to_string();
    let member = post(
        &child.url(&format!("/v1/admin/care-teams/{team_id}/members")),
        Some(&admin),
        &json!({"user_id": clinician_id}),
    );
    assert_eq!(member.status, 204);
    let clinician = login("storm-clinician");
    for group in phones.chunks(PHONES_PER_PATIENT) {
        let created = post(
            &child.url("/v1/patients"),
            Some(&clinician),
            &json!({"display_name": "Storm", "enrolled_on": "2026-11-01", "care_team_id": team_id, "research_consent": false}),
        );
        assert_eq!(created.status, 201, "{}", created.text);
        let code = created.body["enrollment_code"].as_str().unwrap();
        let tokens = group[0]
            .session
            .enroll(code, TEST_PASSWORD, Some(&group[0].name))
            .expect("enrol");
        for phone in &group[1..] {
            phone.session.restore(tokens.clone());
        }
    }
}

#[test]
fn sigkill_during_a_push_storm_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("server");
    let dir_text = dir.to_str().unwrap();
    let (status, _, err) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            dir_text,
            "--username",
            "storm-admin",
            "--role",
            "admin",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(status.success(), "{err}");

    let mut phones: Vec<Device> = (0..STORM_PHONES)
        .map(|i| {
            Device::with_clock(
                &format!("storm-{i:02}"),
                "http://127.0.0.1:9",
                std::sync::Arc::new(taperlog_tests::devices::ShiftedClock { shift_ms: 0 }),
                STORM_RETRY,
            )
        })
        .collect();
    {
        let child = ChildServer::spawn(&dir, &[]);
        for phone in &mut phones {
            phone.reconnect(&child.base_url, STORM_RETRY);
        }
        enrol_patients(&child, &phones);
        child.terminate();
    }

    let mut made: Vec<BTreeSet<Uuid>> = vec![BTreeSet::new(); STORM_PHONES];
    let mut timing = Timing(schedule_seed(0x51_9c11));
    let mut acknowledged_total = 0;
    for round in 0..STORM_ROUNDS {
        let child = ChildServer::spawn(&dir, &[]);
        for phone in &mut phones {
            phone.reconnect(&child.base_url, STORM_RETRY);
        }
        // Everything any phone saw acknowledged before the last kill is on the server.
        for (p, group) in phones.chunks(PHONES_PER_PATIENT).enumerate() {
            let on_server = server_changes(&group[0].session);
            for (offset, phone) in group.iter().enumerate() {
                let pending: BTreeSet<Uuid> = phone.pending_ids().into_iter().collect();
                for id in made[p * PHONES_PER_PATIENT + offset].difference(&pending) {
                    assert!(
                        on_server.contains_key(id),
                        "round {round}: {} lost acknowledged {id}",
                        phone.name
                    );
                }
            }
        }
        let stop = AtomicBool::new(false);
        let kill_after = Duration::from_millis(timing.next_ms(300, 1500));
        let recorded: Vec<Vec<Uuid>> = std::thread::scope(|scope| {
            let workers: Vec<_> = phones
                .iter()
                .map(|phone| {
                    let stop = &stop;
                    scope.spawn(move || {
                        let mut ids = Vec::new();
                        while !stop.load(Ordering::SeqCst) {
                            ids.push(phone.record(pain((ids.len() % 11) as u8)).id);
                            ids.push(phone.record(oxycodone(5.0)).id);
                            let _ = phone.try_sync();
                        }
                        ids
                    })
                })
                .collect();
            let stopping = StopOnDrop(&stop);
            std::thread::sleep(kill_after);
            let status = child.kill();
            assert!(!status.success(), "the server was killed, not stopped");
            stopping.stop();
            workers
                .into_iter()
                .map(|w| w.join().expect("phone thread"))
                .collect()
        });
        for (i, ids) in recorded.into_iter().enumerate() {
            made[i].extend(ids);
        }
        let pending: usize = phones.iter().map(|p| p.pending_ids().len()).sum();
        let made_total: usize = made.iter().map(BTreeSet::len).sum();
        acknowledged_total = made_total - pending;
        eprintln!(
            "round {round}: killed after {kill_after:?}; {made_total} made, {pending} pending"
        );
    }

    // Back up for good: every phone finishes its sync; the server holds each entry once.
    let child = ChildServer::spawn(&dir, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    for phone in &mut phones {
        phone.reconnect(&child.base_url, TEST_RETRY);
    }
    for _ in 0..2 {
        for phone in &phones {
            sync_until_done(phone, deadline);
        }
    }
    let mut total = 0;
    for (p, group) in phones.chunks(PHONES_PER_PATIENT).enumerate() {
        let log = pulled_log(&group[0].session);
        let distinct: BTreeSet<Uuid> = log.iter().map(|e| e.id).collect();
        assert_eq!(
            log.len(),
            distinct.len(),
            "patient {p}: an entry is in the change log twice"
        );
        let expected: BTreeSet<Uuid> = made[p * PHONES_PER_PATIENT..(p + 1) * PHONES_PER_PATIENT]
            .iter()
            .flatten()
            .copied()
            .collect();
        assert_eq!(
            distinct, expected,
            "patient {p}: the server holds exactly what the phones made"
        );
        let on_server: BTreeMap<Uuid, Entry> = live(&server_changes(&group[0].session));
        for phone in group {
            let mine = phone.live_entries();
            assert_eq!(
                mine.keys().collect::<Vec<_>>(),
                on_server.keys().collect::<Vec<_>>(),
                "{} did not converge",
                phone.name
            );
        }
        total += expected.len();
    }
    child.terminate();
    eprintln!(
        "sigkill storm: {STORM_ROUNDS} kills, {total} entries made, {acknowledged_total} acknowledged before the last kill, all present once"
    );
}
