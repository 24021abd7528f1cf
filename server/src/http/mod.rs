//! The HTTP layer: the accept loop (with a header-read timeout) and the middleware stack.

mod limits;
mod parse_errors;
mod serve;
mod trace;

pub use limits::{MAX_BODY_BYTES, MAX_DRAIN_BYTES, REQUEST_TIMEOUT};
pub use parse_errors::{JsonParseErrors, MAX_URI_BYTES};
pub use serve::{HEADER_READ_TIMEOUT, SHUTDOWN_GRACE, serve};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

/// The header carrying each request's id (made here unless the client sent one).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps the application in the middleware every request goes through.
pub fn with_middleware(app: Router) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    // `limit_body` enforces [`MAX_BODY_BYTES`] with the JSON error body; axum's own 2 MB
    // default on body extractors would otherwise answer first, in plain text.
    app.layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(limits::limit_body))
        .layer(axum::middleware::from_fn(limits::time_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            limits::panic_response,
        ))
        .layer(trace::layer())
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
            axum::http::header::COOKIE,
        ]))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
