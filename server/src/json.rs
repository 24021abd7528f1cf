//! Reading request bodies: JSON with errors that name the field.
//!
//! Mirrors `taperlog_core::model::parse_json`, which the core does not export yet; once it
//! does, [`parse_body`] becomes a call to it.

use serde::de::DeserializeOwned;
use taperlog_core::model::ValidationError;

use crate::error::AppError;

/// Parses a JSON body; unknown fields (with `deny_unknown_fields`), missing fields and
/// wrong types give a 422 naming the field.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    parse_json(bytes).map_err(AppError::from)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ValidationError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        ValidationError::new(field_of(&path, &message), strip_position(&message))
    })
}

/// A missing field is reported at its parent, so its own name is taken from the message;
/// an unknown field is named by the message too.
fn field_of(path: &str, message: &str) -> String {
    let path = if path == "." || path == "?" { "" } else { path };
    for marker in ["missing field `", "unknown field `"] {
        if let Some(start) = message.find(marker) {
            let name = &message[start + marker.len()..];
            if let Some(end) = name.find('`') {
                let name = &name[..end];
                if path.is_empty() {
                    return name.to_string();
                }
                if path.ends_with(name) {
                    return path.to_string();
                }
                return format!("{path}.{name}");
            }
        }
    }
    path.to_string()
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
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
}
