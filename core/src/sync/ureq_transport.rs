//! A blocking HTTP transport over ureq with rustls, for tests, tools and apps that want it.

use std::io::Read;
use std::time::Duration;

use super::transport::{HttpRequest, HttpResponse, HttpTransport, TransportError};

/// The largest response body read; a bigger one is a transport failure.
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// [`HttpTransport`] over a ureq agent (HTTP/1.1, rustls for `https`).
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// A transport with the given connect and whole-request timeouts.
    pub fn new(connect_timeout: Duration, request_timeout: Duration) -> Self {
        UreqTransport {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(connect_timeout)
                .timeout(request_timeout)
                .build(),
        }
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        UreqTransport::new(Duration::from_secs(10), Duration::from_secs(60))
    }
}

fn read_response(response: ureq::Response) -> Result<HttpResponse, TransportError> {
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| {
            response
                .header(&name)
                .map(|value| (name.clone(), value.to_string()))
        })
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|error| TransportError {
            message: format!("reading the response: {}", error.kind()),
        })?;
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(TransportError {
            message: format!("response larger than {MAX_RESPONSE_BYTES} bytes"),
        });
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

impl HttpTransport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut call = self.agent.request(&request.method, &request.url);
        for (name, value) in &request.headers {
            call = call.set(name, value);
        }
        let result = if request.body.is_empty() && request.method == "GET" {
            call.call()
        } else {
            call.send_bytes(&request.body)
        };
        match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => read_response(response),
            Err(ureq::Error::Transport(transport)) => Err(TransportError {
                message: format!(
                    "{:?}: {}",
                    transport.kind(),
                    transport.message().unwrap_or("")
                ),
            }),
        }
    }
}
