//! The flag rules of CLINICAL.md (`flags-1`), evaluated on every day up to today.

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use super::dates::iso_date;
use super::trends::DayIndex;
use crate::clinical::{MME_THRESHOLD_AVOID, MME_THRESHOLD_REASSESS};

/// A rule of `flags-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FlagCode {
    /// The 7-day mean MME is ≥ 90.
    #[serde(rename = "mme_over_90")]
    MmeOver90,
    /// The 7-day mean MME is ≥ 50 and < 90.
    #[serde(rename = "mme_over_50")]
    MmeOver50,
    /// The 7-day mean MME is more than 10% above the baseline.
    DoseEscalation,
    /// The 7-day mean MME fell more than 20% below its value 28 days earlier.
    RapidTaper,
    /// A SOWS total ≥ 21 within the last 7 days.
    SevereWithdrawal,
    /// MME up ≥ 10% and NRS up ≥ 1 point against 21 days earlier.
    PainUpWithDose,
    /// No entry in the last three local days.
    NoRecentEntries,
}

impl FlagCode {
    /// Every rule, in the order flags are listed.
    pub const ALL: [FlagCode; 7] = [
        FlagCode::MmeOver90,
        FlagCode::MmeOver50,
        FlagCode::DoseEscalation,
        FlagCode::RapidTaper,
        FlagCode::SevereWithdrawal,
        FlagCode::PainUpWithDose,
        FlagCode::NoRecentEntries,
    ];

    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagCode::MmeOver90 => "mme_over_90",
            FlagCode::MmeOver50 => "mme_over_50",
            FlagCode::DoseEscalation => "dose_escalation",
            FlagCode::RapidTaper => "rapid_taper",
            FlagCode::SevereWithdrawal => "severe_withdrawal",
            FlagCode::PainUpWithDose => "pain_up_with_dose",
            FlagCode::NoRecentEntries => "no_recent_entries",
        }
    }
}

/// A flag that holds today, since the first day of its current run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Flag {
    /// The rule.
    pub code: FlagCode,
    /// The first day of the run of consecutive days on which it has held.
    #[serde(with = "iso_date")]
    pub since: Date,
    /// What it means, for people (figures as of today).
    pub detail: String,
}

const SEVERE_SOWS: u8 = 21;
const ESCALATION_RATIO: f64 = 1.10;
const RAPID_TAPER_RATIO: f64 = 0.80;
const RAPID_TAPER_LOOKBACK_DAYS: i64 = 28;
const HYPERALGESIA_LOOKBACK_DAYS: i64 = 21;
const HYPERALGESIA_MME_RATIO: f64 = 1.10;
const HYPERALGESIA_NRS_RISE: f64 = 1.0;
const NO_ENTRY_DAYS: i64 = 3;

/// Relative tolerance of the rules' comparisons. Means of decimal doses and their ratios are
/// not exact in binary floating point (100 × 1.10 is 110.00000000000001, 4.33… − 3.33… is
/// 0.9999999999999996), and a rule's boundary is part of the rule: a rise of exactly 10% is
/// "≥ 10%", a fall of exactly 20% is not "more than 20%".
const TOLERANCE: f64 = 1e-9;

fn tolerance(a: f64, b: f64) -> f64 {
    TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// `a ≥ b`, up to rounding.
fn at_least(a: f64, b: f64) -> bool {
    a >= b - tolerance(a, b)
}

/// `a > b`, beyond rounding.
fn more_than(a: f64, b: f64) -> bool {
    a > b + tolerance(a, b)
}

/// `a < b`, beyond rounding.
fn less_than(a: f64, b: f64) -> bool {
    a < b - tolerance(a, b)
}

struct Rules<'a> {
    index: &'a DayIndex<'a>,
    enrolled_on: Date,
    baseline: Option<f64>,
    has_entries: bool,
}

