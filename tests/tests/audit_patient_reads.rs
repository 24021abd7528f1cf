//! Every route that answers with a patient's data writes an audit record when someone other
//! than that patient asks, and a patient's own reads write none.

use serde_json::{Value, json};
use taperlog_tests::{Actor, TestServer, get, patch, request};
use uuid::Uuid;

/// The records about `patient_id` with `action` written by `user`.
fn by(server: &TestServer, patient_id: Uuid, action: &str, user: &Actor) -> Vec<Value> {
    server
        .audit_of(patient_id)
        .into_iter()
        .filter(|r| r["action"] == action && r["user_id"] == user.user_id.to_string())
        .collect()
}

#[test]
fn reads_of_entries_and_daily_by_others_are_audited_and_a_patients_own_are_not() {
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let clinician = server.create_clinician(team);
    let patient = server.enrolled_patient(&clinician, team);
    let pid = patient.patient_id.unwrap();
    let routes = [
        ("entries", "entries.read"),
        ("daily", "daily.read"),
        ("trends", "trends.read"),
    ];

    for (path, action) in routes {
        let url = server.url(&format!("/v1/patients/{pid}/{path}"));
        let reply = get(&url, patient.token());
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert!(
            by(&server, pid, action, &patient).is_empty(),
            "the patient's own {path} read was audited"
        );
    }
    let own = get(&server.url(&format!("/v1/patients/{pid}")), patient.token());
    assert_eq!(own.status, 200);
    let by_patient: Vec<Value> = server
        .audit_of(pid)
        .into_iter()
        .filter(|r| r["user_id"] == patient.user_id.to_string())
        .collect();
    assert!(
        by_patient.iter().all(|r| r["action"] == "patient.enroll"),
        "a patient's own reads wrote records: {by_patient:?}"
    );

    for reader in [&clinician, &server.admin] {
        for (path, action) in routes {
            let query = match path {
                "trends" => "days=30",
                _ => "from=2026-01-01&to=2026-03-31",
            };
            let url = server.url(&format!("/v1/patients/{pid}/{path}?{query}"));
            let reply = get(&url, reader.token());
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
            let records = by(&server, pid, action, reader);
            assert_eq!(records.len(), 1, "{path} read by {:?}", reader.role);
            assert_eq!(records[0]["role"], reader.role.as_str());
            assert_eq!(records[0]["outcome"], "ok");
            if path != "trends" {
                assert_eq!(records[0]["detail"], "2026-01-01..2026-03-31");
            }
        }
    }
}

#[test]
fn a_patch_that_changes_nothing_still_audits_the_record_it_answers_with() {
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let clinician = server.create_clinician(team);
    let (pid, _) = server.create_patient(&clinician, team);
    let url = server.url(&format!("/v1/patients/{pid}"));
    let written_by_clinician = || {
        server
            .audit_of(pid)
            .into_iter()
            .filter(|r| r["user_id"] == clinician.user_id.to_string())
            .count()
    };

    let before = written_by_clinician();
    let reply = patch(&url, clinician.token(), &json!({}));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["display_name"], "Test Patient");
    assert_eq!(
        written_by_clinician(),
        before + 1,
        "PATCH {{}} was not audited"
    );

    let same = json!({"display_name": "Test Patient", "research_consent": true});
    let reply = patch(&url, clinician.token(), &same);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        written_by_clinician(),
        before + 2,
        "a PATCH to the same values was not audited"
    );
}

#[test]
fn a_missing_patient_and_one_outside_the_callers_teams_are_answered_and_audited_alike() {
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let other_team = server.create_care_team("B");
    let clinician = server.create_clinician(team);
    let outsider = server.create_clinician(other_team);
    let (hidden, _) = server.create_patient(&clinician, team);
    let missing = Uuid::now_v7();

    let calls: [(&str, &str, Option<Value>); 5] = [
        ("GET", "", None),
        ("GET", "/entries", None),
        ("GET", "/daily", None),
        ("GET", "/trends", None),
        ("PATCH", "", Some(json!({"display_name": "Probe"}))),
    ];
    for (method, suffix, body) in &calls {
        let ask = |id: Uuid| {
            request(
                method,
                &server.url(&format!("/v1/patients/{id}{suffix}")),
                outsider.token(),
                body.as_ref(),
            )
        };
        let (a, b) = (ask(hidden), ask(missing));
        assert_eq!(a.status, 404, "{method} {suffix}: {}", a.text);
        assert_eq!(
            (a.status, &a.text),
            (b.status, &b.text),
            "{method} {suffix}"
        );
    }

    let hidden_denied = by(&server, hidden, "patient.access", &outsider);
    let missing_denied = by(&server, missing, "patient.access", &outsider);
    assert_eq!(hidden_denied.len(), calls.len(), "{hidden_denied:?}");
    assert_eq!(missing_denied.len(), calls.len(), "{missing_denied:?}");
    for (h, m) in hidden_denied.iter().zip(&missing_denied) {
        assert_eq!(h["outcome"], "denied");
        assert_eq!(m["outcome"], "denied");
        assert_eq!(m["patient_id"], missing.to_string());
        assert_eq!(h["detail"], m["detail"]);
        assert_eq!(h["role"], m["role"]);
    }
    let unchanged = get(
        &server.url(&format!("/v1/patients/{hidden}")),
        clinician.token(),
    );
    assert_eq!(unchanged.body["display_name"], "Test Patient");
}
