//! `POST /v1/auth/enroll`: a patient redeems the code their care team gave them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::{TokenResponse, check_device, check_username, issue_login, pass_limiter};
use crate::audit::{self, Entry};
use crate::auth::{ClientAddr, PasswordHasher, debug_redacted, token_hash};
use crate::error::{AppError, ErrorBody};
use crate::json::parse_body;
use crate::role::Role;
use crate::state::AppState;
use crate::store::{RedeemOutcome, UserRecord};

/// Longest enrolment code accepted as input, characters.
const MAX_CODE_CHARS: usize = 64;

/// `POST /v1/auth/enroll`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time code from the care team.
    pub code: String,
    /// The password to set (at least 10 characters).
    #[schema(min_length = 10)]
    pub password: String,
    /// The device enrolling (`[A-Za-z0-9_-]{1,64}`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub device_id: Option<String>,
    /// The username to log in with later (default: `p-` and the patient id's last 12 hex digits).
    pub username: Option<String>,
}

debug_redacted!(EnrollRequest { device_id, username } secret { code, password });

/// Redeems an enrolment code: sets the patient's password and logs them in.
#[utoipa::path(post, path = "/v1/auth/enroll", tag = "auth", request_body = EnrollRequest,
    responses(
        (status = 200, description = "Enrolled and logged in", body = TokenResponse),
        (status = 401, description = "Unknown, used or expired code", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Malformed body or weak password", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody)))]
pub async fn enroll(
    State(state): State<AppState>,
    addr: ClientAddr,
    body: Bytes,
) -> Result<Json<TokenResponse>, AppError> {
    let request: EnrollRequest = parse_body(&body)?;
    if request.code.chars().count() > MAX_CODE_CHARS {
        return Err(AppError::validation("code", "is too long"));
    }
    PasswordHasher::check_policy(&request.password, "password")?;
    check_device(&request.device_id)?;
    if let Some(username) = &request.username {
        check_username(username, "username")?;
    }
    let attempt = pass_limiter(&state, None, addr).await?;
    let now = OffsetDateTime::now_utc();
    let code_hash = token_hash(&request.code);
    let invalid = || AppError::Unauthorized("unknown, used or expired enrolment code".into());
    let Some(code) = state.store.redeemable_enrollment(&code_hash, now)? else {
        attempt.failed();
        return Err(invalid());
    };
    drop(attempt);
    let username = match request.username {
        Some(name) => name.to_lowercase(),
        None => default_patient_username(code.patient_id),
    };
    if state.store.user_by_name(&username)?.is_some() {
        return Err(AppError::Conflict(format!(
            "the username `{username}` is taken"
        )));
    }
    let password_hash = state.passwords.hash(request.password).await?;
    let user = UserRecord {
        user_id: Uuid::now_v7(),
        username,
        role: Role::Patient,
        password_hash,
        patient_id: Some(code.patient_id),
        created_at: now,
    };
    match state.store.redeem_enrollment(&code_hash, &user, now)? {
        RedeemOutcome::Enrolled { patient_id } => {
            audit::record(
                &state,
                Entry::system(
                    Some(user.user_id),
                    "patient",
                    "patient.enroll",
                    Some(patient_id),
                    format!("enrolment code redeemed; login `{}` created", user.username),
                ),
            )
            .await?;
            Ok(Json(issue_login(&state, &user, request.device_id).await?))
        }
        RedeemOutcome::Invalid => Err(invalid()),
    }
}

/// The username a patient gets when they enrol without choosing one.
pub fn default_patient_username(patient_id: Uuid) -> String {
    let hex = patient_id.simple().to_string();
    format!("p-{}", &hex[hex.len() - 12..])
}
