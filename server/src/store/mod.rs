//! The server's store: sled behind named operations, one module per area.
//!
//! Nothing outside this module knows a sled key. Each area adds an `impl ServerStore` block
//! in its own file; its trees are fields of [`Trees`], opened once in [`ServerStore::open`].

mod audit;
mod care_teams;
mod codec;
mod diary;
mod enrolment;
mod patients;
mod tokens;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub use audit::{AuditBreak, AuditEvent, AuditFilter, AuditRecord, GENESIS_HASH};
pub use care_teams::CareTeamRecord;
pub use diary::{
    ChangeOutcome, ChangePage, LogPosition, PatientActivity, PushToApply, greatest_rev,
};
pub use enrolment::{EnrollmentRecord, RedeemOutcome};
pub use patients::{PatientRecord, Sex};
pub use tokens::{FamilyRecord, RefreshRecord, RotateOutcome};
pub use users::UserRecord;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed (disk, corruption).
    #[error("storage engine: {0}")]
    Engine(#[from] sled::Error),
    /// Another process holds the data directory.
    #[error("the data directory {0} is in use by another process (is a server running?)")]
    Locked(PathBuf),
    /// A stored value could not be read or written in its format.
    #[error("stored value in `{tree}` is unreadable: {detail}")]
    Format {
        /// The tree holding the value.
        tree: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The operation would break a uniqueness rule (a taken username, …).
    #[error("{0}")]
    Conflict(String),
    /// A record the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The write could not be carried out (the diary writer stopped, or the group of
    /// pushes this one was written with failed).
    #[error("the diary write failed: {0}")]
    WriteFailed(String),
}

/// How long opening waits for a lock that a store dropped in this process still holds.
const LOCK_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// The sled trees, each named for what it maps.
pub(crate) struct Trees {
    /// user id → [`UserRecord`]
    pub users: sled::Tree,
    /// lower-case username → user id
    pub user_by_name: sled::Tree,
    /// SHA-256 of a refresh token → [`RefreshRecord`]
    pub refresh_by_hash: sled::Tree,
    /// family id → [`FamilyRecord`] (one family per login)
    pub refresh_families: sled::Tree,
    /// user id ‖ family id → ()
    pub families_by_user: sled::Tree,
    /// SHA-256 of an enrolment code → [`EnrollmentRecord`]
    pub enrollment_by_code_hash: sled::Tree,
    /// care team id → [`CareTeamRecord`]
    pub care_teams: sled::Tree,
    /// care team id ‖ user id → ()
    pub members_by_team: sled::Tree,
    /// user id ‖ care team id → ()
    pub teams_by_member: sled::Tree,
    /// patient id → [`PatientRecord`]
    pub patients: sled::Tree,
    /// care team id ‖ patient id → ()
    pub patients_by_team: sled::Tree,
    /// sequence number (u64 big-endian) → [`AuditRecord`]
    pub audit_by_seq: sled::Tree,
    /// patient id ‖ sequence number → ()
    pub audit_seq_by_patient: sled::Tree,
    /// name → value, for small facts about the store itself (demo loaded, …)
    pub meta: sled::Tree,
    /// Every patient's diary, one key space per kind of record (see `diary::keys`).
    pub diary: sled::Tree,
}

/// The server's store. Cheap to share behind an `Arc`; all operations are named.
pub struct ServerStore {
    db: sled::Db,
    pub(crate) trees: Trees,
    /// Serialises audit appends, so that each record chains onto the one before it.
    audit_append: Mutex<()>,
    /// Serialises diary writes: a group reads what it builds on and writes its batch
    /// without another group's write in between.
    diary_writes: Mutex<()>,
    /// Nanoseconds spent in sled's `apply_batch` for diary groups (see
    /// [`ServerStore::diary_batch_time`]).
    diary_batch_nanos: AtomicU64,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStore").finish_non_exhaustive()
    }
}

