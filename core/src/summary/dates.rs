//! Calendar days on the wire: `YYYY-MM-DD`.

time::serde::format_description!(iso_date_format, Date, "[year]-[month]-[day]");

/// Serde of a `time::Date` as `YYYY-MM-DD`: `#[serde(with = "iso_date")]`, or
/// `#[serde(with = "iso_date::option")]` for an `Option<Date>`.
pub mod iso_date {
    pub use super::iso_date_format::{deserialize, option, serialize};
}
