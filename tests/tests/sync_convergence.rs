//! Sync between several phones of one patient and a real server: offline edits and deletes
//! in both orders, a poison change, and random operations with random sync points. Real
//! HTTP on loopback, real sled dirs. Wrong phone clocks are in `sync_clocks.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use taperlog_core::model::{Body, Entry};
use taperlog_tests::devices::{
    Device, PhoneOp, ShiftedClock, TEST_RETRY, assert_converged, note, oxycodone, pain,
    server_changes,
};
use taperlog_tests::{TEST_PASSWORD, TestServer, get, post};
use uuid::Uuid;

/// A patient enrolled through the first phone; the others log in with the same account.
fn patient_with_phones(server: &TestServer, names: &[&str]) -> (Uuid, Vec<Device>) {
    let team = server.create_care_team("sync team");
    let clinician = server.create_clinician(team);
    let (patient_id, code) = server.create_patient(&clinician, team);
    let phones: Vec<Device> = names
        .iter()
        .map(|name| Device::new(name, &server.base_url))
        .collect();
    let tokens = phones[0]
        .session
        .enroll(&code, TEST_PASSWORD, Some(names[0]))
        .expect("enrol");
    let username = tokens.username.expect("enrolment names the login");
    for phone in &phones[1..] {
        phone.login(&username, TEST_PASSWORD);
    }
    (patient_id, phones)
}

fn pause() {
    // Distinct milliseconds, so the intended order of writes is the stamps' order.
    std::thread::sleep(Duration::from_millis(3));
}

#[test]
fn three_phones_converge_after_offline_edits_and_deletes_in_both_orders() {
    let server = TestServer::start();
    let (patient_id, phones) = patient_with_phones(&server, &["phone-a", "phone-b", "phone-c"]);
    let [a, b, c] = [&phones[0], &phones[1], &phones[2]];

    let e1 = a.record(oxycodone(10.0));
    let e2 = a.record(pain(6));
    let e3 = a.record(note("first week"));
    let e6 = a.record(oxycodone(5.0));
    a.sync();
    b.sync();
    c.sync();
    assert_eq!(b.live_entries().len(), 4);

    // Offline, in this order of time: c edits e2, b edits e1, b deletes e2 (later than c's
    // edit), c deletes e3, b deletes e6, then c edits e6 (later than b's delete).
    c.store.edit(e2.id, e2.occurred_at, pain(3)).unwrap();
    pause();
    b.store
        .edit(e1.id, e1.occurred_at, oxycodone(20.0))
        .unwrap();
    pause();
    b.store.delete(e2.id).unwrap();
    pause();
    c.store.delete(e3.id).unwrap();
    pause();
    b.store.delete(e6.id).unwrap();
    pause();
    c.store.edit(e6.id, e6.occurred_at, oxycodone(2.5)).unwrap();
    let e4 = c.record(pain(4));
    let e5 = a.record(note("from a"));

    // The writes reach the server in an order unlike the order they were made.
    c.sync();
    b.sync();
    a.sync();
    for phone in [c, b, a] {
        phone.sync();
    }

    let converged = assert_converged(&phones);
    assert_eq!(converged[&e1.id].body, Some(oxycodone(20.0)));
    assert!(
        !converged.contains_key(&e2.id),
        "b's later delete beats c's earlier edit"
    );
    assert!(!converged.contains_key(&e3.id), "deleted stays deleted");
    assert_eq!(
        converged[&e6.id].body,
        Some(oxycodone(2.5)),
        "c's later edit beats b's earlier delete"
    );
    assert!(converged.contains_key(&e4.id) && converged.contains_key(&e5.id));
    assert_eq!(converged.len(), 4);

    // The care team's view of the server agrees with the phones, entry by entry and day by day.
    let token = a.session.tokens().unwrap().access_token;
    let today = time::OffsetDateTime::now_utc().date();
    let range = format!(
        "from={}&to={}",
        today - time::Duration::days(2),
        today + time::Duration::days(1)
    );
    let listed = get(
        &server.url(&format!("/v1/patients/{patient_id}/entries?{range}")),
        Some(&token),
    );
    assert_eq!(listed.status, 200, "{}", listed.text);
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    let daily = get(
        &server.url(&format!("/v1/patients/{patient_id}/daily?{range}")),
        Some(&token),
    );
    assert_eq!(daily.status, 200);
    let on_phone = a
        .store
        .daily_summaries(
            today - time::Duration::days(2),
            today + time::Duration::days(1),
        )
        .unwrap();
    assert_eq!(
        daily.body,
        serde_json::to_value(&on_phone).unwrap(),
        "phone and server show the same numbers"
    );
}

