//! Auth under load, on this machine: logins per second with OWASP's argon2id parameters, and
//! the p99 latency of a cheap authenticated GET (`/v1/me`) unloaded versus during a login
//! storm. A real server on 127.0.0.1:0 and real HTTP; figures and ratios from one run.
//!
//! `cargo bench -p taperlog-server --bench auth_load` (`BENCH_SECS` sets each phase's length).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use taperlog_server::Settings;
use taperlog_server::role::Role;

const PASSWORD: &str = "bench password 123";
/// Clients hammering the login route during a storm.
const STORM_CLIENTS: usize = 4;
/// Samples of `/v1/me` per latency phase.
const LATENCY_SAMPLES: usize = 2_000;
/// Alternations of unloaded and storm latency phases.
const ROUNDS: usize = 3;

struct Running {
    base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(hash_workers: usize, users: usize) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings {
        data_dir: dir.path().join("data"),
        hash_workers: Some(hash_workers),
        ..Settings::default()
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            for i in 0..users {
                taperlog_server::admin::create_user(
                    &settings,
                    &format!("bench{i}"),
                    Role::Clinician,
                    PASSWORD.into(),
                )
                .await
                .expect("user");
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let server = taperlog_server::Server::prepare(settings).expect("prepare");
            ready_tx.send(format!("http://{addr}")).expect("ready");
            server
                .run(listener, async move {
                    let _ = stop_rx.await;
                })
                .await
                .expect("run");
        });
    });
    Running {
        base_url: ready_rx.recv().expect("server ready"),
        stop: Some(stop_tx),
        thread: Some(thread),
        _dir: dir,
    }
}

fn login(agent: &ureq::Agent, base: &str, user: &str) -> String {
    let reply: serde_json::Value = agent
        .post(&format!("{base}/v1/auth/login"))
        .send_json(json!({"username": user, "password": PASSWORD}))
        .expect("login")
        .into_json()
        .expect("json");
    reply["access_token"].as_str().expect("token").to_string()
}

/// Runs login clients until `stop`; counts successful logins.
fn storm(
    base: &str,
    stop: &Arc<AtomicBool>,
    count: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..STORM_CLIENTS)
        .map(|i| {
            let (base, stop, count) = (base.to_string(), Arc::clone(stop), Arc::clone(count));
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                let user = format!("bench{}", i % STORM_CLIENTS);
                while !stop.load(Ordering::Relaxed) {
                    login(&agent, &base, &user);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

fn p99_of_me(base: &str, token: &str) -> Duration {
    let agent = ureq::AgentBuilder::new().build();
    let url = format!("{base}/v1/me");
    let auth = format!("Bearer {token}");
    for _ in 0..50 {
        agent
            .get(&url)
            .set("Authorization", &auth)
            .call()
            .expect("warm-up");
    }
    let mut samples: Vec<Duration> = (0..LATENCY_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            agent
                .get(&url)
                .set("Authorization", &auth)
                .call()
                .expect("me");
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() * 99 / 100]
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing and
    // should not spend a minute here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("auth_load: run with `cargo bench -p taperlog-server --bench auth_load`");
        return;
    }
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let cores = taperlog_server::default_hash_workers();
    let configs = [cores];
    println!(
        "auth_load: {cores} cores, argon2id m=19456 KiB t=2 p=1, {STORM_CLIENTS} login clients, {secs} s per storm"
    );
    for hash_workers in configs {
        let server = start(hash_workers, STORM_CLIENTS);
        let base = server.base_url.clone();
        let token = login(&ureq::AgentBuilder::new().build(), &base, "bench0");

        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let clients = storm(&base, &stop, &count);
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        clients.into_iter().for_each(|c| c.join().expect("client"));
        let logins_per_sec = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

        // Other work on the machine moves single figures; alternate the two conditions a
        // few times and report each pair and the median ratio.
        let mut ratios = Vec::new();
        for round in 1..=ROUNDS {
            let unloaded = p99_of_me(&base, &token);
            let stop = Arc::new(AtomicBool::new(false));
            let count = Arc::new(AtomicU64::new(0));
            let clients = storm(&base, &stop, &count);
            std::thread::sleep(Duration::from_millis(500));
            let loaded = p99_of_me(&base, &token);
            stop.store(true, Ordering::Relaxed);
            clients.into_iter().for_each(|c| c.join().expect("client"));
            let ratio = loaded.as_secs_f64() / unloaded.as_secs_f64();
            ratios.push(ratio);
            println!(
                "  round {round}: GET /v1/me p99 unloaded {:.3} ms, during login storm {:.3} ms ({} logins meanwhile), ratio {ratio:.2}x",
                unloaded.as_secs_f64() * 1e3,
                loaded.as_secs_f64() * 1e3,
                count.load(Ordering::Relaxed),
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "hash_workers={hash_workers}: logins/s {logins_per_sec:.1}; median p99 ratio storm/unloaded {:.2}x (goal < 2x)",
            ratios[ratios.len() / 2]
        );
    }
}