impl Rules<'_> {
    fn holds(&self, code: FlagCode, d: Date) -> bool {
        let m7 = self.index.mme_7d(d);
        match code {
            FlagCode::MmeOver90 => m7.is_some_and(|m| at_least(m, MME_THRESHOLD_AVOID)),
            FlagCode::MmeOver50 => m7.is_some_and(|m| {
                at_least(m, MME_THRESHOLD_REASSESS) && !at_least(m, MME_THRESHOLD_AVOID)
            }),
            FlagCode::DoseEscalation => match (m7, self.baseline) {
                (Some(m), Some(base)) if base > 0.0 => more_than(m, base * ESCALATION_RATIO),
                _ => false,
            },
            FlagCode::RapidTaper => match (
                m7,
                self.index
                    .mme_7d(d - Duration::days(RAPID_TAPER_LOOKBACK_DAYS)),
            ) {
                (Some(now), Some(before)) if before > 0.0 => {
                    less_than(now, before * RAPID_TAPER_RATIO)
                }
                _ => false,
            },
            FlagCode::SevereWithdrawal => self
                .index
                .week_ending(d)
                .any(|day| day.sows_max.is_some_and(|s| s >= SEVERE_SOWS)),
            FlagCode::PainUpWithDose => {
                let earlier = d - Duration::days(HYPERALGESIA_LOOKBACK_DAYS);
                match (
                    m7,
                    self.index.mme_7d(earlier),
                    self.index.pain_7d(d),
                    self.index.pain_7d(earlier),
                ) {
                    (Some(m), Some(m_before), Some(p), Some(p_before)) if m_before > 0.0 => {
                        at_least(m, m_before * HYPERALGESIA_MME_RATIO)
                            && at_least(p - p_before, HYPERALGESIA_NRS_RISE)
                    }
                    _ => false,
                }
            }
            FlagCode::NoRecentEntries => {
                if self.has_entries {
                    (0..NO_ENTRY_DAYS).all(|back| {
                        self.index
                            .get(d - Duration::days(back))
                            .is_none_or(|day| day.entries == 0)
                    })
                } else {
                    d >= self.enrolled_on + Duration::days(NO_ENTRY_DAYS - 1)
                }
            }
        }
    }

    fn detail(&self, code: FlagCode, today: Date) -> String {
        let m7 = self.index.mme_7d(today).unwrap_or(0.0);
        match code {
            FlagCode::MmeOver90 => format!("7-day mean {m7:.0} MME/day, at or above 90 (CDC 2016: avoid or carefully justify)"),
            FlagCode::MmeOver50 => format!("7-day mean {m7:.0} MME/day, at or above 50 (CDC 2022: careful reassessment)"),
            FlagCode::DoseEscalation => {
                format!("7-day mean {m7:.0} MME/day, more than 10% above the baseline of {:.0}", self.baseline.unwrap_or(0.0))
            }
            FlagCode::RapidTaper => {
                let before = self.index.mme_7d(today - Duration::days(RAPID_TAPER_LOOKBACK_DAYS)).unwrap_or(0.0);
                format!("7-day mean {m7:.0} MME/day, down more than 20% from {before:.0} four weeks ago (faster than the HHS range)")
            }
            FlagCode::SevereWithdrawal => {
                let worst = self.index.week_ending(today).filter_map(|d| d.sows_max).max().unwrap_or(0);
                format!("SOWS total {worst} in the last 7 days (21+ is severe, NCETA bands)")
            }
            FlagCode::PainUpWithDose => {
                "7-day mean MME up 10% or more and pain up 1 point or more over 3 weeks (possible opioid-induced hyperalgesia)"
                    .to_string()
            }
            FlagCode::NoRecentEntries => "no diary entry in the last 3 days".to_string(),
        }
    }
}

/// The flags that hold on `today`, each with the first day of its current run.
pub(crate) fn evaluate_flags(
    index: &DayIndex<'_>,
    enrolled_on: Date,
    baseline: Option<f64>,
    today: Date,
) -> Vec<Flag> {
    let rules = Rules {
        index,
        enrolled_on,
        baseline,
        has_entries: index.has_entries(),
    };
    let earliest = index
        .first_date()
        .map_or(enrolled_on, |first| first.min(enrolled_on));
    FlagCode::ALL
        .into_iter()
        .filter(|code| rules.holds(*code, today))
        .map(|code| {
            let mut since = today;
            while since > earliest && rules.holds(code, since - Duration::DAY) {
                since -= Duration::DAY;
            }
            Flag {
                code,
                since,
                detail: rules.detail(code, today),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_are_those_of_clinical_md() {
        let expected = [
            "mme_over_90",
            "mme_over_50",
            "dose_escalation",
            "rapid_taper",
            "severe_withdrawal",
            "pain_up_with_dose",
            "no_recent_entries",
        ];
        for (code, name) in FlagCode::ALL.into_iter().zip(expected) {
            assert_eq!(code.as_str(), name);
            assert_eq!(serde_json::to_value(code).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<FlagCode>(name.into()).unwrap(),
                code
            );
        }
    }
}