impl ServerStore {
    /// Opens (or creates) the store in `dir`. Fails with [`StoreError::Locked`] while
    /// another process has it open.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // sled's background flusher lets go of the file lock a moment after a store is
        // dropped, so a held lock is retried for a short while before it is reported.
        let started = std::time::Instant::now();
        let db = loop {
            match Self::open_db(dir) {
                Err(StoreError::Locked(_)) if started.elapsed() < LOCK_RETRY_FOR => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let tree = |name: &str| db.open_tree(name);
        let trees = Trees {
            users: tree("users")?,
            user_by_name: tree("user_by_name")?,
            refresh_by_hash: tree("refresh_by_hash")?,
            refresh_families: tree("refresh_families")?,
            families_by_user: tree("families_by_user")?,
            enrollment_by_code_hash: tree("enrollment_by_code_hash")?,
            care_teams: tree("care_teams")?,
            members_by_team: tree("members_by_team")?,
            teams_by_member: tree("teams_by_member")?,
            patients: tree("patients")?,
            patients_by_team: tree("patients_by_team")?,
            audit_by_seq: tree("audit_by_seq")?,
            audit_seq_by_patient: tree("audit_seq_by_patient")?,
            meta: tree("meta")?,
            diary: tree(diary::TREE)?,
        };
        refuse_earlier_diary_layout(&db, &trees.diary)?;
        let store = ServerStore {
            db,
            trees,
            audit_append: Mutex::new(()),
            diary_writes: Mutex::new(()),
            diary_batch_nanos: AtomicU64::new(0),
        };
        store.check_diary_layout()?;
        Ok(store)
    }

    /// Marks a new directory with the diary layout this build writes, upgrades one in the
    /// layout just before it, and refuses one marked with any other (a later build's), so
    /// that a diary is never read with the wrong key layout.
    fn check_diary_layout(&self) -> Result<(), StoreError> {
        match self.meta(diary::LAYOUT_META)? {
            Some(layout) if layout == diary::LAYOUT => Ok(()),
            Some(layout) if layout == diary::LAYOUT_WITHOUT_GREATEST_REV => {
                diary::record_greatest_rev_of_entries(&self.trees.diary)?;
                self.set_meta(diary::LAYOUT_META, diary::LAYOUT)?;
                self.db.flush()?;
                Ok(())
            }
            Some(other) => Err(StoreError::Format {
                tree: diary::TREE,
                detail: format!(
                    "this data directory holds a diary in layout {other}; this server reads \
                     layout {}",
                    diary::LAYOUT
                ),
            }),
            None => {
                self.set_meta(diary::LAYOUT_META, diary::LAYOUT)?;
                self.db.flush()?;
                Ok(())
            }
        }
    }

    fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
        sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("lock") =>
            {
                StoreError::Locked(dir.to_path_buf())
            }
            other => StoreError::Engine(other),
        })
    }

    /// Opens a further tree by name, for areas that keep their trees outside [`Trees`].
    pub fn open_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Makes every write so far durable; writes are acknowledged only after this.
    ///
    /// Runs sled's blocking flush on tokio's blocking pool. sled 0.34's own `flush_async`
    /// hands the flush to sled's thread pool, whose futures can be left never woken when
    /// several flush at once (spacejam/sled#1241, #1308, fixed only on its unreleased main):
    /// here that hung a patient's `PATCH` racing their enrolment until CI gave up.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| {
                StoreError::Engine(sled::Error::ReportableBug(format!(
                    "flush task failed: {e}"
                )))
            })??;
        Ok(())
    }

    /// Time spent so far writing diary groups with sled's `apply_batch`. sled 0.34 holds a
    /// process-wide write lock for the whole of a batch, so every other read or write of the
    /// process (an access token's login check, a care team's query) waits that long:
    /// benchmarks report this share of their time.
    pub fn diary_batch_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.diary_batch_nanos.load(Ordering::Relaxed))
    }

    /// Counts `spent` towards [`ServerStore::diary_batch_time`].
    fn note_diary_batch(&self, spent: std::time::Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.diary_batch_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// [`ServerStore::flush`] for callers without an async runtime (the CLI).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// True while the store holds no user, care team or patient.
    pub fn is_empty(&self) -> bool {
        self.trees.users.is_empty()
            && self.trees.care_teams.is_empty()
            && self.trees.patients.is_empty()
    }

    /// Remembers a small fact about the store (`demo_loaded`, …).
    pub fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.trees
            .meta
            .insert(name.as_bytes(), codec::encode("meta", &value)?)?;
        Ok(())
    }

    /// A fact stored with [`ServerStore::set_meta`].
    pub fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.trees.meta.get(name.as_bytes())? {
            Some(bytes) => Ok(Some(codec::decode("meta", &bytes)?)),
            None => Ok(None),
        }
    }
}

/// Trees of the diary layout of earlier development builds (one tree per index, written
/// with multi-tree transactions), replaced by the single `diary` tree.
const EARLIER_DIARY_TREES: [&str; 3] = ["entries", "seq_by_entry", "changes_by_patient_seq"];

