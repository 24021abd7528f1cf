//! Follow-up windows: ranges of days relative to enrolment, and each subject's values in them
//! (CLINICAL.md, "Follow-up windows and the cohort table").

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use super::daily::DailySummary;
use super::stats::mean;
use crate::model::ValidationError;

/// The windows of the seed study: baseline week, discharge week, 3 and 12 months.
pub const DEFAULT_WINDOWS: &str = "baseline:-7..-1,discharge:0..6,month3:76..104,month12:335..395";
/// Most windows one request may ask for.
pub const MAX_WINDOWS: usize = 16;
/// Window bounds must lie within this many days of enrolment.
pub const MAX_WINDOW_DAY: i32 = 3_650;
/// Longest window name.
pub const MAX_WINDOW_NAME: usize = 32;

/// A named range of days relative to enrolment (day 0 = `enrolled_on`), both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Its name (`month3`).
    pub name: String,
    /// First day, relative to enrolment.
    pub first_day: i32,
    /// Last day, relative to enrolment.
    pub last_day: i32,
}

/// The day range of a window as calendar dates for one subject.
pub trait WindowDayRange {
    /// The first and last calendar date of the window for a subject enrolled on `enrolled_on`.
    fn dates(&self, enrolled_on: Date) -> (Date, Date);
}

impl WindowDayRange for Window {
    fn dates(&self, enrolled_on: Date) -> (Date, Date) {
        (
            enrolled_on + Duration::days(self.first_day.into()),
            enrolled_on + Duration::days(self.last_day.into()),
        )
    }
}

fn window_error(message: impl ToString) -> ValidationError {
    ValidationError::new("windows", message)
}

/// Reads a window spec: a comma list of `name:first..last`; the first window is the
/// baseline the others are compared with.
pub fn parse_windows(spec: &str) -> Result<Vec<Window>, ValidationError> {
    let windows: Vec<Window> = spec
        .split(',')
        .map(|part| {
            let (name, range) = part.trim().split_once(':').ok_or_else(|| window_error(format!("`{part}` is not name:first..last")))?;
            let valid_name = !name.is_empty()
                && name.len() <= MAX_WINDOW_NAME
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid_name {
                return Err(window_error(format!("window name `{name}` must be 1-{MAX_WINDOW_NAME} characters of A-Z, a-z, 0-9, _ or -")));
            }
            let (first, last) = range.split_once("..").ok_or_else(|| window_error(format!("`{range}` is not first..last")))?;
            let day = |text: &str| -> Result<i32, ValidationError> {
                let value: i32 = text.trim().parse().map_err(|_| window_error(format!("`{text}` is not a whole number of days")))?;
                if value.abs() > MAX_WINDOW_DAY {
                    return Err(window_error(format!("days must be within ±{MAX_WINDOW_DAY} of enrolment")));
                }
                Ok(value)
            };
            let (first_day, last_day) = (day(first)?, day(last)?);
            if first_day > last_day {
                return Err(window_error(format!("window `{name}` ends before it starts")));
            }
            Ok(Window { name: name.to_string(), first_day, last_day })
        })
        .collect::<Result<_, _>>()?;
    if windows.len() > MAX_WINDOWS {
        return Err(window_error(format!("at most {MAX_WINDOWS} windows")));
    }
    for (index, window) in windows.iter().enumerate() {
        if windows[..index]
            .iter()
            .any(|other| other.name == window.name)
        {
            return Err(window_error(format!(
                "window name `{}` is used twice",
                window.name
            )));
        }
    }
    Ok(windows)
}

/// One subject's values in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectWindow {
    /// The window's name.
    pub window: String,
    /// First day of the window, relative to enrolment.
    pub first_day: i32,
    /// Last day of the window, relative to enrolment.
    pub last_day: i32,
    /// Days with data in the window.
    pub days_with_data: u32,
    /// Mean daily MME over the days with data (0 on a day without opioid); the window value.
    pub mme_mean: Option<f64>,
    /// Mean of the daily mean NRS over the days that have one.
    pub pain_nrs_mean: Option<f64>,
    /// Mean of the daily highest SOWS total over the days that have one.
    pub sows_mean: Option<f64>,
    /// No entry in this window nor on any later day (only once the window has begun).
    pub lost_to_follow_up: bool,
}

