//! Reading query strings, with the JSON error body of every other 4xx.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// `Query<T>` whose rejection (a duplicated, unknown or missing parameter) is a 422
/// `validation_failed` naming the parameter, instead of axum's plain-text 400.
///
/// serde names the parameter only for those three; a value of the wrong type gets a 422
/// naming none. So the query types of the routes take every value as text and parse it
/// themselves, naming the parameter and saying what it must be.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

/// What axum puts before serde's message.
const AXUM_PREFIX: &str = "Failed to deserialize query string: ";

/// The parameter and a message for people, from serde's message about a query string
/// (`<parameter>: <what>` when serde knew the parameter, else naming it inside).
fn describe(serde_message: &str) -> (String, String) {
    let named = |marker: &str| {
        let rest = serde_message.strip_prefix(marker)?;
        let (name, tail) = rest.split_once('`')?;
        Some((name.to_string(), tail))
    };
    if let Some((name, _)) = named("duplicate field `") {
        return (name, "is given more than once".into());
    }
    if let Some((name, tail)) = named("unknown field `") {
        let expected = tail.trim_start_matches(',').trim();
        return (
            name,
            format!("is not a parameter of this route ({expected})"),
        );
    }
    if let Some((name, _)) = named("missing field `") {
        return (name, "is required".into());
    }
    if let Some((path, inner)) = serde_message.split_once(": ")
        && !path.is_empty()
        && path.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        let (field, message) = describe(inner);
        if field.is_empty() {
            return (path.to_string(), format!("is not valid: {inner}"));
        }
        return (field, message);
    }
    (String::new(), format!("bad query string: {serde_message}"))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let (field, message) = describe(text.strip_prefix(AXUM_PREFIX).unwrap_or(&text));
                Err(AppError::validation(field, message))
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        limit: Option<String>,
        count: Option<u32>,
    }

    async fn read_as<T: DeserializeOwned>(uri: &str) -> Result<AppQuery<T>, AppError> {
        let request = axum::http::Request::builder().uri(uri).body(()).unwrap();
        let (mut parts, ()) = request.into_parts();
        AppQuery::<T>::from_request_parts(&mut parts, &()).await
    }

    async fn read(uri: &str) -> Result<AppQuery<Page>, AppError> {
        read_as(uri).await
    }

    #[tokio::test]
    async fn a_duplicated_parameter_is_a_422_naming_it() {
        assert!(read("/x?limit=5&other=1").await.is_ok());
        match read("/x?limit=1&limit=2").await {
            Err(AppError::Validation { field, message }) => {
                assert_eq!(field, "limit");
                assert_eq!(message, "is given more than once");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_and_mistyped_parameters_are_named() {
        let fails = |result: Result<AppQuery<Strict>, AppError>| match result {
            Err(AppError::Validation { field, message }) => (field, message),
            other => panic!("{other:?}"),
        };
        assert!(read_as::<Strict>("/x?limit=a&count=3").await.is_ok());
        let (field, message) = fails(read_as("/x?limti=5").await);
        assert_eq!(field, "limti", "{message}");
        assert!(message.contains("`limit`"), "{message}");
        for uri in ["/x?count=abc", "/x?count=-1", "/x?count="] {
            let (field, message) = fails(read_as(uri).await);
            assert_eq!(field, "count", "{uri}: {message}");
            assert!(!message.contains("Failed to deserialize"), "{message}");
        }
        let (field, message) = fails(read_as("/x?count=1&count=2").await);
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("count", "is given more than once")
        );
    }

    #[test]
    fn a_message_naming_no_parameter_names_none() {
        assert_eq!(describe("something odd").0, "");
        assert_eq!(describe("a b: c").0, "");
    }
}
