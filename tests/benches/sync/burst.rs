//! 2. 200 devices at once.

use std::time::{Duration, Instant};

use taperlog_core::model::{Entry, to_compact};
use uuid::Uuid;

use crate::diary::{diary, push_body};
use crate::phones::{Phone, Phones, push_request};
use crate::report::{Row, fresh_sled, ms, percentile};
use crate::server::BenchServer;
use crate::{BURST_ROUNDS, CHANGES_PER_DEVICE, DEVICES};

pub(crate) fn bench_burst(server: &BenchServer, clinician: &(String, String), rows: &mut Vec<Row>) {
    let patients: Vec<(String, String)> = (0..DEVICES).map(|_| server.patient(clinician)).collect();
    let addr = server.base_url.trim_start_matches("http://").to_string();
    let phone = |device: &str, token: &str, pushes: usize, seed: u64| {
        let entries = diary(device, pushes * CHANGES_PER_DEVICE, seed);
        Phone {
            requests: entries
                .chunks(CHANGES_PER_DEVICE)
                .map(|c| push_request(&addr, "/v1/sync/push", token, &push_body(device, c)))
                .collect(),
            changes_per_push: CHANGES_PER_DEVICE,
        }
    };

    // Baselines: one device alone (same load generator), and one raw sled flush of ten
    // entries.
    let alone = {
        const PUSHES: usize = 40;
        let phones = Phones::start(
            addr.clone(),
            vec![phone("alone-0", &patients[0].1, PUSHES + 1, 77)],
        );
        let mut times: Vec<Duration> = (0..PUSHES).flat_map(|_| phones.round()).collect();
        times.sort();
        percentile(&times, 50.0)
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

    let raw_round_batch = raw_round_batch();

    // Every phone's pushes prepared: a warm-up (connections open, caches warm) and one per
    // round.
    let prepared: Vec<Phone> = patients
        .iter()
        .enumerate()
        .map(|(d, (_, token))| phone(&format!("burst-{d}"), token, BURST_ROUNDS + 1, d as u64))
        .collect();
    let phones = Phones::start(addr.clone(), prepared);
    let mut round_flushes = Vec::new();
    let mut round_groups = Vec::new();
    let mut round_walls = Vec::new();
    let mut round_batches = Vec::new();
    let mut latencies = Vec::with_capacity(DEVICES * BURST_ROUNDS);
    let cpu_before = cpu_by_thread_kind();
    for _ in 0..BURST_ROUNDS {
        let (flushes, groups) = (server.flushes(), server.write_groups());
        let batch_time = server.batch_time();
        let started = Instant::now();
        latencies.extend(phones.round());
        round_walls.push(started.elapsed());
        round_batches.push(server.batch_time() - batch_time);
        round_flushes.push(server.flushes() - flushes);
        round_groups.push(server.write_groups() - groups);
    }
    let cpu_after = cpu_by_thread_kind();
    drop(phones);
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
    rows.push(Row {
        bench: "2 burst",
        what: format!("diary write groups per round of {DEVICES} pushes"),
        value: format!("{round_groups:?}"),
        baseline: format!("{DEVICES}"),
        ratio: format!(
            "{:.3}",
            round_groups.iter().sum::<u64>() as f64 / (DEVICES * BURST_ROUNDS) as f64
        ),
        goal: "",
    });
    let wall_sum: Duration = round_walls.iter().sum();
    let batch_sum: Duration = round_batches.iter().sum();
    let batch_median = {
        let mut sorted = round_batches.clone();
        sorted.sort();
        percentile(&sorted, 50.0)
    };
    rows.push(Row {
        bench: "2 burst",
        what: "sled apply_batch of the diary groups per round (sled's process-wide write lock: every other read and write waits); baseline: round wall time".into(),
        value: ms(batch_sum / BURST_ROUNDS as u32),
        baseline: ms(wall_sum / BURST_ROUNDS as u32),
        ratio: format!("{:.2}", batch_sum.as_secs_f64() / wall_sum.as_secs_f64()),
        goal: "",
    });
    rows.push(Row {
        bench: "2 burst",
        what: format!(
            "the same, median round / raw sled: one apply_batch of the round's {} entries alone (compact bytes, by patient and id)",
            DEVICES * CHANGES_PER_DEVICE
        ),
        value: ms(batch_median),
        baseline: ms(raw_round_batch),
        ratio: format!(
            "{:.1}x",
            batch_median.as_secs_f64() / raw_round_batch.as_secs_f64()
        ),
        goal: "",
    });
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let per_round = |kinds: &[ThreadKind]| {
            kinds
                .iter()
                .map(|k| after.since(&before, *k))
                .sum::<Duration>()
                / BURST_ROUNDS as u32
        };
        let server = per_round(&[ThreadKind::Http, ThreadKind::Writer, ThreadKind::SledIo]);
        let phones = per_round(&[ThreadKind::Phones]);
        rows.push(Row {
            bench: "2 burst",
            what: format!(
                "CPU per round: server threads (tokio workers and blocking pool, i.e. HTTP, auth, reading pushes and group-commit flushes {} + diary writer {} + sled I/O {}); baseline: the phones' load generator",
                ms(per_round(&[ThreadKind::Http])),
                ms(per_round(&[ThreadKind::Writer])),
                ms(per_round(&[ThreadKind::SledIo])),
            ),
            value: ms(server),
            baseline: ms(phones),
            ratio: if phones.is_zero() {
                "-".into()
            } else {
                format!("{:.2}", server.as_secs_f64() / phones.as_secs_f64())
            },
            goal: "",
        });
    }
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

/// The floor the diary's group batches stand on: sled applying the entries of a whole
/// round (every device's push) as one batch, nothing else, into a store growing round by
/// round as the server's does. The median of the rounds.
fn raw_round_batch() -> Duration {
    let dir = tempfile::tempdir().expect("temp");
    let db = fresh_sled(dir.path());
    let devices: Vec<(Uuid, Vec<Entry>)> = (0..DEVICES)
        .map(|d| {
            let entries = diary(
                &format!("raw-burst-{d}"),
                BURST_ROUNDS * CHANGES_PER_DEVICE,
                1_000 + d as u64,
            );
            (Uuid::new_v4(), entries)
        })
        .collect();
    let mut rounds = Vec::with_capacity(BURST_ROUNDS);
    for round in 0..BURST_ROUNDS {
        let mut batch = sled::Batch::default();
        for (patient, entries) in &devices {
            for entry in &entries[round * CHANGES_PER_DEVICE..(round + 1) * CHANGES_PER_DEVICE] {
                let mut key = patient.as_bytes().to_vec();
                key.extend_from_slice(entry.id.as_bytes());
                let mut value = Vec::new();
                to_compact(entry, &mut value).expect("compact");
                batch.insert(key, value);
            }
        }
        let started = Instant::now();
        db.apply_batch(batch).expect("batch");
        rounds.push(started.elapsed());
        db.flush().expect("flush");
    }
    rounds.sort();
    percentile(&rounds, 50.0)
}

/// Whose a thread is, for the CPU split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadKind {
    /// The server's tokio threads: the workers (HTTP, auth, reading pushes) and the
    /// blocking pool, which tokio names alike (group commit's flushes run there).
    Http,
    /// The diary writer thread.
    Writer,
    /// sled's I/O threads and log flusher.
    SledIo,
    /// The phones' load generator.
    Phones,
}

