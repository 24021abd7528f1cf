//! The server of the benchmarks, in this process, with its sync service reachable for the
//! flush counter; and HTTP with a pooled (keep-alive) agent.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;
use taperlog_core::sync::PushResponse;
use taperlog_server::role::Role;
use taperlog_server::settings::Secret;
use taperlog_server::sync::SyncService;
use taperlog_server::{ServerStore, Settings};
use taperlog_tests::{TEST_JWT_SECRET, TEST_PASSWORD, post};

use crate::CHEAP_ARGON2;

pub(crate) struct BenchServer {
    pub(crate) base_url: String,
    sync: Arc<SyncService>,
    store: Arc<ServerStore>,
    admin_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _temp: tempfile::TempDir,
}

impl BenchServer {
    pub(crate) fn start() -> BenchServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            data_dir: temp.path().join("data"),
            listen: "127.0.0.1:0".into(),
            jwt_secret: Some(Secret::new(TEST_JWT_SECRET.as_bytes().to_vec())),
            argon2: CHEAP_ARGON2,
            ..Settings::default()
        };
        let admin = "bench-admin";
        let (ready_tx, ready_rx) = mpsc::channel::<(String, Arc<SyncService>, Arc<ServerStore>)>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                taperlog_server::admin::create_user(
                    &settings,
                    admin,
                    Role::Admin,
                    TEST_PASSWORD.into(),
                )
                .await
                .expect("admin");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                let server = taperlog_server::Server::prepare(settings).expect("prepare");
                let sync = Arc::clone(&server.state().sync);
                let store = Arc::clone(&server.state().store);
                ready_tx
                    .send((format!("http://{addr}"), sync, store))
                    .expect("ready");
                server
                    .run(listener, async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("server run");
            });
        });
        let (base_url, sync, store) = ready_rx.recv().expect("server did not start");
        let mut server = BenchServer {
            base_url,
            sync,
            store,
            admin_token: String::new(),
            stop: Some(stop_tx),
            thread: Some(thread),
            _temp: temp,
        };
        let login = post(
            &server.url("/v1/auth/login"),
            None,
            &json!({"username": admin, "password": TEST_PASSWORD}),
        );
        assert_eq!(login.status, 200, "{}", login.text);
        server.admin_token = login.body["access_token"].as_str().unwrap().to_string();
        server
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub(crate) fn flushes(&self) -> u64 {
        self.sync.group_commit().flush_count()
    }

    pub(crate) fn write_groups(&self) -> u64 {
        self.sync.diary_writer().group_count()
    }

    /// Time the diary's sled batches have held sled's process-wide write lock so far.
    pub(crate) fn batch_time(&self) -> Duration {
        self.store.diary_batch_time()
    }

    /// A care team and a clinician in it; returns the clinician's token and the team.
    pub(crate) fn clinician(&self) -> (String, String) {
        let admin = Some(self.admin_token.as_str());
        let team = post(
            &self.url("/v1/admin/care-teams"),
            admin,
            &json!({"name": "Bench team"}),
        );
        assert_eq!(team.status, 201, "{}", team.text);
        let team_id = team.body["care_team_id"].as_str().unwrap().to_string();
        let user = post(
            &self.url("/v1/admin/users"),
            admin,
            &json!({"username": "bench-clinician", "password": TEST_PASSWORD, "role": "clinician"}),
        );
        assert_eq!(user.status, 201, "{}", user.text);
        let member = post(
            &self.url(&format!("/v1/admin/care-teams/{team_id}/members")),
            admin,
            &json!({"user_id": user.body["user_id"]}),
        );
        assert_eq!(member.status, 204, "{}", member.text);
        let login = post(
            &self.url("/v1/auth/login"),
            None,
            &json!({"username": "bench-clinician", "password": TEST_PASSWORD}),
        );
        assert_eq!(login.status, 200, "{}", login.text);
        (
            login.body["access_token"].as_str().unwrap().to_string(),
            team_id,
        )
    }

    /// A patient created and enrolled: (username, access token).
    pub(crate) fn patient(&self, clinician: &(String, String)) -> (String, String) {
        let created = post(
            &self.url("/v1/patients"),
            Some(&clinician.0),
            &json!({
                "display_name": "Bench Patient",
                "enrolled_on": "2026-01-01",
                "care_team_id": clinician.1,
                "research_consent": false
            }),
        );
        assert_eq!(created.status, 201, "{}", created.text);
        let enrolled = post(
            &self.url("/v1/auth/enroll"),
            None,
            &json!({"code": created.body["enrollment_code"], "password": TEST_PASSWORD}),
        );
        assert_eq!(enrolled.status, 200, "{}", enrolled.text);
        let text = |k: &str| enrolled.body[k].as_str().unwrap().to_string();
        (text("username"), text("access_token"))
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// Pushes a prepared body; panics unless every change is accepted.
pub(crate) fn push(agent: &ureq::Agent, url: &str, token: &str, body: &[u8], expected: usize) {
    let response = agent
        .post(url)
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json")
        .send_bytes(body)
        .unwrap_or_else(|e| panic!("push: {e}"));
    let answer: PushResponse =
        serde_json::from_reader(response.into_reader()).expect("push answer");
    assert!(
        answer.rejected.is_empty() && answer.accepted.len() == expected,
        "push not fully accepted: {:?}",
        answer.rejected.first()
    );
}
