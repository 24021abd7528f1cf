//! Login, refresh rotation and reuse detection, logout, password change, enrolment codes,
//! brute-force limits and rehashing, against a real server.

use std::time::{Duration, Instant};

use serde_json::json;
use taperlog_server::role::Role;
use taperlog_server::settings::{Argon2Settings, OWASP_ARGON2};
use taperlog_tests::{TEST_PASSWORD, TestOptions, TestServer, get, post};

fn refresh(server: &TestServer, token: &str) -> taperlog_tests::Reply {
    post(
        &server.url("/v1/auth/refresh"),
        None,
        &json!({"refresh_token": token}),
    )
}

#[test]
fn login_answers_tokens_and_wrong_username_or_password_look_alike() {
    let server = TestServer::start();
    let clinician = server.create_user(Role::Clinician);
    assert_eq!(clinician.role, Role::Clinician);
    let me = get(&server.url("/v1/me"), clinician.token());
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], clinician.username.as_str());
    assert_eq!(me.body["role"], "clinician");

    let ok = server.try_login(&clinician.username, TEST_PASSWORD);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["expires_in"], 900);

    let t = Instant::now();
    let wrong_password = server.try_login(&clinician.username, "not the password");
    let wrong_password_time = t.elapsed();
    let t = Instant::now();
    let wrong_user = server.try_login("nobody-at-all", "not the password");
    let wrong_user_time = t.elapsed();
    assert_eq!(wrong_password.status, 401);
    assert_eq!(
        (wrong_password.status, &wrong_password.text),
        (wrong_user.status, &wrong_user.text)
    );
    // Both run one argon2 verification: neither is an order of magnitude faster.
    assert!(
        wrong_user_time * 5 > wrong_password_time && wrong_password_time * 5 > wrong_user_time,
        "{wrong_user_time:?} vs {wrong_password_time:?}"
    );
}

#[test]
fn refresh_rotates_and_a_reused_token_ends_the_whole_login() {
    let server = TestServer::start();
    let user = server.create_user(Role::Researcher);
    let first = refresh(&server, &user.refresh_token);
    assert_eq!(first.status, 200, "{}", first.text);
    let second_token = first.body["refresh_token"].as_str().unwrap().to_string();
    let access = first.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second_token, user.refresh_token);
    assert_eq!(get(&server.url("/v1/me"), Some(&access)).status, 200);

    // The rotated token again: theft detected, the family is revoked.
    let reuse = refresh(&server, &user.refresh_token);
    assert_eq!(reuse.status, 401);
    assert_eq!(reuse.error_code(), Some("unauthorized"));
    assert_eq!(
        refresh(&server, &second_token).status,
        401,
        "successor must be revoked too"
    );
    assert_eq!(
        get(&server.url("/v1/me"), Some(&access)).status,
        401,
        "access token of the family"
    );
    assert_eq!(get(&server.url("/v1/me"), user.token()).status, 401);

    // Other logins of the same user are unaffected.
    let other = server.login(&user.username, TEST_PASSWORD);
    assert_eq!(get(&server.url("/v1/me"), other.token()).status, 200);
    let audit = get(&server.url("/v1/admin/audit"), server.admin.token());
    assert!(audit.text.contains("auth.refresh_reuse"), "{}", audit.text);
}

#[test]
fn logout_ends_the_login() {
    let server = TestServer::start();
    let user = server.create_user(Role::Clinician);
    let other = server.login(&user.username, TEST_PASSWORD);
    let reply = post(
        &server.url("/v1/auth/logout"),
        user.token(),
        &json!({"refresh_token": user.refresh_token}),
    );
    assert_eq!(reply.status, 204);
    assert_eq!(refresh(&server, &user.refresh_token).status, 401);
    assert_eq!(get(&server.url("/v1/me"), user.token()).status, 401);
    assert_eq!(
        get(&server.url("/v1/me"), other.token()).status,
        200,
        "other login stays"
    );
}

#[test]
fn password_change_revokes_other_logins_only() {
    let server = TestServer::start();
    let here = server.create_user(Role::Clinician);
    let elsewhere = server.login(&here.username, TEST_PASSWORD);
    let weak = post(
        &server.url("/v1/auth/password"),
        here.token(),
        &json!({"old_password": TEST_PASSWORD, "new_password": "short"}),
    );
    assert_eq!(
        (weak.status, weak.body["error"]["field"].as_str()),
        (422, Some("new_password"))
    );
    let reply = post(
        &server.url("/v1/auth/password"),
        here.token(),
        &json!({"old_password": TEST_PASSWORD, "new_password": "a brand new passphrase"}),
    );
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(get(&server.url("/v1/me"), here.token()).status, 200);
    assert_eq!(refresh(&server, &here.refresh_token).status, 200);
    assert_eq!(get(&server.url("/v1/me"), elsewhere.token()).status, 401);
    assert_eq!(refresh(&server, &elsewhere.refresh_token).status, 401);
    assert_eq!(server.try_login(&here.username, TEST_PASSWORD).status, 401);
    server.login(&here.username, "a brand new passphrase");
}

