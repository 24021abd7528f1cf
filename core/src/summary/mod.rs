//! Daily summaries, trends, flags and follow-up windows: one implementation, used by the
//! phone and by the server, so both always show the same numbers.
//!
//! Everything here works from [`DailySummary`] values. A summary is built from the day's
//! [`DayContribution`]s (what each entry adds to each local day it touches), so a server can
//! keep summaries current by replacing one entry's contributions and re-summarising only the
//! days it touches, instead of rescanning a patient's entries.

mod cohort;
mod daily;
mod dates;
mod flags;
mod followup;
mod stats;
mod trends;

pub use cohort::{CohortWindow, CountShare, MeanChange, cohort_table};
pub use daily::{
    Contribution, DailySummary, DayContribution, contributions, daily_summaries, summarize_day,
};
pub use dates::iso_date;
pub use flags::{Flag, FlagCode};
pub use followup::{
    DEFAULT_WINDOWS, MAX_WINDOWS, SubjectWindow, Window, WindowDayRange, parse_windows,
    subject_windows,
};
pub use stats::{Distribution, mean, paired_t_test_p_value, quantile_type7, sample_sd};
pub use trends::{
    BaselineSource, MAX_TREND_DAYS, MIN_TREND_DAYS, TrendInput, TrendPoint, Trends, today_for,
    trends,
};
