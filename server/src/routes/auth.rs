//! `/v1/auth/*`: login, refresh and logout here, with the helpers shared with enrolment
//! ([`super::enrollment`]) and password change ([`super::password`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use taperlog_core::model::validate_device_id;
use time::{Duration, OffsetDateTime};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::auth::{Attempt, Caller, ClientAddr, debug_redacted, new_refresh_token, token_hash};
use crate::error::{AppError, ErrorBody};
use crate::json::parse_body;
use crate::role::Role;
use crate::state::AppState;
use crate::store::{FamilyRecord, RefreshRecord, RotateOutcome, UserRecord};

/// Longest username, characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Shortest username, characters.
pub const MIN_USERNAME_CHARS: usize = 3;
/// Longest refresh token accepted as input, characters.
const MAX_TOKEN_CHARS: usize = 256;

/// `POST /v1/auth/login`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username (case-insensitive).
    pub username: String,
    /// Password.
    pub password: String,
    /// The device logging in (`[A-Za-z0-9_-]{1,64}`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub device_id: Option<String>,
}

debug_redacted!(LoginRequest { username, device_id } secret { password });

/// `POST /v1/auth/refresh` and `/v1/auth/logout`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

debug_redacted!(RefreshRequest {} secret { refresh_token });

/// A token pair, as login, refresh and enrolment answer.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// One-use token for `POST /v1/auth/refresh`.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// The user's role.
    pub role: Role,
    /// The user's id.
    pub user_id: Uuid,
    /// The patient's id (patients only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patient_id: Option<Uuid>,
    /// The username to log in with.
    pub username: String,
}

debug_redacted!(
    TokenResponse { token_type, expires_in, role, user_id, patient_id, username }
    secret { access_token, refresh_token }
);

/// The auth routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(super::enrollment::enroll))
        .routes(routes!(super::password::change_password))
}

/// Checks a username's form (`field` names it in errors).
pub fn check_username(username: &str, field: &str) -> Result<(), AppError> {
    let n = username.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if !(MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&n) || !username.chars().all(allowed) {
        return Err(AppError::validation(
            field,
            format!("must be {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} of A-Z a-z 0-9 . _ - @"),
        ));
    }
    Ok(())
}

pub(crate) fn check_device(device_id: &Option<String>) -> Result<(), AppError> {
    if let Some(device) = device_id {
        validate_device_id(device, "device_id")?;
    }
    Ok(())
}

/// Starts a login for `user`: a new refresh-token family and a token pair.
pub async fn issue_login(
    state: &AppState,
    user: &UserRecord,
    device_id: Option<String>,
) -> Result<TokenResponse, AppError> {
    let now = OffsetDateTime::now_utc();
    let family_id = Uuid::now_v7();
    let refresh_token = new_refresh_token();
    let family = FamilyRecord {
        family_id,
        user_id: user.user_id,
        device_id,
        created_at: now,
        revoked_at: None,
        revoked_reason: None,
        role: Some(user.role),
        patient_id: user.patient_id,
    };
    let expires_at = expiry_after(now, state.settings.refresh_token_ttl_secs)?;
    let record = refresh_record(family_id, user.user_id, now, expires_at);
    if !state.store.insert_family(
        &family,
        &token_hash(&refresh_token),
        &record,
        &user.password_hash,
    )? {
        // The password changed while it was being checked.
        return Err(AppError::Unauthorized("wrong username or password".into()));
    }
    state.store.flush().await?;
    token_pair(
        state,
        user.user_id,
        user.role,
        user.patient_id,
        &user.username,
        family_id,
        refresh_token,
    )
}

/// `now` plus `ttl_secs`, or a 500 (never a panic) if that is past the calendar's end;
/// the settings bound every lifetime, so this is a second line.
pub fn expiry_after(now: OffsetDateTime, ttl_secs: u64) -> Result<OffsetDateTime, AppError> {
    i64::try_from(ttl_secs)
        .ok()
        .and_then(|secs| now.checked_add(Duration::seconds(secs)))
        .ok_or_else(|| AppError::Internal(format!("an expiry {ttl_secs} s after now overflows")))
}

fn refresh_record(
    family_id: Uuid,
    user_id: Uuid,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> RefreshRecord {
    RefreshRecord {
        family_id,
        user_id,
        issued_at: now,
        expires_at,
        used_at: None,
    }
}

fn token_pair(
    state: &AppState,
    user_id: Uuid,
    role: Role,
    patient_id: Option<Uuid>,
    username: &str,
    family_id: Uuid,
    refresh_token: String,
) -> Result<TokenResponse, AppError> {
    let claims = state.jwt.claims(user_id, role, family_id, patient_id);
    let access_token = state
        .jwt
        .sign(&claims)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_secs(),
        role,
        user_id,
        patient_id,
        username: username.to_string(),
    })
}

