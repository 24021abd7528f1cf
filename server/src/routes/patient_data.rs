//! A patient's diary for the care team (and the patient): entries, daily summaries and
//! trends. Everything reads the summaries kept current by sync; nothing rescans entries
//! except `/entries`, which returns them. Every read by someone else is audited.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use taperlog_core::model::Entry;
use taperlog_core::summary::{
    DailySummary, MAX_TREND_DAYS, MIN_TREND_DAYS, TrendInput, Trends, iso_date, today_for, trends,
};
use time::{Date, Duration, OffsetDateTime};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::readable_patient;
use crate::audit;
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody};
use crate::path::AppPath;
use crate::query::AppQuery;
use crate::routes::patients::parse_patient_id;
use crate::state::AppState;
use crate::store::PatientRecord;

/// Longest date range one request may ask for, days.
pub const MAX_RANGE_DAYS: i64 = 731;
/// Days covered when a request gives no `from`.
pub const DEFAULT_RANGE_DAYS: i64 = 90;
/// Days of a trend series when a request gives no `days`.
pub const DEFAULT_TREND_DAYS: u32 = 90;

/// The routes of a patient's diary.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(entries))
        .routes(routes!(daily))
        .routes(routes!(patient_trends))
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`, both optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DateRange {
    /// First day (default: 89 days before `to`).
    pub from: Option<String>,
    /// Last day (default: the patient's today).
    pub to: Option<String>,
}

/// `?days=7..730`. Read as text and parsed by the handler, so that a bad value is a 422
/// naming `days`; documented as the integer it must be.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// Days of the series, ending today (7 to 730, default 90).
    #[param(value_type = Option<u32>, minimum = 7, maximum = 730)]
    pub days: Option<String>,
}

fn parse_date(text: &str, field: &str) -> Result<Date, AppError> {
    iso_date::parse(text).ok_or_else(|| AppError::validation(field, "must be a date YYYY-MM-DD"))
}

/// The patient's today: the date at the UTC offset of their latest entry.
fn patient_today(state: &AppState, patient: Uuid) -> Result<Date, AppError> {
    let activity = state.store.patient_activity(patient)?;
    Ok(today_for(
        activity.latest_offset(),
        OffsetDateTime::now_utc(),
    ))
}

fn resolve_range(
    state: &AppState,
    patient: Uuid,
    range: &DateRange,
) -> Result<(Date, Date), AppError> {
    let to = match range.to.as_deref() {
        Some(text) => parse_date(text, "to")?,
        None => patient_today(state, patient)?,
    };
    let from = match range.from.as_deref() {
        Some(text) => parse_date(text, "from")?,
        None => to - Duration::days(DEFAULT_RANGE_DAYS - 1),
    };
    if from > to {
        return Err(AppError::validation("from", "must not be after `to`"));
    }
    if (to - from).whole_days() >= MAX_RANGE_DAYS {
        return Err(AppError::validation(
            "from",
            format!("the range may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// Checks that the caller may read the patient, resolves the range, and audits the read.
async fn read_range(
    state: &AppState,
    caller: &Caller,
    id: &str,
    range: &DateRange,
    action: &str,
) -> Result<(Uuid, Date, Date), AppError> {
    let patient_id = parse_patient_id(id)?;
    readable_patient(state, caller, patient_id).await?;
    let (from, to) = resolve_range(state, patient_id, range)?;
    audit::record_patient_read(state, caller, patient_id, action, format!("{from}..{to}")).await?;
    Ok((patient_id, from, to))
}

/// The patient's entries (not deleted ones) whose local day lies in the range.
#[utoipa::path(get, path = "/v1/patients/{id}/entries", tag = "diary",
    params(("id" = Uuid, Path, description = "Patient id"), DateRange),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entries, by time", body = Vec<Entry>),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "A role that never reads patients", body = ErrorBody),
        (status = 404, description = "No such patient among the caller's", body = ErrorBody),
        (status = 422, description = "Bad date range (field named)", body = ErrorBody)))]
pub async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppQuery(range): AppQuery<DateRange>,
) -> Result<Json<Vec<Entry>>, AppError> {
    let (patient_id, from, to) = read_range(&state, &caller, &id, &range, "entries.read").await?;
    let entries = state
        .blocking(move |state| Ok(state.store.entries_between(patient_id, from, to)?))
        .await?;
    Ok(Json(entries))
}

/// The patient's daily summaries (days with data) in the range.
#[utoipa::path(get, path = "/v1/patients/{id}/daily", tag = "diary",
    params(("id" = Uuid, Path, description = "Patient id"), DateRange),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One row per day with data", body = Vec<DailySummary>),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "A role that never reads patients", body = ErrorBody),
        (status = 404, description = "No such patient among the caller's", body = ErrorBody),
        (status = 422, description = "Bad date range (field named)", body = ErrorBody)))]
pub async fn daily(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppQuery(range): AppQuery<DateRange>,
) -> Result<Json<Vec<DailySummary>>, AppError> {
    let (patient_id, from, to) = read_range(&state, &caller, &id, &range, "daily.read").await?;
    let days = state
        .blocking(move |state| Ok(state.store.daily_summaries(patient_id, from, to)?))
        .await?;
    Ok(Json(days))
}

/// The trends of a patient as of today (their latest entry's offset), with the flags.
/// Reads every daily summary of the patient: call it through [`AppState::blocking`].
pub fn trends_of(state: &AppState, patient: &PatientRecord, days: u32) -> Result<Trends, AppError> {
    let daily = state.store.all_daily_summaries(patient.patient_id)?;
    let today = patient_today(state, patient.patient_id)?;
    Ok(trends(TrendInput {
        daily: &daily,
        enrolled_on: patient.enrolled_on,
        baseline_set: patient.baseline_mme,
        today,
        days,
    }))
}

/// The patient's trend series, baseline, change from baseline and flags.
#[utoipa::path(get, path = "/v1/patients/{id}/trends", tag = "diary",
    params(("id" = Uuid, Path, description = "Patient id"), TrendQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Series ending today, and the flags in force", body = Trends),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "A role that never reads patients", body = ErrorBody),
        (status = 404, description = "No such patient among the caller's", body = ErrorBody),
        (status = 422, description = "`days` out of range", body = ErrorBody)))]
pub async fn patient_trends(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<TrendQuery>,
) -> Result<Json<Trends>, AppError> {
    let patient_id = parse_patient_id(&id)?;
    let patient = readable_patient(&state, &caller, patient_id).await?;
    let days = match query.days.as_deref() {
        None => DEFAULT_TREND_DAYS,
        Some(text) => match text.parse::<u32>() {
            Ok(days) if (MIN_TREND_DAYS..=MAX_TREND_DAYS).contains(&days) => days,
            _ => {
                return Err(AppError::validation(
                    "days",
                    format!("must be a whole number from {MIN_TREND_DAYS} to {MAX_TREND_DAYS}"),
                ));
            }
        },
    };
    audit::record_patient_read(
        &state,
        &caller,
        patient_id,
        "trends.read",
        format!("{days} days"),
    )
    .await?;
    let trends = state
        .blocking(move |state| trends_of(state, &patient, days))
        .await?;
    Ok(Json(trends))
}
