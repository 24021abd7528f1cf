//! What can go wrong in a sync, in cases an app can act on.

use std::time::Duration;

use super::transport::TransportError;
use crate::store::StoreError;

/// Why a sync (or a login) did not complete. The store is consistent whatever the case; the
/// next sync finishes the job.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No tokens: log in or enrol first.
    #[error("not logged in")]
    NotLoggedIn,
    /// The server refused the credentials or the session was revoked: log in again.
    #[error("the server refused the credentials: {message}")]
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// The server could not be reached, or the answer was cut off (after retries).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server answered with an error (after retries, for the transient ones).
    #[error("the server answered {status} ({code}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// API.md error code.
        code: String,
        /// The server's message.
        message: String,
        /// The offending field, if any.
        field: Option<String>,
        /// How long the server asked us to wait, if it did.
        retry_after: Option<Duration>,
    },
    /// The diary belongs to another patient than the one logged in: it must not sync under
    /// this login (it would hand that patient's entries to this account). Open a new diary
    /// for this login.
    #[error("this diary belongs to another patient's login; open a new diary for this login")]
    OtherPatient,
    /// The answer did not have the shape of the protocol.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The device store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Whether trying again later may succeed without the user doing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Transport(_) => true,
            SyncError::Server { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }
}

/// Statuses worth retrying: timeouts, rate limits and server-side failures.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}
