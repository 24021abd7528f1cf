//! Push and pull, independent of HTTP: what the handlers call.

use std::sync::{Arc, Mutex};

use taperlog_core::clinical::MmeTable;
use taperlog_core::model::{
    DeviceId, Entry, HybridClock, Stamp, SystemWallClock, ValidationError, WallClock, parse_json,
    validate_device_id, validate_entry, validate_rev_not_ahead,
};
use taperlog_core::sync::{
    Accepted, DEFAULT_PULL_LIMIT, ErrorBody, MAX_PULL_LIMIT, MAX_PUSH_CHANGES, PullResponse,
    PushRequest, PushResponse, Rejected,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::group_commit::GroupCommit;
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
}

/// The query of `GET /v1/sync/pull`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// The cursor of the previous pull; from the beginning without it.
    pub since: Option<String>,
    /// Changes per page, 1 to 1000 (default 500).
    pub limit: Option<String>,
}

/// Applies pushes and serves pulls for every patient.
pub struct SyncService {
    store: Arc<ServerStore>,
    commit: Arc<GroupCommit>,
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

/// The id and rev a change says it has, as far as they can be read, to echo in a rejection.
fn claimed_identity(raw: &serde_json::Value) -> (Option<String>, Option<String>) {
    let text = |key: &str| raw.get(key).and_then(|v| v.as_str()).map(str::to_string);
    (text("id"), text("rev"))
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

impl SyncService {
    /// A service over `store` that summarises with `table`.
    pub fn new(store: Arc<ServerStore>, table: &'static MmeTable) -> Self {
        Self::with_wall_clock(store, table, Arc::new(SystemWallClock))
    }

    /// The same with another wall clock (tests).
    pub fn with_wall_clock(
        store: Arc<ServerStore>,
        table: &'static MmeTable,
        wall: Arc<dyn WallClock>,
    ) -> Self {
        let device =
            DeviceId::new(SERVER_DEVICE_ID).unwrap_or_else(|_| unreachable!("a constant valid id"));
        SyncService {
            store,
            commit: Arc::new(GroupCommit::new()),
            clock: Mutex::new(HybridClock::new(device)),
            wall,
            table,
        }
    }

    /// The MME table summaries are kept with.
    pub fn table(&self) -> &'static MmeTable {
        self.table
    }

    /// The group-commit coordinator (flush counts for benchmarks).
    pub fn group_commit(&self) -> &GroupCommit {
        &self.commit
    }

    fn stamp(&self, merge: Option<&Stamp>) -> Stamp {
        let mut clock = self
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(remote) = merge {
            clock.merge(remote);
        }
        clock.now(self.wall.now_millis())
    }

    /// Validates each change, applies the valid ones with last-writer-wins, and answers once
    /// they are durable. One bad change is rejected alone.
    pub async fn push(&self, patient: Uuid, body: &[u8]) -> Result<PushResponse, SyncError> {
        let request: PushRequest = parse_json(body)?;
        validate_device_id(&request.device_id, "device_id")?;
        if request.changes.len() > MAX_PUSH_CHANGES {
            return Err(ValidationError::new(
                "changes",
                format!("at most {MAX_PUSH_CHANGES} changes per push"),
            )
            .into());
        }
        let now = now_of(self.wall.as_ref());
        let mut valid: Vec<Entry> = Vec::with_capacity(request.changes.len());
        let mut rejected = Vec::new();
        for raw in request.changes {
            let identity = claimed_identity(&raw);
            let checked = Entry::from_json(raw).and_then(|entry| {
                validate_entry(&entry, now)?;
                validate_rev_not_ahead(&entry.rev, now)?;
                Ok(entry)
            });
            match checked {
                Ok(entry) => valid.push(entry),
                Err(error) => rejected.push(rejection(identity, error)),
            }
        }
        if !valid.is_empty() {
            let store = Arc::clone(&self.store);
            let table = self.table;
            let commit = Arc::clone(&self.commit);
            // The ticket is taken in the blocking task, so a push abandoned by its client
            // still counts its write for the next flush and for readers.
            let (applied, ticket) = tokio::task::spawn_blocking(move || {
                commit.write(|| {
                    store
                        .apply_changes(patient, &valid, table, now)
                        .map(|_| valid)
                })
            })
            .await
            .map_err(|e| {
                StoreError::Engine(sled::Error::ReportableBug(format!(
                    "apply task failed: {e}"
                )))
            })?;
            valid = applied?;
            self.commit.wait_durable(&self.store, ticket).await?;
        }
        Ok(PushResponse {
            accepted: valid
                .iter()
                .map(|e| Accepted {
                    id: e.id,
                    rev: e.rev.clone(),
                })
                .collect(),
            rejected,
            server_hlc: self.stamp(greatest_rev(&valid)),
        })
    }

    /// A page of the patient's changes after the cursor; only durable changes are served.
    pub async fn pull(&self, patient: Uuid, query: &PullQuery) -> Result<PullResponse, SyncError> {
        let after = match query.since.as_deref() {
            None | Some("") => 0,
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| ValidationError::new("since", "is not a cursor this server gave"))?,
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
            let page = store.changes_after(patient, after, limit)?;
            store.note_pull(patient, now)?;
            Ok::<_, StoreError>(page)
        })
        .await
        .map_err(|e| {
            StoreError::Engine(sled::Error::ReportableBug(format!("pull task failed: {e}")))
        })??;
        self.commit.barrier(&self.store).await?;
        Ok(PullResponse {
            changes: page.changes,
            cursor: page.last_seq.to_string(),
            more: page.more,
            server_hlc: self.stamp(None),
        })
    }
}
