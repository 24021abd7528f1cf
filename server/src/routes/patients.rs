//! `/v1/patients`: enrolment by the care team, the team's list, one patient (changes are in
//! [`super::patient_change`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{readable_patient, writable_patient};
use crate::audit::{self, Entry};
use crate::auth::{Caller, new_enrollment_code, token_hash};
use crate::error::{AppError, ErrorBody};
use crate::json::parse_body;
use crate::path::AppPath;
use crate::role::Role;
use crate::routes::auth::expiry_after;
use crate::routes::patient_overview::{DiaryOverview, diary_overview};
use crate::state::AppState;
use crate::store::{EnrollmentRecord, PatientRecord, Sex};

use taperlog_core::summary::iso_date;

/// Longest display name, characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
/// Earliest accepted birth year.
pub const MIN_BIRTH_YEAR: i32 = 1900;
/// Largest accepted baseline, MME per day.
pub const MAX_BASELINE_MME: f64 = 10_000.0;
/// How far ahead of today `enrolled_on` may lie, days.
pub const MAX_ENROLLED_AHEAD_DAYS: i64 = 365;
/// Earliest accepted `enrolled_on` year.
pub const MIN_ENROLLED_YEAR: i32 = 2000;

/// `POST /v1/patients`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    /// The name the care team knows the patient by.
    pub display_name: String,
    /// First day of follow-up, `YYYY-MM-DD`.
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub enrolled_on: Date,
    /// The care team following the patient (one of the caller's).
    pub care_team_id: Uuid,
    /// Year of birth.
    pub birth_year: Option<i32>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Agreement to research use of pseudonymised data.
    pub research_consent: bool,
    /// Baseline daily MME, when the care team knows it.
    pub baseline_mme: Option<f64>,
}

/// The answer to `POST /v1/patients`. Its `Debug` leaves the code out: the code is a
/// bearer secret until redeemed, and debug output ends up in logs.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedPatient {
    /// The new patient's id.
    pub patient_id: Uuid,
    /// One-time code for the patient's app (show as a QR code).
    pub enrollment_code: String,
    /// When the code stops working.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrollment_expires_at: OffsetDateTime,
}

impl std::fmt::Debug for CreatedPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedPatient")
            .field("patient_id", &self.patient_id)
            .field("enrollment_code", &"<redacted>")
            .field("enrollment_expires_at", &self.enrollment_expires_at)
            .finish()
    }
}

/// A patient, as the care team sees them.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatientView {
    /// The patient's id.
    pub patient_id: Uuid,
    /// Display name.
    pub display_name: String,
    /// First day of follow-up.
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub enrolled_on: Date,
    /// The care team following them.
    pub care_team_id: Uuid,
    /// Year of birth.
    pub birth_year: Option<i32>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Research consent.
    pub research_consent: bool,
    /// Baseline set by the care team.
    pub baseline_mme: Option<f64>,
    /// Whether the patient has redeemed their enrolment code.
    pub enrolled: bool,
}

impl From<&PatientRecord> for PatientView {
    fn from(p: &PatientRecord) -> Self {
        PatientView {
            patient_id: p.patient_id,
            display_name: p.display_name.clone(),
            enrolled_on: p.enrolled_on,
            care_team_id: p.care_team_id,
            birth_year: p.birth_year,
            sex: p.sex,
            research_consent: p.research_consent,
            baseline_mme: p.baseline_mme,
            enrolled: p.user_id.is_some(),
        }
    }
}

/// One row of `GET /v1/patients`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PatientSummary {
    /// The patient's id.
    pub patient_id: Uuid,
    /// Display name.
    pub display_name: String,
    /// First day of follow-up.
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub enrolled_on: Date,
    /// The care team following them.
    pub care_team_id: Uuid,
    /// What the diary says: last entry and sync, baseline, 7-day MME, change, flags.
    #[serde(flatten)]
    pub diary: DiaryOverview,
}

/// The patient routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_patient, list_patients))
        .routes(routes!(get_patient, super::patient_change::update_patient))
        .routes(routes!(new_enrollment_code_for))
}

