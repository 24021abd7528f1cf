//! Sync benchmarks of issue 4, against a real server on `127.0.0.1:0` with real HTTP.
//!
//! Run with `cargo bench -p taperlog-tests --bench sync`. Every figure is set against a
//! baseline measured in the same run on the same disk:
//!
//! 1. Push ingest of a realistic diary in batches of 500 (`POST /v1/sync/push`) against a
//!    raw sled batch insert + flush of the same entries' JSON bytes; plus the server store
//!    alone (`ServerStore::apply_changes` + flush, no HTTP) to show where the time goes.
//! 2. 200 devices (200 patients) each pushing 10 changes at once: acknowledgement latency
//!    and the flushes group commit performed, against one push alone and one raw flush.
//! 3. Pull of 100k changes with `limit=1000` against a raw sled scan of the same values.
//! 4. The client path: a `DeviceStore` with 2,000 entries running `sync()`.
//!
//! The server is started here rather than through `TestServer` because the flush counter
//! lives in its `AppState` (`state.sync.group_commit()`), which `TestServer` does not expose.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use taperlog_core::clinical::{DEFAULT_MME_TABLE, SOWS_ITEMS};
use taperlog_core::model::{
    Body, DeviceId, DoseBody, Entry, NoteBody, PainBody, PegAnswers, Route, Stamp, Unit,
    WithdrawalBody,
};
use taperlog_core::store::{DeviceStore, StoreConfig};
use taperlog_core::sync::{PullResponse, PushResponse, Session, SyncOptions, UreqTransport};
use taperlog_server::role::Role;
use taperlog_server::settings::{Argon2Settings, Secret};
use taperlog_server::sync::SyncService;
use taperlog_server::{ServerStore, Settings};
use taperlog_tests::{TEST_JWT_SECRET, TEST_PASSWORD, post};
use time::{Date, OffsetDateTime, Time, UtcOffset};
use uuid::Uuid;

/// Changes per push, as the client engine sends them.
const BATCH: usize = 500;
/// Patients whose diaries make up the ingest run.
const INGEST_PATIENTS: usize = 8;
/// Entries per ingest patient (about a year of diary each).
const INGEST_PER_PATIENT: usize = 5_000;
/// Devices pushing at once.
const DEVICES: usize = 200;
/// Changes in each of their pushes.
const CHANGES_PER_DEVICE: usize = 10;
/// Rounds of the 200-device burst (more samples for the percentiles).
const BURST_ROUNDS: usize = 5;
/// Changes pulled in the pull benchmark.
const PULL_CHANGES: usize = 100_000;
/// Page size of the pull.
const PULL_LIMIT: usize = 1_000;
/// Entries in the device of the client benchmark.
const CLIENT_ENTRIES: usize = 2_000;

