//! argon2id hashing off the async workers, at most one hash per core at a time (queued or
//! running, even for requests that were abandoned meanwhile).
//!
//! Hashes run on a small pool of dedicated threads with a lowered scheduling priority
//! (Linux: nice +10), so that a storm of logins slows other logins, not every request:
//! the async workers win the CPU whenever they have work.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;
use crate::settings::Argon2Settings;

/// Shortest accepted password, characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted password, bytes (argon2 input stays bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The stored hash used other parameters than today's: store a new one.
    pub needs_rehash: bool,
}

/// Nice value of the hashing threads (higher is lower priority).
pub const HASH_THREAD_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Dedicated hashing threads; they end when the hasher is dropped.
struct HashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashPool {
    fn new(threads: usize) -> Result<Self, AppError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job drops its answer channel (the caller sees an
                            // error); the thread lives on for the next one.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| AppError::Internal(format!("hashing thread: {e}")))?;
        }
        Ok(HashPool {
            jobs: Mutex::new(tx),
        })
    }
}

/// Lowers the calling thread's priority (Linux keeps a nice value per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, HASH_THREAD_NICE);
    }
}

/// Hashes and verifies passwords with argon2id.
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    pool: HashPool,
    /// A hash of a random password, verified when the username is unknown so that both
    /// failures cost the same.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `settings`, running at most `workers` hashes at once.
    pub fn new(settings: Argon2Settings, workers: usize) -> Result<Self, AppError> {
        let params = params_of(settings)?;
        let dummy_hash = hash_with(&params, &crate::auth::new_refresh_token())?;
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            pool: HashPool::new(workers.max(1))?,
            dummy_hash,
        })
    }

    /// Checks a new password against the policy (`field` names it in the error).
    pub fn check_policy(password: &str, field: &str) -> Result<(), AppError> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AppError::validation(
                field,
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(AppError::validation(
                field,
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    /// Hashes on a blocking thread.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let params = self.params.clone();
        self.run(move || hash_with(&params, &password)).await?
    }

    /// Hashes on the calling thread (for the command line).
    pub fn hash_blocking(&self, password: &str) -> Result<String, AppError> {
        hash_with(&self.params, password)
    }

    /// Verifies on a blocking thread; with no stored hash, verifies against a dummy so the
    /// answer takes as long as for a real user.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified, AppError> {
        let params = self.params.clone();
        let (hash, real) = match stored {
            Some(hash) => (hash, true),
            None => (self.dummy_hash.clone(), false),
        };
        self.run(move || {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| AppError::Internal(format!("stored password hash: {e}")))?;
            let ok = argon2_with(&params)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            let needs_rehash = ok && !same_cost(&parsed, &params);
            Ok(Verified {
                ok: ok && real,
                needs_rehash: needs_rehash && real,
            })
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        // The job owns the permit, not this future: a request cancelled mid-hash (the
        // client went away) keeps its permit until the hash is done, so the jobs queued or
        // running never outnumber the permits and abandoned attempts cannot pile up work.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            // Cancelled before a thread took it: nobody waits for the answer.
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(work());
        });
        self.pool
            .jobs
            .lock()
            .map_err(|_| AppError::Internal("hashing pool lock poisoned".into()))?
            .send(job)
            .map_err(|_| AppError::Internal("hashing pool stopped".into()))?;
        rx.await
            .map_err(|_| AppError::Internal("hashing job failed".into()))
    }
}

fn params_of(settings: Argon2Settings) -> Result<Params, AppError> {
    Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    )
    .map_err(|e| AppError::Internal(format!("argon2 parameters: {e}")))
}

/// Whether `hash` was made with argon2id at today's cost (the output length may differ).
fn same_cost(hash: &PasswordHash<'_>, params: &Params) -> bool {
    hash.algorithm == argon2::ARGON2ID_IDENT
        && hash.version == Some(Version::V0x13 as u32)
        && Params::try_from(hash).is_ok_and(|p| {
            (p.m_cost(), p.t_cost(), p.p_cost())
                == (params.m_cost(), params.t_cost(), params.p_cost())
        })
}

fn argon2_with(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2_with(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing: {e}")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Waits (bounded) until every permit is back.
    async fn permits_returned(hasher: &PasswordHasher, workers: usize) -> bool {
        for _ in 0..500 {
            if hasher.permits.available_permits() == workers {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_cancelled_request_keeps_its_permit_until_the_hash_is_done() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (finish_tx, finish_rx) = mpsc::channel::<()>();
        let mut request = Box::pin(hasher.run(move || {
            let _ = started_tx.send(());
            let _ = finish_rx.recv();
        }));
        tokio::select! {
            _ = &mut request => panic!("the job cannot finish before it is released"),
            started = started_rx => started.unwrap(),
        }
        // The client goes away while its hash runs.
        drop(request);
        assert_eq!(hasher.permits.available_permits(), 0);
        finish_tx.send(()).unwrap();
        assert!(permits_returned(&hasher, 1).await);
        assert!(hasher.hash("another password".into()).await.is_ok());
    }

    #[tokio::test]
    async fn a_panicking_job_gives_its_permit_back() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let failed = hasher.run(|| -> u32 { panic!("job failed") }).await;
        assert!(failed.is_err());
        assert!(permits_returned(&hasher, 1).await);
        assert!(hasher.hash("another password".into()).await.is_ok());
    }

    const CHEAP: Argon2Settings = Argon2Settings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn verifies_and_asks_for_rehash_when_parameters_change() {
        let cheap = PasswordHasher::new(CHEAP, 1).unwrap();
        let hash = cheap.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let v = cheap
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(
            !cheap
                .verify("wrong".into(), Some(hash.clone()))
                .await
                .unwrap()
                .ok
        );
        assert!(!cheap.verify("x".into(), None).await.unwrap().ok);
        let stronger = PasswordHasher::new(
            Argon2Settings {
                memory_kib: 128,
                ..CHEAP
            },
            1,
        )
        .unwrap();
        let v = stronger
            .verify("correct horse".into(), Some(hash))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }
}
