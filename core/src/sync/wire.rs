//! The JSON bodies of the sync and auth endpoints (API.md, "Sync" and "Auth").

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
    /// The pushing device.
    pub device_id: String,
    /// Entries in their wire form.
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

/// `POST /v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// `POST /v1/auth/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// `POST /v1/auth/refresh` and `/v1/auth/logout`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

/// The answer of login, refresh and enrol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
