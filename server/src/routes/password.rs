//! `POST /v1/auth/password`: a user changes their password, ending their other logins.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;

use super::auth::pass_limiter;
use crate::audit::{self, Entry};
use crate::auth::{Caller, ClientAddr, PasswordHasher, debug_redacted};
use crate::error::{AppError, ErrorBody};
use crate::json::parse_body;
use crate::state::AppState;

/// `POST /v1/auth/password`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new password (at least 10 characters).
    #[schema(min_length = 10)]
    pub new_password: String,
}

debug_redacted!(PasswordChange {} secret { old_password, new_password });

/// Changes the caller's password and ends their other logins.
#[utoipa::path(post, path = "/v1/auth/password", tag = "auth", request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; other logins ended"),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 409, description = "The password was changed meanwhile", body = ErrorBody),
        (status = 422, description = "Wrong old password or weak new one", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    addr: ClientAddr,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let request: PasswordChange = parse_body(&body)?;
    PasswordHasher::check_policy(&request.new_password, "new_password")?;
    let user = state
        .store
        .user(caller.user_id)?
        .ok_or_else(|| AppError::Unauthorized("no such user".into()))?;
    let attempt = pass_limiter(&state, Some(&user.username), addr).await?;
    if request.old_password.len() > crate::auth::MAX_PASSWORD_BYTES {
        attempt.failed();
        return Err(AppError::validation("old_password", "is not correct"));
    }
    let verified = state
        .passwords
        .verify(request.old_password, Some(user.password_hash.clone()))
        .await?;
    if !verified.ok {
        attempt.failed();
        return Err(AppError::validation("old_password", "is not correct"));
    }
    drop(attempt);
    let hash = state.passwords.hash(request.new_password).await?;
    if !state
        .store
        .set_password_hash(user.user_id, &user.password_hash, &hash)?
    {
        return Err(AppError::Conflict(
            "the password was changed meanwhile; try again".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let ended = state.store.revoke_families_of_user(
        user.user_id,
        Some(caller.family_id),
        "password change",
        now,
    )?;
    audit::record(
        &state,
        Entry::by(
            &caller,
            "account.password_change",
            user.patient_id,
            format!("password changed; {ended} other login(s) ended"),
        ),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