/// Waits or refuses according to the failed-login limiter. The attempt counts against the
/// caps until it is settled (failed or succeeded) or dropped.
pub(crate) async fn pass_limiter<'a>(
    state: &'a AppState,
    username: Option<&str>,
    addr: ClientAddr,
) -> Result<Attempt<'a>, AppError> {
    match state.login_limiter.check(username, addr.0) {
        Ok(attempt) => {
            if !attempt.delay().is_zero() {
                tokio::time::sleep(attempt.delay()).await;
            }
            Ok(attempt)
        }
        Err(retry_after) => Err(AppError::RateLimited {
            retry_after_secs: retry_after.as_secs() + 1,
        }),
    }
}

/// Logs in with a username and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 422, description = "Malformed body", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    body: Bytes,
) -> Result<Json<TokenResponse>, AppError> {
    let request: LoginRequest = parse_body(&body)?;
    if request.username.chars().count() > MAX_USERNAME_CHARS {
        return Err(AppError::validation("username", "is too long"));
    }
    if request.password.len() > crate::auth::MAX_PASSWORD_BYTES {
        return Err(AppError::validation("password", "is too long"));
    }
    check_device(&request.device_id)?;
    let mut attempt = pass_limiter(&state, Some(&request.username), addr).await?;
    let user = state.store.user_by_name(&request.username)?;
    // From here a client that goes away counts as a failure: the check costs a full hash.
    attempt.verifying();
    let verified = state
        .passwords
        .verify(
            request.password.clone(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let Some(mut user) = user.filter(|_| verified.ok) else {
        attempt.failed();
        return Err(AppError::Unauthorized("wrong username or password".into()));
    };
    attempt.succeeded();
    if verified.needs_rehash {
        let hash = state.passwords.hash(request.password).await?;
        // The password was changed meanwhile: the old one no longer logs in.
        if !state
            .store
            .set_password_hash(user.user_id, &user.password_hash, &hash)?
        {
            return Err(AppError::Unauthorized("wrong username or password".into()));
        }
        user.password_hash = hash;
    }
    Ok(Json(issue_login(&state, &user, request.device_id).await?))
}

/// Exchanges a refresh token for a new pair. A token that was already exchanged ends the
/// whole login (it was copied) and answers 401.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the old refresh token no longer works", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused token", body = ErrorBody),
        (status = 422, description = "Malformed body", body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<TokenResponse>, AppError> {
    let request: RefreshRequest = parse_body(&body)?;
    if request.refresh_token.len() > MAX_TOKEN_CHARS {
        return Err(AppError::Unauthorized("invalid refresh token".into()));
    }
    let now = OffsetDateTime::now_utc();
    let expires_at = expiry_after(now, state.settings.refresh_token_ttl_secs)?;
    let new_token = new_refresh_token();
    let outcome = state.store.rotate_refresh_token(
        &token_hash(&request.refresh_token),
        &token_hash(&new_token),
        |family_id, user_id| refresh_record(family_id, user_id, now, expires_at),
        now,
    )?;
    match outcome {
        RotateOutcome::Rotated { family_id, user_id } => {
            state.store.flush().await?;
            let user = state
                .store
                .user(user_id)?
                .ok_or_else(|| AppError::Unauthorized("invalid refresh token".into()))?;
            Ok(Json(token_pair(
                &state,
                user.user_id,
                user.role,
                user.patient_id,
                &user.username,
                family_id,
                new_token,
            )?))
        }
        RotateOutcome::Reused { family_id, user_id } => {
            let role = state
                .store
                .user(user_id)?
                .map(|u| u.role.as_str())
                .unwrap_or("unknown");
            audit::record(
                &state,
                Entry::system(
                    Some(user_id),
                    role,
                    "auth.refresh_reuse",
                    None,
                    format!(
                        "a rotated refresh token was presented again; login {family_id} revoked"
                    ),
                )
                .outcome("denied"),
            )
            .await?;
            Err(AppError::Unauthorized("invalid refresh token".into()))
        }
        RotateOutcome::Unknown | RotateOutcome::Expired => {
            Err(AppError::Unauthorized("invalid refresh token".into()))
        }
    }
}

/// Ends the login of the refresh token (and of the access token used to call).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 422, description = "Malformed body", body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let request: RefreshRequest = parse_body(&body)?;
    let now = OffsetDateTime::now_utc();
    if request.refresh_token.len() <= MAX_TOKEN_CHARS
        && let Some(record) = state
            .store
            .refresh_token(&token_hash(&request.refresh_token))?
        && record.user_id == caller.user_id
    {
        state.store.revoke_family(record.family_id, "logout", now)?;
    }
    state.store.revoke_family(caller.family_id, "logout", now)?;
    state.store.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
