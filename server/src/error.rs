//! The one mapping from errors to HTTP status and JSON body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use taperlog_core::model::ValidationError;

use crate::store::StoreError;

/// An error a handler answers with: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 401 `unauthorized`: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`: the caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`: no such thing, or not one the caller may see.
    #[error("{0}")]
    NotFound(String),
    /// 422 `validation_failed`, naming the field.
    #[error("{field}: {message}")]
    Validation {
        /// Dotted path of the field (`""` for the whole body).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// 405 `method_not_allowed`: the path exists, not with this method (`Allow` lists them).
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 413 `payload_too_large`.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 408 `request_timeout`.
    #[error("the request took too long")]
    RequestTimeout,
    /// 400 `bad_request`: the request could not be read as HTTP (hyper answers it before any
    /// handler; see `http::parse_errors`).
    #[error("{0}")]
    BadRequest(String),
    /// 414 `uri_too_long`: the request line is longer than the server reads.
    #[error("the URI is longer than {0} bytes")]
    UriTooLong(usize),
    /// 431 `headers_too_large`: too many or too large request headers.
    #[error("the request headers are too many or too large")]
    HeadersTooLarge,
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 500 `internal`; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A 422 about `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The status and code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            AppError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            AppError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            AppError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// The error body, as documented in the OpenAPI description.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code (`unauthorized`, `validation_failed`, …).
    pub code: String,
    /// For people.
    pub message: String,
    /// The offending field, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl AppError {
    /// The JSON body of this error (an internal error's detail is logged, never sent).
    pub fn body(&self) -> ErrorBody {
        let (_, code) = self.status_and_code();
        let message = match self {
            AppError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error".to_string()
            }
            AppError::Validation { message, .. } => message.clone(),
            other => other.to_string(),
        };
        // API.md makes `field` optional: an error about the whole request names none,
        // rather than an empty one.
        let field = match self {
            AppError::Validation { field, .. } if !field.is_empty() => Some(field.clone()),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
                field,
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let mut response = (status, axum::Json(self.body())).into_response();
        if let AppError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => AppError::Conflict(message),
            StoreError::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        AppError::Validation {
            field: e.field,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: AppError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_validation_error_without_a_field_leaves_field_out() {
        let (status, body) = body_of(AppError::validation("", "the body is not JSON")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["message"], "the body is not JSON");
        assert!(body["error"].get("field").is_none(), "{body}");
        let (_, body) = body_of(AppError::validation("limit", "is too big")).await;
        assert_eq!(body["error"]["field"], "limit");
        let (_, body) = body_of(AppError::NotFound("no such patient".into())).await;
        assert!(body["error"].get("field").is_none(), "{body}");
    }
}
