//! Session tests against a scripted in-process server that rotates refresh tokens the way
//! the real one does: a rotated token presented again revokes the whole login.

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::sync::TransportError;

/// How long the fake server takes over a refresh: long enough that two threads racing
/// are both in flight at once.
const REFRESH_LATENCY: Duration = Duration::from_millis(150);

#[derive(Default)]
struct AuthState {
    /// The refresh token that works now.
    live_refresh: String,
    /// The access token that works now.
    live_access: String,
    /// Refresh tokens already rotated.
    rotated: HashSet<String>,
    /// Set once a rotated token came back: nothing works any more.
    revoked: bool,
    /// Refreshes the server carried out.
    refreshes: u64,
    /// Pairs issued so far (login, enrol, refresh).
    generation: u64,
    /// Requests by path.
    calls: Vec<String>,
    /// Bodies of enrol requests.
    enroll_bodies: Vec<Value>,
    /// Statuses to answer enrol with, in turn (after redeeming the code); 200 when empty.
    enroll_script: Vec<u16>,
    /// Whether the enrolment code was redeemed.
    code_used: bool,
    /// Whether to drop the connection after the next enrolment is redeemed.
    lose_enroll_answer: bool,
}

struct FakeAuthServer {
    state: Mutex<AuthState>,
}

fn json_response(status: u16, body: Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).unwrap(),
    }
}

fn unauthorized() -> HttpResponse {
    json_response(
        401,
        json!({"error": {"code": "unauthorized", "message": "no"}}),
    )
}

fn token_answer(generation: u64, username: Option<&str>) -> Value {
    json!({
        "access_token": format!("access-{generation}"),
        "refresh_token": format!("refresh-{generation}"),
        "token_type": "Bearer",
        "expires_in": 900,
        "role": "patient",
        "user_id": "user-1",
        "patient_id": "patient-1",
        "username": username.unwrap_or("p-default"),
    })
}

