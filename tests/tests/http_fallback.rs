//! Unknown routes (404) and wrong methods (405, with `Allow`) are answered with the JSON
//! error body `{"error": {"code", "message"}}`; the real routes still answer.

use serde_json::json;
use taperlog_tests::{Reply, TestServer, get, request};

/// Asserts `reply` is an error answered with the JSON error body and `code`.
fn assert_json_error(reply: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
    assert_eq!(reply.error_code(), Some(code), "{what}: {}", reply.text);
    assert!(reply.body["error"]["message"].is_string(), "{what}");
    let content_type = reply.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type}"
    );
}

#[test]
fn unknown_routes_and_wrong_methods_get_json_errors() {
    let server = TestServer::start();
    for path in ["/v1/nowhere", "/nowhere", "/v1/auth/login/extra"] {
        let reply = get(&server.url(path), server.admin.token());
        assert_json_error(&reply, 404, "not_found", path);
    }
    let reply = request("DELETE", &server.url("/v1/auth/login"), None, None);
    assert_json_error(&reply, 405, "method_not_allowed", "DELETE /v1/auth/login");
    let allow = reply.header("allow").expect("Allow header on 405");
    assert!(allow.contains("POST"), "Allow: {allow}");
    let reply = request("POST", &server.url("/healthz"), None, Some(&json!({})));
    assert_json_error(&reply, 405, "method_not_allowed", "POST /healthz");
    assert!(reply.header("allow").is_some_and(|a| a.contains("GET")));
    // The documented routes still answer.
    let health = get(&server.url("/healthz"), None);
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let document = get(&server.url("/openapi.json"), None);
    assert_eq!(document.status, 200);
    assert!(document.body["paths"]["/v1/auth/login"].is_object());
    let me = get(&server.url("/v1/me"), server.admin.token());
    assert_eq!(me.status, 200, "{}", me.text);
}
