//! The phone's session against a real server: tokens refreshed before they expire, a 401
//! answered by one refresh, and a login ended elsewhere reported as such with the outbox kept.

use std::sync::Arc;

use taperlog_core::sync::{Session, SyncError, Tokens, UreqTransport};
use taperlog_tests::devices::{Device, pain};
use taperlog_tests::{TEST_PASSWORD, TestOptions, TestServer};

fn enrolled_phone(server: &TestServer, name: &str) -> Device {
    let team = server.create_care_team("session team");
    let clinician = server.create_clinician(team);
    let (_, code) = server.create_patient(&clinician, team);
    let phone = Device::new(name, &server.base_url);
    phone
        .session
        .enroll(&code, TEST_PASSWORD, Some(name))
        .expect("enrol");
    phone
}

#[test]
fn short_lived_access_tokens_are_refreshed_before_they_expire() {
    let server = TestServer::start_with(TestOptions {
        access_token_ttl_secs: 20,
        ..TestOptions::default()
    });
    let phone = enrolled_phone(&server, "phone-short");
    let first = phone.session.tokens().unwrap();
    phone.record(pain(4));
    phone.sync();
    phone.sync();
    assert!(
        phone.session.refresh_count() >= 2,
        "a token with 20 s left is refreshed before use"
    );
    let now = phone.session.tokens().unwrap();
    assert_ne!(
        now.refresh_token, first.refresh_token,
        "refresh tokens rotate"
    );
    assert_eq!(phone.store.pending_count(), 0);
}

#[test]
fn a_refused_access_token_is_refreshed_once() {
    let server = TestServer::start();
    let phone = enrolled_phone(&server, "phone-401");
    let tokens = phone.session.tokens().unwrap();
    // The phone believes its access token good for an hour, but the server refuses it.
    phone.session.restore(Tokens {
        access_token: "not.a.jwt".into(),
        ..tokens
    });
    phone.record(pain(5));
    let report = phone.sync();
    assert_eq!(report.pushed, 1);
    assert_eq!(phone.session.refresh_count(), 1);
}

#[test]
fn a_login_ended_elsewhere_is_reported_and_the_outbox_kept() {
    let server = TestServer::start();
    let phone = enrolled_phone(&server, "phone-ended");
    let elsewhere = Session::new(&server.base_url, Arc::new(UreqTransport::default()));
    elsewhere.restore(phone.session.tokens().unwrap());
    elsewhere.logout().expect("logout");
    phone.record(pain(6));
    match phone.try_sync() {
        Err(SyncError::Unauthorized { .. }) => {}
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(
        phone.session.tokens().is_none(),
        "the dead tokens are dropped so the app asks to log in"
    );
    assert_eq!(
        phone.store.pending_count(),
        1,
        "nothing written offline is lost"
    );
}
