//! `GET /v1/me`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::Date;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, ErrorBody};
use crate::role::Role;
use crate::state::AppState;

use taperlog_core::summary::iso_date;

/// The caller's account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user's id.
    pub user_id: Uuid,
    /// Their username.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// Patients: their patient id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
    /// Patients: first day of follow-up.
    #[serde(skip_serializing_if = "Option::is_none", with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub enrolled_on: Option<Date>,
    /// Patients: the care team following them; clinicians: their teams.
    pub care_team_ids: Vec<Uuid>,
}

/// The caller's account, and for a patient their enrolment.
#[utoipa::path(get, path = "/v1/me", tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid access token", body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>, AppError> {
    let user = state
        .store
        .user(caller.user_id)?
        .ok_or_else(|| AppError::Unauthorized("no such user".into()))?;
    let mut me = Me {
        user_id: user.user_id,
        username: user.username,
        role: user.role,
        patient_id: None,
        enrolled_on: None,
        care_team_ids: Vec::new(),
    };
    match (caller.role, caller.patient_id) {
        (Role::Patient, Some(patient_id)) => {
            if let Some(patient) = state.store.patient(patient_id)? {
                me.patient_id = Some(patient_id);
                me.enrolled_on = Some(patient.enrolled_on);
                me.care_team_ids = vec![patient.care_team_id];
            }
        }
        _ => me.care_team_ids = state.store.care_teams_of_member(caller.user_id)?,
    }
    Ok(Json(me))
}

/// The account routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}
