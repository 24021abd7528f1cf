//! The diary-derived columns of `GET /v1/patients` (last entry, last sync, 7-day MME,
//! change from baseline, flags). One function, so the sync area can fill it in from its
//! stored daily summaries without touching the patient routes.

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::AppError;
use crate::state::AppState;
use crate::store::PatientRecord;

/// A flag a care team should look at (codes and rules: CLINICAL.md, computed by the core).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlagView {
    /// The flag's code.
    pub code: String,
    /// First day it applied, `YYYY-MM-DD`.
    pub since: String,
    /// For people.
    pub detail: String,
}

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
    /// Flags in force.
    pub flags: Vec<FlagView>,
}

/// The overview of `patient`. Until the store has a diary area, only a baseline set by the
/// care team is known.
pub fn diary_overview(
    _state: &AppState,
    patient: &PatientRecord,
) -> Result<DiaryOverview, AppError> {
    Ok(DiaryOverview {
        baseline_source: patient.baseline_mme.map(|_| "set".to_string()),
        baseline_mme: patient.baseline_mme,
        ..DiaryOverview::default()
    })
}
