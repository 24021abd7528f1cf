//! The HTTP layer: body limit (413 with the JSON body, not a dropped connection), malformed
//! and unknown input (422 naming the field; arrays where objects belong), request ids, and
//! the header-read timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use taperlog_core::model::{Body, DeviceId, Entry, NoteBody, Stamp};
use taperlog_server::http::{HEADER_READ_TIMEOUT, MAX_BODY_BYTES};
use taperlog_tests::{TestServer, get, post, request};
use time::OffsetDateTime;
use uuid::Uuid;

#[test]
fn an_oversized_body_gets_413_json() {
    let server = TestServer::start();
    let big = "x".repeat(MAX_BODY_BYTES + 1024);
    let body = json!({"username": big, "password": "p"});
    let reply = post(&server.url("/v1/auth/login"), None, &body);
    assert_eq!(
        reply.status,
        413,
        "{}",
        &reply.text[..reply.text.len().min(200)]
    );
    assert_eq!(reply.error_code(), Some("payload_too_large"));
    // The server is fine afterwards.
    assert_eq!(get(&server.url("/healthz"), None).status, 200);
}

#[test]
fn malformed_and_unknown_input_is_422_naming_the_field() {
    let server = TestServer::start();
    let url = server.url("/v1/auth/login");
    let cases = [
        (
            json!({"username": "a", "password": "b", "admin": true}),
            "admin",
        ),
        (json!({"username": "a"}), "password"),
        (json!({"username": 7, "password": "b"}), "username"),
    ];
    for (body, field) in cases {
        let reply = post(&url, None, &body);
        assert_eq!(reply.status, 422, "{body}");
        assert_eq!(reply.error_code(), Some("validation_failed"));
        assert_eq!(reply.body["error"]["field"], field, "{}", reply.text);
    }
    let raw = ureq::post(&url).send_string("{not json");
    let status = match raw {
        Err(ureq::Error::Status(code, _)) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(status, 422);
    let team = post(
        &server.url("/v1/admin/care-teams"),
        server.admin.token(),
        &json!({"name": "T", "colour": "red"}),
    );
    assert_eq!(
        (team.status, team.body["error"]["field"].as_str()),
        (422, Some("colour"))
    );
    assert_eq!(
        request("GET", &server.url("/v1/nowhere"), None, None).status,
        404
    );
}

/// serde reads a struct from a JSON array too, by field position: PEG answers sent as
/// `[4, 5, 6]` would be stored in whatever order the fields are declared.
#[test]
fn values_sent_as_arrays_instead_of_objects_are_refused_by_name() {
    let server = TestServer::start();
    let team = post(
        &server.url("/v1/admin/care-teams"),
        server.admin.token(),
        &json!(["Team from an array"]),
    );
    assert_eq!(team.status, 422, "{}", team.text);
    assert_eq!(team.body["error"]["message"], "must be a JSON object");

    let team = server.create_care_team("Arrays");
    let clinician = server.create_clinician(team);
    let patient = server.enrolled_patient(&clinician, team);
    let now = OffsetDateTime::now_utc();
    let device = DeviceId::new("dev-1").unwrap();
    let entry = |body: Body| {
        let millis = (now.unix_timestamp_nanos() / 1_000_000) as u64;
        let rev = Stamp::new(millis, 0, device.clone());
        serde_json::to_value(Entry::live(Uuid::now_v7(), now, body, rev)).unwrap()
    };
    let note = entry(Body::Note(NoteBody {
        text: "kept".into(),
    }));
    let mut peg_as_array = entry(Body::Note(NoteBody { text: "x".into() }));
    peg_as_array["kind"] = json!("pain");
    peg_as_array["body"] = json!({"nrs": 3, "peg": [4, 5, 6]});
    let fields = [
        "id",
        "kind",
        "occurred_at",
        "rev",
        "device_id",
        "deleted",
        "body",
    ];
    let whole_as_array: Vec<_> = fields.iter().map(|f| note[*f].clone()).collect();
    let pushed = post(
        &server.url("/v1/sync/push"),
        patient.token(),
        &json!({"device_id": "dev-1", "changes": [whole_as_array, peg_as_array, note]}),
    );
    assert_eq!(pushed.status, 200, "{}", pushed.text);
    assert_eq!(pushed.body["accepted"][0]["id"], note["id"]);
    let rejected = pushed.body["rejected"].as_array().unwrap();
    let named: Vec<_> = rejected
        .iter()
        .map(|r| (r["error"]["field"].as_str(), r["error"]["message"].as_str()))
        .collect();
    assert_eq!(
        named,
        [
            (None, Some("must be a JSON object")),
            (
                Some("body.peg"),
                Some("invalid type: sequence, expected a JSON object")
            ),
        ],
        "{}",
        pushed.text
    );
}

#[test]
fn answers_carry_a_request_id() {
    let server = TestServer::start();
    let reply = get(&server.url("/healthz"), None);
    let id = reply.header("x-request-id").expect("x-request-id");
    assert_eq!(id.len(), 36, "{id}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let server = TestServer::start();
    let addr = server.base_url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(HEADER_READ_TIMEOUT * 3))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server answers (408) or closes: either way the read ends, and well before our
    // own timeout.
    let _ = stream.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited >= HEADER_READ_TIMEOUT - Duration::from_secs(1),
        "{waited:?}"
    );
    assert!(
        waited < HEADER_READ_TIMEOUT * 2,
        "connection held for {waited:?}"
    );
}
