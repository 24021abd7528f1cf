//! Push and pull, independent of HTTP: what the handlers call.

use std::sync::{Arc, Mutex};

use taperlog_core::clinical::MmeTable;
use taperlog_core::model::{
    DeviceId, Entry, HybridClock, Stamp, SystemWallClock, ValidationError, WallClock, parse_json,
    validate_device_id, validate_entry, validate_rev_not_ahead,
};
use taperlog_core::sync::{
    Accepted, DEFAULT_PULL_LIMIT, ErrorBody, MAX_PULL_LIMIT, MAX_PUSH_CHANGES, PullResponse,
    PushResponse, Rejected,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::cursor::Cursor;
use super::group_commit::GroupCommit;
use super::writer::DiaryWriter;
use crate::store::{ServerStore, StoreError, greatest_rev};

/// The device id in the server's own HLC stamps.
pub const SERVER_DEVICE_ID: &str = "server";

/// Why a push or pull as a whole was refused.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The request breaks a rule; the error names the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pull's cursor was not read from the patient's change log as it is now: the log
    /// ends before it, or holds another change at its position. The log only grows, so the
    /// server's data was restored from an earlier backup (or the cursor is another
    /// server's): the device must pull from the beginning, and push again what it holds.
    #[error(
        "the cursor does not belong to this patient's change log as it is now (the server was \
         restored from an earlier backup?): pull from the beginning and push every change again"
    )]
    CursorNotInLog,
}

/// The query of `GET /v1/sync/pull`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// The cursor of the previous pull; from the beginning without it.
    pub since: Option<String>,
    /// The `log_position` of the last push this device had acknowledged: a log that does not
    /// hold it any more (restored from an earlier backup) answers 409 even where the cursor
    /// is older than what was lost.
    pub acked: Option<String>,
    /// Changes per page, 1 to 1000 (default 500). Read as text, so that a bad value gets an
    /// error naming `limit`; documented as the integer it must be.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// Applies pushes and serves pulls for every patient.
pub struct SyncService {
    store: Arc<ServerStore>,
    commit: Arc<GroupCommit>,
    writer: DiaryWriter,
    clock: Mutex<HybridClock>,
    wall: Arc<dyn WallClock>,
    table: &'static MmeTable,
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncService")
            .field("table", &self.table.version)
            .finish_non_exhaustive()
    }
}

fn now_of(wall: &dyn WallClock) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(wall.now_millis()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A push request as read by the server: each change stays raw JSON text until it is read
/// alone, so that one bad change is rejected alone. Same fields and rules as
/// [`taperlog_core::sync::PushRequest`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PushRequestText<'a> {
    device_id: String,
    #[serde(borrow)]
    changes: Vec<&'a serde_json::value::RawValue>,
}

/// The id and rev a change says it has, as far as they can be read, to echo in a rejection.
fn claimed_identity(raw: &str) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Claimed {
        id: Option<serde_json::Value>,
        rev: Option<serde_json::Value>,
    }
    let text = |value: Option<serde_json::Value>| match value {
        Some(serde_json::Value::String(text)) => Some(text),
        _ => None,
    };
    match serde_json::from_str::<Claimed>(raw) {
        Ok(claimed) => (text(claimed.id), text(claimed.rev)),
        Err(_) => (None, None),
    }
}

fn rejection((id, rev): (Option<String>, Option<String>), error: ValidationError) -> Rejected {
    Rejected {
        id,
        rev,
        error: ErrorBody {
            code: "validation_failed".into(),
            message: error.message,
            field: (!error.field.is_empty()).then_some(error.field),
        },
    }
}

/// A push request read and checked: the valid changes and the rejected ones.
#[derive(Debug, Clone)]
pub struct ReadPush {
    /// The changes that passed every check, in the order sent.
    pub valid: Vec<Entry>,
    /// The changes refused, each with its error.
    pub rejected: Vec<Rejected>,
}

/// Reads a push body and checks each change alone, as `POST /v1/sync/push` does before
/// anything is stored: a malformed request as a whole is an error naming its field; a bad
/// change only lands in `rejected`.
pub fn read_push(body: &[u8], now: OffsetDateTime) -> Result<ReadPush, ValidationError> {
    let request: PushRequestText<'_> = parse_json(body)?;
    validate_device_id(&request.device_id, "device_id")?;
    if request.changes.len() > MAX_PUSH_CHANGES {
        return Err(ValidationError::new(
            "changes",
            format!("at most {MAX_PUSH_CHANGES} changes per push"),
        ));
    }
    let mut read = ReadPush {
        valid: Vec::with_capacity(request.changes.len()),
        rejected: Vec::new(),
    };
    for raw in request.changes {
        let checked = Entry::from_json_slice(raw.get().as_bytes()).and_then(|entry| {
            validate_entry(&entry, now)?;
            validate_rev_not_ahead(&entry.rev, now)?;
            Ok(entry)
        });
        match checked {
            Ok(entry) => read.valid.push(entry),
            Err(error) => read
                .rejected
                .push(rejection(claimed_identity(raw.get()), error)),
        }
    }
    Ok(read)
}

impl SyncService {
    /// A service over `store` that summarises with `table`.
    pub fn new(store: Arc<ServerStore>, table: &'static MmeTable) -> std::io::Result<Self> {
        Self::with_wall_clock(store, table, Arc::new(SystemWallClock))
    }

