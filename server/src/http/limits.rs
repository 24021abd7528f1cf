//! Body size limit, request timeout and panics, all answered with the JSON error body.

use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Body as _;

use crate::error::AppError;

/// Largest request body accepted, bytes (a full sync push of 500 entries fits).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How much of an oversized body is read and discarded before answering 413, so that the
/// client gets the answer instead of a reset connection. Beyond this the connection closes.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;
/// Longest time a request may take, body upload included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Buffers the body up to [`MAX_BODY_BYTES`]; answers 413 beyond it (after draining).
pub async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, mut body) = request.into_parts();
    if declared == Some(0) {
        return next.run(Request::from_parts(parts, Body::empty())).await;
    }
    let mut collected: Vec<u8> = Vec::new();
    let mut too_large = declared.is_some_and(|n| n > MAX_BODY_BYTES as u64);
    let mut seen: usize = 0;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(_)) => {
                return AppError::validation("", "the request body could not be read")
                    .into_response();
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                seen = seen.saturating_add(data.len());
                if seen > MAX_BODY_BYTES {
                    too_large = true;
                }
                if too_large {
                    collected = Vec::new();
                    if seen > MAX_DRAIN_BYTES {
                        break;
                    }
                } else {
                    collected.extend_from_slice(&data);
                }
            }
        }
    }
    if too_large {
        return AppError::PayloadTooLarge(MAX_BODY_BYTES).into_response();
    }
    next.run(Request::from_parts(
        parts,
        Body::from(Bytes::from(collected)),
    ))
    .await
}

/// Answers 408 when a request takes longer than [`REQUEST_TIMEOUT`].
pub async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::RequestTimeout.into_response(),
    }
}

/// A handler panicked: 500 with the JSON body (the panic is logged, not sent).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into());
    AppError::Internal(format!("handler panicked: {detail}")).into_response()
}
