//! Bodies of any size under and over the limits are answered with the JSON error body
//! `{"error": {"code", "message", "field"?}}` (axum's own buffering limit must not answer
//! first, in plain text).

use serde_json::{Value, json};
use taperlog_tests::{Reply, TestServer, get, post};

const MIB: usize = 1024 * 1024;

/// Asserts `reply` is an error answered with the JSON error body and `code`.
fn assert_json_error(reply: &Reply, status: u16, code: &str, what: &str) {
    let shown = &reply.text[..reply.text.len().min(200)];
    assert_eq!(reply.status, status, "{what}: {shown}");
    assert_eq!(reply.error_code(), Some(code), "{what}: {shown}");
    assert!(
        reply.body["error"]["message"].is_string(),
        "{what}: {shown}"
    );
    let content_type = reply.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type}"
    );
}

/// A JSON object of about `size` bytes: `{"<key>": "xxx…", …rest}`.
fn body_of_size(size: usize, key: &str, rest: Value) -> Value {
    let mut body = rest;
    body[key] = Value::String("x".repeat(size));
    body
}

#[test]
fn bodies_over_two_mib_get_json_answers_on_a_json_route() {
    let server = TestServer::start();
    let url = server.url("/v1/auth/login");
    // Under the server's 4 MiB limit: read and refused for the long username (422).
    for size in [MIB + MIB / 2, 3 * MIB] {
        let body = body_of_size(size, "username", json!({"password": "p"}));
        let reply = post(&url, None, &body);
        assert_json_error(&reply, 422, "validation_failed", &format!("{size} bytes"));
        assert_eq!(reply.body["error"]["field"], "username");
    }
    let body = body_of_size(5 * MIB, "username", json!({"password": "p"}));
    assert_json_error(&post(&url, None, &body), 413, "payload_too_large", "5 MiB");
    assert_eq!(get(&server.url("/healthz"), None).status, 200);
}

#[test]
fn push_bodies_over_its_one_mib_limit_get_the_json_413() {
    let server = TestServer::start();
    let team = server.create_care_team("Limits");
    let clinician = server.create_clinician(team);
    let patient = server.enrolled_patient(&clinician, team);
    let url = server.url("/v1/sync/push");
    for size in [MIB + MIB / 2, 3 * MIB, 5 * MIB] {
        let body = body_of_size(size, "pad", json!({"device_id": "dev-1", "changes": []}));
        let reply = post(&url, patient.token(), &body);
        assert_json_error(
            &reply,
            413,
            "payload_too_large",
            &format!("push of {size} bytes"),
        );
    }
    let small = post(
        &url,
        patient.token(),
        &json!({"device_id": "dev-1", "changes": []}),
    );
    assert_eq!(small.status, 200, "{}", small.text);
}
