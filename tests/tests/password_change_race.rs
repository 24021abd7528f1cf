//! A login with the old password whose check straddles a password change must not survive
//! the change (the change revokes the user's other logins; a login stored after that, from a
//! password checked before it, would outlive it).

use serde_json::json;
use taperlog_server::role::Role;
use taperlog_server::settings::Argon2Settings;
use taperlog_tests::{TEST_PASSWORD, TestOptions, TestServer, get, post};

#[test]
fn a_login_checked_while_the_password_changes_does_not_outlive_the_change() {
    // A slow hash widens the window in which the change lands during the login's check.
    let slow = Argon2Settings {
        memory_kib: 65536,
        iterations: 6,
        parallelism: 1,
    };
    let server = std::sync::Arc::new(TestServer::start_with(TestOptions {
        argon2: slow,
        ..TestOptions::default()
    }));
    let victim = server.create_user(Role::Clinician);
    let started = std::time::Instant::now();
    server.login(&victim.username, TEST_PASSWORD);
    let one_check = started.elapsed();

    let changer = server.clone();
    let token = victim.access_token.clone();
    let change = std::thread::spawn(move || {
        post(
            &changer.url("/v1/auth/password"),
            Some(&token),
            &json!({"old_password": TEST_PASSWORD, "new_password": "a brand new passphrase"}),
        )
    });
    // The change checks the old password (one hash), then hashes the new one: a login
    // starting now is checked while the change lands.
    std::thread::sleep(one_check + std::time::Duration::from_millis(40));
    let late = server.try_login(&victim.username, TEST_PASSWORD);
    let change = change.join().unwrap();
    assert_eq!(change.status, 204, "{}", change.text);
    if late.status == 200 {
        let token = late.body["access_token"].as_str().unwrap();
        let me = get(&server.url("/v1/me"), Some(token));
        assert_eq!(
            me.status, 401,
            "a login with the old password outlived the change"
        );
    } else {
        assert_eq!(late.status, 401, "{}", late.text);
    }
    // The new password works; the old one does not.
    assert_eq!(
        server
            .try_login(&victim.username, "a brand new passphrase")
            .status,
        200
    );
    assert_eq!(
        server.try_login(&victim.username, TEST_PASSWORD).status,
        401
    );
}