/// CPU time used so far by each server or phone thread of this process (by thread id),
/// from `/proc/self/task/*/schedstat` (Linux; `None` elsewhere). The phones and the server
/// share the machine's cores, so the split says how much of a round the server itself costs.
struct CpuSnapshot(std::collections::HashMap<String, (ThreadKind, u64)>);

fn cpu_by_thread_kind() -> Option<CpuSnapshot> {
    let mut threads = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let kind = if name.starts_with("phones") {
            ThreadKind::Phones
        } else if name.starts_with("tokio-rt-worker") {
            ThreadKind::Http
        } else if name.starts_with("diary-writer") {
            ThreadKind::Writer
        } else if name.starts_with("sled-io") || name.starts_with("log flusher") {
            ThreadKind::SledIo
        } else {
            continue;
        };
        // The first field is the nanoseconds the thread has run on a CPU.
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let tid = path.file_name().map(|n| n.to_string_lossy().into_owned());
        threads.insert(tid.unwrap_or_default(), (kind, on_cpu));
    }
    Some(CpuSnapshot(threads))
}

impl CpuSnapshot {
    /// CPU used since `before` by threads of `kind` alive now (a sled I/O thread that
    /// ended in between is not counted: a slight undercount of the server).
    fn since(&self, before: &CpuSnapshot, kind: ThreadKind) -> Duration {
        let used: u64 = self
            .0
            .iter()
            .filter(|(_, (k, _))| *k == kind)
            .map(|(tid, (_, now))| now.saturating_sub(before.0.get(tid).map_or(0, |(_, b)| *b)))
            .sum();
        Duration::from_nanos(used)
    }
}
