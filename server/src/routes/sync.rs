//! `/v1/sync/push` and `/v1/sync/pull`: the patient's devices ↔ the server's change log.
//! The patient always comes from the access token, never from the body.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use taperlog_core::sync::{PullResponse, PushResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, ErrorBody};
use crate::query::AppQuery;
use crate::role::Role;
use crate::state::AppState;
use crate::sync::{PullQuery, SyncError};

/// Largest push body, bytes: the core's limit, which the client's batches respect.
pub use taperlog_core::sync::MAX_PUSH_BYTES;

/// The sync routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push))
        .routes(routes!(pull))
}

impl From<SyncError> for AppError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::Invalid(invalid) => invalid.into(),
            SyncError::Store(store) => store.into(),
            stale @ SyncError::CursorNotInLog => AppError::Conflict(stale.to_string()),
        }
    }
}

fn patient_of(caller: &Caller) -> Result<Uuid, AppError> {
    caller.require(&[Role::Patient])?;
    caller
        .patient_id
        .ok_or_else(|| AppError::Forbidden("this login is not a patient's".into()))
}

/// Pushes changes from a device. Each change is validated alone: a bad one is rejected with
/// its error while the rest are accepted. The answer comes once accepted changes are durable;
/// a change the server already has is accepted again with no effect.
#[utoipa::path(post, path = "/v1/sync/push", tag = "sync",
    request_body(content = taperlog_core::sync::PushRequest, description = "At most 500 changes, body at most 1 MiB"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted and rejected changes", body = PushResponse),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a patient", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "Malformed request (field named)", body = ErrorBody)))]
pub async fn push(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<PushResponse>, AppError> {
    let patient = patient_of(&caller)?;
    if body.len() > MAX_PUSH_BYTES {
        return Err(AppError::PayloadTooLarge(MAX_PUSH_BYTES));
    }
    Ok(Json(state.sync.push(patient, &body).await?))
}

/// Pulls the patient's changes after a cursor, in the order the server accepted them.
#[utoipa::path(get, path = "/v1/sync/pull", tag = "sync",
    params(PullQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes", body = PullResponse),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a patient", body = ErrorBody),
        (status = 409, description = "The cursor is beyond the change log (the server was restored from an earlier backup): pull from the beginning and push every change again", body = ErrorBody),
        (status = 422, description = "Bad cursor or limit (field named)", body = ErrorBody)))]
pub async fn pull(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<PullQuery>,
) -> Result<Json<PullResponse>, AppError> {
    let patient = patient_of(&caller)?;
    Ok(Json(state.sync.pull(patient, &query).await?))
}