#[test]
fn a_poison_change_is_rejected_alone_and_shown_on_the_phone() {
    let server = TestServer::start();
    let team = server.create_care_team("poison team");
    let clinician = server.create_clinician(team);
    let (_, code) = server.create_patient(&clinician, team);
    // A phone whose clock jumped three days ahead after three good entries.
    let clock = Arc::new(taperlog_tests::devices::ShiftedClock { shift_ms: 0 });
    let phone = Device::with_clock("phone-p", &server.base_url, clock, TEST_RETRY);
    phone
        .session
        .enroll(&code, TEST_PASSWORD, Some("phone-p"))
        .unwrap();
    let good: Vec<Entry> = (0..3).map(|i| phone.record(pain(i))).collect();
    let ahead = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    // The phone accepts it (its own clock is what it knows); the server cannot.
    let skewed = Device::with_clock(
        "phone-p2",
        &server.base_url,
        Arc::new(ShiftedClock {
            shift_ms: 3 * 86_400_000,
        }),
        TEST_RETRY,
    );
    skewed.session.restore(phone.session.tokens().unwrap());
    let poison = skewed.store.record(ahead, note("from the future")).unwrap();
    skewed.record(pain(2));

    let report = phone.sync();
    assert_eq!((report.pushed, report.rejected), (3, 0));
    let report = skewed.sync();
    assert_eq!(
        report.rejected, 2,
        "both changes stamped three days ahead are refused"
    );
    let refused = skewed.store.rejected().unwrap();
    assert!(
        refused
            .iter()
            .any(|r| r.entry.id == poison.id && r.code == "validation_failed")
    );
    assert!(refused.iter().all(|r| r.field.as_deref() == Some("occurred_at") || r.field.as_deref() == Some("rev")));
    assert_eq!(skewed.store.pending_count(), 0);
    let on_server = server_changes(&phone.session);
    assert_eq!(on_server.len(), 3);
    assert!(good.iter().all(|e| on_server.contains_key(&e.id)));
}

#[test]
fn a_push_with_bad_changes_accepts_the_rest_and_names_each_field() {
    let server = TestServer::start();
    let team = server.create_care_team("raw team");
    let clinician = server.create_clinician(team);
    let patient = server.enrolled_patient(&clinician, team);
    let now = time::OffsetDateTime::now_utc();
    let millis = (now.unix_timestamp_nanos() / 1_000_000) as u64;
    let at = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let change = |i: u64, body: serde_json::Value| {
        json!({"id": Uuid::now_v7(), "kind": "pain", "occurred_at": at, "rev": format!("{:012x}-{i:04x}-raw", millis),
               "device_id": "raw", "deleted": false, "body": body})
    };
    let good = change(1, json!({"nrs": 5.0}));
    let bad_nrs = change(2, json!({"nrs": 11}));
    let unknown_field = change(3, json!({"nrs": 1, "mood": "ok"}));
    let mut wrong_device = change(4, json!({"nrs": 1}));
    wrong_device["device_id"] = json!("other");
    let batch = json!({"device_id": "raw", "changes": [good, bad_nrs, unknown_field, wrong_device, "not an entry"]});
    let push = server.url("/v1/sync/push");
    for attempt in 0..2 {
        let reply = post(&push, patient.token(), &batch);
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.body["accepted"].as_array().unwrap().len(),
            1,
            "attempt {attempt}"
        );
        let fields: Vec<&str> = reply.body["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["error"]["field"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(fields, ["body.nrs", "body.mood", "rev", ""]);
        assert!(
            reply.body["server_hlc"]
                .as_str()
                .unwrap()
                .ends_with("-server")
        );
    }
    let pulled = get(&server.url("/v1/sync/pull"), patient.token());
    assert_eq!(
        pulled.body["changes"].as_array().unwrap().len(),
        1,
        "a retried push adds nothing"
    );

    // Limits are clear 4xx answers naming what is wrong.
    let too_many: Vec<_> = (0..501).map(|i| change(i, json!({"nrs": 1}))).collect();
    let reply = post(
        &push,
        patient.token(),
        &json!({"device_id": "raw", "changes": too_many}),
    );
    assert_eq!(
        (reply.status, reply.body["error"]["field"].as_str()),
        (422, Some("changes"))
    );
    let huge = json!({"device_id": "raw", "changes": [change(1, json!({"nrs": 1, "note": "x".repeat(1_100_000)}))]});
    assert_eq!(post(&push, patient.token(), &huge).status, 413);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("since=abc", "since"),
        ("limit=1&limit=2", "limit"),
    ] {
        let reply = get(
            &server.url(&format!("/v1/sync/pull?{query}")),
            patient.token(),
        );
        assert_eq!(
            (reply.status, reply.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{query}"
        );
    }
    let reply = post(
        &push,
        server.admin.token(),
        &json!({"device_id": "raw", "changes": []}),
    );
    assert_eq!(reply.status, 403, "only patients push");
}

