//! Lenient number parsing for integer fields: JSON clients often send `5.0` for `5`.

use serde::{Deserialize, Deserializer, de::Error};

/// Deserialises a small non-negative integer, accepting integral floats such as `5.0`
/// and rejecting `5.5`, negatives and values above 255 with a message naming the rule.
pub(crate) fn integral_u8<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number_to_u8(&number).map_err(D::Error::custom)
}

fn number_to_u8(number: &serde_json::Number) -> Result<u8, &'static str> {
    if let Some(value) = number.as_u64() {
        return u8::try_from(value).map_err(|_| "must be a whole number from 0 to 255");
    }
    if number.as_i64().is_some() {
        return Err("must not be negative");
    }
    match number.as_f64() {
        Some(value) if value.fract() == 0.0 && (0.0..=255.0).contains(&value) => Ok(value as u8),
        Some(value) if value.fract() == 0.0 => Err("must be a whole number from 0 to 255"),
        _ => Err("must be a whole number"),
    }
}

/// One answer read as [`integral_u8`], so that an error inside a map is reported at its key
/// (`body.sows.aches`), not at the map.
struct IntegralU8(u8);

impl<'de> Deserialize<'de> for IntegralU8 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        integral_u8(deserializer).map(IntegralU8)
    }
}

/// The map form of [`integral_u8`], for questionnaires keyed by item.
pub(crate) fn integral_u8_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, u8>, D::Error> {
    let answers = std::collections::BTreeMap::<String, IntegralU8>::deserialize(deserializer)?;
    Ok(answers
        .into_iter()
        .map(|(key, answer)| (key, answer.0))
        .collect())
}

/// An optional struct read from `null` or a JSON object only. serde's derived structs also
/// read a JSON array by field position, so `"peg": [4, 5, 6]` would become answers in
/// whatever order the fields are declared; API.md's nested values are objects.
pub(crate) fn optional_object<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    struct Object<T>(T);

    struct ObjectVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer
                .deserialize_map(ObjectVisitor(std::marker::PhantomData))
                .map(Object)
        }
    }

    Ok(Option::<Object<T>>::deserialize(deserializer)?.map(|object| object.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "integral_u8")]
        value: u8,
    }

    fn parse(json: &str) -> Result<u8, String> {
        serde_json::from_str::<Holder>(json)
            .map(|h| h.value)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_integers_and_integral_floats() {
        assert_eq!(parse(r#"{"value": 5}"#), Ok(5));
        assert_eq!(parse(r#"{"value": 5.0}"#), Ok(5));
        assert_eq!(parse(r#"{"value": 0}"#), Ok(0));
    }

    #[test]
    fn rejects_fractions_negatives_and_overflow() {
        assert!(
            parse(r#"{"value": 5.5}"#)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(parse(r#"{"value": -1}"#).unwrap_err().contains("negative"));
        assert!(parse(r#"{"value": 256}"#).is_err());
        assert!(parse(r#"{"value": "5"}"#).is_err());
    }
}
