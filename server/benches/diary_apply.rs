//! The diary writer's work for one burst of pushes, without HTTP: `ServerStore::apply_pushes`
//! of 200 pushes × 10 new changes (one group, as the writer thread takes them when 200
//! devices push at once) against one raw sled `apply_batch` of the same entries' JSON, on
//! stores that already hold a month of each patient's diary. Flushes are left out of the
//! timing on both sides (group commit flushes on another thread) but done after each write.
//!
//! Run with `cargo bench -p taperlog-server --bench diary_apply`. The run ends with
//! interleaved A/B rounds that print the ratio, because this machine's speed drifts.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use taperlog_core::clinical::DEFAULT_MME_TABLE;
use taperlog_core::model::{
    Body, DeviceId, DoseBody, Entry, HybridClock, PainBody, PegAnswers, Route, Unit,
};
use taperlog_server::ServerStore;
use taperlog_server::store::PushToApply;
use time::{Duration as Span, OffsetDateTime};
use uuid::Uuid;

// The allocator of the server binary (both sides run with it).
#[global_allocator]
static ALLOCATOR: taperlog_server::ServerAllocator = taperlog_server::ServerAllocator;

/// Devices pushing at once, each its own patient.
const PUSHES: usize = 200;
/// Changes in each push.
const CHANGES: usize = 10;
/// Days of diary each patient already has.
const HISTORY_DAYS: usize = 30;

/// One patient's device: its clock and the next diary moment.
struct Device {
    patient: Uuid,
    clock: HybridClock,
    at: OffsetDateTime,
    millis: u64,
}

impl Device {
    fn new(n: usize) -> Device {
        let start = OffsetDateTime::now_utc() - Span::days(HISTORY_DAYS as i64 + 400);
        Device {
            patient: Uuid::now_v7(),
            clock: HybridClock::new(DeviceId::new(format!("phone-{n}")).expect("device id")),
            at: start,
            millis: (start.unix_timestamp() * 1000) as u64,
        }
    }

    /// The device's next `count` entries, about ten a day, as a tapering patient logs them.
    fn next(&mut self, count: usize) -> Vec<Entry> {
        (0..count)
            .map(|i| {
                self.at += Span::minutes(140);
                self.millis += 1000;
                let body = match i % 3 {
                    0 => Body::Dose(DoseBody {
                        medication: "oxycodone".into(),
                        name: None,
                        amount: 10.0,
                        unit: Unit::Mg,
                        route: Route::Oral,
                        duration_h: None,
                        prn: Some(i % 2 == 0),
                    }),
                    1 => Body::Pain(PainBody {
                        nrs: 5,
                        peg: Some(PegAnswers {
                            pain: 5,
                            enjoyment: 4,
                            activity: 6,
                        }),
                        note: Some("worse after sitting for long".into()),
                    }),
                    _ => Body::Dose(DoseBody {
                        medication: "morphine".into(),
                        name: None,
                        amount: 15.0,
                        unit: Unit::Mg,
                        route: Route::Oral,
                        duration_h: None,
                        prn: None,
                    }),
                };
                Entry::live(Uuid::now_v7(), self.at, body, self.clock.now(self.millis))
            })
            .collect()
    }
}

/// A server store and a raw sled tree, both holding the devices' history.
struct Stores {
    _dirs: [tempfile::TempDir; 2],
    store: ServerStore,
    raw: sled::Db,
    devices: Vec<Device>,
}

fn stores() -> Stores {
    let dirs = [
        tempfile::tempdir().expect("temp"),
        tempfile::tempdir().expect("temp"),
    ];
    let store = ServerStore::open(dirs[0].path()).expect("store");
    let raw = sled::open(dirs[1].path()).expect("sled");
    let mut devices: Vec<Device> = (0..PUSHES).map(Device::new).collect();
    let now = OffsetDateTime::now_utc();
    for device in &mut devices {
        let history = device.next(HISTORY_DAYS * 10);
        store
            .apply_changes(device.patient, &history, DEFAULT_MME_TABLE, now)
            .expect("history");
        raw.apply_batch(raw_batch(device.patient, &history))
            .expect("history");
    }
    Stores {
        _dirs: dirs,
        store,
        raw,
        devices,
    }
}

fn raw_batch(patient: Uuid, entries: &[Entry]) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for entry in entries {
        let mut key = patient.as_bytes().to_vec();
        key.extend_from_slice(entry.id.as_bytes());
        batch.insert(key, serde_json::to_vec(entry).expect("json"));
    }
    batch
}

/// Every device's next push.
fn next_pushes(devices: &mut [Device]) -> Vec<(Uuid, Vec<Entry>)> {
    devices
        .iter_mut()
        .map(|d| (d.patient, d.next(CHANGES)))
        .collect()
}

fn time_apply(stores: &mut Stores) -> Duration {
    let pushes = next_pushes(&mut stores.devices);
    let now = OffsetDateTime::now_utc();
    let group: Vec<PushToApply<'_>> = pushes
        .iter()
        .map(|(patient, changes)| PushToApply {
            patient: *patient,
            changes,
            received_at: now,
        })
        .collect();
    let started = Instant::now();
    let outcomes = stores
        .store
        .apply_pushes(&group, DEFAULT_MME_TABLE)
        .expect("apply");
    let elapsed = started.elapsed();
    assert!(outcomes.iter().all(Result::is_ok));
    black_box(outcomes);
    // Untimed, as group commit does it on another thread; and so that neither side's writes
    // are left for a background flush inside the other side's timing.
    stores.store.flush_blocking().expect("flush");
    elapsed
}

/// The raw side's entries are serialised before the clock starts: it measures sled alone.
fn time_raw(stores: &mut Stores) -> Duration {
    let pushes = next_pushes(&mut stores.devices);
    let mut batch = sled::Batch::default();
    for (patient, entries) in &pushes {
        for entry in entries {
            let mut key = patient.as_bytes().to_vec();
            key.extend_from_slice(entry.id.as_bytes());
            batch.insert(key, serde_json::to_vec(entry).expect("json"));
        }
    }
    let started = Instant::now();
    stores.raw.apply_batch(batch).expect("batch");
    let elapsed = started.elapsed();
    stores.raw.flush().expect("flush");
    elapsed
}

fn bench(c: &mut Criterion) {
    let mut stores = stores();
    let mut group = c.benchmark_group("burst_group");
    // Each iteration adds a day to every patient's diary: a short measurement keeps the
    // stores near the month of history they start with.
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("raw_sled_apply_batch_2000", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| time_raw(&mut stores)).sum())
    });
    group.bench_function("apply_pushes_200x10", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| time_apply(&mut stores)).sum())
    });
    group.finish();

    // Interleaved rounds: each ratio compares neighbours in time.
    let mut ratios: Vec<f64> = (0..15)
        .map(|_| {
            let raw: Duration = (0..3).map(|_| time_raw(&mut stores)).sum();
            let apply: Duration = (0..3).map(|_| time_apply(&mut stores)).sum();
            apply.as_secs_f64() / raw.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "apply_pushes (200 pushes x 10, entries encoded inside) / raw sled batch of the same 2000 entries (JSON encoded before the clock): median {:.2}x (min {:.2}x, max {:.2}x, 15 interleaved rounds)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
