//! Benchmarks of the device store.
//!
//! - `durable_write`: `DeviceStore::record` (validate, stamp, one transaction over entry,
//!   date index, outbox and clock, flush) against a bare sled `insert` + `flush` of the same
//!   value bytes, in the same run; the run ends with an interleaved A/B measurement that prints
//!   the ratio (goal ≤ 1.5×).
//! - `year`: daily summaries and trends over one year of a patient's diary (~2,000 entries),
//!   through the store and, for comparison, the summary functions alone on entries in memory.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sled::transaction::ConflictableTransactionError;
use taperlog_core::clinical::{DEFAULT_MME_TABLE, SOWS_ITEMS};
use taperlog_core::model::{
    Body, DeviceId, DoseBody, Entry, PainBody, PegAnswers, Route, Stamp, Unit, WithdrawalBody,
};
use taperlog_core::store::{DeviceStore, StoreConfig, VALUE_VERSION};
use taperlog_core::summary::{self, TrendInput};
use time::{Date, OffsetDateTime, UtcOffset};
use uuid::Uuid;

fn dose(medication: &str, mg: f64) -> Body {
    Body::Dose(DoseBody {
        medication: medication.into(),
        name: None,
        amount: mg,
        unit: Unit::Mg,
        route: Route::Oral,
        duration_h: None,
        prn: None,
    })
}

fn patch(mcg_per_hour: f64) -> Body {
    Body::Dose(DoseBody {
        medication: "fentanyl_transdermal".into(),
        name: None,
        amount: mcg_per_hour,
        unit: Unit::McgPerHour,
        route: Route::Transdermal,
        duration_h: Some(72.0),
        prn: None,
    })
}

fn pain(nrs: u8) -> Body {
    Body::Pain(PainBody {
        nrs,
        peg: Some(PegAnswers {
            pain: nrs,
            enjoyment: nrs.saturating_sub(1),
            activity: nrs,
        }),
        note: None,
    })
}

fn withdrawal(level: u8) -> Body {
    let sows: BTreeMap<String, u8> = SOWS_ITEMS
        .iter()
        .enumerate()
        .map(|(i, item)| (item.key.to_string(), (level + i as u8) % 5))
        .collect();
    Body::Withdrawal(WithdrawalBody { sows, note: None })
}

/// One year of a tapering patient: oxycodone three times a day going down, a fentanyl patch
/// every three days for the first half, a pain rating twice a day, SOWS weekly: ~2,000 entries.
fn year_of_entries(first_day: Date) -> Vec<Entry> {
    let offset = UtcOffset::from_hms(1, 0, 0).unwrap();
    let device = DeviceId::new("phone-bench").unwrap();
    let mut entries = Vec::new();
    let mut millis = 1_760_000_000_000u64;
    let mut add = |day: i64, hour: u8, body: Body| {
        millis += 1;
        let date = first_day + time::Duration::days(day);
        let at =
            OffsetDateTime::new_in_offset(date, time::Time::from_hms(hour, 0, 0).unwrap(), offset);
        entries.push(Entry::live(
            Uuid::now_v7(),
            at,
            body,
            Stamp::new(millis, 0, device.clone()),
        ));
    };
    for day in 0..365i64 {
        let mg = (40.0 - day as f64 / 10.0).max(5.0).round();
        for hour in [8, 14, 20] {
            add(day, hour, dose("oxycodone", mg));
        }
        add(day, 9, pain((6 - day / 90) as u8));
        add(day, 21, pain((5 - day / 120) as u8));
        if day < 180 && day % 3 == 0 {
            add(day, 10, patch(12.0));
        }
        if day % 7 == 0 {
            add(day, 12, withdrawal((day / 30) as u8));
        }
    }
    entries
}

fn config() -> StoreConfig {
    StoreConfig::default().with_device_id(DeviceId::new("phone-bench").unwrap())
}

/// The bytes a recorded entry is stored as, to give the bare sled baseline the same payload.
fn stored_bytes(entry: &Entry) -> Vec<u8> {
    let mut value = vec![VALUE_VERSION];
    value.extend(serde_json::to_vec(entry).unwrap());
    value
}

fn open_raw(dir: &std::path::Path) -> sled::Db {
    sled::Config::new()
        .path(dir)
        .cache_capacity(config().cache_capacity_bytes)
        .open()
        .unwrap()
}

