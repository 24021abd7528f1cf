//! The diary-derived columns of `GET /v1/patients` (last entry, last sync, 7-day MME,
//! change from baseline, flags), from the stored daily summaries.

use serde::Serialize;
use time::OffsetDateTime;

use taperlog_core::summary::{Flag, MIN_TREND_DAYS};

use crate::error::AppError;
use crate::routes::patient_data::trends_of;
use crate::state::AppState;
use crate::store::PatientRecord;

/// What the diary says about one patient, for the care team's list.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DiaryOverview {
    /// When the latest entry occurred.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_entry_at: Option<OffsetDateTime>,
    /// When the patient's device last pushed.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_sync_at: Option<OffsetDateTime>,
    /// `set`, `pre_enrolment` or `first_week`; null when there is no baseline.
    pub baseline_source: Option<String>,
    /// The baseline in force (the one set, or one derived from the diary).
    pub baseline_mme: Option<f64>,
    /// Mean daily MME over the last 7 days.
    pub mme_7d: Option<f64>,
    /// Change of `mme_7d` from the baseline, percent.
    pub change_from_baseline_pct: Option<f64>,
    /// Flags in force (codes and rules: CLINICAL.md, computed by the core).
    pub flags: Vec<Flag>,
}

/// The overview of `patient`, from the daily summaries sync keeps current (never from raw
/// entries): the same trends and flags as `/v1/patients/{id}/trends`, as of the patient's today.
pub fn diary_overview(
    state: &AppState,
    patient: &PatientRecord,
) -> Result<DiaryOverview, AppError> {
    let activity = state.store.patient_activity(patient.patient_id)?;
    let trends = trends_of(state, patient, MIN_TREND_DAYS)?;
    Ok(DiaryOverview {
        last_entry_at: activity.last_entry_at,
        last_sync_at: activity.last_sync_at,
        baseline_source: trends
            .baseline_source
            .map(|source| source.as_str().to_string()),
        baseline_mme: trends.baseline_mme,
        mme_7d: trends.series.last().and_then(|point| point.mme_7d),
        change_from_baseline_pct: trends.change_from_baseline_pct,
        flags: trends.flags,
    })
}
