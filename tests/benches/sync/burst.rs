//! 2. 200 devices at once.

use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::diary::{diary, push_body};
use crate::report::{Row, fresh_sled, ms, percentile};
use crate::server::{BenchServer, agent, push};
use crate::{BURST_ROUNDS, CHANGES_PER_DEVICE, DEVICES};

pub(crate) fn bench_burst(server: &BenchServer, clinician: &(String, String), rows: &mut Vec<Row>) {
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
            // Named, so that a profile tells the phones' CPU from the server's.
            let thread = std::thread::Builder::new().name(format!("phone-{d}"));
            thread
                .spawn(move || {
                    let device = format!("burst-{d}");
                    let entries = diary(&device, (BURST_ROUNDS + 1) * CHANGES_PER_DEVICE, d as u64);
                    let mut chunks = entries.chunks(CHANGES_PER_DEVICE);
                    let agent = agent();
                    // Warm the connection so that the burst measures pushes, not TCP handshakes.
                    let warm = chunks.next().expect("warm-up chunk");
                    push(&agent, &url, &token, &push_body(&device, warm), warm.len());
                    let bodies: Vec<Vec<u8>> = chunks.map(|c| push_body(&device, c)).collect();
                    let mut latencies = Vec::with_capacity(BURST_ROUNDS);
                    // Ready: the CPU times are read once every phone is here.
                    barrier.wait();
                    for body in &bodies {
                        barrier.wait();
                        let started = Instant::now();
                        push(&agent, &url, &token, body, CHANGES_PER_DEVICE);
                        latencies.push(started.elapsed());
                        barrier.wait();
                    }
                    // Stay alive until the CPU times are read.
                    barrier.wait();
                    latencies
                })
                .expect("phone thread")
        })
        .collect();
    let mut round_flushes = Vec::new();
    let mut round_groups = Vec::new();
    let mut round_walls = Vec::new();
    barrier.wait();
    let cpu_before = cpu_by_thread_kind();
    for _ in 0..BURST_ROUNDS {
        // Let every thread settle at the barrier (warm-ups done) before the release.
        let (flushes, groups) = (server.flushes(), server.write_groups());
        barrier.wait();
        let started = Instant::now();
        barrier.wait();
        round_walls.push(started.elapsed());
        round_flushes.push(server.flushes() - flushes);
        round_groups.push(server.write_groups() - groups);
    }
    let cpu_after = cpu_by_thread_kind();
    barrier.wait();
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
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let per_round = |kind: usize| (after[kind] - before[kind]) / BURST_ROUNDS as u32;
        rows.push(Row {
            bench: "2 burst",
            what: "CPU per round: server threads (baseline: the 200 phone threads)".into(),
            value: ms(per_round(SERVER)),
            baseline: ms(per_round(PHONES)),
            ratio: format!(
                "{:.2}",
                per_round(SERVER).as_secs_f64() / per_round(PHONES).as_secs_f64()
            ),
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

/// Index of the server's threads (tokio workers, diary writer, sled's I/O) in
/// [`cpu_by_thread_kind`].
const SERVER: usize = 0;
/// Index of the phone threads.
const PHONES: usize = 1;

/// CPU time used so far by this process's server threads and phone threads, from
/// `/proc/self/task/*/schedstat` (Linux; `None` elsewhere). The phones and the server share
/// the machine's cores, so the split says how much of a round the server itself costs.
fn cpu_by_thread_kind() -> Option<[Duration; 2]> {
    let mut totals = [0u64; 2];
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let kind = if name.starts_with("phone-") {
            PHONES
        } else if ["tokio-rt-worker", "diary-writer", "sled-io", "log flusher"]
            .iter()
            .any(|server| name.starts_with(server))
        {
            SERVER
        } else {
            continue;
        };
        // The first field is the nanoseconds the thread has run on a CPU.
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        totals[kind] += on_cpu;
    }
    Some(totals.map(Duration::from_nanos))
}
