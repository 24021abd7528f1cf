//! Rolling means, the baseline MME, and the trend series of `/trends`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, UtcOffset};

use super::daily::DailySummary;
use super::dates::iso_date;
use super::flags::{Flag, evaluate_flags};
use super::stats::mean;

/// Fewest days a trend series may cover.
pub const MIN_TREND_DAYS: u32 = 7;
/// Most days a trend series may cover.
pub const MAX_TREND_DAYS: u32 = 730;

/// Where the baseline MME came from (CLINICAL.md, "Baseline MME").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BaselineSource {
    /// Set on the patient by the care team.
    Set,
    /// The mean over the days with data among the 7 days before enrolment.
    PreEnrolment,
    /// The mean over the first 7 days with data.
    FirstWeek,
}

impl BaselineSource {
    /// The wire name (`set`, `pre_enrolment`, `first_week`).
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineSource::Set => "set",
            BaselineSource::PreEnrolment => "pre_enrolment",
            BaselineSource::FirstWeek => "first_week",
        }
    }
}

/// What a trend needs to know about a patient.
#[derive(Debug, Clone, Copy)]
pub struct TrendInput<'a> {
    /// The patient's days with data, sorted by date (any span; more history, better flags).
    pub daily: &'a [DailySummary],
    /// The enrolment day (day 0 of follow-up).
    pub enrolled_on: Date,
    /// A baseline MME set by the care team, if any.
    pub baseline_set: Option<f64>,
    /// The patient's today (see [`today_for`]).
    pub today: Date,
    /// How many days the series covers, ending today.
    pub days: u32,
}

/// One day of the trend series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrendPoint {
    /// The day.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// The day's MME, or null on a day without data.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub mme_total: Option<f64>,
    /// The 7-day mean MME.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub mme_7d: Option<f64>,
    /// The 7-day mean of the daily mean NRS.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub pain_nrs_7d: Option<f64>,
    /// The 7-day mean of the daily highest SOWS total.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sows_7d: Option<f64>,
}

/// The answer of `/trends`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trends {
    /// The baseline MME, if one can be established.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub baseline_mme: Option<f64>,
    /// Where it came from.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub baseline_source: Option<BaselineSource>,
    /// One point per day, oldest first, ending today.
    pub series: Vec<TrendPoint>,
    /// The change of today's 7-day mean MME from the baseline, in percent.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub change_from_baseline_pct: Option<f64>,
    /// The flags that hold today.
    pub flags: Vec<Flag>,
}

/// The patient's today: the current date at the UTC offset of their latest entry (UTC when
/// there is none).
pub fn today_for(latest_entry_offset: Option<UtcOffset>, now: OffsetDateTime) -> Date {
    now.to_offset(latest_entry_offset.unwrap_or(UtcOffset::UTC))
        .date()
}

/// Daily values looked up by date, with the 7-day means of CLINICAL.md.
pub(crate) struct DayIndex<'a> {
    by_date: BTreeMap<Date, &'a DailySummary>,
}

impl<'a> DayIndex<'a> {
    /// Indexes the days with data ([`DailySummary::has_data`]) of `daily`.
    pub(crate) fn new(daily: &'a [DailySummary]) -> Self {
        DayIndex {
            by_date: daily
                .iter()
                .filter(|d| d.has_data())
                .map(|d| (d.date, d))
                .collect(),
        }
    }

    pub(crate) fn get(&self, date: Date) -> Option<&'a DailySummary> {
        self.by_date.get(&date).copied()
    }

    pub(crate) fn first_date(&self) -> Option<Date> {
        self.by_date.keys().next().copied()
    }

    pub(crate) fn has_entries(&self) -> bool {
        self.by_date.values().any(|d| d.entries > 0)
    }

    /// The days with data among `date − 6 ..= date`.
    pub(crate) fn week_ending(&self, date: Date) -> impl Iterator<Item = &'a DailySummary> + '_ {
        self.by_date
            .range(date - Duration::days(6)..=date)
            .map(|(_, d)| *d)
    }

    /// The mean of `value` over the days among `date − 6 ..= date` where it has one.
    pub(crate) fn mean_7d(
        &self,
        date: Date,
        value: impl Fn(&DailySummary) -> Option<f64>,
    ) -> Option<f64> {
        let values: Vec<f64> = self.week_ending(date).filter_map(value).collect();
        mean(&values)
    }

    pub(crate) fn mme_7d(&self, date: Date) -> Option<f64> {
        self.mean_7d(date, |d| Some(d.mme_total))
    }

    pub(crate) fn pain_7d(&self, date: Date) -> Option<f64> {
        self.mean_7d(date, |d| d.pain_nrs_mean)
    }

    pub(crate) fn sows_7d(&self, date: Date) -> Option<f64> {
        self.mean_7d(date, |d| d.sows_max.map(f64::from))
    }

    /// The baseline MME and its source.
    pub(crate) fn baseline(
        &self,
        enrolled_on: Date,
        set: Option<f64>,
    ) -> Option<(f64, BaselineSource)> {
        if let Some(value) = set {
            return Some((value, BaselineSource::Set));
        }
        let before: Vec<f64> = self
            .by_date
            .range(enrolled_on - Duration::days(7)..enrolled_on)
            .map(|(_, d)| d.mme_total)
            .collect();
        if let Some(value) = mean(&before) {
            return Some((value, BaselineSource::PreEnrolment));
        }
        let first_week: Vec<f64> = self.by_date.values().take(7).map(|d| d.mme_total).collect();
        mean(&first_week).map(|value| (value, BaselineSource::FirstWeek))
    }
}

/// The change of `current` from `baseline` in percent; `None` when the baseline is not positive.
fn change_pct(current: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    match (current, baseline) {
        (Some(current), Some(baseline)) if baseline > 0.0 => {
            Some((current - baseline) / baseline * 100.0)
        }
        _ => None,
    }
}

/// The trend series, baseline, change from baseline and flags of a patient.
pub fn trends(input: TrendInput<'_>) -> Trends {
    let index = DayIndex::new(input.daily);
    let baseline = index.baseline(input.enrolled_on, input.baseline_set);
    let days = input.days.clamp(MIN_TREND_DAYS, MAX_TREND_DAYS);
    let first = input.today - Duration::days(i64::from(days) - 1);
    let series = (0..i64::from(days))
        .map(|offset| {
            let date = first + Duration::days(offset);
            TrendPoint {
                date,
                mme_total: index.get(date).map(|d| d.mme_total),
                mme_7d: index.mme_7d(date),
                pain_nrs_7d: index.pain_7d(date),
                sows_7d: index.sows_7d(date),
            }
        })
        .collect();
    Trends {
        baseline_mme: baseline.map(|(value, _)| value),
        baseline_source: baseline.map(|(_, source)| source),
        series,
        change_from_baseline_pct: change_pct(
            index.mme_7d(input.today),
            baseline.map(|(value, _)| value),
        ),
        flags: evaluate_flags(
            &index,
            input.enrolled_on,
            baseline.map(|(value, _)| value),
            input.today,
        ),
    }
}

#[cfg(test)]
#[path = "trends_tests.rs"]
mod tests;
