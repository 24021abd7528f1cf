//! End-to-end test helpers: a real server on `127.0.0.1:0` in a temp data dir, real HTTP
//! (ureq), and the built binary as a child process.
//!
//! - [`TestServer::start`]: the server in-process, on its own tokio runtime thread, with an
//!   admin bootstrapped; helpers to log in and make care teams, clinicians and patients.
//! - [`ChildServer::spawn`]: the command line as a child process (SIGTERM, SIGKILL).
//! - [`request`], [`get`], [`post`], [`patch`]: HTTP that never fails on a 4xx/5xx.

mod child;
pub mod devices;
pub mod proxy;
pub mod seed;
mod stop;

pub use child::{ChildServer, run_cli, server_binary};
pub use stop::StopOnDrop;

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use taperlog_server::Settings;
use taperlog_server::role::Role;
use taperlog_server::settings::{Argon2Settings, OWASP_ARGON2, Secret};
use uuid::Uuid;

/// The JWT key of in-process test servers (tests forge tokens with it).
pub const TEST_JWT_SECRET: &str = "taperlog-test-jwt-secret-0123456789abcdef";
/// Password every helper-made account gets unless told otherwise.
pub const TEST_PASSWORD: &str = "correct horse battery";

/// An answer: status, JSON body (`Null` when empty or not JSON), headers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `error.code` of an error body.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// Sends a request; 4xx and 5xx are answers, not errors. Panics only on transport failure.
pub fn request(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    try_request(method, url, token, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`request`] that returns transport failures.
pub fn try_request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Reply, String> {
    let mut req = agent().request(method, url);
    if let Some(token) = token {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Some(body) => req
            .set("Content-Type", "application/json")
            .send_string(&body.to_string()),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| {
            response
                .header(&n)
                .map(|v| (n.to_lowercase(), v.to_string()))
        })
        .collect();
    let text = response.into_string().map_err(|e| e.to_string())?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        body,
        text,
        headers,
    })
}

/// `GET`.
pub fn get(url: &str, token: Option<&str>) -> Reply {
    request("GET", url, token, None)
}

/// `POST` with a JSON body.
pub fn post(url: &str, token: Option<&str>, body: &Value) -> Reply {
    request("POST", url, token, Some(body))
}

