//! `/openapi.json` says what the server does: every route taking a body documents the
//! server-wide 413 (and really answers it), and query parameters parsed by hand are typed
//! as the integers they must be, with their bounds; request fields document the rules they
//! are checked against, scores their scale's range.

use serde_json::Value;
use taperlog_core::clinical::{NRS_MAX, PEG_ITEM_MAX, SOWS_ITEM_MAX, SOWS_ITEMS};
use taperlog_core::model::DeviceId;
use taperlog_core::summary::{MAX_TREND_DAYS, MIN_TREND_DAYS};
use taperlog_core::sync::MAX_PUSH_CHANGES;
use taperlog_server::auth::MIN_PASSWORD_CHARS;
use taperlog_server::http::MAX_BODY_BYTES;
use taperlog_server::routes::admin::MAX_AUDIT_RECORDS;
use taperlog_tests::{TestServer, get, request};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The query parameter `name` of `GET path`.
fn query_param<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .and_then(|params| params.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} on {path}"))
}

#[test]
fn every_route_with_a_body_documents_and_answers_the_413() {
    let server = TestServer::start();
    let doc = get(&server.url("/openapi.json"), None).body;
    let big = Value::String("x".repeat(MAX_BODY_BYTES + 1024));
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let operation = &item[method];
            if operation["requestBody"].is_null() {
                continue;
            }
            let documented = &operation["responses"]["413"];
            assert!(
                documented["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .is_some_and(|r| r.ends_with("/ErrorBody")),
                "{method} {path}: {documented}"
            );
            let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let reply = request(
                &method.to_uppercase(),
                &server.url(&concrete),
                server.admin.token(),
                Some(&big),
            );
            assert_eq!(reply.status, 413, "{method} {path}");
            assert_eq!(
                reply.error_code(),
                Some("payload_too_large"),
                "{method} {path}"
            );
            checked += 1;
        }
    }
    // Login, refresh, logout, enrol, password, three admin routes, create and change a
    // patient, push.
    assert!(checked >= 11, "{checked}");
}

#[test]
fn hand_parsed_query_parameters_are_documented_as_bounded_integers() {
    let server = TestServer::start();
    let doc = get(&server.url("/openapi.json"), None).body;
    let days = &query_param(&doc, "/v1/patients/{id}/trends", "days")["schema"];
    assert_eq!(days["type"], "integer", "{days}");
    assert_eq!(days["minimum"], MIN_TREND_DAYS, "{days}");
    assert_eq!(days["maximum"], MAX_TREND_DAYS, "{days}");
    let limit = &query_param(&doc, "/v1/admin/audit", "limit")["schema"];
    assert_eq!(limit["type"], "integer", "{limit}");
    assert_eq!(limit["minimum"], 1, "{limit}");
    assert_eq!(limit["maximum"], MAX_AUDIT_RECORDS, "{limit}");
    let patient = &query_param(&doc, "/v1/admin/audit", "patient_id")["schema"];
    assert_eq!(patient["format"], "uuid", "{patient}");
    for (path, name) in [
        ("/v1/patients/{id}/trends", "days"),
        ("/v1/admin/audit", "limit"),
    ] {
        let required = query_param(&doc, path, name)["required"].as_bool();
        assert_ne!(required, Some(true), "{path} {name}");
    }
}

/// The rules request fields are checked against, as a client generated from the document
/// sees them: passwords' least length, the device id's pattern, the push's batch size.
#[test]
fn request_fields_document_the_rules_they_are_checked_against() {
    let server = TestServer::start();
    let doc = get(&server.url("/openapi.json"), None).body;
    let field =
        |schema: &str, name: &str| doc["components"]["schemas"][schema]["properties"][name].clone();
    for (schema, name) in [
        ("NewUser", "password"),
        ("EnrollRequest", "password"),
        ("PasswordChange", "new_password"),
    ] {
        assert_eq!(
            field(schema, name)["minLength"],
            MIN_PASSWORD_CHARS,
            "{schema}.{name}"
        );
    }
    let pattern = "^[A-Za-z0-9_-]{1,64}$";
    for schema in ["LoginRequest", "EnrollRequest", "PushRequest"] {
        assert_eq!(field(schema, "device_id")["pattern"], pattern, "{schema}");
    }
    // The pattern says what the check does.
    for (id, valid) in [
        ("a".repeat(64), true),
        ("a".repeat(65), false),
        ("phone_1-B".into(), true),
        ("phone.1".into(), false),
        (String::new(), false),
    ] {
        assert_eq!(DeviceId::new(id.as_str()).is_ok(), valid, "{id}");
    }
    assert_eq!(
        field("PushRequest", "changes")["maxItems"],
        MAX_PUSH_CHANGES
    );
}

/// Every `$ref` of the document names a schema it holds (a generated client fails on the
/// first that does not), and an entry's body is the object of one of the four kinds.
#[test]
fn every_reference_resolves_and_entry_bodies_are_described() {
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let server = TestServer::start();
    let doc = get(&server.url("/openapi.json"), None).body;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "{}", found.len());
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{target} is not in the document"
        );
    }
    let body = &doc["components"]["schemas"]["Entry"]["properties"]["body"];
    let refers: Vec<&str> = body["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(|k| k["$ref"].as_str())
        .collect();
    assert_eq!(refers, ["#/components/schemas/EntryBody"], "{body}");
    let body = &doc["components"]["schemas"]["EntryBody"];
    let kinds: Vec<&str> = body["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(|k| k["$ref"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "#/components/schemas/DoseBody",
            "#/components/schemas/PainBody",
            "#/components/schemas/WithdrawalBody",
            "#/components/schemas/NoteBody",
        ],
        "{body}"
    );
    let dose = &doc["components"]["schemas"]["DoseBody"];
    assert!(
        dose["required"]
            .as_array()
            .unwrap()
            .contains(&"amount".into()),
        "{dose}"
    );
}

#[test]
fn pain_and_withdrawal_scores_are_documented_with_the_ranges_validation_checks() {
    let server = TestServer::start();
    let doc = get(&server.url("/openapi.json"), None).body;
    let schemas = &doc["components"]["schemas"];
    let range = |schema: &Value| (schema["minimum"].as_f64(), schema["maximum"].as_f64());
    let nrs = &schemas["PainBody"]["properties"]["nrs"];
    assert_eq!(range(nrs), (Some(0.0), Some(f64::from(NRS_MAX))), "{nrs}");
    for item in ["pain", "enjoyment", "activity"] {
        let answer = &schemas["PegAnswers"]["properties"][item];
        assert_eq!(
            range(answer),
            (Some(0.0), Some(f64::from(PEG_ITEM_MAX))),
            "{item}: {answer}"
        );
    }
    let sows = &schemas["WithdrawalBody"]["properties"]["sows"];
    assert_eq!(sows["additionalProperties"], false, "{sows}");
    let keys: Vec<&str> = SOWS_ITEMS.iter().map(|item| item.key).collect();
    let required: Vec<&str> = sows["required"]
        .as_array()
        .unwrap_or_else(|| panic!("{sows}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, keys, "{sows}");
    for item in SOWS_ITEMS {
        let answer = &sows["properties"][item.key];
        assert_eq!(answer["type"], "integer", "{answer}");
        assert_eq!(
            range(answer),
            (Some(0.0), Some(f64::from(SOWS_ITEM_MAX))),
            "{}: {answer}",
            item.key
        );
    }
}
