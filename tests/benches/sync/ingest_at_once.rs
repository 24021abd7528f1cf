//! 1b. Push ingest with several phones pushing at once, against raw sled written by as many
//! threads at once: the server's throughput when its HTTP workers, diary writer and group
//! commit can overlap, measured against the same concurrency on the raw side.

use std::time::{Duration, Instant};

use taperlog_core::model::Entry;
use uuid::Uuid;

use crate::diary::{diary, push_body};
use crate::report::{Row, fresh_sled, per_s, rate};
use crate::server::{BenchServer, agent, push};
use crate::{BATCH, INGEST_PATIENTS, INGEST_PER_PATIENT, INGEST_ROUNDS};

/// Phones (and raw writer threads) pushing at once; each pushes its patients' batches in
/// order, one push after the other.
pub(crate) const AT_ONCE: usize = 4;

/// One push's entries as raw sled pairs: patient ‖ entry id → the entry's JSON.
type RawBatch = Vec<(Vec<u8>, Vec<u8>)>;

/// The times of one round over the same entries.
struct Round {
    total: usize,
    raw: Duration,
    http: Duration,
    flushes: u64,
    groups: u64,
}

/// Runs `work(lane)` on `AT_ONCE` threads at once; the wall time until all are done.
fn at_once(work: impl Fn(usize) + Sync) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for lane in 0..AT_ONCE {
            let work = &work;
            scope.spawn(move || work(lane));
        }
    });
    started.elapsed()
}

fn ingest_round(server: &BenchServer, clinician: &(String, String), round: usize) -> Round {
    let patients: Vec<(String, String)> = (0..INGEST_PATIENTS)
        .map(|_| server.patient(clinician))
        .collect();
    let device = |p: usize| format!("at-once-{round}-{p}");
    let diaries: Vec<Vec<Entry>> = (0..INGEST_PATIENTS)
        .map(|p| {
            diary(
                &device(p),
                INGEST_PER_PATIENT,
                0xa7 + (round * 100 + p) as u64,
            )
        })
        .collect();
    let total: usize = diaries.iter().map(Vec::len).sum();
    // Each lane's patients, and each patient's batches in order.
    let lane_of = |p: usize| p % AT_ONCE;
    let bodies: Vec<Vec<Vec<u8>>> = diaries
        .iter()
        .enumerate()
        .map(|(p, entries)| {
            entries
                .chunks(BATCH)
                .map(|c| push_body(&device(p), c))
                .collect()
        })
        .collect();

    let raw_values: Vec<Vec<RawBatch>> = diaries
        .iter()
        .map(|entries| {
            let patient = Uuid::new_v4();
            entries
                .chunks(BATCH)
                .map(|chunk| {
                    chunk
                        .iter()
                        .map(|entry| {
                            let mut key = patient.as_bytes().to_vec();
                            key.extend_from_slice(entry.id.as_bytes());
                            (key, serde_json::to_vec(entry).expect("json"))
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let raw_dir = tempfile::tempdir().expect("temp");
    let db = fresh_sled(raw_dir.path());
    let raw = at_once(|lane| {
        for (_, batches) in raw_values
            .iter()
            .enumerate()
            .filter(|(p, _)| lane_of(*p) == lane)
        {
            for pairs in batches {
                let mut batch = sled::Batch::default();
                for (key, value) in pairs {
                    batch.insert(key.as_slice(), value.as_slice());
                }
                db.apply_batch(batch).expect("batch");
                db.flush().expect("flush");
            }
        }
    });
    drop(db);

    let url = server.url("/v1/sync/push");
    let (flushes, groups) = (server.flushes(), server.write_groups());
    let http = at_once(|lane| {
        let agent = agent();
        for (p, patient_bodies) in bodies
            .iter()
            .enumerate()
            .filter(|(p, _)| lane_of(*p) == lane)
        {
            for (body, chunk) in patient_bodies.iter().zip(diaries[p].chunks(BATCH)) {
                push(&agent, &url, &patients[p].1, body, chunk.len());
            }
        }
    });
    Round {
        total,
        raw,
        http,
        flushes: server.flushes() - flushes,
        groups: server.write_groups() - groups,
    }
}

/// Ingest with [`AT_ONCE`] phones at once, in interleaved rounds like the sequential one;
/// also set against `sequential_raw_rate`, the one-thread raw baseline (sled's batches and
/// flushes from several threads at once are slower than from one).
pub(crate) fn bench_ingest_at_once(
    server: &BenchServer,
    clinician: &(String, String),
    sequential_raw_rate: f64,
    rows: &mut Vec<Row>,
) {
    let rounds: Vec<Round> = (0..INGEST_ROUNDS)
        .map(|round| ingest_round(server, clinician, round))
        .collect();
    let total: usize = rounds.iter().map(|r| r.total).sum();
    let raw: Duration = rounds.iter().map(|r| r.raw).sum();
    let http: Duration = rounds.iter().map(|r| r.http).sum();
    let mut each: Vec<f64> = rounds
        .iter()
        .map(|r| r.raw.as_secs_f64() / r.http.as_secs_f64())
        .collect();
    let listed = each.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>();
    each.sort_by(f64::total_cmp);
    let pushes = total.div_ceil(BATCH);
    rows.push(Row {
        bench: "1b ingest",
        what: format!("raw sled batch+flush from {AT_ONCE} threads at once"),
        value: per_s(rate(total, raw)),
        baseline: "-".into(),
        ratio: "1.00".into(),
        goal: "baseline",
    });
    rows.push(Row {
        bench: "1b ingest",
        what: format!(
            "HTTP push x{BATCH} from {AT_ONCE} phones at once, {pushes} pushes, {} flushes, {} write groups, median (rounds)",
            rounds.iter().map(|r| r.flushes).sum::<u64>(),
            rounds.iter().map(|r| r.groups).sum::<u64>(),
        ),
        value: per_s(rate(total, http)),
        baseline: per_s(rate(total, raw)),
        ratio: format!("{:.2} ({})", each[each.len() / 2], listed.join(" ")),
        goal: ">= 0.40",
    });
    rows.push(Row {
        bench: "1b ingest",
        what: "the same against the one-thread raw baseline of 1".into(),
        value: per_s(rate(total, http)),
        baseline: per_s(sequential_raw_rate),
        ratio: format!("{:.2}", rate(total, http) / sequential_raw_rate),
        goal: "",
    });
}