impl FakeAuthServer {
    fn new() -> Arc<FakeAuthServer> {
        Arc::new(FakeAuthServer {
            state: Mutex::new(AuthState {
                live_refresh: "refresh-0".into(),
                live_access: "access-0".into(),
                ..AuthState::default()
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap()
    }

    /// Issues the next pair and makes it the live one.
    fn issue(state: &mut AuthState, username: Option<&str>) -> HttpResponse {
        state.generation += 1;
        let answer = token_answer(state.generation, username);
        state.live_access = answer["access_token"].as_str().unwrap().into();
        state.live_refresh = answer["refresh_token"].as_str().unwrap().into();
        json_response(200, answer)
    }

    fn refresh(&self, body: &[u8]) -> HttpResponse {
        let presented = serde_json::from_slice::<Value>(body).unwrap()["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
        thread::sleep(REFRESH_LATENCY);
        let mut state = self.state();
        if state.revoked {
            return unauthorized();
        }
        if state.rotated.contains(&presented) {
            state.revoked = true;
            return unauthorized();
        }
        if presented != state.live_refresh {
            return unauthorized();
        }
        state.rotated.insert(presented);
        state.refreshes += 1;
        Self::issue(&mut state, None)
    }

    fn enroll(&self, body: &[u8]) -> Result<HttpResponse, TransportError> {
        let body: Value = serde_json::from_slice(body).unwrap();
        let mut state = self.state();
        state.enroll_bodies.push(body.clone());
        if state.code_used {
            return Ok(unauthorized());
        }
        state.code_used = true;
        if state.lose_enroll_answer {
            return Err(TransportError {
                message: "connection reset".into(),
            });
        }
        if !state.enroll_script.is_empty() {
            let status = state.enroll_script.remove(0);
            return Ok(json_response(
                status,
                json!({"error": {"code": "internal", "message": "oops"}}),
            ));
        }
        Ok(Self::issue(&mut state, body["username"].as_str()))
    }

    fn authorized_get(&self, request: &HttpRequest) -> HttpResponse {
        let state = self.state();
        let expected = format!("Bearer {}", state.live_access);
        let bearer = request
            .headers
            .iter()
            .find(|(name, _)| name == "Authorization")
            .map(|(_, value)| value.as_str());
        if state.revoked || bearer != Some(expected.as_str()) {
            return unauthorized();
        }
        json_response(200, json!({"ok": true}))
    }
}

impl HttpTransport for FakeAuthServer {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let path = request.url.strip_prefix("http://fake").unwrap().to_string();
        self.state().calls.push(path.clone());
        match path.as_str() {
            "/v1/auth/refresh" => Ok(self.refresh(&request.body)),
            "/v1/auth/enroll" => self.enroll(&request.body),
            "/v1/auth/login" => {
                let mut state = self.state();
                Ok(Self::issue(&mut state, Some("someone")))
            }
            _ => Ok(self.authorized_get(&request)),
        }
    }
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    }
}

fn session_on(server: &Arc<FakeAuthServer>) -> Session {
    Session::new("http://fake", server.clone()).with_retry(quick_retry())
}

/// Tokens matching the fake server's generation 0, with the access token's expiry as given.
fn generation_zero(access_expires_at: u64) -> Tokens {
    Tokens {
        access_token: "access-0".into(),
        refresh_token: "refresh-0".into(),
        access_expires_at,
        user_id: "user-1".into(),
        role: "patient".into(),
        patient_id: Some("patient-1".into()),
        username: Some("p-default".into()),
    }
}

/// Runs `work` on two threads released together, returning both results.
fn on_two_threads<T: Send + 'static>(
    session: &Arc<Session>,
    work: fn(&Session) -> Result<T, SyncError>,
) -> Vec<Result<T, SyncError>> {
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let session = session.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                work(&session)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn two_threads_with_an_expired_access_token_refresh_once() {
    let server = FakeAuthServer::new();
    let session = Arc::new(session_on(&server));
    session.restore(generation_zero(0));
    let results = on_two_threads(&session, |s| s.send_authorized("GET", "/v1/me", Vec::new()));
    for result in results {
        assert_eq!(result.expect("authorised call").status, 200);
    }
    let state = server.state();
    assert!(!state.revoked, "a refresh token was presented twice");
    assert_eq!(state.refreshes, 1);
    drop(state);
    assert_eq!(session.refresh_count(), 1);
    assert_eq!(session.tokens().unwrap().refresh_token, "refresh-1");
}

#[test]
fn two_threads_refused_with_401_refresh_once() {
    let server = FakeAuthServer::new();
    let session = Arc::new(session_on(&server));
    // The phone thinks its access token good for an hour; the server refuses it.
    session.restore(Tokens {
        access_token: "stale".into(),
        ..generation_zero(u64::MAX / 2)
    });
    let results = on_two_threads(&session, |s| s.send_authorized("GET", "/v1/me", Vec::new()));
    for result in results {
        assert_eq!(result.expect("authorised call").status, 200);
    }
    let state = server.state();
    assert!(!state.revoked, "a refresh token was presented twice");
    assert_eq!(state.refreshes, 1);
}

#[test]
fn two_explicit_refreshes_at_once_keep_the_login() {
    let server = FakeAuthServer::new();
    let session = Arc::new(session_on(&server));
    session.restore(generation_zero(0));
    let results = on_two_threads(&session, Session::refresh);
    for result in results {
        assert_eq!(result.expect("refresh").refresh_token, "refresh-1");
    }
    assert!(!server.state().revoked);
    assert!(session.tokens().is_some(), "still logged in");
}

#[test]
fn a_refused_refresh_forgets_the_tokens() {
    let server = FakeAuthServer::new();
    let session = session_on(&server);
    session.restore(Tokens {
        refresh_token: "unknown".into(),
        ..generation_zero(0)
    });
    assert!(matches!(
        session.refresh(),
        Err(SyncError::Unauthorized { .. })
    ));
    assert!(session.tokens().is_none());
}

#[test]
fn enrolment_is_sent_once_even_after_a_5xx() {
    let server = FakeAuthServer::new();
    server.state().enroll_script = vec![503];
    let session = session_on(&server);
    match session.enroll("code-1", "a long passphrase", Some("phone")) {
        Err(SyncError::Server { status: 503, .. }) => {}
        other => panic!("expected the 503 as it came, got {other:?}"),
    }
    assert_eq!(
        server.state().enroll_bodies.len(),
        1,
        "a code works once: no retry"
    );
}

#[test]
fn a_lost_enrolment_answer_is_reported_and_the_chosen_username_logs_in() {
    let server = FakeAuthServer::new();
    server.state().lose_enroll_answer = true;
    let session = session_on(&server);
    let outcome = session.enroll_as("code-1", "a long passphrase", Some("pat-1"), None);
    assert!(
        matches!(outcome, Err(SyncError::Transport(_))),
        "{outcome:?}"
    );
    assert_eq!(server.state().enroll_bodies.len(), 1);
    session
        .login("pat-1", "a long passphrase", None)
        .expect("the app logs in with the username it chose");
}

#[test]
fn enrolment_sends_the_username_only_when_chosen() {
    let server = FakeAuthServer::new();
    let session = session_on(&server);
    let tokens = session
        .enroll_as("code-1", "a long passphrase", Some("pat-1"), Some("phone"))
        .expect("enrol");
    assert_eq!(tokens.username.as_deref(), Some("pat-1"));
    server.state().code_used = false;
    session
        .enroll("code-2", "a long passphrase", None)
        .expect("enrol");
    let bodies = server.state().enroll_bodies.clone();
    assert_eq!(bodies[0]["username"], "pat-1");
    assert_eq!(bodies[0]["device_id"], "phone");
    let second = bodies[1].as_object().unwrap();
    assert!(!second.contains_key("username"));
    assert!(!second.contains_key("device_id"));
}

#[test]
fn the_observer_hears_of_every_new_pair_in_order() {
    let server = FakeAuthServer::new();
    let heard: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = heard.clone();
    let session = Session::new("http://fake", server.clone())
        .with_retry(quick_retry())
        .with_token_observer(move |tokens: &Tokens| {
            log.lock().unwrap().push(tokens.refresh_token.clone())
        });
    let enrolled = session
        .enroll("code-1", "a long passphrase", None)
        .expect("enrol");
    let refreshed = session.refresh().expect("refresh");
    let logged_in = session
        .login("p-default", "a long passphrase", None)
        .expect("login");
    // An automatic refresh, made by an authorised call with an expired access token.
    session.restore(Tokens {
        access_expires_at: 0,
        ..logged_in.clone()
    });
    session
        .send_authorized("GET", "/v1/me", Vec::new())
        .expect("authorised call");
    let automatic = session.tokens().unwrap();
    assert_eq!(
        *heard.lock().unwrap(),
        vec![
            enrolled.refresh_token,
            refreshed.refresh_token,
            logged_in.refresh_token,
            automatic.refresh_token,
        ]
    );
}

#[test]
fn the_observer_is_not_called_when_nothing_changed() {
    let server = FakeAuthServer::new();
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    let session = Session::new("http://fake", server.clone())
        .with_retry(quick_retry())
        .with_token_observer(move |_: &Tokens| *count.lock().unwrap() += 1);
    session.restore(Tokens {
        refresh_token: "unknown".into(),
        ..generation_zero(0)
    });
    assert!(session.refresh().is_err());
    server.state().enroll_script = vec![500];
    assert!(session.enroll("code-1", "a long passphrase", None).is_err());
    assert_eq!(*calls.lock().unwrap(), 0);
}