/// Password hashing is not measured here: cheap settings keep 200 enrolments quick.
const CHEAP_ARGON2: Argon2Settings = Argon2Settings {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

// ---------------------------------------------------------------------------------------
// The server, in this process, with its sync service reachable for the flush counter.

struct BenchServer {
    base_url: String,
    sync: Arc<SyncService>,
    admin_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _temp: tempfile::TempDir,
}

impl BenchServer {
    fn start() -> BenchServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            data_dir: temp.path().join("data"),
            listen: "127.0.0.1:0".into(),
            jwt_secret: Some(Secret::new(TEST_JWT_SECRET.as_bytes().to_vec())),
            argon2: CHEAP_ARGON2,
            ..Settings::default()
        };
        let admin = "bench-admin";
        let (ready_tx, ready_rx) = mpsc::channel::<(String, Arc<SyncService>)>();
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
                ready_tx
                    .send((format!("http://{addr}"), sync))
                    .expect("ready");
                server
                    .run(listener, async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("server run");
            });
        });
        let (base_url, sync) = ready_rx.recv().expect("server did not start");
        let mut server = BenchServer {
            base_url,
            sync,
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn flushes(&self) -> u64 {
        self.sync.group_commit().flush_count()
    }

    /// A care team and a clinician in it; returns the clinician's token and the team.
    fn clinician(&self) -> (String, String) {
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
    fn patient(&self, clinician: &(String, String)) -> (String, String) {
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

// ---------------------------------------------------------------------------------------
// A realistic diary: a patient tapering oxycodone on a fentanyl patch, rating pain (PEG
// twice a day), filling in SOWS once a day and writing a note most evenings.

/// A small deterministic generator, so that every run pushes the same diary.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn dose(medication: &str, amount: f64, unit: Unit, route: Route, prn: bool) -> Body {
    Body::Dose(DoseBody {
        medication: medication.into(),
        name: None,
        amount,
        unit,
        route,
        duration_h: (route == Route::Transdermal).then_some(72.0),
        prn: Some(prn),
    })
}

const NOTES: [&str; 4] = [
    "Slept badly, woke at 3am with restless legs. Walked the dog in the afternoon, felt better after.",
    "Good day. Went to the physio appointment and did the stretching routine twice.",
    "Cravings in the evening around the usual time of the old dose; used the breathing exercise and it passed.",
    "Back pain flared after gardening. Took the rescue dose at 6pm as agreed with Dr. Patel.",
];

/// The `k`-th body of a diary day (about 11 a day) and its hour of the day.
fn body_of(slot: usize, day: usize, rng: &mut Rng) -> (u8, Body) {
    match slot {
        0 => (8, dose("oxycodone", 20.0, Unit::Mg, Route::Oral, false)),
        1 => (20, dose("oxycodone", 20.0, Unit::Mg, Route::Oral, false)),
        2 if day.is_multiple_of(3) => (
            9,
            dose(
                "fentanyl_transdermal",
                25.0,
                Unit::McgPerHour,
                Route::Transdermal,
                false,
            ),
        ),
        2 | 3 => (
            13 + rng.below(5) as u8,
            dose("oxycodone", 5.0, Unit::Mg, Route::Oral, true),
        ),
        4 => (10, dose("morphine", 15.0, Unit::Mg, Route::Oral, false)),
        5 | 6 => {
            let pain = 3 + rng.below(6) as u8;
            let note = (rng.below(4) == 0).then(|| "worse after sitting for long".to_string());
            (
                if slot == 5 { 9 } else { 21 },
                Body::Pain(PainBody {
                    nrs: pain,
                    peg: Some(PegAnswers {
                        pain,
                        enjoyment: rng.below(11) as u8,
                        activity: rng.below(11) as u8,
                    }),
                    note,
                }),
            )
        }
        7 => (
            15,
            Body::Pain(PainBody {
                nrs: rng.below(11) as u8,
                peg: None,
                note: None,
            }),
        ),
        8 => {
            let sows: BTreeMap<String, u8> = SOWS_ITEMS
                .iter()
                .map(|item| (item.key.to_string(), rng.below(5) as u8))
                .collect();
            (
                19,
                Body::Withdrawal(WithdrawalBody {
                    sows,
                    note: (rng.below(3) == 0).then(|| "yawning and sweating".to_string()),
                }),
            )
        }
        9 => (
            22,
            Body::Note(NoteBody {
                text: NOTES[rng.below(NOTES.len() as u64) as usize].to_string(),
            }),
        ),
        _ => (12, dose("oxycodone", 5.0, Unit::Mg, Route::Oral, true)),
    }
}

/// Slots of a day; `10` is an extra rescue dose on some days.
const SLOTS_PER_DAY: usize = 11;

/// `count` entries of one device's diary, ending today, stamped by `device`.
fn diary(device: &str, count: usize, seed: u64) -> Vec<Entry> {
    let device_id = DeviceId::new(device).expect("device id");
    let mut rng = Rng(seed | 1);
    let offset = UtcOffset::from_hms(1, 0, 0).expect("offset");
    let days = count.div_ceil(SLOTS_PER_DAY);
    let today = OffsetDateTime::now_utc().date();
    let first: Date = today - time::Duration::days(days as i64 + 1);
    // Revisions a little in the past, distinct and increasing, as a device would make them.
    let rev_base = now_millis() - count as u64 - 60_000;
    (0..count)
        .map(|i| {
            let (day, slot) = (i / SLOTS_PER_DAY, i % SLOTS_PER_DAY);
            let (hour, body) = body_of(slot, day, &mut rng);
            let date = first + time::Duration::days(day as i64);
            let minute = rng.below(60) as u8;
            let at = date
                .with_time(Time::from_hms(hour, minute, 0).expect("time"))
                .assume_offset(offset);
            let rev = Stamp::new(rev_base + i as u64, 0, device_id.clone());
            Entry::live(Uuid::now_v7(), at, body, rev)
        })
        .collect()
}

fn push_body(device: &str, entries: &[Entry]) -> Vec<u8> {
    let changes: Vec<Value> = entries.iter().map(Entry::to_json).collect();
    serde_json::to_vec(&json!({"device_id": device, "changes": changes})).expect("json")
}

// ---------------------------------------------------------------------------------------
// HTTP with a pooled (keep-alive) agent.

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// Pushes a prepared body; panics unless every change is accepted.
fn push(agent: &ureq::Agent, url: &str, token: &str, body: &[u8], expected: usize) {
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

// ---------------------------------------------------------------------------------------
// Figures.

struct Row {
    bench: &'static str,
    what: String,
    value: String,
    baseline: String,
    ratio: String,
    goal: &'static str,
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn per_s(x: f64) -> String {
    format!("{x:.0} /s")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn fresh_sled(dir: &Path) -> sled::Db {
    sled::open(dir).expect("sled")
}

// ---------------------------------------------------------------------------------------
// 1. Push ingest.

fn bench_ingest(server: &BenchServer, clinician: &(String, String), rows: &mut Vec<Row>) {
    let patients: Vec<(String, String)> = (0..INGEST_PATIENTS)
        .map(|_| server.patient(clinician))
        .collect();
    // Patients' batches interleaved, as pushes from many phones would arrive.
    let diaries: Vec<Vec<Entry>> = (0..INGEST_PATIENTS)
        .map(|p| {
            diary(
                &format!("ingest-{p}"),
                INGEST_PER_PATIENT,
                0x5eed + p as u64,
            )
        })
        .collect();
    let mut batches: Vec<(usize, &[Entry])> = Vec::new();
    for b in 0..INGEST_PER_PATIENT.div_ceil(BATCH) {
        for (p, entries) in diaries.iter().enumerate() {
            let end = ((b + 1) * BATCH).min(entries.len());
            batches.push((p, &entries[b * BATCH..end]));
        }
    }
    let total: usize = batches.iter().map(|(_, b)| b.len()).sum();
    let bodies: Vec<Vec<u8>> = batches
        .iter()
        .map(|(p, b)| push_body(&format!("ingest-{p}"), b))
        .collect();
    let body_bytes: usize = bodies.iter().map(Vec::len).sum();
    let patient_ids: Vec<Uuid> = (0..INGEST_PATIENTS).map(|_| Uuid::new_v4()).collect();

    // Baseline: the entries' JSON bytes, a sled batch per push, flushed like an acknowledgement.
    let raw_batches: Vec<Vec<(Vec<u8>, Vec<u8>)>> = batches
        .iter()
        .map(|(p, entries)| {
            entries
                .iter()
                .map(|entry| {
                    let mut key = patient_ids[*p].as_bytes().to_vec();
                    key.extend_from_slice(entry.id.as_bytes());
                    (key, serde_json::to_vec(entry).expect("json"))
                })
                .collect()
        })
        .collect();
    let raw_dir = tempfile::tempdir().expect("temp");
    let db = fresh_sled(raw_dir.path());
    let started = Instant::now();
    for pairs in raw_batches {
        let mut batch = sled::Batch::default();
        for (key, value) in pairs {
            batch.insert(key, value);
        }
        db.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
    let raw = started.elapsed();
    drop(db);

    // The server's store alone: transactions, change log, summaries, flush; no HTTP, no JSON.
    let store_dir = tempfile::tempdir().expect("temp");
    let store = ServerStore::open(store_dir.path()).expect("store");
    let now = OffsetDateTime::now_utc();
    let started = Instant::now();
    for (p, entries) in &batches {
        store
            .apply_changes(patient_ids[*p], entries, DEFAULT_MME_TABLE, now)
            .expect("apply");
        store.flush_blocking().expect("flush");
    }
    let direct = started.elapsed();
    drop(store);

    // Through HTTP, one connection, one push after another.
    let agent = agent();
    let url = server.url("/v1/sync/push");
    let flushes_before = server.flushes();
    let started = Instant::now();
    for ((p, entries), body) in batches.iter().zip(&bodies) {
        push(&agent, &url, &patients[*p].1, body, entries.len());
    }
    let http = started.elapsed();
    let flushes = server.flushes() - flushes_before;

    let raw_rate = rate(total, raw);
    rows.push(Row {
        bench: "1 ingest",
        what: format!(
            "raw sled batch+flush, {total} entries ({:.0} B JSON each)",
            body_bytes as f64 / total as f64
        ),
        value: per_s(raw_rate),
        baseline: "-".into(),
        ratio: "1.00".into(),
        goal: "baseline",
    });
    rows.push(Row {
        bench: "1 ingest",
        what: "ServerStore::apply_changes+flush (no HTTP)".into(),
        value: per_s(rate(total, direct)),
        baseline: per_s(raw_rate),
        ratio: format!("{:.2}", raw.as_secs_f64() / direct.as_secs_f64()),
        goal: "",
    });
    rows.push(Row {
        bench: "1 ingest",
        what: format!(
            "HTTP push x{BATCH}, {} pushes, {flushes} flushes",
            batches.len()
        ),
        value: per_s(rate(total, http)),
        baseline: per_s(raw_rate),
        ratio: format!("{:.2}", raw.as_secs_f64() / http.as_secs_f64()),
        goal: ">= 0.40",
    });
    rows.push(Row {
        bench: "1 ingest",
        what: "HTTP push, mean time per push of 500".into(),
        value: ms(http / batches.len() as u32),
        baseline: ms(raw / batches.len() as u32),
        ratio: "".into(),
        goal: "",
    });
}

// ---------------------------------------------------------------------------------------
// 2. 200 devices at once.

fn bench_burst(server: &BenchServer, clinician: &(String, String), rows: &mut Vec<Row>) {
    let patients: Vec<(String, String)> = (0..DEVICES).map(|_| server.patient(clinician)).collect();
    let url = server.url("/v1/sync/push");

    // Baselines: one device alone, and one raw sled flush of ten entries.
    let alone = {
        let agent = agent();
        let device = "alone-0";
        let entries = diary(device, 40 * CHANGES_PER_DEVICE, 77);
        let mut times: Vec<Duration> = entries
            .chunks(CHANGES_PER_DEVICE)
            .map(|chunk| {
                let body = push_body(device, chunk);
                let started = Instant::now();
                push(&agent, &url, &patients[0].1, &body, chunk.len());
                started.elapsed()
            })
            .collect();
        times.sort();
        percentile(&times[5..], 50.0)
    };
    let raw_flush = {
        let dir = tempfile::tempdir().expect("temp");
        let db = fresh_sled(dir.path());
        let entries = diary("raw-flush", 30 * CHANGES_PER_DEVICE, 78);
        let mut times: Vec<Duration> = entries
            .chunks(CHANGES_PER_DEVICE)
            .map(|chunk| {
                let started = Instant::now();
                let mut batch = sled::Batch::default();
                for e in chunk {
                    batch.insert(e.id.as_bytes(), serde_json::to_vec(e).expect("json"));
                }
                db.apply_batch(batch).expect("batch");
                db.flush().expect("flush");
                started.elapsed()
            })
            .collect();
        times.sort();
        percentile(&times, 50.0)
    };

    let barrier = Arc::new(Barrier::new(DEVICES + 1));
    let threads: Vec<JoinHandle<Vec<Duration>>> = patients
        .iter()
        .enumerate()
        .map(|(d, (_, token))| {
            let (barrier, url, token) = (Arc::clone(&barrier), url.clone(), token.clone());
            std::thread::spawn(move || {
                let device = format!("burst-{d}");
                let entries = diary(&device, (BURST_ROUNDS + 1) * CHANGES_PER_DEVICE, d as u64);
                let mut chunks = entries.chunks(CHANGES_PER_DEVICE);
                let agent = agent();
                // Warm the connection so that the burst measures pushes, not TCP handshakes.
                let warm = chunks.next().expect("warm-up chunk");
                push(&agent, &url, &token, &push_body(&device, warm), warm.len());
                let bodies: Vec<Vec<u8>> = chunks.map(|c| push_body(&device, c)).collect();
                let mut latencies = Vec::with_capacity(BURST_ROUNDS);
                for body in &bodies {
                    barrier.wait();
                    let started = Instant::now();
                    push(&agent, &url, &token, body, CHANGES_PER_DEVICE);
                    latencies.push(started.elapsed());
                    barrier.wait();
                }
                latencies
            })
        })
        .collect();
    let mut round_flushes = Vec::new();
    let mut round_walls = Vec::new();
    for _ in 0..BURST_ROUNDS {
        // Let every thread settle at the barrier (warm-ups done) before the release.
        let before = server.flushes();
        barrier.wait();
        let started = Instant::now();
        barrier.wait();
        round_walls.push(started.elapsed());
        round_flushes.push(server.flushes() - before);
    }
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("device thread"))
        .collect();
    latencies.sort();
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    let max = *latencies.last().expect("samples");
    let ratio_to = |d: Duration| format!("{:.1}x", d.as_secs_f64() / alone.as_secs_f64());
    let label = format!(
        "{DEVICES} devices x {CHANGES_PER_DEVICE} changes, {BURST_ROUNDS} rounds ({} pushes)",
        latencies.len()
    );
    for (name, value, goal) in [("p50", p50, ""), ("p99", p99, "< 20 ms"), ("max", max, "")] {
        rows.push(Row {
            bench: "2 burst",
            what: format!("{name} ack latency, {label}"),
            value: ms(value),
            baseline: ms(alone),
            ratio: ratio_to(value),
            goal,
        });
    }
    rows.push(Row {
        bench: "2 burst",
        what: "one push of 10 alone (p50) / raw sled 10-entry batch+flush (p50)".into(),
        value: ms(alone),
        baseline: ms(raw_flush),
        ratio: format!("{:.1}x", alone.as_secs_f64() / raw_flush.as_secs_f64()),
        goal: "baseline",
    });
    rows.push(Row {
        bench: "2 burst",
        what: format!("group-commit flushes per round of {DEVICES} pushes"),
        value: format!("{round_flushes:?}"),
        baseline: format!("{DEVICES}"),
        ratio: format!(
            "{:.3}",
            round_flushes.iter().sum::<u64>() as f64 / (DEVICES * BURST_ROUNDS) as f64
        ),
        goal: "<< 1",
    });
    let wall_sum: Duration = round_walls.iter().sum();
    rows.push(Row {
        bench: "2 burst",
        what: "round wall time (all 200 acknowledged), mean".into(),
        value: ms(wall_sum / BURST_ROUNDS as u32),
        baseline: ms(alone * DEVICES as u32),
        ratio: format!(
            "{:.0} changes/s",
            (DEVICES * CHANGES_PER_DEVICE * BURST_ROUNDS) as f64 / wall_sum.as_secs_f64()
        ),
        goal: "",
    });
}

// ---------------------------------------------------------------------------------------
// 3. Pull of 100k changes.

fn bench_pull(server: &BenchServer, clinician: &(String, String), rows: &mut Vec<Row>) {
    let (_, token) = server.patient(clinician);
    let device = "pull-src";
    let entries = diary(device, PULL_CHANGES, 99);
    let agent = agent();
    let push_url = server.url("/v1/sync/push");
    for chunk in entries.chunks(BATCH) {
        push(
            &agent,
            &push_url,
            &token,
            &push_body(device, chunk),
            chunk.len(),
        );
    }

    // Baseline: the same values in sled in sequence order, scanned.
    let raw_dir = tempfile::tempdir().expect("temp");
    let db = fresh_sled(raw_dir.path());
    for (b, chunk) in entries.chunks(BATCH).enumerate() {
        let mut batch = sled::Batch::default();
        for (i, e) in chunk.iter().enumerate() {
            let seq = (b * BATCH + i) as u64;
            batch.insert(&seq.to_be_bytes(), serde_json::to_vec(e).expect("json"));
        }
        db.apply_batch(batch).expect("batch");
    }
    db.flush().expect("flush");
    let started = Instant::now();
    let mut scanned = (0usize, 0usize);
    for value in db.iter().values() {
        scanned.0 += 1;
        scanned.1 += value.expect("value").len();
    }
    let raw = started.elapsed();
    assert_eq!(scanned.0, PULL_CHANGES);
    let started = Instant::now();
    let mut decoded = 0usize;
    for value in db.iter().values() {
        let entry: Entry = serde_json::from_slice(&value.expect("value")).expect("entry");
        decoded += usize::from(!entry.deleted);
    }
    let raw_decode = started.elapsed();
    assert_eq!(decoded, PULL_CHANGES);
    drop(db);

    let flushes_before = server.flushes();
    let mut pulled = 0usize;
    let mut pages = 0usize;
    let mut parse = Duration::ZERO;
    let mut cursor: Option<String> = None;
    let started = Instant::now();
    loop {
        let url = match &cursor {
            Some(c) => server.url(&format!("/v1/sync/pull?since={c}&limit={PULL_LIMIT}")),
            None => server.url(&format!("/v1/sync/pull?limit={PULL_LIMIT}")),
        };
        let response = agent
            .get(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("pull: {e}"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("body");
        let parsing = Instant::now();
        let page: PullResponse = serde_json::from_slice(&bytes).expect("pull answer");
        parse += parsing.elapsed();
        pulled += page.changes.len();
        pages += 1;
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    let http = started.elapsed();
    let flushes = server.flushes() - flushes_before;
    assert_eq!(pulled, PULL_CHANGES, "pulled every change once");

    let raw_rate = rate(PULL_CHANGES, raw);
    rows.push(Row {
        bench: "3 pull",
        what: format!(
            "raw sled scan of the same {PULL_CHANGES} JSON values ({:.0} B each)",
            scanned.1 as f64 / scanned.0 as f64
        ),
        value: per_s(raw_rate),
        baseline: "-".into(),
        ratio: "1.00".into(),
        goal: "baseline",
    });
    rows.push(Row {
        bench: "3 pull",
        what: "raw sled scan + serde decode to Entry".into(),
        value: per_s(rate(PULL_CHANGES, raw_decode)),
        baseline: per_s(raw_rate),
        ratio: format!("{:.3}", raw.as_secs_f64() / raw_decode.as_secs_f64()),
        goal: "",
    });
    rows.push(Row {
        bench: "3 pull",
        what: format!("HTTP pull limit={PULL_LIMIT}: {pages} pages, {flushes} flushes"),
        value: per_s(rate(PULL_CHANGES, http)),
        baseline: per_s(raw_rate),
        ratio: format!("{:.3}", raw.as_secs_f64() / http.as_secs_f64()),
        goal: "",
    });
    rows.push(Row {
        bench: "3 pull",
        what: "  of which client JSON parse / server+wire, per page".into(),
        value: ms(parse / pages as u32),
        baseline: ms((http - parse) / pages as u32),
        ratio: format!(
            "{:.0}% parse",
            100.0 * parse.as_secs_f64() / http.as_secs_f64()
        ),
        goal: "",
    });
}

// ---------------------------------------------------------------------------------------
// 4. The client path end to end.

fn bench_client(server: &BenchServer, clinician: &(String, String), rows: &mut Vec<Row>) {
    let (username, _) = server.patient(clinician);
    let dir = tempfile::tempdir().expect("temp");
    let device = "client-phone";
    let config = StoreConfig::default().with_device_id(DeviceId::new(device).expect("id"));
    let store = DeviceStore::open(dir.path().join("diary"), config).expect("device store");
    let recording = Instant::now();
    for entry in diary(device, CLIENT_ENTRIES, 4242) {
        store
            .record(entry.occurred_at, entry.body.expect("live"))
            .expect("record");
    }
    let record = recording.elapsed();
    let session = Session::new(&server.base_url, Arc::new(UreqTransport::default()));
    session
        .login(&username, TEST_PASSWORD, Some(device))
        .expect("login");
    let started = Instant::now();
    let report = taperlog_core::sync::sync(
        &store,
        &session,
        &SyncOptions {
            push_batch: BATCH,
            pull_limit: PULL_LIMIT,
        },
    )
    .expect("sync");
    let took = started.elapsed();
    assert_eq!(report.pushed, CLIENT_ENTRIES);
    assert_eq!(store.pending_count(), 0);

    // Baseline: the same number of entries pushed as raw prepared bodies on one connection.
    let (_, token) = server.patient(clinician);
    let entries = diary("client-raw", CLIENT_ENTRIES, 4243);
    let bodies: Vec<Vec<u8>> = entries
        .chunks(BATCH)
        .map(|c| push_body("client-raw", c))
        .collect();
    let agent = agent();
    let url = server.url("/v1/sync/push");
    let started = Instant::now();
    for (chunk, body) in entries.chunks(BATCH).zip(&bodies) {
        push(&agent, &url, &token, body, chunk.len());
    }
    let raw_push = started.elapsed();

    rows.push(Row {
        bench: "4 client",
        what: format!("DeviceStore({CLIENT_ENTRIES}) sync(): push + pull back"),
        value: per_s(rate(CLIENT_ENTRIES, took)),
        baseline: per_s(rate(CLIENT_ENTRIES, raw_push)),
        ratio: format!("{:.2}", raw_push.as_secs_f64() / took.as_secs_f64()),
        goal: "",
    });
    rows.push(Row {
        bench: "4 client",
        what: "  (recording the 2,000 entries, one flush each, untimed above)".into(),
        value: per_s(rate(CLIENT_ENTRIES, record)),
        baseline: "".into(),
        ratio: "".into(),
        goal: "",
    });
}

fn print(rows: &[Row], total: Duration) {
    let widths = rows.iter().fold([5, 4, 5, 8, 5, 4], |w, r| {
        [
            w[0].max(r.bench.len()),
            w[1].max(r.what.chars().count()),
            w[2].max(r.value.len()),
            w[3].max(r.baseline.len()),
            w[4].max(r.ratio.len()),
            w[5].max(r.goal.len()),
        ]
    });
    let line = |c: [&str; 6]| {
        println!(
            "| {:<w0$} | {:<w1$} | {:>w2$} | {:>w3$} | {:>w4$} | {:<w5$} |",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5]
        );
    };
    println!();
    line(["bench", "what", "value", "baseline", "ratio", "goal"]);
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line([
        &dashes[0], &dashes[1], &dashes[2], &dashes[3], &dashes[4], &dashes[5],
    ]);
    for r in rows {
        line([r.bench, &r.what, &r.value, &r.baseline, &r.ratio, r.goal]);
    }
    println!("\ntotal bench time {:.1} s", total.as_secs_f64());
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let started = Instant::now();
    let server = BenchServer::start();
    let clinician = server.clinician();
    let mut rows = Vec::new();
    eprintln!("1/4 push ingest ...");
    bench_ingest(&server, &clinician, &mut rows);
    eprintln!("2/4 {DEVICES} devices at once ...");
    bench_burst(&server, &clinician, &mut rows);
    eprintln!("3/4 pull of {PULL_CHANGES} ...");
    bench_pull(&server, &clinician, &mut rows);
    eprintln!("4/4 client sync of {CLIENT_ENTRIES} ...");
    bench_client(&server, &clinician, &mut rows);
    print(&rows, started.elapsed());
}