    /// The same with another wall clock (tests).
    pub fn with_wall_clock(
        store: Arc<ServerStore>,
        table: &'static MmeTable,
        wall: Arc<dyn WallClock>,
    ) -> std::io::Result<Self> {
        let device =
            DeviceId::new(SERVER_DEVICE_ID).unwrap_or_else(|_| unreachable!("a constant valid id"));
        // Resuming after the greatest applied rev keeps `server_hlc` at or above every stamp
        // the server accepted, across restarts.
        let clock = match store
            .greatest_rev_applied()
            .map_err(std::io::Error::other)?
        {
            Some(greatest) => HybridClock::resume(device, &greatest),
            None => HybridClock::new(device),
        };
        let commit = Arc::new(GroupCommit::new());
        let writer = DiaryWriter::start(Arc::clone(&store), table, Arc::clone(&commit))?;
        Ok(SyncService {
            store,
            commit,
            writer,
            clock: Mutex::new(clock),
            wall,
            table,
        })
    }

    /// The MME table summaries are kept with.
    pub fn table(&self) -> &'static MmeTable {
        self.table
    }

    /// The diary writer (group counts for benchmarks).
    pub fn diary_writer(&self) -> &DiaryWriter {
        &self.writer
    }

    /// The group-commit coordinator (flush counts for benchmarks).
    pub fn group_commit(&self) -> &GroupCommit {
        &self.commit
    }

    fn lock_clock(&self) -> std::sync::MutexGuard<'_, HybridClock> {
        // The clock is two integers; a panic elsewhere cannot leave it half-updated.
        self.clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new stamp of the server's clock, for `server_hlc`.
    fn stamp(&self) -> Stamp {
        self.lock_clock().now(self.wall.now_millis())
    }

    /// Validates each change, applies the valid ones with last-writer-wins, and answers once
    /// they are durable. One bad change is rejected alone.
    pub async fn push(&self, patient: Uuid, body: &[u8]) -> Result<PushResponse, SyncError> {
        let now = now_of(self.wall.as_ref());
        let ReadPush { valid, rejected } = read_push(body, now)?;
        let accepted: Vec<Accepted> = valid
            .iter()
            .map(|e| Accepted {
                id: e.id,
                rev: e.rev.clone(),
            })
            .collect();
        // Merged before the changes are applied, so that every answer given once they can
        // be read (a pull's too, and whether or not this handler lives to answer) carries a
        // `server_hlc` at or above them: phones move their clocks back to it after a jump.
        if let Some(greatest) = greatest_rev(&valid) {
            self.lock_clock().merge(greatest);
        }
        let mut log_position = None;
        if !valid.is_empty() {
            let (_, ticket) = self.writer.apply(patient, valid, now).await?;
            // Read once applied: at or after every accepted change (a later group's
            // position too, at worst, which a crash before its flush would make the device
            // resend needlessly, never miss).
            let (seq, digest) = self.store.log_end(patient)?;
            log_position = Some(Cursor::end(seq, digest).text());
            self.commit.wait_durable(&self.store, ticket).await?;
        }
        Ok(PushResponse {
            accepted,
            rejected,
            server_hlc: self.stamp(),
            log_position,
        })
    }

    /// A page of the patient's changes after the cursor; only durable changes are served.
    pub async fn pull(&self, patient: Uuid, query: &PullQuery) -> Result<PullResponse, SyncError> {
        let cursor = match query.since.as_deref() {
            None | Some("") => Cursor::START,
            Some(text) => Cursor::parse(text)?,
        };
        let acked = match query.acked.as_deref() {
            None | Some("") => Cursor::START,
            Some(text) => Cursor::parse_field(text, "acked")?,
        };
        let limit = match query.limit.as_deref() {
            None => DEFAULT_PULL_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(limit) if (1..=MAX_PULL_LIMIT).contains(&limit) => limit,
                _ => {
                    return Err(ValidationError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_PULL_LIMIT}"),
                    )
                    .into());
                }
            },
        };
        let store = Arc::clone(&self.store);
        let now = now_of(self.wall.as_ref());
        let page = tokio::task::spawn_blocking(move || {
            let page = store.changes_after(patient, cursor.seq, limit)?;
            let at = |seq| match seq {
                0 => Ok(None),
                seq => store.change_at(patient, seq),
            };
            let (at_cursor, at_acked) = (at(cursor.seq)?, at(acked.seq)?);
            store.note_pull(patient, now)?;
            Ok::<_, StoreError>((page, at_cursor, at_acked))
        })
        .await
        .map_err(|e| {
            StoreError::Engine(sled::Error::ReportableBug(format!("pull task failed: {e}")))
        })??;
        let (page, at_cursor, at_acked) = page;
        if !cursor.belongs_to(at_cursor, page.log_end) || !acked.belongs_to(at_acked, page.log_end)
        {
            return Err(SyncError::CursorNotInLog);
        }
        self.commit.barrier(&self.store).await?;
        let next = Cursor::at(page.last_seq, page.last_position.or(at_cursor));
        Ok(PullResponse {
            changes: page.changes,
            cursor: next.text(),
            more: page.more,
            server_hlc: self.stamp(),
        })
    }
}
