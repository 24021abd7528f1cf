//! Sync at the protocol's limits, against a real server on loopback: a phone whose outbox
//! holds more than one push body's worth of long notes.

use serde_json::Value;
use taperlog_core::sync::MAX_PUSH_BYTES;
use taperlog_tests::devices::{Device, note};
use taperlog_tests::{TEST_PASSWORD, TestServer};

#[test]
fn an_outbox_larger_than_one_push_body_syncs_in_several_pushes() {
    let server = TestServer::start();
    let team = server.create_care_team("limits team");
    let clinician = server.create_clinician(team);
    let (patient_id, code) = server.create_patient(&clinician, team);
    let phone = Device::new("phone-l", &server.base_url);
    let tokens = phone
        .session
        .enroll(&code, TEST_PASSWORD, Some("phone-l"))
        .expect("enrol");
    // 300 notes of 4,000 characters: about 1.3 MB of JSON, beyond one push body, although
    // fewer than the 500 changes a push may carry.
    for n in 0..300 {
        phone.record(note(&format!("{n:04}{}", "ä".repeat(3996))));
    }
    let report = phone.sync();
    assert_eq!((report.pushed, report.rejected), (300, 0));
    assert_eq!(phone.store.pending_count(), 0);

    // The care team sees all of them, and another phone of the patient pulls them all.
    let entries = server.entries_around_today(patient_id, &clinician);
    let texts: Vec<&str> = entries
        .iter()
        .filter_map(|e: &Value| e["body"]["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 300);
    assert!(texts.iter().map(|t| t.len()).sum::<usize>() > MAX_PUSH_BYTES);
    let other = Device::new("phone-m", &server.base_url);
    other.login(
        &tokens.username.expect("enrolment names the login"),
        TEST_PASSWORD,
    );
    other.sync();
    assert_eq!(other.live_entries(), phone.live_entries());
}
