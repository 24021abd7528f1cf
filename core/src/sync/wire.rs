//! The JSON bodies of the sync and auth endpoints (API.md, "Sync" and "Auth").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Entry, Stamp};

/// Most changes one push may carry.
pub const MAX_PUSH_CHANGES: usize = 500;
/// Most changes one pull may ask for.
pub const MAX_PULL_LIMIT: usize = 1000;
/// Largest push body in bytes. 500 entries of realistic size take about a third of it, but
/// long notes can fill it sooner: the client cuts its batches by size as well as by count.
pub const MAX_PUSH_BYTES: usize = 1024 * 1024;
/// Changes per pull when the request does not say.
pub const DEFAULT_PULL_LIMIT: usize = 500;

/// `POST /v1/sync/push`. Changes stay raw JSON so that the server can reject a bad one
/// alone, with its error, and accept the rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    /// The pushing device (`[A-Za-z0-9_-]{1,64}`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub device_id: String,
    /// Entries in their wire form, at most [`MAX_PUSH_CHANGES`].
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    pub changes: Vec<serde_json::Value>,
}

/// A change the server has (now or already).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    /// Entry id.
    pub id: uuid::Uuid,
    /// The revision acknowledged.
    pub rev: Stamp,
}

/// The error body of API.md: `{"code", "message", "field"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ChangeError))]
pub struct ErrorBody {
    /// A snake_case code (`validation_failed`, …).
    pub code: String,
    /// For people.
    pub message: String,
    /// The dotted path of the offending field, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `{"error": ErrorBody}`, the body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// A change the server refused. `id` and `rev` echo what was sent, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejected {
    /// Entry id as sent (null when unreadable).
    pub id: Option<String>,
    /// Revision as sent (null when unreadable).
    pub rev: Option<String>,
    /// Why.
    pub error: ErrorBody,
}

/// The answer to a push, sent only once the accepted changes are durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// Changes the server has.
    pub accepted: Vec<Accepted>,
    /// Changes it refused.
    pub rejected: Vec<Rejected>,
    /// The server's clock, to merge into the device's.
    pub server_hlc: Stamp,
    /// Where the patient's change log stood once the accepted changes were in it (opaque).
    /// The device sends the latest one back as `acked` on its pulls, so that a server
    /// restored from a backup older than the changes it acknowledged says so (409), even
    /// when the device's cursor is older still.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_position: Option<String>,
}

/// The answer to `GET /v1/sync/pull`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    /// Changes after the cursor, in the order the server accepted them.
    pub changes: Vec<Entry>,
    /// Where the next pull starts (opaque).
    pub cursor: String,
    /// Whether more changes wait.
    pub more: bool,
    /// The server's clock.
    pub server_hlc: Stamp,
}

/// Stands in for a secret in `Debug` output, so that logs never carry one.
const REDACTED: &str = "<redacted>";

/// `POST /v1/auth/login`. `Debug` hides the password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's username.
    pub username: String,
    /// The password.
    pub password: String,
    /// The device logging in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// `POST /v1/auth/enroll`. `Debug` hides the code and the password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time code from the care team.
    pub code: String,
    /// The password the patient chooses.
    pub password: String,
    /// The device enrolling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The username to log in with later (the server chooses one when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `POST /v1/auth/refresh` and `/v1/auth/logout`. `Debug` hides the token.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

/// The answer of login, refresh and enrol. `Debug` hides both tokens.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// A short-lived JWT.
    pub access_token: String,
    /// A rotating refresh token.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The account's role.
    pub role: String,
    /// The account's id.
    pub user_id: String,
    /// The patient's id, for a patient.
    #[serde(default)]
    pub patient_id: Option<String>,
    /// The username, when the server says (enrolment creates one).
    #[serde(default)]
    pub username: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("device_id", &self.device_id)
            .finish()
    }
}

impl fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("code", &REDACTED)
            .field("password", &REDACTED)
            .field("device_id", &self.device_id)
            .field("username", &self.username)
            .finish()
    }
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("role", &self.role)
            .field("user_id", &self.user_id)
            .field("patient_id", &self.patient_id)
            .field("username", &self.username)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: [&str; 4] = [
        "hunter2-passphrase",
        "ENROL-CODE-4242",
        "rt-secret-refresh",
        "eyJ.secret.access",
    ];

    fn assert_no_secret(debug: String) {
        for secret in SECRETS {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(debug.contains(REDACTED), "{debug}");
    }

    #[test]
    fn debug_of_auth_bodies_shows_no_secret() {
        assert_no_secret(format!(
            "{:?}",
            LoginRequest {
                username: "pat".into(),
                password: SECRETS[0].into(),
                device_id: Some("phone".into()),
            }
        ));
        assert_no_secret(format!(
            "{:#?}",
            EnrollRequest {
                code: SECRETS[1].into(),
                password: SECRETS[0].into(),
                device_id: None,
                username: Some("pat".into()),
            }
        ));
        assert_no_secret(format!(
            "{:?}",
            RefreshRequest {
                refresh_token: SECRETS[2].into(),
            }
        ));
        let answer = TokenResponse {
            access_token: SECRETS[3].into(),
            refresh_token: SECRETS[2].into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            role: "patient".into(),
            user_id: "user-1".into(),
            patient_id: None,
            username: Some("pat".into()),
        };
        let debug = format!("{answer:?}");
        assert!(debug.contains("user-1") && debug.contains("900"), "{debug}");
        assert_no_secret(debug);
    }
}
