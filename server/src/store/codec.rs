//! Stored values: a format-version byte followed by JSON.
//!
//! A newer program reads older versions; a value of an unknown (newer) version is refused
//! rather than misread.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

/// The format version every value is written in today.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Encodes `value` for `tree`.
pub(crate) fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![FORMAT_VERSION];
    serde_json::to_writer(&mut bytes, value).map_err(|e| StoreError::Format {
        tree,
        detail: e.to_string(),
    })?;
    Ok(bytes)
}

/// Decodes a value of `tree` written by [`encode`] (any version up to today's).
pub(crate) fn decode<T: DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|e| StoreError::Format {
                tree,
                detail: e.to_string(),
            })
        }
        Some((version, _)) => Err(StoreError::Format {
            tree,
            detail: format!("unknown format version {version}"),
        }),
        None => Err(StoreError::Format {
            tree,
            detail: "empty value".into(),
        }),
    }
}

/// Decodes inside a sled transaction, aborting it on a bad value.
pub(crate) fn decode_txn<T: DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, sled::transaction::ConflictableTransactionError<StoreError>> {
    decode(tree, bytes).map_err(sled::transaction::ConflictableTransactionError::Abort)
}

/// Encodes inside a sled transaction, aborting it on failure.
pub(crate) fn encode_txn<T: Serialize>(
    tree: &'static str,
    value: &T,
) -> Result<Vec<u8>, sled::transaction::ConflictableTransactionError<StoreError>> {
    encode(tree, value).map_err(sled::transaction::ConflictableTransactionError::Abort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_unknown_versions_are_refused() {
        let bytes = encode("t", &vec![1, 2, 3]).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<Vec<i32>>("t", &bytes).unwrap(), vec![1, 2, 3]);
        let mut newer = bytes.clone();
        newer[0] = FORMAT_VERSION + 1;
        assert!(decode::<Vec<i32>>("t", &newer).is_err());
        assert!(decode::<Vec<i32>>("t", &[]).is_err());
    }
}
