//! 1. Push ingest.

use std::time::{Duration, Instant};

use taperlog_core::clinical::DEFAULT_MME_TABLE;
use taperlog_core::model::{Entry, to_compact};
use taperlog_server::ServerStore;
use taperlog_server::sync::read_push;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::diary::{diary, push_body};
use crate::report::{Row, fresh_sled, ms, per_s, rate};
use crate::server::{BenchServer, agent, push};
use crate::{BATCH, INGEST_PATIENTS, INGEST_PER_PATIENT, INGEST_ROUNDS};

/// The times of one round, every part over the same entries.
struct Round {
    total: usize,
    body_bytes: usize,
    raw: Duration,
    /// The same baseline with each entry in the compact form the store keeps it in.
    raw_compact: Duration,
    direct: Duration,
    parse: Duration,
    http: Duration,
    pushes: usize,
    flushes: u64,
}

impl Round {
    fn ratio(&self, part: Duration) -> f64 {
        self.raw.as_secs_f64() / part.as_secs_f64()
    }
}

/// One round: the baseline, the store alone, the request reading and HTTP, one after the
/// other over the same diaries (new patients each round).
fn ingest_round(server: &BenchServer, clinician: &(String, String), round: usize) -> Round {
    let patients: Vec<(String, String)> = (0..INGEST_PATIENTS)
        .map(|_| server.patient(clinician))
        .collect();
    // Patients' batches interleaved, as pushes from many phones would arrive.
    let device = |p: usize| format!("ingest-{round}-{p}");
    let diaries: Vec<Vec<Entry>> = (0..INGEST_PATIENTS)
        .map(|p| {
            diary(
                &device(p),
                INGEST_PER_PATIENT,
                0x5eed + (round * 100 + p) as u64,
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
        .map(|(p, b)| push_body(&device(*p), b))
        .collect();
    let body_bytes: usize = bodies.iter().map(Vec::len).sum();
    let patient_ids: Vec<Uuid> = (0..INGEST_PATIENTS).map(|_| Uuid::new_v4()).collect();

    // Baseline: the entries' JSON bytes, a sled batch per push, flushed like an acknowledgement.
    let raw_batches = |encode: fn(&Entry) -> Vec<u8>| -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        batches
            .iter()
            .map(|(p, entries)| {
                entries
                    .iter()
                    .map(|entry| {
                        let mut key = patient_ids[*p].as_bytes().to_vec();
                        key.extend_from_slice(entry.id.as_bytes());
                        (key, encode(entry))
                    })
                    .collect()
            })
            .collect()
    };
    let raw = raw_insert(raw_batches(|entry| {
        serde_json::to_vec(entry).expect("json")
    }));
    // The store keeps entries compact (about half the JSON's bytes): the same baseline with
    // those bytes, so that the smaller records are not counted as the store's speed.
    let raw_compact = raw_insert(raw_batches(|entry| {
        let mut bytes = Vec::new();
        to_compact(entry, &mut bytes).expect("compact");
        bytes
    }));

    // The server's store alone: change log, summaries, one batch and a flush per push.
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

    // The request read and validated by the server's own function, without HTTP or store.
    let started = Instant::now();
    let mut parsed = 0usize;
    for body in &bodies {
        let push = read_push(body, now).expect("push body");
        assert!(push.rejected.is_empty());
        parsed += push.valid.len();
    }
    let parse = started.elapsed();
    assert_eq!(parsed, total);

    // Through HTTP, one connection, one push after another.
    let agent = agent();
    let url = server.url("/v1/sync/push");
    let flushes_before = server.flushes();
    let started = Instant::now();
    for ((p, entries), body) in batches.iter().zip(&bodies) {
        push(&agent, &url, &patients[*p].1, body, entries.len());
    }
    let http = started.elapsed();
    Round {
        total,
        body_bytes,
        raw,
        raw_compact,
        direct,
        parse,
        http,
        pushes: batches.len(),
        flushes: server.flushes() - flushes_before,
    }
}

/// Raw sled: one batch per push, flushed like an acknowledgement; returns the time taken.
fn raw_insert(batches: Vec<Vec<(Vec<u8>, Vec<u8>)>>) -> Duration {
    let dir = tempfile::tempdir().expect("temp");
    let db = fresh_sled(dir.path());
    let started = Instant::now();
    for pairs in batches {
        let mut batch = sled::Batch::default();
        for (key, value) in pairs {
            batch.insert(key, value);
        }
        db.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
    started.elapsed()
}

/// The median of the rounds' ratios of `part` to the baseline, and every round's ratio.
fn ratios(rounds: &[Round], part: impl Fn(&Round) -> Duration) -> String {
    let mut each: Vec<f64> = rounds.iter().map(|r| r.ratio(part(r))).collect();
    let listed = each
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(" ");
    each.sort_by(f64::total_cmp);
    format!("{:.2} ({listed})", each[each.len() / 2])
}

/// Push ingest: rounds of raw sled, the store alone, request reading and HTTP, interleaved
/// so that a noisy moment of the machine hits one round, not one side of a ratio. Returns
/// the raw baseline's rate.
pub(crate) fn bench_ingest(
    server: &BenchServer,
    clinician: &(String, String),
    rows: &mut Vec<Row>,
) -> f64 {
    let rounds: Vec<Round> = (0..INGEST_ROUNDS)
        .map(|round| ingest_round(server, clinician, round))
        .collect();
    let sum = |part: fn(&Round) -> Duration| rounds.iter().map(part).sum::<Duration>();
    let total: usize = rounds.iter().map(|r| r.total).sum();
    let raw_rate = rate(total, sum(|r| r.raw));
    let per_entry = rounds.iter().map(|r| r.body_bytes).sum::<usize>() as f64 / total as f64;
    rows.push(Row {
        bench: "1 ingest",
        what: format!(
            "raw sled batch+flush, {INGEST_ROUNDS} rounds x {} entries ({per_entry:.0} B JSON each)",
            rounds[0].total
        ),
        value: per_s(raw_rate),
        baseline: "-".into(),
        ratio: "1.00".into(),
        goal: "baseline",
    });
    rows.push(Row {
        bench: "1 ingest",
        what: "ServerStore::apply_changes+flush (no HTTP), median (rounds)".into(),
        value: per_s(rate(total, sum(|r| r.direct))),
        baseline: per_s(raw_rate),
        ratio: ratios(&rounds, |r| r.direct),
        goal: "",
    });
    rows.push(Row {
        bench: "1 ingest",
        what: "sync::read_push: JSON read + validated (no HTTP, no store)".into(),
        value: per_s(rate(total, sum(|r| r.parse))),
        baseline: per_s(raw_rate),
        ratio: ratios(&rounds, |r| r.parse),
        goal: "",
    });
    let pushes: usize = rounds.iter().map(|r| r.pushes).sum();
    let flushes: u64 = rounds.iter().map(|r| r.flushes).sum();
    rows.push(Row {
        bench: "1 ingest",
        what: format!("HTTP push x{BATCH}, {pushes} pushes, {flushes} flushes, median (rounds)"),
        value: per_s(rate(total, sum(|r| r.http))),
        baseline: per_s(raw_rate),
        ratio: ratios(&rounds, |r| r.http),
        goal: ">= 0.40",
    });
    let raw_compact_rate = rate(total, sum(|r| r.raw_compact));
    let compact_ratios = {
        let compact_rounds: Vec<Round> = rounds
            .iter()
            .map(|r| Round {
                raw: r.raw_compact,
                ..*r
            })
            .collect();
        ratios(&compact_rounds, |r| r.http)
    };
    rows.push(Row {
        bench: "1 ingest",
        what: "the same HTTP push against raw sled of the entries' compact bytes".into(),
        value: per_s(rate(total, sum(|r| r.http))),
        baseline: per_s(raw_compact_rate),
        ratio: compact_ratios,
        goal: "",
    });
    rows.push(Row {
        bench: "1 ingest",
        what: "HTTP push, mean time per push of 500 (baseline: raw)".into(),
        value: ms(sum(|r| r.http) / pushes as u32),
        baseline: ms(sum(|r| r.raw) / pushes as u32),
        ratio: "".into(),
        goal: "",
    });
    raw_rate
}