fn durable_write(c: &mut Criterion) {
    let store_dir = tempfile::tempdir().unwrap();
    let raw_dir = tempfile::tempdir().unwrap();
    let store = DeviceStore::open(store_dir.path(), config()).unwrap();
    let raw = open_raw(raw_dir.path());
    let at = OffsetDateTime::now_utc();
    let body = dose("oxycodone", 10.0);
    let sample = store.record(at, body.clone()).unwrap();
    let bytes = stored_bytes(&sample);

    let mut group = c.benchmark_group("durable_write");
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("record", |b| {
        b.iter(|| black_box(store.record(at, body.clone()).unwrap()))
    });
    group.bench_function("raw_sled_insert_flush", |b| {
        b.iter(|| {
            raw.insert(Uuid::now_v7().as_bytes(), bytes.as_slice())
                .unwrap();
            black_box(raw.flush().unwrap())
        })
    });
    // What any atomic multi-key write costs on sled 0.34: a transaction, even of one key,
    // seals and writes a batch manifest before the data; `record` cannot go below this.
    group.bench_function("raw_sled_transaction_flush", |b| {
        b.iter(|| {
            let key = Uuid::now_v7();
            raw.transaction(|tx| {
                tx.insert(&key.as_bytes()[..], bytes.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .unwrap();
            black_box(raw.flush().unwrap())
        })
    });
    group.finish();

    // Interleaved, so disk and machine noise hit both sides alike.
    let rounds = 400;
    let (mut record_ns, mut raw_ns, mut tx_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        black_box(store.record(at, body.clone()).unwrap());
        record_ns.push(start.elapsed().as_nanos() as f64);
        let start = Instant::now();
        raw.insert(Uuid::now_v7().as_bytes(), bytes.as_slice())
            .unwrap();
        raw.flush().unwrap();
        raw_ns.push(start.elapsed().as_nanos() as f64);
        let start = Instant::now();
        let key = Uuid::now_v7();
        raw.transaction(|tx| {
            tx.insert(&key.as_bytes()[..], bytes.as_slice())?;
            Ok::<_, ConflictableTransactionError<()>>(())
        })
        .unwrap();
        raw.flush().unwrap();
        tx_ns.push(start.elapsed().as_nanos() as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (record, raw, tx) = (
        median(&mut record_ns),
        median(&mut raw_ns),
        median(&mut tx_ns),
    );
    println!(
        "durable_write A/B ({rounds} interleaved rounds, {} value bytes): medians record {:.1} µs, \
         raw sled insert+flush {:.1} µs, raw one-key transaction+flush {:.1} µs; \
         record/raw {:.2}× (goal ≤ 1.5×), record/transaction {:.2}×, transaction/raw {:.2}×",
        bytes.len(),
        record / 1e3,
        raw / 1e3,
        tx / 1e3,
        record / raw,
        record / tx,
        tx / raw
    );
}

fn year(c: &mut Criterion) {
    let first_day = time::macros::date!(2025 - 11 - 01);
    let last_day = first_day + time::Duration::days(364);
    let entries = year_of_entries(first_day);
    let dir = tempfile::tempdir().unwrap();
    let store = DeviceStore::open(dir.path(), config()).unwrap();
    store.apply_pulled(&entries, "bench").unwrap();
    println!(
        "year: {} entries over {first_day}..={last_day}",
        entries.len()
    );

    let mut group = c.benchmark_group("year");
    group.bench_function("store_daily_summaries_365d", |b| {
        b.iter(|| black_box(store.daily_summaries(first_day, last_day).unwrap()))
    });
    group.bench_function("store_trends_365d", |b| {
        b.iter(|| black_box(store.trends(first_day, None, last_day, 365).unwrap()))
    });
    group.bench_function("summary_daily_summaries_in_memory", |b| {
        b.iter(|| black_box(summary::daily_summaries(&entries, DEFAULT_MME_TABLE)))
    });
    let daily = summary::daily_summaries(&entries, DEFAULT_MME_TABLE);
    group.bench_function("summary_trends_in_memory", |b| {
        b.iter(|| {
            black_box(summary::trends(TrendInput {
                daily: &daily,
                enrolled_on: first_day,
                baseline_set: None,
                today: last_day,
                days: 365,
            }))
        })
    });
    group.finish();
}

criterion_group!(benches, durable_write, year);
criterion_main!(benches);
