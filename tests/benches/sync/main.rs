//! Sync benchmarks of issue 4, against a real server on `127.0.0.1:0` with real HTTP.
//!
//! Run with `cargo bench -p taperlog-tests --bench sync`. Every figure is set against a
//! baseline measured in the same run on the same disk:
//!
//! 1. Push ingest of a realistic diary in batches of 500 (`POST /v1/sync/push`) against a
//!    raw sled batch insert + flush of the same entries' JSON bytes; plus the server store
//!    alone (`ServerStore::apply_changes` + flush, no HTTP) to show where the time goes.
//!    1b. The same with 4 phones pushing at once, against raw sled written by 4 threads at
//!    once.
//! 2. 200 devices (200 patients) each pushing 10 changes at once: acknowledgement latency
//!    and the flushes group commit performed, against one push alone and one raw flush.
//! 3. Pull of 100k changes with `limit=1000` against a raw sled scan of the same values.
//! 4. The client path: a `DeviceStore` with 2,000 entries running `sync()`.
//!
//! Set `TAPERLOG_BENCH=ingest,burst,pull,client` to run some parts only.
//!
//! The server is started here rather than through `TestServer` because the flush counter
//! lives in its `AppState` (`state.sync.group_commit()`), which `TestServer` does not expose.

// The allocator of the server binary, so that the in-process server runs as it would there
// (the raw sled baselines run with it too).
#[global_allocator]
static ALLOCATOR: taperlog_server::ServerAllocator = taperlog_server::ServerAllocator;

mod burst;
mod client;
mod diary;
mod ingest;
mod ingest_at_once;
mod phones;
mod pull;
mod report;
mod server;

use std::time::Instant;

use taperlog_server::settings::Argon2Settings;

use server::BenchServer;

/// Changes per push, as the client engine sends them.
pub(crate) const BATCH: usize = 500;
/// Patients whose diaries make up the ingest run.
pub(crate) const INGEST_PATIENTS: usize = 8;
/// Interleaved rounds of the ingest benchmark.
pub(crate) const INGEST_ROUNDS: usize = 3;
/// Entries per ingest patient (about a year of diary each).
pub(crate) const INGEST_PER_PATIENT: usize = 5_000;
/// Devices pushing at once.
pub(crate) const DEVICES: usize = 200;
/// Changes in each of their pushes.
pub(crate) const CHANGES_PER_DEVICE: usize = 10;
/// Rounds of the 200-device burst (more samples for the percentiles).
pub(crate) const BURST_ROUNDS: usize = 10;
/// Changes pulled in the pull benchmark.
pub(crate) const PULL_CHANGES: usize = 100_000;
/// Page size of the pull.
pub(crate) const PULL_LIMIT: usize = 1_000;
/// Entries in the device of the client benchmark.
pub(crate) const CLIENT_ENTRIES: usize = 2_000;

/// Password hashing is not measured here: cheap settings keep 200 enrolments quick.
pub(crate) const CHEAP_ARGON2: Argon2Settings = Argon2Settings {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// The parts to run, from `TAPERLOG_BENCH` (comma-separated; all when unset), because
/// `cargo bench` passes its own arguments.
fn selected(part: &str) -> bool {
    std::env::var("TAPERLOG_BENCH")
        .map(|parts| parts.split(',').any(|p| p.trim() == part))
        .unwrap_or(true)
}

fn main() {
    let started = Instant::now();
    let server = BenchServer::start();
    let clinician = server.clinician();
    let mut rows = Vec::new();
    if selected("ingest") {
        eprintln!("push ingest ...");
        let raw_rate = ingest::bench_ingest(&server, &clinician, &mut rows);
        eprintln!(
            "push ingest, {} phones at once ...",
            ingest_at_once::AT_ONCE
        );
        ingest_at_once::bench_ingest_at_once(&server, &clinician, raw_rate, &mut rows);
    }
    if selected("burst") {
        eprintln!("{DEVICES} devices at once ...");
        burst::bench_burst(&server, &clinician, &mut rows);
    }
    if selected("pull") {
        eprintln!("pull of {PULL_CHANGES} ...");
        pull::bench_pull(&server, &clinician, &mut rows);
    }
    if selected("client") {
        eprintln!("client sync of {CLIENT_ENTRIES} ...");
        client::bench_client(&server, &clinician, &mut rows);
    }
    report::print(&rows, started.elapsed());
}