/// A subject's values in each window. `daily` is the subject's days with data (sorted);
/// `as_of` is the day the data was read: a window that had not begun then is not counted as
/// lost to follow-up.
pub fn subject_windows(
    daily: &[DailySummary],
    enrolled_on: Date,
    windows: &[Window],
    as_of: Date,
) -> Vec<SubjectWindow> {
    let last_entry_day = daily.iter().rev().find(|d| d.entries > 0).map(|d| d.date);
    windows
        .iter()
        .map(|window| {
            let (first, last) = window.dates(enrolled_on);
            let days: Vec<&DailySummary> = daily
                .iter()
                .filter(|d| d.date >= first && d.date <= last && d.has_data())
                .collect();
            let mme: Vec<f64> = days.iter().map(|d| d.mme_total).collect();
            let pain: Vec<f64> = days.iter().filter_map(|d| d.pain_nrs_mean).collect();
            let sows: Vec<f64> = days
                .iter()
                .filter_map(|d| d.sows_max.map(f64::from))
                .collect();
            SubjectWindow {
                window: window.name.clone(),
                first_day: window.first_day,
                last_day: window.last_day,
                days_with_data: days.len() as u32,
                mme_mean: mean(&mme),
                pain_nrs_mean: mean(&pain),
                sows_mean: mean(&sows),
                lost_to_follow_up: first <= as_of && last_entry_day.is_none_or(|day| day < first),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn default_spec_parses() {
        let windows = parse_windows(DEFAULT_WINDOWS).unwrap();
        assert_eq!(windows.len(), 4);
        assert_eq!(
            windows[0],
            Window {
                name: "baseline".into(),
                first_day: -7,
                last_day: -1
            }
        );
        assert_eq!(windows[3].last_day, 395);
    }

    #[test]
    fn bad_specs_name_the_windows_field() {
        for bad in [
            "",
            "a",
            "a:1",
            "a:x..2",
            "a:3..2",
            "a:0..1,a:2..3",
            "bad name:0..1",
            "a:0..99999",
        ] {
            assert_eq!(parse_windows(bad).unwrap_err().field, "windows", "{bad}");
        }
    }

    #[test]
    fn lost_to_follow_up_only_once_a_window_began() {
        let enrolled = date!(2026 - 01 - 10);
        let windows = parse_windows("baseline:-7..-1,discharge:0..6,month3:76..104").unwrap();
        let mut day = crate::summary::daily_summaries([], crate::clinical::DEFAULT_MME_TABLE);
        assert!(day.is_empty());
        let summary = |date| crate::summary::DailySummary {
            date,
            mme_total: 30.0,
            mme_by_medication: Default::default(),
            unconverted_doses: 0,
            buprenorphine_mg: None,
            ketamine_mg: None,
            ketamine_mg_by_route: Default::default(),
            pain_nrs_mean: Some(4.0),
            pain_nrs_max: Some(4),
            peg_mean: None,
            sows_max: None,
            entries: 1,
            mme_table: "cdc-2022".into(),
            mme_beyond_table: false,
        };
        day.push(summary(date!(2026 - 01 - 05)));
        day.push(summary(date!(2026 - 01 - 12)));
        let early = subject_windows(&day, enrolled, &windows, date!(2026 - 02 - 01));
        assert_eq!(early[0].days_with_data, 1);
        assert_eq!(early[1].mme_mean, Some(30.0));
        assert!(!early[1].lost_to_follow_up);
        assert!(!early[2].lost_to_follow_up, "month 3 has not begun");
        let late = subject_windows(&day, enrolled, &windows, date!(2026 - 06 - 01));
        assert!(late[2].lost_to_follow_up);
        assert_eq!(late[2].mme_mean, None);
    }
}
