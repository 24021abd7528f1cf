//! Unit tests of the sync engine against scripted servers.

use super::*;
use crate::store::test_util::{ManualClock, NOON_MILLIS, note, open, pain};
use crate::sync::{HttpRequest, HttpResponse, HttpTransport, Tokens, TransportError};
use std::sync::Arc;
use time::macros::datetime;

/// A server that refuses every change for its `rev`, whatever the stamp.
struct RefusesEveryRev;

impl HttpTransport for RefusesEveryRev {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let server_hlc = format!("{NOON_MILLIS:012x}-0000-server");
        let body = if request.method == "POST" {
            let push: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let rejected: Vec<serde_json::Value> = push["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    serde_json::json!({"id": c["id"], "rev": c["rev"], "error": {
                        "code": "validation_failed", "field": "rev", "message": "no"}})
                })
                .collect();
            serde_json::json!({"accepted": [], "rejected": rejected, "server_hlc": server_hlc})
        } else {
            serde_json::json!({"changes": [], "cursor": "0", "more": false, "server_hlc": server_hlc})
        };
        Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
        })
    }
}

#[test]
fn a_fresh_stamp_refused_again_ends_on_the_rejected_list_and_is_not_resent_every_sync() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(NOON_MILLIS + 3 * 86_400_000);
    let store = open(dir.path(), clock.clone());
    let entry = store
        .record(datetime!(2026-11-22 08:00 UTC), pain(4))
        .unwrap();
    clock.set(NOON_MILLIS);
    let session = logged_in(Arc::new(RefusesEveryRev), "p1");
    let report = sync(&store, &session, &SyncOptions::default()).unwrap();
    assert_eq!(
        (report.pushed, report.rejected, report.restamped),
        (0, 1, 1)
    );
    let refused = store.rejected().unwrap();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].entry.rev < entry.rev,
        "the fresh stamp was refused"
    );
    assert_eq!(store.pending_count(), 0);
    // The refused stamp is already as early as this device can make: no resending.
    let report = sync(&store, &session, &SyncOptions::default()).unwrap();
    assert_eq!(
        (report.pushed, report.rejected, report.restamped),
        (0, 0, 0)
    );
    assert_eq!(store.rejected().unwrap().len(), 1);
}

/// A server that takes every change of a push whose body fits in `limit` bytes and
/// answers a larger one 413, as the real one does; it notes (bytes, changes) of each push
/// it took, and how many it refused.
struct BodyLimited {
    limit: usize,
    taken: std::sync::Mutex<Vec<(usize, usize)>>,
    refused: std::sync::atomic::AtomicUsize,
}

impl HttpTransport for BodyLimited {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let server_hlc = format!("{NOON_MILLIS:012x}-0000-server");
        let (status, body) = if request.method != "POST" {
            let body = serde_json::json!({"changes": [], "cursor": "0", "more": false,
                "server_hlc": server_hlc});
            (200, body)
        } else if request.body.len() > self.limit {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = serde_json::json!({"error": {"code": "payload_too_large",
                "message": "too large"}});
            (413, body)
        } else {
            let push: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let changes = push["changes"].as_array().unwrap();
            self.taken
                .lock()
                .unwrap()
                .push((request.body.len(), changes.len()));
            let accepted: Vec<serde_json::Value> = changes
                .iter()
                .map(|c| serde_json::json!({"id": c["id"], "rev": c["rev"]}))
                .collect();
            let body = serde_json::json!({"accepted": accepted, "rejected": [],
                "server_hlc": server_hlc});
            (200, body)
        };
        Ok(HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
        })
    }
}

/// A session of the patient `patient` with `server`.
fn logged_in(server: Arc<impl HttpTransport + 'static>, patient: &str) -> Session {
    let session = Session::new("http://server.invalid", server);
    session.restore(Tokens {
        access_token: "token".into(),
        refresh_token: "refresh".into(),
        access_expires_at: u64::MAX / 2,
        user_id: "u".into(),
        role: "patient".into(),
        patient_id: Some(patient.into()),
        username: None,
    });
    session
}

/// Syncs `count` notes of 4,000 characters (4 kB each) to a server taking bodies of at
/// most `limit` bytes; returns the pushes it took and how many it refused.
fn sync_long_notes(count: usize, limit: usize) -> (Vec<(usize, usize)>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    for n in 0..count {
        let text = format!("{n:04}{}", "x".repeat(3996));
        store
            .record(datetime!(2026-11-22 08:00 UTC), note(&text))
            .unwrap();
    }
    let server = Arc::new(BodyLimited {
        limit,
        taken: Default::default(),
        refused: Default::default(),
    });
    let session = logged_in(server.clone(), "p1");
    let report = sync(&store, &session, &SyncOptions::default()).unwrap();
    assert_eq!((report.pushed, report.rejected), (count, 0));
    assert_eq!(store.pending_count(), 0);
    let taken = server.taken.lock().unwrap().clone();
    assert_eq!(taken.iter().map(|(_, n)| n).sum::<usize>(), count);
    (
        taken,
        server.refused.load(std::sync::atomic::Ordering::SeqCst),
    )
}

#[test]
fn pushes_are_cut_to_the_body_limit() {
    let (taken, refused) = sync_long_notes(300, MAX_PUSH_BYTES);
    assert_eq!(refused, 0, "a push over the limit was sent");
    assert!(taken.len() >= 2, "{taken:?}");
    // Cut by size, not by count: the first push is nearly full.
    assert!(taken[0].0 > MAX_PUSH_BYTES - 5_000, "{taken:?}");
}

#[test]
fn a_server_with_a_smaller_body_limit_gets_smaller_pushes() {
    // About 36 notes fit a push: far more rounds than full pushes of 500 would need.
    let (taken, refused) = sync_long_notes(700, 150_000);
    assert!(taken.len() >= 700 / 40, "{taken:?}");
    assert!(refused > 0 && refused < 10, "{refused} pushes refused");
}

#[test]
fn a_diary_does_not_sync_under_another_patients_login() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
    let server = Arc::new(BodyLimited {
        limit: MAX_PUSH_BYTES,
        taken: Default::default(),
        refused: Default::default(),
    });
    store
        .record(datetime!(2026-11-22 08:00 UTC), pain(3))
        .unwrap();
    sync(
        &store,
        &logged_in(server.clone(), "p1"),
        &SyncOptions::default(),
    )
    .unwrap();
    store
        .record(datetime!(2026-11-22 09:00 UTC), pain(4))
        .unwrap();
    let other = sync(
        &store,
        &logged_in(server.clone(), "p2"),
        &SyncOptions::default(),
    );
    assert!(matches!(other, Err(SyncError::OtherPatient)), "{other:?}");
    assert_eq!(server.taken.lock().unwrap().len(), 1, "pushed under p2");
    assert_eq!(store.pending_count(), 1);
    sync(
        &store,
        &logged_in(server.clone(), "p1"),
        &SyncOptions::default(),
    )
    .unwrap();
    assert_eq!(store.pending_count(), 0);
}

#[test]
fn cursors_are_percent_encoded() {
    assert_eq!(encode_query("abc-1_2.~"), "abc-1_2.~");
    assert_eq!(encode_query("a+b/c=d"), "a%2Bb%2Fc%3Dd");
}