pub(super) fn check_display_name(name: &str) -> Result<(), AppError> {
    let n = name.trim().chars().count();
    if n == 0 || name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(AppError::validation(
            "display_name",
            format!("must be 1 to {MAX_DISPLAY_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

pub(super) fn check_baseline(baseline: Option<f64>) -> Result<(), AppError> {
    if let Some(mme) = baseline
        && !(mme.is_finite() && (0.0..=MAX_BASELINE_MME).contains(&mme))
    {
        return Err(AppError::validation(
            "baseline_mme",
            format!("must be 0 to {MAX_BASELINE_MME}"),
        ));
    }
    Ok(())
}

/// 422 unless the caller may place patients in `care_team_id` (a member, or an admin and
/// the team exists).
pub(super) fn check_team(
    state: &AppState,
    caller: &Caller,
    care_team_id: Uuid,
) -> Result<(), AppError> {
    let allowed = match caller.role {
        Role::Admin => state.store.care_team(care_team_id)?.is_some(),
        _ => state
            .store
            .is_care_team_member(care_team_id, caller.user_id)?,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::validation(
            "care_team_id",
            "is not one of your care teams",
        ))
    }
}

/// A new enrolment code for `patient_id`, made by `created_by`, working for `ttl_secs`
/// (checked arithmetic: an expiry past the calendar is a 500, never a panic).
fn new_enrollment(
    created_by: Uuid,
    ttl_secs: u64,
    patient_id: Uuid,
    now: OffsetDateTime,
) -> Result<(String, EnrollmentRecord), AppError> {
    let code = new_enrollment_code();
    let record = EnrollmentRecord {
        patient_id,
        created_by,
        created_at: now,
        expires_at: expiry_after(now, ttl_secs)?,
        used_at: None,
    };
    Ok((code, record))
}

/// Enrols a patient in one of the caller's care teams and makes their one-time code.
#[utoipa::path(post, path = "/v1/patients", tag = "patients", request_body = NewPatient,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedPatient),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a clinician or admin", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)))]
pub async fn create_patient(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedPatient>), AppError> {
    caller.require(&[Role::Clinician, Role::Admin])?;
    let request: NewPatient = parse_body(&body)?;
    check_display_name(&request.display_name)?;
    check_baseline(request.baseline_mme)?;
    let now = OffsetDateTime::now_utc();
    if let Some(year) = request.birth_year
        && !(MIN_BIRTH_YEAR..=now.year()).contains(&year)
    {
        return Err(AppError::validation(
            "birth_year",
            format!("must be {MIN_BIRTH_YEAR} to this year"),
        ));
    }
    if request.enrolled_on.year() < MIN_ENROLLED_YEAR
        || request.enrolled_on > now.date() + Duration::days(MAX_ENROLLED_AHEAD_DAYS)
    {
        return Err(AppError::validation("enrolled_on", "is out of range"));
    }
    check_team(&state, &caller, request.care_team_id)?;
    let patient = PatientRecord {
        patient_id: Uuid::now_v7(),
        display_name: request.display_name.trim().to_string(),
        enrolled_on: request.enrolled_on,
        care_team_id: request.care_team_id,
        birth_year: request.birth_year,
        sex: request.sex,
        research_consent: request.research_consent,
        baseline_mme: request.baseline_mme,
        user_id: None,
        created_at: now,
    };
    let (code, enrollment) = new_enrollment(
        caller.user_id,
        state.settings.enrollment_code_ttl_secs,
        patient.patient_id,
        now,
    )?;
    state
        .store
        .insert_patient(&patient, &token_hash(&code), &enrollment)?;
    audit::record(
        &state,
        Entry::by(
            &caller,
            "patient.create",
            Some(patient.patient_id),
            format!(
                "care team {}; research_consent={}; enrolment code expires {}",
                patient.care_team_id,
                patient.research_consent,
                enrollment.expires_at.date()
            ),
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedPatient {
            patient_id: patient.patient_id,
            enrollment_code: code,
            enrollment_expires_at: enrollment.expires_at,
        }),
    ))
}

/// The patients of the caller's care teams (all patients for an admin).
#[utoipa::path(get, path = "/v1/patients", tag = "patients",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's patients", body = Vec<PatientSummary>),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a clinician or admin", body = ErrorBody)))]
pub async fn list_patients(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PatientSummary>>, AppError> {
    caller.require(&[Role::Clinician, Role::Admin])?;
    // Every patient's summaries are read: hundreds of patients take a while.
    let (rows, reads) = state
        .blocking(move |state| patient_rows(state, &caller))
        .await?;
    audit::record_all(&state, reads).await?;
    Ok(Json(rows))
}

/// The rows of `GET /v1/patients` for `caller`, and the audit records of reading them.
fn patient_rows(
    state: &AppState,
    caller: &Caller,
) -> Result<(Vec<PatientSummary>, Vec<Entry>), AppError> {
    let patients = match caller.role {
        Role::Admin => state.store.all_patients()?,
        _ => {
            let mut all = Vec::new();
            for team in state.store.care_teams_of_member(caller.user_id)? {
                all.extend(state.store.patients_of_team(team)?);
            }
            all
        }
    };
    let mut rows = Vec::with_capacity(patients.len());
    let mut reads = Vec::with_capacity(patients.len());
    for p in &patients {
        let overview = diary_overview(state, p)?;
        rows.push(PatientSummary {
            patient_id: p.patient_id,
            display_name: p.display_name.clone(),
            enrolled_on: p.enrolled_on,
            care_team_id: p.care_team_id,
            diary: overview,
        });
        reads.push(Entry::by(
            caller,
            "patient.list",
            Some(p.patient_id),
            "listed with diary overview",
        ));
    }
    Ok((rows, reads))
}

/// One patient's record.
#[utoipa::path(get, path = "/v1/patients/{id}", tag = "patients",
    params(("id" = Uuid, Path, description = "Patient id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The patient", body = PatientView),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "A role that never reads patients", body = ErrorBody),
        (status = 404, description = "No such patient among the caller's", body = ErrorBody)))]
