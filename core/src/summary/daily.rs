//! The daily summary of one patient-local day, built from what each entry adds to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

use crate::clinical::{MedicationClass, MmeTable, medication, peg_score, sows_total};
use crate::model::{Body, DoseBody, Entry, Route, Unit};

use super::dates::iso_date;

/// What one entry adds to one local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Contribution {
    /// (Part of) a dose. `quantity` is in the unit the MME table converts: mg for medications
    /// dosed in mg or mcg, the day's mean rate in mcg/h for a patch (rate × hours worn that
    /// day ÷ 24), so that MME = quantity × factor. `mg` is the amount in mg delivered that day.
    Dose {
        /// Catalogue code.
        medication: String,
        /// Quantity in the MME table's unit for this medication.
        quantity: f64,
        /// Milligrams delivered that day.
        mg: f64,
        /// Route taken.
        route: Route,
    },
    /// A pain rating.
    Pain {
        /// NRS 0–10.
        nrs: u8,
        /// PEG score, when answered.
        peg: Option<f64>,
    },
    /// A withdrawal questionnaire.
    Withdrawal {
        /// SOWS total (None if incomplete).
        sows_total: Option<u8>,
    },
    /// A note.
    Note,
}

/// A contribution and whether the entry was logged on this day (a patch also contributes to
/// later days it is worn on, which does not make them days with an entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayContribution {
    /// The patient-local day.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// Whether the entry's own local day is this day.
    pub logged: bool,
    /// What it adds.
    pub contribution: Contribution,
}

/// One patient-local day, with exactly the fields of API.md's `/daily` (plus a few more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailySummary {
    /// The day.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// Total MME (0 when no converted opioid was taken that day).
    pub mme_total: f64,
    /// MME per medication code.
    pub mme_by_medication: BTreeMap<String, f64>,
    /// Doses of free-text (`other`) medications, which cannot be converted.
    pub unconverted_doses: u32,
    /// Buprenorphine in mg (never converted to MME), or null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub buprenorphine_mg: Option<f64>,
    /// Ketamine in mg, or null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ketamine_mg: Option<f64>,
    /// Ketamine in mg by route.
    pub ketamine_mg_by_route: BTreeMap<String, f64>,
    /// Mean NRS of the day's ratings, or null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub pain_nrs_mean: Option<f64>,
    /// Highest NRS of the day, or null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub pain_nrs_max: Option<u8>,
    /// Mean PEG score of the day, or null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub peg_mean: Option<f64>,
    /// Highest complete SOWS total of the day, or null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sows_max: Option<u8>,
    /// Entries logged that day (0 for a day covered only by a patch).
    pub entries: u32,
    /// The MME table that produced the figures.
    pub mme_table: String,
    /// A dose was beyond what the table covers (cdc-2016 methadone above 80 mg/day).
    pub mme_beyond_table: bool,
}

impl DailySummary {
    /// Whether this is a *day with data* of CLINICAL.md, the days that 7-day means, baselines
    /// and follow-up windows count: an entry was logged, or a worn patch delivers MME to it.
    /// `/daily` also lists a day covered only by a patch that delivers no MME (buprenorphine,
    /// an unlisted medicine), for its other figures; counting it here would pull a mean MME
    /// towards 0 with days on which nothing about opioids was observed.
    pub fn has_data(&self) -> bool {
        self.entries > 0 || self.mme_total > 0.0
    }
}

fn dose_mg(dose: &DoseBody) -> f64 {
    match dose.unit {
        Unit::Mg => dose.amount,
        Unit::Mcg => dose.amount / 1000.0,
        Unit::McgPerHour => dose.amount * dose.wear_hours() / 1000.0,
    }
}

/// Hours of `[start, start + hours)` that fall on each local day at `start`'s UTC offset.
fn hours_per_local_day(start: OffsetDateTime, hours: f64) -> Vec<(Date, f64)> {
    let end = start + Duration::seconds_f64(hours * 3600.0);
    let mut days = Vec::new();
    let mut date = start.date();
    loop {
        let day_start = PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(start.offset());
        if day_start >= end {
            break;
        }
        let next_day = day_start + Duration::DAY;
        let covered = end.min(next_day) - start.max(day_start);
        if covered > Duration::ZERO {
            days.push((date, covered.as_seconds_f64() / 3600.0));
        }
        match date.next_day() {
            Some(next) => date = next,
            None => break,
        }
    }
    days
}

