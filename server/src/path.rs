//! Reading path parameters, with the JSON error body of every other 4xx.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// `Path<T>` whose rejection is the JSON 404 `not_found` instead of axum's plain-text 400.
/// The routes take their ids as text and parse them, so the one rejection left is a
/// segment that is not UTF-8 once percent-decoded (`%FF`): it names nothing that exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(AppPath(value)),
            Err(rejection) => {
                tracing::debug!(reason = %rejection.body_text(), "path parameter refused");
                Err(AppError::NotFound(format!(
                    "no such resource: {}",
                    parts.uri.path()
                )))
            }
        }
    }
}
