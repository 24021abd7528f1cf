//! Every 4xx carries API.md's JSON error body `{"error": {"code", "message", "field"?}}`:
//! `field` is left out when no field is to blame (never sent empty), and the answers hyper
//! makes on its own for a request it cannot parse (414, 431, 400) carry it too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use taperlog_tests::{TestServer, get};

/// Sends `raw` bytes on a fresh connection and reads the whole answer (the server closes).
fn exchange(server: &TestServer, raw: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let addr = server.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may answer and close before reading everything; a failed write is fine.
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// Asserts a JSON error body with `code` and no empty `field`.
fn assert_error_body(headers: &[(String, String)], body: &str, code: &str, what: &str) {
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        content_type,
        Some("application/json"),
        "{what}: {headers:?}"
    );
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    assert_eq!(length, Some(body.len()), "{what}: {headers:?}");
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(json["error"]["code"], code, "{what}: {body}");
    assert!(json["error"]["message"].is_string(), "{what}: {body}");
    assert!(json["error"].get("field").is_none(), "{what}: {body}");
}

#[test]
fn an_error_about_no_field_leaves_field_out_and_a_duplicated_key_is_named() {
    let server = TestServer::start();
    let url = server.url("/v1/auth/login");
    let send = |body: &str| {
        let raw = format!(
            "POST /v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        exchange(&server, raw.as_bytes())
    };
    let (status, headers, body) = send("{not json");
    assert_eq!(status, 422, "{url}: {body}");
    assert_error_body(&headers, &body, "validation_failed", "malformed JSON");

    let (status, _, body) = send(r#"{"username":"a","username":"b","password":"x"}"#);
    assert_eq!(status, 422, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["field"], "username", "{body}");
    assert_eq!(get(&server.url("/healthz"), None).status, 200);
}

#[test]
fn requests_hyper_cannot_parse_get_the_json_error_body() {
    let server = TestServer::start();
    let long_query = format!(
        "GET /v1/sync/pull?since={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("x-h{i}: {i}\r\n"))
            .collect::<String>()
    );
    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        ("100 KB query string", long_query.into_bytes(), 414, "uri_too_long"),
        ("200 headers", many_headers.into_bytes(), 431, "headers_too_large"),
        (
            "garbage request line",
            b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (
            "bad header name",
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nbad header: y\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (
            "two content lengths",
            b"POST /v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}"
                .to_vec(),
            400,
            "bad_request",
        ),
    ];
    for (what, raw, status, code) in cases {
        let (got, headers, body) = exchange(&server, &raw);
        assert_eq!(got, status, "{what}: {body}");
        assert_error_body(&headers, &body, code, what);
    }
    // The server is fine afterwards, and ordinary answers are untouched.
    let health = get(&server.url("/healthz"), None);
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
}

#[test]
fn a_path_that_is_not_utf8_gets_the_json_error_body() {
    let server = TestServer::start();
    let token = server.admin.access_token.clone();
    for path in [
        "/v1/patients/%FF",
        "/v1/patients/%FF/entries",
        "/v1/admin/care-teams/%C3%28/members",
    ] {
        let method = if path.ends_with("members") {
            "POST"
        } else {
            "GET"
        };
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        let (status, headers, body) = exchange(&server, raw.as_bytes());
        assert_eq!(status, 404, "{path}: {body}");
        assert_error_body(&headers, &body, "not_found", path);
    }
}
