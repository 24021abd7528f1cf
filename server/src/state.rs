//! What every handler shares.

use std::sync::Arc;

use crate::auth::{JwtKeys, LoginLimiter, PasswordHasher};
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
