//! The authorization matrix, generated from the served route table: every route of
//! `/openapi.json` × every kind of caller → the status in `EXPECTED`. A route without a row
//! (or a row without a route) fails the test, so a new route must come with its rules.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use taperlog_server::role::Role;
use taperlog_tests::{Actor, Reply, TestServer, get, post, request};
use uuid::Uuid;

/// Callers, in the column order of [`EXPECTED`].
const CALLERS: [&str; 7] = [
    "no token",
    "patient A",
    "patient B",
    "clinician of A's team",
    "clinician of another team",
    "researcher",
    "admin",
];

/// One row: method and path as in the OpenAPI document, a query string, a body (with
/// `{unique}` replaced by a fresh value per request; `{team_a}`, `{clinician_a}` by ids),
/// and the status for each caller of [`CALLERS`].
struct Rule {
    route: &'static str,
    query: &'static str,
    body: Option<&'static str>,
    expect: [u16; 7],
}

const fn rule(route: &'static str, body: Option<&'static str>, expect: [u16; 7]) -> Rule {
    Rule {
        route,
        query: "",
        body,
        expect,
    }
}

/// The rules. `{id}` in a path is patient A's id, except under `/v1/admin/care-teams`
/// where it is A's care team.
const EXPECTED: &[Rule] = &[
    rule("GET /healthz", None, [200, 200, 200, 200, 200, 200, 200]),
    rule(
        "GET /openapi.json",
        None,
        [200, 200, 200, 200, 200, 200, 200],
    ),
    rule(
        "POST /v1/auth/login",
        Some(r#"{"username": "matrix-login", "password": "correct horse battery"}"#),
        [200, 200, 200, 200, 200, 200, 200],
    ),
    rule(
        "POST /v1/auth/refresh",
        Some(r#"{"refresh_token": "not-a-token"}"#),
        [401, 401, 401, 401, 401, 401, 401],
    ),
    rule(
        "POST /v1/auth/enroll",
        Some(r#"{"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "password": "a long enough one"}"#),
        [401, 401, 401, 401, 401, 401, 401],
    ),
    rule(
        "POST /v1/auth/logout",
        Some(r#"{"refresh_token": "not-a-token"}"#),
        [401, 204, 204, 204, 204, 204, 204],
    ),
    rule(
        "POST /v1/auth/password",
        Some(r#"{"old_password": "not the password", "new_password": "a long enough one"}"#),
        [401, 422, 422, 422, 422, 422, 422],
    ),
    rule("GET /v1/me", None, [401, 200, 200, 200, 200, 200, 200]),
    rule(
        "POST /v1/patients",
        Some(
            r#"{"display_name": "M", "enrolled_on": "2026-10-01", "care_team_id": "{team_a}", "research_consent": false}"#,
        ),
        [401, 403, 403, 201, 422, 403, 201],
    ),
    rule(
        "GET /v1/patients",
        None,
        [401, 403, 403, 200, 200, 403, 200],
    ),
    rule(
        "GET /v1/patients/{id}",
        None,
        [401, 200, 404, 200, 404, 403, 200],
    ),
    rule(
        "PATCH /v1/patients/{id}",
        Some(r#"{"display_name": "Renamed {unique}"}"#),
        [401, 403, 403, 200, 404, 403, 200],
    ),
    rule(
        "POST /v1/patients/{id}/enrollment-code",
        None,
        [401, 403, 403, 409, 404, 403, 409],
    ),
    rule(
        "POST /v1/admin/users",
        Some(
            r#"{"username": "u-{unique}", "password": "a long enough one", "role": "researcher"}"#,
        ),
        [401, 403, 403, 403, 403, 403, 201],
    ),
    rule(
        "POST /v1/admin/care-teams",
        Some(r#"{"name": "Team {unique}"}"#),
        [401, 403, 403, 403, 403, 403, 201],
    ),
    rule(
        "POST /v1/admin/care-teams/{id}/members",
        Some(r#"{"user_id": "{clinician_a}"}"#),
        [401, 403, 403, 403, 403, 403, 204],
    ),
    rule(
        "GET /v1/admin/audit",
        None,
        [401, 403, 403, 403, 403, 403, 200],
    ),
    rule(
        "POST /v1/sync/push",
        Some(r#"{"device_id": "matrix-{unique}", "changes": []}"#),
        [401, 200, 200, 403, 403, 403, 403],
    ),
    rule(
        "GET /v1/sync/pull",
        None,
        [401, 200, 200, 403, 403, 403, 403],
    ),
    rule(
        "GET /v1/patients/{id}/entries",
        None,
        [401, 200, 404, 200, 404, 403, 200],
    ),
    rule(
        "GET /v1/patients/{id}/daily",
        None,
        [401, 200, 404, 200, 404, 403, 200],
    ),
    rule(
        "GET /v1/patients/{id}/trends",
        None,
        [401, 200, 404, 200, 404, 403, 200],
    ),
];

/// Routes that end or change the caller's login: each gets a fresh login of the caller.
const SESSION_ROUTES: [&str; 2] = ["POST /v1/auth/logout", "POST /v1/auth/password"];

fn served_routes(server: &TestServer) -> BTreeSet<String> {
    let doc = get(&server.url("/openapi.json"), None);
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut routes = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

struct World {
    server: TestServer,
    callers: Vec<Option<Actor>>,
    patient_a: Uuid,
    team_a: Uuid,
    clinician_a: Uuid,
}

fn world() -> World {
    let server = TestServer::start();
    let team_a = server.create_care_team("Team A");
    let team_b = server.create_care_team("Team B");
    let clinician_a = server.create_clinician(team_a);
    let clinician_b = server.create_clinician(team_b);
    let patient_a = server.enrolled_patient(&clinician_a, team_a);
    let patient_b = server.enrolled_patient(&clinician_b, team_b);
    let researcher = server.create_user(Role::Researcher);
    let reply = post(
        &server.url("/v1/admin/users"),
        server.admin.token(),
        &json!({"username": "matrix-login", "password": "correct horse battery", "role": "clinician"}),
    );
    assert_eq!(reply.status, 201);
    World {
        patient_a: patient_a.patient_id.unwrap(),
        team_a,
        clinician_a: clinician_a.user_id,
        callers: vec![
            None,
            Some(patient_a),
            Some(patient_b),
            Some(clinician_a),
            Some(clinician_b),
            Some(researcher),
            Some(server.admin.clone()),
        ],
        server,
    }
}

fn call(world: &World, rule: &Rule, caller: Option<&Actor>) -> Reply {
    let (method, path) = rule.route.split_once(' ').unwrap();
    let id = if path.starts_with("/v1/admin/care-teams") {
        world.team_a.to_string()
    } else {
        world.patient_a.to_string()
    };
    let url = world
        .server
        .url(&format!("{}{}", path.replace("{id}", &id), rule.query));
    let token = match caller {
        Some(actor) if SESSION_ROUTES.contains(&rule.route) => Some(
            world
                .server
                .login(&actor.username, &actor.password)
                .access_token,
        ),
        Some(actor) => Some(actor.access_token.clone()),
        None => None,
    };
    let body: Option<Value> = rule.body.map(|b| {
        let text = b
            .replace("{unique}", &Uuid::new_v4().simple().to_string()[..12])
            .replace("{team_a}", &world.team_a.to_string())
            .replace("{clinician_a}", &world.clinician_a.to_string());
        serde_json::from_str(&text).expect("rule body is JSON")
    });
    request(method, &url, token.as_deref(), body.as_ref())
}

#[test]
fn every_route_answers_every_caller_as_the_table_says() {
    let world = world();
    let served = served_routes(&world.server);
    let ruled: BTreeSet<String> = EXPECTED.iter().map(|r| r.route.to_string()).collect();
    let unruled: Vec<_> = served.difference(&ruled).collect();
    assert!(
        unruled.is_empty(),
        "routes without a rule in EXPECTED: {unruled:?}"
    );
    let stale: Vec<_> = ruled.difference(&served).collect();
    assert!(
        stale.is_empty(),
        "rules for routes that are not served: {stale:?}"
    );

    let mut mismatches = BTreeMap::new();
    for rule in EXPECTED {
        for (i, caller) in world.callers.iter().enumerate() {
            let reply = call(&world, rule, caller.as_ref());
            if reply.status != rule.expect[i] {
                mismatches.insert(
                    format!("{} as {}", rule.route, CALLERS[i]),
                    format!(
                        "expected {}, got {}: {}",
                        rule.expect[i], reply.status, reply.text
                    ),
                );
            }
            if reply.status >= 400 {
                assert!(
                    reply.error_code().is_some(),
                    "{} as {}: error without the JSON error body: {}",
                    rule.route,
                    CALLERS[i],
                    reply.text
                );
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn a_patient_outside_the_callers_teams_looks_exactly_like_a_missing_one() {
    let world = world();
    let clinician_b = world.callers[4].as_ref().unwrap();
    let hidden = get(
        &world
            .server
            .url(&format!("/v1/patients/{}", world.patient_a)),
        clinician_b.token(),
    );
    let missing = get(
        &world
            .server
            .url(&format!("/v1/patients/{}", Uuid::now_v7())),
        clinician_b.token(),
    );
    assert_eq!(hidden.status, 404);
    assert_eq!((hidden.status, hidden.text), (missing.status, missing.text));
    let listed = get(&world.server.url("/v1/patients"), clinician_b.token());
    assert!(
        !listed.text.contains(&world.patient_a.to_string()),
        "clinician B's list shows patient A"
    );
    let listed = get(
        &world.server.url("/v1/patients"),
        world.callers[3].as_ref().unwrap().token(),
    );
    let rows = listed.body.as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["patient_id"] == world.patient_a.to_string())
        .expect("clinician A lists patient A");
    for field in [
        "patient_id",
        "display_name",
        "enrolled_on",
        "last_entry_at",
        "last_sync_at",
        "baseline_mme",
        "baseline_source",
        "mme_7d",
        "change_from_baseline_pct",
        "flags",
    ] {
        assert!(
            row.get(field).is_some(),
            "GET /v1/patients rows lack `{field}`: {row}"
        );
    }
}
