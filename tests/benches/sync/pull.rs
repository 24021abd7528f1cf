//! 3. Pull of 100k changes.

use std::time::{Duration, Instant};

use taperlog_core::model::Entry;
use taperlog_core::sync::PullResponse;

use crate::diary::{diary, push_body};
use crate::report::{Row, fresh_sled, ms, per_s, rate};
use crate::server::{BenchServer, agent, push};
use crate::{BATCH, PULL_CHANGES, PULL_LIMIT};

pub(crate) fn bench_pull(server: &BenchServer, clinician: &(String, String), rows: &mut Vec<Row>) {
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
