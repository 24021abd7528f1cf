//! The authenticated session: log in or enrol, keep the access token fresh, and send
//! authorised requests with retries.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::error::{SyncError, is_transient_status};
use super::retry::RetryPolicy;
use super::transport::{HttpRequest, HttpResponse, HttpTransport};
use super::wire::{EnrollRequest, ErrorEnvelope, LoginRequest, RefreshRequest, TokenResponse};

/// Refresh the access token when it has less than this left, rather than meet a 401.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// What the app keeps in the Keychain / Keystore between runs. The core never writes these
/// to its sled store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// The short-lived JWT.
    pub access_token: String,
    /// The rotating refresh token (each refresh replaces it: save the new one).
    pub refresh_token: String,
    /// When the access token expires, in seconds since the Unix epoch.
    pub access_expires_at: u64,
    /// The account's id.
    pub user_id: String,
    /// The account's role.
    pub role: String,
    /// The patient's id, for a patient.
    pub patient_id: Option<String>,
    /// The username, when the server said (after enrolment).
    pub username: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("access_expires_at", &self.access_expires_at)
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .field("patient_id", &self.patient_id)
            .finish()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Tokens {
    fn from_response(response: TokenResponse) -> Tokens {
        Tokens {
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            access_expires_at: unix_now().saturating_add(response.expires_in),
            user_id: response.user_id,
            role: response.role,
            patient_id: response.patient_id,
            username: response.username,
        }
    }

    fn access_is_fresh(&self) -> bool {
        self.access_expires_at > unix_now() + REFRESH_MARGIN.as_secs()
    }
}

/// Told of every new pair of tokens; see [`Session::with_token_observer`].
type TokenObserver = dyn Fn(&Tokens) + Send + Sync;

/// A connection to one Taperlog server as one account. Shareable between threads.
pub struct Session {
    base_url: String,
    transport: Arc<dyn HttpTransport>,
    retry: RetryPolicy,
    tokens: Mutex<Option<Tokens>>,
    /// Held across every exchange that replaces the tokens (login, enrol, refresh, logout), so
    /// that two threads never present the same refresh token: the server would take the
    /// second for a stolen one and revoke the whole login.
    auth: Mutex<()>,
    observer: Option<Arc<TokenObserver>>,
    refreshes: AtomicU64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn error_of(response: &HttpResponse) -> SyncError {
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs);
    match serde_json::from_slice::<ErrorEnvelope>(&response.body) {
        Ok(envelope) if response.status == 401 => SyncError::Unauthorized {
            message: envelope.error.message,
        },
        Ok(envelope) => SyncError::Server {
            status: response.status,
            code: envelope.error.code,
            message: envelope.error.message,
            field: envelope.error.field,
            retry_after,
        },
        Err(_) if response.status == 401 => SyncError::Unauthorized {
            message: "unauthorized".into(),
        },
        Err(_) => SyncError::Server {
            status: response.status,
            code: "unknown".into(),
            message: format!("HTTP {}", response.status),
            field: None,
            retry_after,
        },
    }
}

/// Reads a 2xx JSON answer, or turns an error answer into a [`SyncError`].
pub(crate) fn read_json<T: DeserializeOwned>(response: &HttpResponse) -> Result<T, SyncError> {
    if !(200..300).contains(&response.status) {
        return Err(error_of(response));
    }
    serde_json::from_slice(&response.body)
        .map_err(|e| SyncError::Protocol(format!("HTTP {}: {e}", response.status)))
}

impl Session {
    /// A session with a server at `base_url` (e.g. `https://clinic.example/`), not logged in.
    pub fn new(base_url: &str, transport: Arc<dyn HttpTransport>) -> Session {
        Session {
            base_url: base_url.trim_end_matches('/').to_string(),
            transport,
            retry: RetryPolicy::default(),
            tokens: Mutex::new(None),
            auth: Mutex::new(()),
            observer: None,
            refreshes: AtomicU64::new(0),
        }
    }