#[test]
fn an_enrolment_code_works_once() {
    let server = TestServer::start();
    let team = server.create_care_team("T");
    let clinician = server.create_clinician(team);
    let (patient_id, code) = server.create_patient(&clinician, team);
    let reply = post(
        &server.url("/v1/auth/enroll"),
        None,
        &json!({"code": code.to_lowercase(), "password": "my own passphrase", "username": "Pat-One", "device_id": "ios-1"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["patient_id"], patient_id.to_string());
    assert_eq!(reply.body["role"], "patient");
    assert_eq!(reply.body["username"], "pat-one");
    let again = post(
        &server.url("/v1/auth/enroll"),
        None,
        &json!({"code": code, "password": "another passphrase"}),
    );
    assert_eq!(again.status, 401);
    let patient = server.login("pat-one", "my own passphrase");
    assert_eq!(patient.patient_id, Some(patient_id));
    let me = get(&server.url("/v1/me"), patient.token());
    assert_eq!(me.body["patient_id"], patient_id.to_string());
    assert_eq!(me.body["enrolled_on"], "2026-10-01");
    assert_eq!(me.body["care_team_ids"], json!([team]));
}

#[test]
fn an_enrolment_code_expires_and_can_be_replaced() {
    let server = TestServer::start_with(TestOptions {
        enrollment_code_ttl_secs: 1,
        ..TestOptions::default()
    });
    let team = server.create_care_team("T");
    let clinician = server.create_clinician(team);
    let (patient_id, code) = server.create_patient(&clinician, team);
    std::thread::sleep(Duration::from_millis(1500));
    let reply = post(
        &server.url("/v1/auth/enroll"),
        None,
        &json!({"code": code, "password": "my own passphrase"}),
    );
    assert_eq!(reply.status, 401, "{}", reply.text);
    let fresh = post(
        &server.url(&format!("/v1/patients/{patient_id}/enrollment-code")),
        clinician.token(),
        &json!({}),
    );
    assert_eq!(fresh.status, 201, "{}", fresh.text);
    let patient = server.enroll(
        fresh.body["enrollment_code"].as_str().unwrap(),
        "my own passphrase",
    );
    assert_eq!(patient.patient_id, Some(patient_id));
}

#[test]
fn brute_force_is_slowed_then_refused_while_another_user_still_logs_in() {
    let server = TestServer::start();
    let victim = server.create_user(Role::Clinician);
    let bystander = server.create_user(Role::Clinician);
    let mut refused = None;
    for attempt in 0..20 {
        let reply = server.try_login(&victim.username, &format!("guess number {attempt}"));
        match reply.status {
            401 => continue,
            429 => {
                refused = Some(reply);
                break;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    let refused = refused.expect("never answered 429");
    assert_eq!(refused.error_code(), Some("rate_limited"));
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    // The right password is refused too while locked: the limiter runs before the check.
    assert_eq!(
        server.try_login(&victim.username, TEST_PASSWORD).status,
        429
    );
    // Someone else, from the same address, still gets in.
    server.login(&bystander.username, TEST_PASSWORD);
}

#[test]
fn a_hash_made_with_old_parameters_is_upgraded_at_login() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let cheap = Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let settings = taperlog_server::Settings {
        data_dir: data_dir.clone(),
        argon2: cheap,
        ..Default::default()
    };
    runtime
        .block_on(taperlog_server::admin::create_user(
            &settings,
            "old-hash",
            Role::Admin,
            TEST_PASSWORD.into(),
        ))
        .unwrap();
    let hash_of = |dir: &std::path::Path| {
        let store = taperlog_server::admin::open_store(dir).unwrap();
        store
            .user_by_name("old-hash")
            .unwrap()
            .unwrap()
            .password_hash
    };
    assert!(hash_of(&data_dir).contains("m=1024"));
    let upgraded = TestServer::start_with(TestOptions {
        argon2: OWASP_ARGON2,
        data_dir: Some(data_dir.clone()),
        ..TestOptions::default()
    });
    upgraded.login("old-hash", TEST_PASSWORD);
    upgraded.stop().unwrap();
    let hash = hash_of(&data_dir);
    assert!(
        hash.starts_with("$argon2id$") && hash.contains("m=19456,t=2,p=1"),
        "{hash}"
    );
}
