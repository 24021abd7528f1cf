//! `PATCH /v1/patients/{id}`: a null for a field that cannot be null is a 422 naming it
//! (not a silent no-op); a null baseline clears the baseline, as API.md documents.

use serde_json::{Value, json};
use taperlog_tests::{TestServer, get, patch};

#[test]
fn a_null_is_refused_except_for_the_baseline_which_it_clears() {
    let server = TestServer::start();
    let team = server.create_care_team("Patch");
    let clinician = server.create_clinician(team);
    let (patient_id, _code) = server.create_patient(&clinician, team);
    let url = server.url(&format!("/v1/patients/{patient_id}"));
    let set = patch(&url, clinician.token(), &json!({"baseline_mme": 60}));
    assert_eq!(set.status, 200, "{}", set.text);
    let before = get(&url, clinician.token()).body;
    assert_eq!(before["baseline_mme"], 60.0);

    for field in ["research_consent", "display_name", "care_team_id"] {
        let mut body = json!({});
        body[field] = Value::Null;
        let reply = patch(&url, clinician.token(), &body);
        assert_eq!(reply.status, 422, "{field}: {}", reply.text);
        assert_eq!(reply.error_code(), Some("validation_failed"));
        assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
    }
    // Nothing changed by the refused ones.
    assert_eq!(get(&url, clinician.token()).body, before);

    let cleared = patch(&url, clinician.token(), &json!({"baseline_mme": null}));
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["baseline_mme"], Value::Null);
    assert_eq!(cleared.body["display_name"], before["display_name"]);
    assert_eq!(cleared.body["research_consent"], before["research_consent"]);
}

#[test]
fn the_openapi_document_says_which_fields_may_be_null() {
    let server = TestServer::start();
    let doc = get(&server.url("/openapi.json"), None).body;
    let schema = &doc["components"]["schemas"]["PatientChange"];
    let props = &schema["properties"];
    assert_eq!(props["research_consent"]["type"], "boolean", "{schema}");
    assert_eq!(props["display_name"]["type"], "string", "{schema}");
    assert_eq!(props["care_team_id"]["type"], "string", "{schema}");
    assert_eq!(
        props["baseline_mme"]["type"],
        json!(["number", "null"]),
        "{schema}"
    );
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    assert!(required.is_empty(), "{schema}");
}
