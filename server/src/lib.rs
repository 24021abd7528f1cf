//! Taperlog's server: accounts, auth, care teams, patients and the audit log on sled,
//! served by axum on tokio.
//!
//! Start it with [`launch`] (tests use a listener on `127.0.0.1:0`), or in two steps with
//! [`Server::prepare`] and [`Server::run`] when something must happen in between (the
//! command line loads the demo and prints the `listening on` line there).

pub mod access;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod demo;
pub mod demo_diary;
pub mod error;
pub mod http;
pub mod json;
pub mod path;
pub mod query;
pub mod role;
pub mod routes;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod store;
pub mod sync;

use std::sync::Arc;

use tokio::net::TcpListener;

pub use error::AppError;
pub use settings::Settings;
pub use state::AppState;
pub use store::ServerStore;

/// The allocator the server's binaries install: the server allocates and frees many small
/// buffers per request (JSON, sled pages), where mimalloc is markedly faster than the
/// system allocator. Install it with
/// `#[global_allocator] static ALLOCATOR: ServerAllocator = ServerAllocator;`.
pub use mimalloc::MiMalloc as ServerAllocator;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The data dir or its secrets could not be set up.
    #[error("data directory: {0}")]
    DataDir(#[from] std::io::Error),
    /// The store could not be opened or flushed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The token keys failed their self-test.
    #[error(transparent)]
    Jwt(#[from] auth::JwtError),
    /// Anything else at start-up.
    #[error("{0}")]
    Other(String),
}

/// A server ready to serve: store open, keys loaded and tested.
#[derive(Debug)]
pub struct Server {
    state: AppState,
}

/// Number of concurrent password hashes when not configured: one per core.
pub fn default_hash_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Server {
    /// Opens the store in `settings.data_dir`, loads or makes the secrets, and self-tests
    /// the token keys.
    pub fn prepare(settings: Settings) -> Result<Server, LaunchError> {
        let secrets = secrets::load_or_create(&settings)?;
        let store = ServerStore::open(&settings.data_dir.join("db"))?;
        let pruned = store.prune_expired_refresh_tokens(time::OffsetDateTime::now_utc())?;
        if pruned > 0 {
            tracing::info!(pruned, "expired refresh tokens deleted");
        }
        let jwt = auth::JwtKeys::new(&secrets.jwt, &settings)?;
        let workers = settings.hash_workers.unwrap_or_else(default_hash_workers);
        let passwords = auth::PasswordHasher::new(settings.argon2, workers)
            .map_err(|e| LaunchError::Other(e.to_string()))?;
        let store = Arc::new(store);
        let sync = sync::SyncService::new(
            Arc::clone(&store),
            taperlog_core::clinical::DEFAULT_MME_TABLE,
        )
        .map_err(|e| LaunchError::Other(format!("cannot start the diary writer: {e}")))?;
        Ok(Server {
            state: AppState {
                sync: Arc::new(sync),
                store,
                settings: Arc::new(settings),
                secrets: Arc::new(secrets),
                jwt: Arc::new(jwt),
                passwords: Arc::new(passwords),
                login_limiter: Arc::new(auth::LoginLimiter::default()),
            },
        })
    }

    /// The state handlers will share (for loading data before serving).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` until `shutdown` completes; then finishes in-flight requests
    /// and flushes the store.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), LaunchError> {
        let app = routes::build_app(self.state.clone());
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving");
        }
        http::serve(listener, app, shutdown).await;
        self.state.store.flush().await?;
        tracing::info!("store flushed; stopped");
        Ok(())
    }
}

/// Prepares and runs a server: the whole life of one in one call.
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    Server::prepare(settings)?.run(listener, shutdown).await
}
