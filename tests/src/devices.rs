//! Phones for the sync tests: a real `DeviceStore` in a temp dir, a real `Session` over
//! real HTTP, and a wall clock that may be wrong.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use taperlog_core::model::{
    Body, DeviceId, DoseBody, Entry, NoteBody, PainBody, Route, Unit, WallClock,
};
use taperlog_core::store::{DeviceStore, StoreConfig};
use taperlog_core::sync::{
    RetryPolicy, Session, SyncError, SyncOptions, SyncReport, UreqTransport, sync,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// The system clock shifted by a fixed amount (a phone whose clock is wrong).
#[derive(Debug)]
pub struct ShiftedClock {
    /// Milliseconds added to the real time (negative: behind).
    pub shift_ms: i64,
}

impl WallClock for ShiftedClock {
    fn now_millis(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        (real + self.shift_ms).max(0) as u64
    }
}

/// The system clock shifted by an amount the test changes (a phone whose clock jumps, and
/// is put right later).
#[derive(Debug, Default)]
pub struct AdjustableClock {
    shift_ms: AtomicI64,
}

impl AdjustableClock {
    /// Sets the milliseconds added to the real time from now on.
    pub fn set_shift(&self, shift_ms: i64) {
        self.shift_ms.store(shift_ms, Ordering::SeqCst);
    }
}

impl WallClock for AdjustableClock {
    fn now_millis(&self) -> u64 {
        ShiftedClock {
            shift_ms: self.shift_ms.load(Ordering::SeqCst),
        }
        .now_millis()
    }
}

/// Retries fast enough for tests, patient enough for a flaky link.
pub const TEST_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 12,
    base_delay: Duration::from_millis(5),
    max_delay: Duration::from_millis(100),
};

/// One phone.
pub struct Device {
    /// Its name (also its device id).
    pub name: String,
    /// Its diary.
    pub store: DeviceStore,
    /// Its session with the server.
    pub session: Session,
    _dir: tempfile::TempDir,
}

impl Device {
    /// A phone with an empty diary talking to `base_url`, not logged in.
    pub fn new(name: &str, base_url: &str) -> Device {
        Device::with_clock(
            name,
            base_url,
            Arc::new(ShiftedClock { shift_ms: 0 }),
            TEST_RETRY,
        )
    }

    /// The same with a given wall clock and retry policy.
    pub fn with_clock(
        name: &str,
        base_url: &str,
        wall: Arc<dyn WallClock>,
        retry: RetryPolicy,
    ) -> Device {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig::default()
            .with_device_id(DeviceId::new(name).expect("device id"))
            .with_wall_clock(wall);
        let store = DeviceStore::open(dir.path().join("diary"), config).expect("open device store");
        let session = Session::new(base_url, Arc::new(UreqTransport::default())).with_retry(retry);
        Device {
            name: name.to_string(),
            store,
            session,
            _dir: dir,
        }
    }

    /// Points the phone at another server address, keeping its login.
    pub fn reconnect(&mut self, base_url: &str, retry: RetryPolicy) {
        let tokens = self.session.tokens();
        self.session = Session::new(base_url, Arc::new(UreqTransport::default())).with_retry(retry);
        if let Some(tokens) = tokens {
            self.session.restore(tokens);
        }
    }

    /// Logs in (panics on failure).
    pub fn login(&self, username: &str, password: &str) {
        self.session
            .login(username, password, Some(&self.name))
            .expect("login");
    }

    /// Records an entry now-ish (panics on failure).
    pub fn record(&self, body: Body) -> Entry {
        self.store
            .record(OffsetDateTime::now_utc() - time::Duration::minutes(5), body)
            .expect("record")
    }

    /// One sync, with its outcome.
    pub fn try_sync(&self) -> Result<SyncReport, SyncError> {
        sync(&self.store, &self.session, &SyncOptions::default())
    }

    /// One sync that must succeed.
    pub fn sync(&self) -> SyncReport {
        self.try_sync()
            .unwrap_or_else(|e| panic!("{} could not sync: {e}", self.name))
    }

