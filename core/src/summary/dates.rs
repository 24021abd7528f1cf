//! Calendar days on the wire: `YYYY-MM-DD`.

time::serde::format_description!(iso_date_format, Date, "[year]-[month]-[day]");

/// Serde of a `time::Date` as `YYYY-MM-DD`: `#[serde(with = "iso_date")]`, or
/// `#[serde(with = "iso_date::option")]` for an `Option<Date>`.
pub mod iso_date {
    pub use super::iso_date_format::{deserialize, option, serialize};

    /// Reads a `YYYY-MM-DD` day (query parameters, CLI arguments).
    pub fn parse(text: &str) -> Option<time::Date> {
        time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
    }
}
