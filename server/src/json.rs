//! Reading request bodies: JSON with errors that name the field.

use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Parses a JSON body with the core's reader: unknown fields (with `deny_unknown_fields`),
/// missing fields, wrong types and duplicated keys give a 422 naming the field.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    Ok(taperlog_core::model::parse_json(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    fn field(bytes: &[u8]) -> String {
        match parse_body::<Login>(bytes).unwrap_err() {
            AppError::Validation { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field(br#"{"username":"a"}"#), "password");
        assert_eq!(field(br#"{"username":"a","password":"b","x":1}"#), "x");
        assert_eq!(field(br#"{"username":1,"password":"b"}"#), "username");
        assert_eq!(field(b"{"), "");
    }

    #[test]
    fn a_duplicated_key_is_named() {
        let body = br#"{"username":"a","username":"b","password":"x"}"#;
        assert_eq!(field(body), "username");
        let body = br#"{"username":"a","password":"x","password":"y"}"#;
        assert_eq!(field(body), "password");
    }
}