pub async fn get_patient(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<PatientView>, AppError> {
    let patient_id = parse_patient_id(&id)?;
    let patient = readable_patient(&state, &caller, patient_id).await?;
    audit::record_patient_read(
        &state,
        &caller,
        patient_id,
        "patient.read",
        "patient record",
    )
    .await?;
    Ok(Json(PatientView::from(&patient)))
}

/// Parses a patient id from a path; a malformed one is as unknown as a missing one.
pub fn parse_patient_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound("no such patient".into()))
}

/// Makes a fresh enrolment code for a patient who has not enrolled yet (the first expired
/// or was lost).
#[utoipa::path(post, path = "/v1/patients/{id}/enrollment-code", tag = "patients",
    params(("id" = Uuid, Path, description = "Patient id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A new code", body = CreatedPatient),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a clinician or admin", body = ErrorBody),
        (status = 404, description = "No such patient among the caller's", body = ErrorBody),
        (status = 409, description = "The patient has already enrolled", body = ErrorBody)))]
pub async fn new_enrollment_code_for(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<(StatusCode, Json<CreatedPatient>), AppError> {
    let patient_id = parse_patient_id(&id)?;
    let patient = writable_patient(&state, &caller, patient_id).await?;
    if patient.user_id.is_some() {
        return Err(AppError::Conflict(
            "the patient has already enrolled".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let (code, enrollment) = new_enrollment(
        caller.user_id,
        state.settings.enrollment_code_ttl_secs,
        patient_id,
        now,
    )?;
    state
        .store
        .insert_enrollment(&token_hash(&code), &enrollment)?;
    audit::record(
        &state,
        Entry::by(
            &caller,
            "patient.enrollment_code",
            Some(patient_id),
            "new enrolment code",
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedPatient {
            patient_id,
            enrollment_code: code,
            enrollment_expires_at: enrollment.expires_at,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_created_patient_leaves_the_enrolment_code_out() {
        let created = CreatedPatient {
            patient_id: Uuid::now_v7(),
            enrollment_code: "ABCD-EFGH-JKMN-PQRS".into(),
            enrollment_expires_at: OffsetDateTime::UNIX_EPOCH,
        };
        let shown = format!("{created:?} {created:#?}");
        assert!(!shown.contains("ABCD"), "{shown}");
        assert!(!shown.contains("PQRS"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains(&created.patient_id.to_string()), "{shown}");
    }

    #[test]
    fn an_enrolment_code_expiring_past_the_calendar_is_an_error_not_a_panic() {
        let now = OffsetDateTime::now_utc();
        let (who, patient) = (Uuid::now_v7(), Uuid::now_v7());
        let (_, record) = new_enrollment(who, 3600, patient, now).unwrap();
        assert_eq!(record.expires_at, now + Duration::hours(1));
        let last_day = Date::MAX.midnight().assume_utc();
        assert!(matches!(
            new_enrollment(who, 2 * 86_400, patient, last_day),
            Err(AppError::Internal(_))
        ));
        assert!(matches!(
            new_enrollment(who, u64::MAX, patient, now),
            Err(AppError::Internal(_))
        ));
    }
}