    /// Live entries of the last ten years and the next day, by id.
    pub fn live_entries(&self) -> BTreeMap<Uuid, Entry> {
        let today = OffsetDateTime::now_utc().date();
        self.store
            .entries_between(
                today - time::Duration::days(3_000),
                today + time::Duration::days(2),
            )
            .expect("entries")
            .into_iter()
            .map(|e| (e.id, e))
            .collect()
    }

    /// Ids whose changes the server has acknowledged (or refused): recorded minus pending.
    pub fn pending_ids(&self) -> Vec<Uuid> {
        self.store
            .pending_changes(usize::MAX)
            .expect("pending")
            .into_iter()
            .map(|e| e.id)
            .collect()
    }
}

/// One step of a random schedule of one patient's phones: (phone index, what).
#[derive(Debug, Clone)]
pub enum PhoneOp {
    /// Records a pain rating.
    Record(usize, u8),
    /// Gives the n-th (modulo) live entry the phone holds a new pain rating.
    Edit(usize, usize, u8),
    /// Deletes the n-th (modulo) live entry the phone holds.
    Delete(usize, usize),
    /// Syncs.
    Sync(usize),
}

impl PhoneOp {
    /// Runs the step on `phones`; returns the revision it wrote, if any (panics on failure).
    pub fn run(&self, phones: &[Device]) -> Option<Entry> {
        let nth_live = |phone: &Device, index: usize| {
            let known: Vec<Entry> = phone.live_entries().into_values().collect();
            known.get(index % known.len().max(1)).cloned()
        };
        match *self {
            PhoneOp::Record(p, nrs) => Some(phones[p].record(pain(nrs))),
            PhoneOp::Edit(p, index, nrs) => nth_live(&phones[p], index).map(|target| {
                phones[p]
                    .store
                    .edit(target.id, target.occurred_at, pain(nrs))
                    .expect("edit")
            }),
            PhoneOp::Delete(p, index) => nth_live(&phones[p], index)
                .map(|target| phones[p].store.delete(target.id).expect("delete")),
            PhoneOp::Sync(p) => {
                phones[p].sync();
                None
            }
        }
    }
}

/// Every change the server holds for the session's patient (latest revisions, tombstones
/// included), pulled from the beginning without touching any device store.
pub fn server_changes(session: &Session) -> BTreeMap<Uuid, Entry> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sync/pull?since={c}&limit=1000"),
            None => "/v1/sync/pull?limit=1000".to_string(),
        };
        let page: taperlog_core::sync::PullResponse =
            session.call("GET", &path, Vec::new()).expect("pull");
        for change in page.changes {
            all.insert(change.id, change);
        }
        cursor = Some(page.cursor);
        if !page.more {
            return all;
        }
    }
}

/// Every phone and the server hold the same live entries; returns them.
pub fn assert_converged(phones: &[Device]) -> BTreeMap<Uuid, Entry> {
    let on_server = server_changes(&phones[0].session);
    let expected = live(&on_server);
    for phone in phones {
        let mine = phone.live_entries();
        assert_eq!(
            mine.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{} differs",
            phone.name
        );
        for (id, entry) in &mine {
            assert_eq!(
                entry.rev, expected[id].rev,
                "{} holds another revision of {id}",
                phone.name
            );
            assert_eq!(entry.body, expected[id].body);
        }
        assert_eq!(
            phone.store.pending_count(),
            0,
            "{} has unsent changes",
            phone.name
        );
    }
    expected
}

/// The live entries among `changes`.
pub fn live(changes: &BTreeMap<Uuid, Entry>) -> BTreeMap<Uuid, Entry> {
    changes
        .iter()
        .filter(|(_, e)| !e.deleted)
        .map(|(id, e)| (*id, e.clone()))
        .collect()
}

/// An oral oxycodone dose.
pub fn oxycodone(mg: f64) -> Body {
    Body::Dose(DoseBody {
        medication: "oxycodone".into(),
        name: None,
        amount: mg,
        unit: Unit::Mg,
        route: Route::Oral,
        duration_h: None,
        prn: None,
    })
}

/// A pain rating.
pub fn pain(nrs: u8) -> Body {
    Body::Pain(PainBody {
        nrs,
        peg: None,
        note: None,
    })
}

/// A note.
pub fn note(text: &str) -> Body {
    Body::Note(NoteBody { text: text.into() })
}
