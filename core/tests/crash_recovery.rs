//! Crash test in the shape of sled's `tests/test_crash_recovery.rs`: this test binary runs
//! itself again as a child (switched into writer mode by an environment variable) that
//! records entries in a loop and prints each id once `record` has returned; the parent kills
//! it with SIGKILL at random moments, on the same store directory, round after round. Every
//! fifth step the child also edits the entry it recorded last and reports the new rev. After
//! each kill the store must open cleanly and hold every entry the child reported (at least at
//! the reported rev), each in the date index and in the outbox at its current revision.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use taperlog_core::model::{Body, DeviceId, EntryId, PainBody, Stamp};
use taperlog_core::store::{DeviceStore, StoreConfig};
use time::OffsetDateTime;

/// Set in the child: the store directory to write into.
const WRITER_ENV: &str = "TAPERLOG_CRASH_WRITER_DIR";
/// How many times the child is killed.
const ROUNDS: usize = 60;
/// The longest a child runs before it is killed.
const MAX_RUN_MS: u64 = 150;
/// The test's own name, which the child is started with.
const TEST_NAME: &str = "crash_recovery";
/// What the child prints before each durable id.
const PREFIX: &str = "recorded ";
/// What the child prints before each durable edit's id and rev.
const EDIT_PREFIX: &str = "edited ";

fn config() -> StoreConfig {
    StoreConfig::default().with_device_id(DeviceId::new("crash-writer").unwrap())
}

/// The child: record entries until killed, announcing each one after `record` returned.
fn write_until_killed(dir: &Path) -> ! {
    let store = DeviceStore::open(dir, config()).unwrap();
    let mut stdout = std::io::stdout().lock();
    let body = |n: u64| {
        Body::Pain(PainBody {
            nrs: (n % 11) as u8,
            peg: None,
            note: Some(format!("entry {n}")),
        })
    };
    let mut last = None;
    for n in 0u64.. {
        match last {
            Some(id) if n % 5 == 0 => {
                let edit = store.edit(id, OffsetDateTime::now_utc(), body(n)).unwrap();
                writeln!(stdout, "{EDIT_PREFIX}{} {}", edit.id, edit.rev).unwrap();
            }
            _ => {
                let entry = store.record(OffsetDateTime::now_utc(), body(n)).unwrap();
                writeln!(stdout, "{PREFIX}{}", entry.id).unwrap();
                last = Some(entry.id);
            }
        }
        stdout.flush().unwrap();
    }
    unreachable!("the loop only ends when the process is killed")
}

/// A small xorshift generator: enough for kill timings, and its seed is printed to replay.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// The recorded ids and the edits (id, rev) in complete lines of the child's output.
fn reported(output: &str) -> (Vec<EntryId>, Vec<(EntryId, Stamp)>) {
    let complete = match output.rfind('\n') {
        Some(end) => &output[..end],
        None => "",
    };
    let recorded = complete
        .lines()
        .filter_map(|line| line.strip_prefix(PREFIX))
        .map(|id| id.parse().unwrap())
        .collect();
    let edited = complete
        .lines()
        .filter_map(|line| line.strip_prefix(EDIT_PREFIX))
        .map(|rest| {
            let (id, rev) = rest.split_once(' ').unwrap();
            (id.parse().unwrap(), rev.parse().unwrap())
        })
        .collect();
    (recorded, edited)
}

#[test]
fn crash_recovery() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        write_until_killed(Path::new(&dir));
    }
    let started = Instant::now();
    let seed = std::env::var("TAPERLOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash_recovery: seed {seed} (TAPERLOG_CRASH_SEED to replay)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut durable: BTreeSet<EntryId> = BTreeSet::new();
    let mut edits: BTreeMap<EntryId, Stamp> = BTreeMap::new();
    let mut empty_rounds = 0;

    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(WRITER_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut output = String::new();
            stdout.read_to_string(&mut output).unwrap();
            output
        });
        std::thread::sleep(Duration::from_millis(5 + rng.below(MAX_RUN_MS)));
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("round {round}: the writer stopped by itself ({status}):\n{stderr}");
        }
        // `Child::kill` sends SIGKILL on Unix: no destructor, no flush, no goodbye.
        child.kill().unwrap();
        child.wait().unwrap();
        let (ids, edited) = reported(&reader.join().unwrap());
        empty_rounds += usize::from(ids.is_empty() && edited.is_empty());
        durable.extend(ids);
        edits.extend(edited);

        let store = DeviceStore::open(dir.path(), config())
            .unwrap_or_else(|e| panic!("round {round}: the store does not reopen: {e}"));
        for id in &durable {
            assert!(
                store.entry(*id).unwrap().is_some(),
                "round {round}: entry {id} was reported durable but is missing"
            );
        }
        for (id, rev) in &edits {
            let entry = store.entry(*id).unwrap().unwrap();
            assert!(
                entry.rev >= *rev,
                "round {round}: the edit {rev} of {id} is lost"
            );
        }
        // The child may have written one more change that it had no time to report.
        let pending = store.pending_changes(usize::MAX).unwrap();
        let pending_ids: BTreeSet<EntryId> = pending.iter().map(|entry| entry.id).collect();
        assert_eq!(store.pending_count(), pending.len());
        assert!(
            pending_ids.is_superset(&durable),
            "round {round}: outbox lost items"
        );
        for entry in &pending {
            let current = store.revision(entry.id).unwrap();
            assert_eq!(
                current.as_ref(),
                Some(entry),
                "round {round}: stale outbox item"
            );
        }
        let today = OffsetDateTime::now_utc().date();
        let indexed: BTreeSet<EntryId> = store
            .entries_between(today - time::Duration::days(2), today)
            .unwrap()
            .iter()
            .map(|entry| entry.id)
            .collect();
        assert!(
            indexed.is_superset(&durable),
            "round {round}: date index lost items"
        );
    }
    eprintln!(
        "crash_recovery: {ROUNDS} kills, {} reported entries and {} reported edits all present \
         after every reopen ({empty_rounds} rounds killed before the first report), {:.1} s",
        durable.len(),
        edits.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        durable.len() > ROUNDS,
        "too few entries were written to test anything"
    );
}
