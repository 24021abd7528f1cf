//! What every handler shares.

use std::sync::Arc;

use crate::auth::{JwtKeys, LoginLimiter, PasswordHasher};
use crate::error::AppError;
use crate::secrets::Secrets;
use crate::settings::Settings;
use crate::store::ServerStore;

/// The application state: cheap to clone (everything behind `Arc`).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The store.
    pub store: Arc<ServerStore>,
    /// The settings in force.
    pub settings: Arc<Settings>,
    /// The server's keys (the pseudonym key for research exports).
    pub secrets: Arc<Secrets>,
    /// Access token signing and checking.
    pub jwt: Arc<JwtKeys>,
    /// Password hashing, off the async workers.
    pub passwords: Arc<PasswordHasher>,
    /// Push and pull: the diary's change log, summaries and group commit.
    pub sync: Arc<crate::sync::SyncService>,
    /// Failed-login limiter.
    pub login_limiter: Arc<LoginLimiter>,
}

impl AppState {
    /// Runs `work` on tokio's blocking pool and waits for its answer.
    ///
    /// For store work that can wait on a lock another thread holds (the audit log's),
    /// scans many records or flushes. On the async workers (two on a two-core machine)
    /// such work would hold up every other request, logins and sync pushes included,
    /// until it ends.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, AppError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(&state))
            .await
            .map_err(|e| AppError::Internal(format!("a store task failed: {e}")))?
    }
}
