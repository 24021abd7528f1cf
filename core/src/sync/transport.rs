//! The one thing the core needs from a platform: send an HTTP request, get the response.

/// An HTTP request the core wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
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
