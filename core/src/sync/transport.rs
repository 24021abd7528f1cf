//! The one thing the core needs from a platform: send an HTTP request, get the response.

use std::fmt;

/// An HTTP request the core wants sent. `Debug` shows the method, the URL, the header names
/// and the body's length only: headers carry the bearer token and bodies carry passwords,
/// refresh tokens and diary entries.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

/// What came back. Any status is a response; only a failure to talk to the server is an error.
/// `Debug` shows the status, the header names and the body's length only: bodies carry
/// tokens and diary entries.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The names of `headers`, for `Debug` output that shows no value.
fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(name, _)| name.as_str()).collect()
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &header_names(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &header_names(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl HttpResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The request could not be completed: no connection, a timeout, a connection dropped
/// before the whole answer arrived. Whether the server acted on it is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transport failure: {message}")]
pub struct TransportError {
    /// What happened, for logs (never contains the request body or headers).
    pub message: String,
}

/// Sends HTTP requests. Phone apps implement it with URLSession or OkHttp; the core ships
/// [`super::UreqTransport`]. Calls block; apps call the sync off the main thread.
pub trait HttpTransport: Send + Sync {
    /// Sends one request and returns the response, whatever its status.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_request_shows_no_token_and_no_body() {
        let request = HttpRequest {
            method: "POST".into(),
            url: "https://clinic.example/v1/auth/refresh".into(),
            headers: vec![
                ("Authorization".into(), "Bearer eyJ.secret.access".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: br#"{"refresh_token":"rt-secret-refresh"}"#.to_vec(),
        };
        let debug = format!("{request:?} {request:#?}");
        for secret in ["eyJ.secret.access", "rt-secret-refresh", "application/json"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        for shown in [
            "POST",
            "/v1/auth/refresh",
            "Authorization",
            "Content-Type",
            "37",
        ] {
            assert!(debug.contains(shown), "{shown} missing from {debug}");
        }
    }

    #[test]
    fn debug_of_a_response_shows_no_body() {
        let response = HttpResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"refresh_token":"rt-secret-refresh"}"#.to_vec(),
        };
        let debug = format!("{response:?}");
        assert!(!debug.contains("rt-secret-refresh"), "{debug}");
        assert!(
            debug.contains("200") && debug.contains("Content-Type"),
            "{debug}"
        );
    }
}
