//! The authenticated session: log in or enrol, keep the access token fresh, and send
//! authorised requests with retries.

use std::fmt;
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

/// A connection to one Taperlog server as one account.
pub struct Session {
    base_url: String,
    transport: Arc<dyn HttpTransport>,
    retry: RetryPolicy,
    tokens: Mutex<Option<Tokens>>,
    refreshes: Mutex<u64>,
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
            refreshes: Mutex::new(0),
        }
    }

    /// The same session with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Session {
        self.retry = retry;
        self
    }

    fn lock_tokens(&self) -> MutexGuard<'_, Option<Tokens>> {
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current tokens, for the app to save in the Keychain / Keystore. They change on
    /// every refresh ([`Session::refresh_count`] tells when).
    pub fn tokens(&self) -> Option<Tokens> {
        self.lock_tokens().clone()
    }

    /// Continues a session from tokens the app saved.
    pub fn restore(&self, tokens: Tokens) {
        *self.lock_tokens() = Some(tokens);
    }

    /// How many times the tokens were refreshed since this session was made.
    pub fn refresh_count(&self) -> u64 {
        *self
            .refreshes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

    fn obtain_tokens(&self, path: &str, body: Vec<u8>) -> Result<Tokens, SyncError> {
        let response =
            self.send_with_retry(|| self.json_request("POST", path, body.clone(), None))?;
        let tokens = Tokens::from_response(read_json(&response)?);
        *self.lock_tokens() = Some(tokens.clone());
        Ok(tokens)
    }

    /// Logs in with a username and password.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        device_id: Option<&str>,
    ) -> Result<Tokens, SyncError> {
        let body = LoginRequest {
            username: username.to_string(),
            password: password.to_string(),
            device_id: device_id.map(str::to_string),
        };
        self.obtain_tokens(
            "/v1/auth/login",
            serde_json::to_vec(&body).map_err(|e| SyncError::Protocol(e.to_string()))?,
        )
    }

    /// Redeems a one-time enrolment code from the care team, setting the password.
    pub fn enroll(
        &self,
        code: &str,
        password: &str,
        device_id: Option<&str>,
    ) -> Result<Tokens, SyncError> {
        let body = EnrollRequest {
            code: code.to_string(),
            password: password.to_string(),
            device_id: device_id.map(str::to_string),
        };
        self.obtain_tokens(
            "/v1/auth/enroll",
            serde_json::to_vec(&body).map_err(|e| SyncError::Protocol(e.to_string()))?,
        )
    }

    /// Swaps the refresh token for a new pair. Not retried: a refresh token works once, so
    /// resending one whose answer was lost would look like theft to the server.
    pub fn refresh(&self) -> Result<Tokens, SyncError> {
        let refresh_token = self.tokens().ok_or(SyncError::NotLoggedIn)?.refresh_token;
        let body = serde_json::to_vec(&RefreshRequest { refresh_token })
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let response =
            self.transport
                .send(self.json_request("POST", "/v1/auth/refresh", body, None))?;
        match read_json::<TokenResponse>(&response) {
            Ok(answer) => {
                let mut tokens = Tokens::from_response(answer);
                let mut slot = self.lock_tokens();
                if tokens.username.is_none() {
                    tokens.username = slot.as_ref().and_then(|t| t.username.clone());
                }
                *slot = Some(tokens.clone());
                *self
                    .refreshes
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
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
        let Some(tokens) = self.lock_tokens().take() else {
            return Ok(());
        };
        let body = serde_json::to_vec(&RefreshRequest {
            refresh_token: tokens.refresh_token,
        })
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
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
                self.refresh()?
            };
            let response = self.send_with_retry(|| {
                self.json_request(method, path, body.clone(), Some(&tokens.access_token))
            })?;
            if response.status == 401 && !refreshed {
                refreshed = true;
                self.refresh()?;
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