/// Refuses a data directory whose diary is in an earlier development layout (the trees
/// above, or the diary tree with the patient's state in three records), rather than serving
/// it as if it were empty. No release ever wrote those layouts, so there is no migration.
fn refuse_earlier_diary_layout(db: &sled::Db, diary: &sled::Tree) -> Result<(), StoreError> {
    let mut earlier = diary::has_earlier_record_kinds(diary)?;
    for name in EARLIER_DIARY_TREES {
        let exists = db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == name.as_bytes());
        earlier |= exists && !db.open_tree(name)?.is_empty();
    }
    if earlier {
        return Err(StoreError::Format {
            tree: diary::TREE,
            detail: "this data directory holds a diary in the layout of an earlier \
                     development build, which this server does not read; move it aside \
                     and start with an empty one"
                .into(),
        });
    }
    Ok(())
}

/// Joins two ids into one composite index key.
pub(crate) fn pair_key(a: uuid::Uuid, b: uuid::Uuid) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(a.as_bytes());
    key[16..].copy_from_slice(b.as_bytes());
    key
}

/// The second id of a key made by [`pair_key`].
pub(crate) fn second_of_pair(key: &[u8]) -> Option<uuid::Uuid> {
    let bytes: [u8; 16] = key.get(16..32)?.try_into().ok()?;
    Some(uuid::Uuid::from_bytes(bytes))
}

/// Turns an aborted sled transaction into a store error.
pub(crate) fn txn_error(e: sled::transaction::TransactionError<StoreError>) -> StoreError {
    match e {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => StoreError::Engine(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Many requests flushing at once, as a crowd of logins does, each after a write of its
    /// own: every flush returns. With sled's `flush_async` this test hung every time it was run
    /// (each of its thread pool's workers waited in a flush on log writes queued behind it).
    #[test]
    fn many_flushes_at_once_all_return() {
        const ROUNDS: usize = 40;
        const AT_ONCE: usize = 32;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ServerStore::open(dir.path()).unwrap());
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let flushing = Arc::clone(&store);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let outcome = runtime.block_on(async move {
                for round in 0..ROUNDS {
                    let mut tasks = tokio::task::JoinSet::new();
                    for n in 0..AT_ONCE {
                        let store = Arc::clone(&flushing);
                        tasks.spawn(async move {
                            store.set_meta(&format!("k{n}"), &format!("{round}"))?;
                            store.flush().await
                        });
                    }
                    while let Some(joined) = tasks.join_next().await {
                        joined
                            .map_err(|e| e.to_string())?
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok::<(), String>(())
            });
            let _ = done_tx.send(outcome);
        });
        let outcome = done_rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the flushes hung");
        assert_eq!(outcome, Ok(()));
        assert_eq!(store.meta("k0").unwrap().as_deref(), Some("39"));
    }

    #[test]
    fn a_diary_in_the_earlier_layout_is_refused_not_served_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("entries").unwrap().insert(b"k", b"v").unwrap();
            db.flush().unwrap();
        }
        match ServerStore::open(dir.path()) {
            Err(StoreError::Format { detail, .. }) => assert!(detail.contains("earlier")),
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn a_diary_with_the_earlier_patient_records_is_refused() {
        for kind in [b'N', b'A', b'Y'] {
            let dir = tempfile::tempdir().unwrap();
            {
                let db = sled::open(dir.path()).unwrap();
                let mut key = vec![kind];
                key.extend_from_slice(uuid::Uuid::now_v7().as_bytes());
                db.open_tree(diary::TREE)
                    .unwrap()
                    .insert(key, b"v")
                    .unwrap();
                db.flush().unwrap();
            }
            match ServerStore::open(dir.path()) {
                Err(StoreError::Format { detail, .. }) => assert!(detail.contains("earlier")),
                other => panic!("expected a format error for {kind}, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_diary_marked_with_another_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = ServerStore::open(dir.path()).unwrap();
            assert_eq!(
                store.meta(diary::LAYOUT_META).unwrap().as_deref(),
                Some(diary::LAYOUT)
            );
            store.set_meta(diary::LAYOUT_META, "diary-99").unwrap();
            store.flush_blocking().unwrap();
        }
        match ServerStore::open(dir.path()) {
            Err(StoreError::Format { detail, .. }) => assert!(detail.contains("diary-99")),
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_refused_as_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _first = ServerStore::open(dir.path()).unwrap();
        match ServerStore::open(dir.path()) {
            Err(StoreError::Locked(_)) => {}
            other => panic!("expected Locked, got {other:?}"),
        }
    }
}
