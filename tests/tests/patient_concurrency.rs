//! Concurrent changes to a patient's record neither undo each other nor an enrolment, and
//! the audit log says what was really applied, in the order it was applied.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use taperlog_tests::{Actor, StopOnDrop, TEST_PASSWORD, TestServer, get, patch, post};
use uuid::Uuid;

#[test]
fn a_patch_records_only_the_fields_it_really_changed() {
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let clinician = server.create_clinician(team);
    let (pid, _) = server.create_patient(&clinician, team);
    let url = server.url(&format!("/v1/patients/{pid}"));
    let same = json!({"display_name": "Test Patient", "research_consent": true});
    let reply = patch(&url, clinician.token(), &same);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let changes = json!({"display_name": "Renamed", "baseline_mme": 30.0});
    let reply = patch(&url, clinician.token(), &changes);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["display_name"], "Renamed");
    let updates: Vec<Value> = server
        .audit_of(pid)
        .into_iter()
        .filter(|r| r["action"] == "patient.update")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    let detail = updates[0]["detail"].as_str().unwrap();
    assert!(detail.contains("display_name"), "{detail}");
    assert!(
        detail.contains("baseline_mme None -> Some(30.0)"),
        "{detail}"
    );
}

/// Renames the patient over and over from several threads while their code is redeemed:
/// the enrolment must survive every rename.
#[test]
fn a_patch_during_an_enrolment_does_not_undo_it() {
    const PATIENTS: usize = 40;
    const WRITERS: usize = 3;
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let clinician = server.create_clinician(team);
    for round in 0..PATIENTS {
        let (pid, code) = server.create_patient(&clinician, team);
        let url = server.url(&format!("/v1/patients/{pid}"));
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for writer in 0..WRITERS {
                let (url, done, clinician) = (&url, &done, &clinician);
                scope.spawn(move || {
                    let mut n = 0;
                    while !done.load(Ordering::Relaxed) || n == 0 {
                        let name = format!("Patient {round}-{writer}-{n}");
                        let reply = patch(url, clinician.token(), &json!({"display_name": name}));
                        assert_eq!(reply.status, 200, "{}", reply.text);
                        n += 1;
                    }
                });
            }
            let stop = StopOnDrop(&done);
            let enrolled = server.enroll(&code, TEST_PASSWORD);
            assert_eq!(enrolled.patient_id, Some(pid));
            stop.stop();
        });
        let view = get(&url, clinician.token());
        assert_eq!(
            view.body["enrolled"], true,
            "round {round}: a rename undid the enrolment"
        );
        let again = post(
            &server.url(&format!("/v1/patients/{pid}/enrollment-code")),
            clinician.token(),
            &json!({}),
        );
        assert_eq!(again.status, 409, "round {round}: {}", again.text);
    }
}

/// Withdraws and gives consent from one thread while others rename the patient: no rename
/// may put back the consent it read, and the consent records, in log order, must each start
/// where the one before ended, the last ending where the patient's record is.
#[test]
fn renames_during_consent_changes_neither_undo_them_nor_unchain_the_log() {
    const RENAMERS: usize = 3;
    const FLIPS: usize = 40;
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let clinician = server.create_clinician(team);
    let (pid, _) = server.create_patient(&clinician, team);
    let url = server.url(&format!("/v1/patients/{pid}"));
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for writer in 0..RENAMERS {
            let (url, done, clinician) = (&url, &done, &clinician);
            scope.spawn(move || {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    let name = format!("Patient {writer}-{n}");
                    let reply = patch(url, clinician.token(), &json!({"display_name": name}));
                    assert_eq!(reply.status, 200, "{}", reply.text);
                    n += 1;
                }
            });
        }
        let _stop = StopOnDrop(&done);
        for n in 0..FLIPS {
            let consent = n % 2 == 1;
            let reply = patch(
                &url,
                clinician.token(),
                &json!({"research_consent": consent}),
            );
            assert_eq!(reply.status, 200, "{}", reply.text);
        }
    });
    let records = assert_consent_log_follows(&server, pid, &url, &clinician);
    assert_eq!(
        records.len(),
        FLIPS,
        "consent changes went missing: {records:#?}"
    );
}

/// Flips consent from several threads: the consent records, in log order, must each start
/// where the one before ended, and the last must end where the patient's record is.
#[test]
fn concurrent_consent_changes_are_applied_and_audited_in_one_order() {
    const WRITERS: usize = 4;
    const CHANGES: usize = 15;
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let clinician = server.create_clinician(team);
    let (pid, _) = server.create_patient(&clinician, team);
    let url = server.url(&format!("/v1/patients/{pid}"));
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (url, clinician) = (&url, &clinician);
            scope.spawn(move || {
                for n in 0..CHANGES {
                    let consent = (writer + n) % 2 == 0;
                    let body = json!({"research_consent": consent});
                    let reply = patch(url, clinician.token(), &body);
                    assert_eq!(reply.status, 200, "{}", reply.text);
                }
            });
        }
    });
    let records = assert_consent_log_follows(&server, pid, &url, &clinician);
    assert!(!records.is_empty());
}

/// The patient's consent records, checked to form one unbroken chain from the harness's
/// `true` that ends where the patient's record (`url`, read by `reader`) is; returns them.
fn assert_consent_log_follows(
    server: &TestServer,
    pid: Uuid,
    url: &str,
    reader: &Actor,
) -> Vec<Value> {
    let records: Vec<Value> = server
        .audit_of(pid)
        .into_iter()
        .filter(|r| r["action"] == "patient.consent")
        .collect();
    let mut state = true; // as created by the harness
    for record in &records {
        let detail = record["detail"].as_str().unwrap();
        let expected = format!("research_consent {state} -> {}", !state);
        assert_eq!(
            detail, expected,
            "consent records out of step: {records:#?}"
        );
        state = !state;
    }
    let view = get(url, reader.token());
    assert_eq!(
        view.body["research_consent"], state,
        "the record disagrees with the log: {records:#?}"
    );
    records
}