/// What an entry adds to each local day it touches; nothing for a deleted entry.
pub fn contributions(entry: &Entry) -> Vec<DayContribution> {
    let Some(body) = entry.body.as_ref().filter(|_| !entry.deleted) else {
        return Vec::new();
    };
    let date = entry.local_date();
    let single = |contribution| {
        vec![DayContribution {
            date,
            logged: true,
            contribution,
        }]
    };
    match body {
        Body::Dose(dose) if dose.is_patch() => {
            let rate_is_mme_quantity =
                medication(&dose.medication).is_some_and(|m| m.class == MedicationClass::Opioid);
            let spread = hours_per_local_day(entry.occurred_at, dose.wear_hours());
            spread
                .into_iter()
                .map(|(day, hours)| DayContribution {
                    date: day,
                    logged: day == date,
                    contribution: Contribution::Dose {
                        medication: dose.medication.clone(),
                        quantity: if rate_is_mme_quantity {
                            dose.amount * hours / 24.0
                        } else {
                            0.0
                        },
                        mg: dose.amount * hours / 1000.0,
                        route: dose.route,
                    },
                })
                .collect()
        }
        Body::Dose(dose) => {
            let mg = dose_mg(dose);
            single(Contribution::Dose {
                medication: dose.medication.clone(),
                quantity: mg,
                mg,
                route: dose.route,
            })
        }
        Body::Pain(pain) => single(Contribution::Pain {
            nrs: pain.nrs,
            peg: pain.peg.as_ref().map(peg_score),
        }),
        Body::Withdrawal(withdrawal) => single(Contribution::Withdrawal {
            sows_total: sows_total(&withdrawal.sows),
        }),
        Body::Note(_) => single(Contribution::Note),
    }
}

fn add_optional(total: &mut Option<f64>, value: f64) {
    *total = Some(total.unwrap_or(0.0) + value);
}

/// Summarises one day from its contributions; `None` when the day has no data (no entry
/// logged and no patch worn).
pub fn summarize_day<'a>(
    date: Date,
    day_contributions: impl IntoIterator<Item = &'a DayContribution>,
    table: &MmeTable,
) -> Option<DailySummary> {
    let mut has_data = false;
    let mut entries = 0u32;
    let mut quantity_by_medication: BTreeMap<&str, f64> = BTreeMap::new();
    let mut summary = DailySummary {
        date,
        mme_total: 0.0,
        mme_by_medication: BTreeMap::new(),
        unconverted_doses: 0,
        buprenorphine_mg: None,
        ketamine_mg: None,
        ketamine_mg_by_route: BTreeMap::new(),
        pain_nrs_mean: None,
        pain_nrs_max: None,
        peg_mean: None,
        sows_max: None,
        entries: 0,
        mme_table: table.version.to_string(),
        mme_beyond_table: false,
    };
    let (mut nrs_sum, mut nrs_count, mut peg_sum, mut peg_count) = (0.0, 0u32, 0.0, 0u32);
    for item in day_contributions {
        debug_assert_eq!(item.date, date);
        has_data = true;
        if item.logged {
            entries += 1;
        }
        match &item.contribution {
            Contribution::Dose {
                medication: code,
                quantity,
                mg,
                route,
            } => match medication(code).map(|m| m.class) {
                Some(MedicationClass::Opioid) => {
                    *quantity_by_medication.entry(code).or_default() += quantity
                }
                Some(MedicationClass::Buprenorphine) => {
                    add_optional(&mut summary.buprenorphine_mg, *mg)
                }
                Some(MedicationClass::Ketamine) => {
                    add_optional(&mut summary.ketamine_mg, *mg);
                    *summary
                        .ketamine_mg_by_route
                        .entry(route.as_str().to_string())
                        .or_default() += mg;
                }
                Some(MedicationClass::NotConverted) => {}
                Some(MedicationClass::Other) | None if item.logged => {
                    summary.unconverted_doses += 1
                }
                Some(MedicationClass::Other) | None => {}
            },
            Contribution::Pain { nrs, peg } => {
                nrs_sum += f64::from(*nrs);
                nrs_count += 1;
                summary.pain_nrs_max = summary.pain_nrs_max.max(Some(*nrs));
                if let Some(peg) = peg {
                    peg_sum += peg;
                    peg_count += 1;
                }
            }
            Contribution::Withdrawal { sows_total } => {
                if sows_total.is_some() {
                    summary.sows_max = summary.sows_max.max(*sows_total);
                }
            }
            Contribution::Note => {}
        }
    }
    if !has_data {
        return None;
    }
    for (code, quantity) in quantity_by_medication {
        if let Some(figure) = table.convert_daily(code, quantity) {
            summary.mme_total += figure.mme;
            summary.mme_beyond_table |= figure.beyond_table;
            summary
                .mme_by_medication
                .insert(code.to_string(), figure.mme);
        }
    }
    summary.entries = entries;
    summary.pain_nrs_mean = (nrs_count > 0).then(|| nrs_sum / f64::from(nrs_count));
    summary.peg_mean = (peg_count > 0).then(|| peg_sum / f64::from(peg_count));
    Some(summary)
}

/// Every day with data of a set of entries (latest revisions; deleted ones count for
/// nothing), sorted by date.
pub fn daily_summaries<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    table: &MmeTable,
) -> Vec<DailySummary> {
    let mut by_day: BTreeMap<Date, Vec<DayContribution>> = BTreeMap::new();
    for entry in entries {
        for item in contributions(entry) {
            by_day.entry(item.date).or_default().push(item);
        }
    }
    by_day
        .iter()
        .filter_map(|(date, items)| summarize_day(*date, items, table))
        .collect()
}

#[cfg(test)]
#[path = "daily_tests.rs"]
mod tests;