    /// The same session with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Session {
        self.retry = retry;
        self
    }

    /// The same session, calling `observer` with every new pair of tokens: after each
    /// successful login, enrolment and refresh, including the refreshes [`Session::call`]
    /// and sync make on their own. This is where an app saves them to the Keychain /
    /// Keystore, rather than polling [`Session::tokens`]: a refresh token works once, so
    /// tokens the app failed to save are tokens it cannot resume with after a restart.
    ///
    /// The observer runs on the thread that obtained the tokens, in the order the server
    /// issued them, while the session holds its auth lock: it may read
    /// [`Session::tokens`] but must not call `login`, `enroll`, `refresh`, `logout`,
    /// `send_authorized`, `call` or sync on the same session (they would wait on it).
    /// [`Session::restore`] does not call it, nor does a refused refresh (that one comes
    /// back as [`SyncError::Unauthorized`]: the app then deletes what it saved).
    pub fn with_token_observer(
        mut self,
        observer: impl Fn(&Tokens) + Send + Sync + 'static,
    ) -> Session {
        self.observer = Some(Arc::new(observer));
        self
    }

    fn lock_tokens(&self) -> MutexGuard<'_, Option<Tokens>> {
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_auth(&self) -> MutexGuard<'_, ()> {
        self.auth
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores new tokens and tells the observer. Called with the auth lock held, so that
    /// the observer sees the pairs in the order the server issued them.
    fn install(&self, tokens: &Tokens) {
        *self.lock_tokens() = Some(tokens.clone());
        if let Some(observer) = &self.observer {
            observer(tokens);
        }
    }

    /// The current tokens, for the app to save in the Keychain / Keystore. They change on
    /// every refresh: [`Session::with_token_observer`] tells the app each time.
    pub fn tokens(&self) -> Option<Tokens> {
        self.lock_tokens().clone()
    }

    /// Continues a session from tokens the app saved. Does not call the token observer
    /// (the app has these already).
    pub fn restore(&self, tokens: Tokens) {
        *self.lock_tokens() = Some(tokens);
    }

    /// How many times the tokens were refreshed since this session was made.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    fn json_request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        bearer: Option<&str>,
    ) -> HttpRequest {
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        if !body.is_empty() {
            headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        if let Some(token) = bearer {
            headers.push(("Authorization".to_string(), format!("Bearer {token}")));
        }
        HttpRequest {
            method: method.to_string(),
            url: self.url(path),
            headers,
            body,
        }
    }

    /// Sends with retries on transient failures (network, 408/429/5xx, honouring Retry-After).
    fn send_with_retry(&self, make: impl Fn() -> HttpRequest) -> Result<HttpResponse, SyncError> {
        let mut attempt = 1;
        loop {
            let outcome = self.transport.send(make());
            let retry_after = match &outcome {
                Ok(response) if is_transient_status(response.status) => response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse().ok())
                    .map(Duration::from_secs),
                Ok(response) => return Ok(response.clone()),
                Err(_) => None,
            };
            if attempt >= self.retry.max_attempts {
                return match outcome {
                    Ok(response) => Ok(response),
                    Err(error) => Err(error.into()),
                };
            }
            std::thread::sleep(self.retry.delay(attempt, retry_after));
            attempt += 1;
        }
    }

    fn body_of<T: Serialize>(value: &T) -> Result<Vec<u8>, SyncError> {
        serde_json::to_vec(value).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// Logs in with a username and password. Retried on transient failures: a password can
    /// be presented again.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        device_id: Option<&str>,
    ) -> Result<Tokens, SyncError> {
        let body = Self::body_of(&LoginRequest {
            username: username.to_string(),
            password: password.to_string(),
            device_id: device_id.map(str::to_string),
        })?;
        let _auth = self.lock_auth();
        let response = self
            .send_with_retry(|| self.json_request("POST", "/v1/auth/login", body.clone(), None))?;
        let tokens = Tokens::from_response(read_json(&response)?);
        self.install(&tokens);
        Ok(tokens)
    }

    /// Redeems a one-time enrolment code from the care team, setting the password, under
    /// the username the server chooses (it comes back in [`Tokens::username`]).
    /// See [`Session::enroll_as`].
    pub fn enroll(
        &self,
        code: &str,
        password: &str,
        device_id: Option<&str>,
    ) -> Result<Tokens, SyncError> {
        self.enroll_as(code, password, None, device_id)
    }

    /// Redeems a one-time enrolment code from the care team, setting the password, and
    /// `username` when given (else the server chooses one).
    ///
    /// Sent once, never retried: a code works once, so a retry after the server redeemed it
    /// (an answer lost on the way, or a 5xx after the redemption) would only get a 401 and
    /// hide what happened. Errors come back as they are: a [`SyncError::Transport`] or a
    /// 5xx means the code may or may not have been redeemed. An app that chose the username
    /// can then try [`Session::login`] with it and the password; otherwise it needs a new
    /// code from the care team. Choosing the username is what makes that recovery possible.
    pub fn enroll_as(
        &self,
        code: &str,
        password: &str,
        username: Option<&str>,
        device_id: Option<&str>,
    ) -> Result<Tokens, SyncError> {
        let body = Self::body_of(&EnrollRequest {
            code: code.to_string(),
            password: password.to_string(),
            device_id: device_id.map(str::to_string),
            username: username.map(str::to_string),
        })?;
        let _auth = self.lock_auth();
        let response =
            self.transport
                .send(self.json_request("POST", "/v1/auth/enroll", body, None))?;
        let mut tokens = Tokens::from_response(read_json(&response)?);
        if tokens.username.is_none() {
            tokens.username = username.map(str::to_string);
        }
        self.install(&tokens);
        Ok(tokens)
    }

    /// Swaps the refresh token for a new pair, and tells the token observer.
    ///
    /// Threads sharing the session never refresh twice with one token: the exchange holds
    /// the session's auth lock, and a caller that finds the tokens already replaced by
    /// another thread's refresh takes those instead of refreshing again.
    ///
    /// Not retried: a refresh token works once, so resending one whose answer was lost
    /// would look like theft to the server. That leaves one case this side cannot cure: if
    /// the server rotated the token but its answer was lost (connection dropped, timeout),
    /// the session still holds the old refresh token, and the next refresh presents a
    /// token the server already replaced. The server then revokes the whole login and the
    /// user has to log in again. Only the server can soften that, by accepting the replaced
    /// token for a short grace period (answering with the pair it issued for it) instead of
    /// treating its reuse within seconds as theft. A failed refresh is reported as
    /// [`SyncError::Transport`]; a refused one as [`SyncError::Unauthorized`], after which
    /// the session holds no tokens and the app should delete the ones it saved.
    pub fn refresh(&self) -> Result<Tokens, SyncError> {
        let seen = self.tokens().ok_or(SyncError::NotLoggedIn)?;
        self.refresh_after(&seen)
    }

    /// Refreshes unless the tokens have changed since the caller read `seen` (another thread
    /// refreshed, or the app logged in again), in which case it returns the current ones.
    fn refresh_after(&self, seen: &Tokens) -> Result<Tokens, SyncError> {
        let _auth = self.lock_auth();
        let current = self.tokens().ok_or(SyncError::NotLoggedIn)?;
        if current.refresh_token != seen.refresh_token {
            return Ok(current);
        }
        let body = Self::body_of(&RefreshRequest {
            refresh_token: current.refresh_token.clone(),
        })?;
        let response =
            self.transport
                .send(self.json_request("POST", "/v1/auth/refresh", body, None))?;
        match read_json::<TokenResponse>(&response) {
            Ok(answer) => {
                let mut tokens = Tokens::from_response(answer);
                if tokens.username.is_none() {
                    tokens.username = current.username;
                }
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                self.install(&tokens);
                Ok(tokens)
            }
            Err(error @ SyncError::Unauthorized { .. }) => {
                *self.lock_tokens() = None;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Ends the session on the server and forgets the tokens.
    pub fn logout(&self) -> Result<(), SyncError> {
        // A refresh under way would otherwise store a fresh pair after the logout.
        let _auth = self.lock_auth();
        let Some(tokens) = self.lock_tokens().take() else {
            return Ok(());
        };
        let body = Self::body_of(&RefreshRequest {
            refresh_token: tokens.refresh_token,
        })?;
        let response = self.transport.send(self.json_request(
            "POST",
            "/v1/auth/logout",
            body,
            Some(&tokens.access_token),
        ))?;
        if response.status == 204 || response.status == 401 {
            Ok(())
        } else {
            Err(error_of(&response))
        }
    }

    /// Sends an authorised request: refreshes an access token about to expire, retries
    /// transient failures, and on a 401 refreshes once and tries again.
    pub fn send_authorized(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<HttpResponse, SyncError> {
        let mut refreshed = false;
        loop {
            let tokens = self.tokens().ok_or(SyncError::NotLoggedIn)?;
            let tokens = if tokens.access_is_fresh() || refreshed {
                tokens
            } else {
                refreshed = true;
                self.refresh_after(&tokens)?
            };
            let response = self.send_with_retry(|| {
                self.json_request(method, path, body.clone(), Some(&tokens.access_token))
            })?;
            if response.status == 401 && !refreshed {
                refreshed = true;
                self.refresh_after(&tokens)?;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends an authorised request and reads its JSON answer.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, SyncError> {
        read_json(&self.send_authorized(method, path, body)?)
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