/// `PATCH` with a JSON body.
pub fn patch(url: &str, token: Option<&str>, body: &Value) -> Reply {
    request("PATCH", url, token, Some(body))
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Actor {
    /// User id.
    pub user_id: Uuid,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Role.
    pub role: Role,
    /// Current access token.
    pub access_token: String,
    /// Current refresh token.
    pub refresh_token: String,
    /// Patient id (patients only).
    pub patient_id: Option<Uuid>,
}

impl Actor {
    /// The access token, for [`request`].
    pub fn token(&self) -> Option<&str> {
        Some(&self.access_token)
    }

    fn from_tokens(body: &Value, password: &str) -> Actor {
        let s = |k: &str| {
            body[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {body}"))
                .to_string()
        };
        Actor {
            user_id: s("user_id").parse().expect("user_id"),
            username: s("username"),
            password: password.to_string(),
            role: s("role").parse().expect("role"),
            access_token: s("access_token"),
            refresh_token: s("refresh_token"),
            patient_id: body["patient_id"]
                .as_str()
                .map(|p| p.parse().expect("patient_id")),
        }
    }
}

/// Options of an in-process server.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Password hashing cost (default OWASP's, as in production).
    pub argon2: Argon2Settings,
    /// Enrolment code lifetime, seconds.
    pub enrollment_code_ttl_secs: u64,
    /// Access token lifetime, seconds.
    pub access_token_ttl_secs: u64,
    /// Reuse this data dir instead of a fresh temp one.
    pub data_dir: Option<PathBuf>,
}

impl Default for TestOptions {
    fn default() -> Self {
        let defaults = Settings::default();
        TestOptions {
            argon2: OWASP_ARGON2,
            enrollment_code_ttl_secs: defaults.enrollment_code_ttl_secs,
            access_token_ttl_secs: defaults.access_token_ttl_secs,
            data_dir: None,
        }
    }
}

/// A server running in this process on `127.0.0.1:0`, stopped (gracefully) on drop.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The bootstrapped admin, logged in.
    pub admin: Actor,
    _temp: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl TestServer {
    /// Starts a server with default options.
    pub fn start() -> TestServer {
        TestServer::start_with(TestOptions::default())
    }

    /// Starts a server with `options`.
    pub fn start_with(options: TestOptions) -> TestServer {
        let (temp, data_dir) = match &options.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::tempdir().expect("temp dir");
                let dir = temp.path().join("data");
                (Some(temp), dir)
            }
        };
        let settings = Settings {
            data_dir: data_dir.clone(),
            listen: "127.0.0.1:0".into(),
            jwt_secret: Some(Secret::new(TEST_JWT_SECRET.as_bytes().to_vec())),
            argon2: options.argon2,
            enrollment_code_ttl_secs: options.enrollment_code_ttl_secs,
            access_token_ttl_secs: options.access_token_ttl_secs,
            ..Settings::default()
        };
        let admin_name = format!("admin-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let admin_for_thread = admin_name.clone();
        let thread = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let fresh = !settings.data_dir.join("db").exists();
                if fresh {
                    taperlog_server::admin::create_user(
                        &settings,
                        &admin_for_thread,
                        Role::Admin,
                        TEST_PASSWORD.into(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                }
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                let server = match taperlog_server::Server::prepare(settings) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return Err(e.to_string());
                    }
                };
                let _ = ready_tx.send(Ok(format!("http://{addr}")));
                server
                    .run(listener, async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        let base_url = ready_rx
            .recv()
            .expect("server thread ended before it was ready")
            .expect("server failed to start");
        let mut server = TestServer {
            base_url,
            data_dir,
            admin: Actor {
                user_id: Uuid::nil(),
                username: admin_name.clone(),
                password: TEST_PASSWORD.into(),
                role: Role::Admin,
                access_token: String::new(),
                refresh_token: String::new(),
                patient_id: None,
            },
            _temp: temp,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        };
        if options.data_dir.is_none() {
            server.admin = server.login(&admin_name, TEST_PASSWORD);
        }
        server
    }

    /// Stops the server gracefully and returns how its run ended.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| "server thread panicked".to_string())?,
            None => Ok(()),
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The patient's live entries of yesterday, today and tomorrow (UTC dates), as `reader`
    /// gets them from `/entries` (panics unless 200).
    pub fn entries_around_today(&self, patient_id: Uuid, reader: &Actor) -> Vec<Value> {
        let today = time::OffsetDateTime::now_utc().date();
        let reply = get(
            &self.url(&format!(
                "/v1/patients/{patient_id}/entries?from={}&to={}",
                today - time::Duration::days(1),
                today + time::Duration::days(1)
            )),
            reader.token(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body.as_array().cloned().unwrap_or_default()
    }

    /// The audit records about `patient_id`, oldest first, as the admin reads them (panics
    /// unless 200).
    pub fn audit_of(&self, patient_id: Uuid) -> Vec<Value> {
        let reply = get(
            &self.url(&format!("/v1/admin/audit?patient_id={patient_id}")),
            self.admin.token(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body.as_array().cloned().unwrap_or_default()
    }

    /// Logs in (panics unless 200).
    pub fn login(&self, username: &str, password: &str) -> Actor {
        let reply = self.try_login(username, password);
        assert_eq!(reply.status, 200, "login of {username}: {}", reply.text);
        Actor::from_tokens(&reply.body, password)
    }

    /// Attempts a login.
    pub fn try_login(&self, username: &str, password: &str) -> Reply {
        post(
            &self.url("/v1/auth/login"),
            None,
            &json!({"username": username, "password": password}),
        )
    }

    /// Creates a care team (as the admin).
    pub fn create_care_team(&self, name: &str) -> Uuid {
        let reply = post(
            &self.url("/v1/admin/care-teams"),
            self.admin.token(),
            &json!({"name": name}),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.body["care_team_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Creates a user with a fresh username (as the admin) and logs them in.
    pub fn create_user(&self, role: Role) -> Actor {
        let username = format!(
            "{}-{}",
            role.as_str(),
            &Uuid::new_v4().simple().to_string()[..10]
        );
        let reply = post(
            &self.url("/v1/admin/users"),
            self.admin.token(),
            &json!({"username": username, "password": TEST_PASSWORD, "role": role}),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        self.login(&username, TEST_PASSWORD)
    }

    /// Creates a clinician in `care_team_id` and logs them in.
    pub fn create_clinician(&self, care_team_id: Uuid) -> Actor {
        let clinician = self.create_user(Role::Clinician);
        let reply = post(
            &self.url(&format!("/v1/admin/care-teams/{care_team_id}/members")),
            self.admin.token(),
            &json!({"user_id": clinician.user_id}),
        );
        assert_eq!(reply.status, 204, "{}", reply.text);
        clinician
    }

    /// Creates a patient in `care_team_id` as `clinician`; returns (patient id, code).
    pub fn create_patient(&self, clinician: &Actor, care_team_id: Uuid) -> (Uuid, String) {
        let reply = post(
            &self.url("/v1/patients"),
            clinician.token(),
            &json!({
                "display_name": "Test Patient",
                "enrolled_on": "2026-10-01",
                "care_team_id": care_team_id,
                "research_consent": true
            }),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        (
            reply.body["patient_id"].as_str().unwrap().parse().unwrap(),
            reply.body["enrollment_code"].as_str().unwrap().to_string(),
        )
    }

    /// Redeems an enrolment code (panics unless 200).
    pub fn enroll(&self, code: &str, password: &str) -> Actor {
        let reply = post(
            &self.url("/v1/auth/enroll"),
            None,
            &json!({"code": code, "password": password}),
        );
        assert_eq!(reply.status, 200, "enrol: {}", reply.text);
        Actor::from_tokens(&reply.body, password)
    }

    /// A patient of `care_team_id`, created by `clinician` and enrolled, logged in.
    pub fn enrolled_patient(&self, clinician: &Actor, care_team_id: Uuid) -> Actor {
        let (_, code) = self.create_patient(clinician, care_team_id);
        self.enroll(&code, TEST_PASSWORD)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
