//! 4. The client path end to end.

use std::sync::Arc;
use std::time::Instant;

use taperlog_core::model::DeviceId;
use taperlog_core::store::{DeviceStore, StoreConfig};
use taperlog_core::sync::{Session, SyncOptions, UreqTransport};
use taperlog_tests::TEST_PASSWORD;

use crate::diary::{diary, push_body};
use crate::report::{Row, per_s, rate};
use crate::server::{BenchServer, agent, push};
use crate::{BATCH, CLIENT_ENTRIES, PULL_LIMIT};

pub(crate) fn bench_client(
    server: &BenchServer,
    clinician: &(String, String),
    rows: &mut Vec<Row>,
) {
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
