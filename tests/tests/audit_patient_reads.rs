//! Every route that answers with a patient's data writes an audit record when someone other
//! than that patient asks, and a patient's own reads write none.

use serde_json::{Value, json};
use taperlog_tests::{TestServer, get, patch};
use uuid::Uuid;

/// The audit records about `patient_id`, oldest first.
fn audit_of(server: &TestServer, patient_id: Uuid) -> Vec<Value> {
    let reply = get(
        &server.url(&format!("/v1/admin/audit?patient_id={patient_id}")),
        server.admin.token(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body.as_array().unwrap().clone()
}

#[test]
fn a_patch_that_changes_nothing_still_audits_the_record_it_answers_with() {
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let clinician = server.create_clinician(team);
    let (pid, _) = server.create_patient(&clinician, team);
    let url = server.url(&format!("/v1/patients/{pid}"));
    let written_by_clinician = || {
        audit_of(&server, pid)
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