fn op_strategy() -> impl Strategy<Value = PhoneOp> {
    prop_oneof![
        3 => (0usize..3, 0u8..=10).prop_map(|(p, n)| PhoneOp::Record(p, n)),
        3 => (0usize..3, 0usize..16, 0u8..=10).prop_map(|(p, i, n)| PhoneOp::Edit(p, i, n)),
        1 => (0usize..3, 0usize..16).prop_map(|(p, i)| PhoneOp::Delete(p, i)),
        3 => (0usize..3).prop_map(PhoneOp::Sync),
    ]
}

#[test]
fn random_operations_with_random_sync_points_converge() {
    let server = TestServer::start();
    // PROPTEST_CASES runs more (or fewer) cases than the 24 CI runs.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op_strategy(), 1..40), |ops| {
            let (_, phones) = patient_with_phones(&server, &["rand-a", "rand-b", "rand-c"]);
            // The model: of all writes made to an entry, the one with the greatest stamp must
            // survive. Writes made on phones that had not seen each other are concurrent and
            // ordered by stamp, not by when the test happened to run them.
            let mut last_write: BTreeMap<Uuid, Entry> = BTreeMap::new();
            let mut note_write = |entry: Entry| {
                if last_write
                    .get(&entry.id)
                    .is_none_or(|seen| entry.rev > seen.rev)
                {
                    last_write.insert(entry.id, entry);
                }
            };
            for op in ops {
                if let Some(written) = op.run(&phones) {
                    note_write(written);
                }
            }
            for _ in 0..2 {
                for phone in &phones {
                    phone.sync();
                }
            }
            let converged = assert_converged(&phones);
            let expected: BTreeMap<Uuid, Option<Body>> = last_write
                .iter()
                .filter(|(_, e)| !e.deleted)
                .map(|(id, e)| (*id, e.body.clone()))
                .collect();
            let got: BTreeMap<Uuid, Option<Body>> = converged
                .iter()
                .map(|(id, e)| (*id, e.body.clone()))
                .collect();
            prop_assert_eq!(got, expected);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_care_team_sees_what_the_phone_synced() {
    let server = TestServer::start();
    let team = server.create_care_team("overview team");
    let clinician = server.create_clinician(team);
    let (patient_id, code) = server.create_patient(&clinician, team);
    let phone = Device::new("phone-o", &server.base_url);
    phone
        .session
        .enroll(&code, TEST_PASSWORD, Some("phone-o"))
        .unwrap();
    // 2 × 40 mg oxycodone = 120 MME today.
    phone.record(oxycodone(40.0));
    phone.record(oxycodone(40.0));
    phone.record(pain(7));
    phone.sync();

    let list = get(&server.url("/v1/patients"), clinician.token());
    assert_eq!(list.status, 200, "{}", list.text);
    let row = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["patient_id"] == patient_id.to_string())
        .unwrap();
    assert!(
        row["last_entry_at"].is_string() && row["last_sync_at"].is_string(),
        "{row}"
    );
    assert_eq!(row["mme_7d"], 120.0);
    assert_eq!(row["baseline_source"], "first_week");
    let codes: Vec<&str> = row["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"mme_over_90"), "{codes:?}");

    let trends = get(
        &server.url(&format!("/v1/patients/{patient_id}/trends?days=7")),
        clinician.token(),
    );
    assert_eq!(trends.status, 200, "{}", trends.text);
    let series = trends.body["series"].as_array().unwrap();
    assert_eq!(series.len(), 7);
    assert_eq!(series[6]["mme_total"], 120.0);
    assert_eq!(series[6]["pain_nrs_7d"], 7.0);
    let bad = get(
        &server.url(&format!("/v1/patients/{patient_id}/trends?days=3")),
        clinician.token(),
    );
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (422, Some("days"))
    );

    // The clinician's reads are in the audit log; the patient's own are not.
    let audit = get(
        &server.url(&format!("/v1/admin/audit?patient_id={patient_id}")),
        server.admin.token(),
    );
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"trends.read") && actions.contains(&"patient.list"),
        "{actions:?}"
    );
}
