//! Reading query strings, with the JSON error body of every other 4xx.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// `Query<T>` whose rejection (a duplicated or malformed parameter) is a 422
/// `validation_failed` naming the parameter, instead of axum's plain-text 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

/// The parameter a serde message names (`duplicate field `limit``), if any.
fn parameter_of(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_default()
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => {
                let message = rejection.body_text();
                Err(AppError::validation(parameter_of(&message), message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<String>,
    }

    async fn read(uri: &str) -> Result<AppQuery<Page>, AppError> {
        let request = axum::http::Request::builder().uri(uri).body(()).unwrap();
        let (mut parts, ()) = request.into_parts();
        AppQuery::<Page>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn a_duplicated_parameter_is_a_422_naming_it() {
        assert!(read("/x?limit=5&other=1").await.is_ok());
        match read("/x?limit=1&limit=2").await {
            Err(AppError::Validation { field, .. }) => assert_eq!(field, "limit"),
            other => panic!("{other:?}"),
        }
    }
}
