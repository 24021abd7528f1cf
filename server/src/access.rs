//! Who may see which patient.

use uuid::Uuid;

use crate::audit;
use crate::auth::Caller;
use crate::error::AppError;
use crate::role::Role;
use crate::state::AppState;
use crate::store::PatientRecord;

/// What a refused clinician's audit record says, the same whether the patient exists.
const DENIED_DETAIL: &str = "no such patient in the caller's care teams";

/// The patient `patient_id` if the caller may read their data: the patient themself, a
/// clinician of the patient's care team, or an admin. Anyone else gets 404, exactly as for
/// a patient that does not exist (researchers get 403: their role never reads patients
/// by id). A clinician's refused attempt is audited as `denied`, for a patient that does
/// not exist too: both refusals do the same work (a team lookup, an audit record written
/// and flushed) and give the same answer, so neither the body nor the time taken tells
/// which patient ids exist.
pub async fn readable_patient(
    state: &AppState,
    caller: &Caller,
    patient_id: Uuid,
) -> Result<PatientRecord, AppError> {
    caller.require(&[Role::Patient, Role::Clinician, Role::Admin])?;
    let not_found = || AppError::NotFound("no such patient".into());
    if caller.role == Role::Patient && caller.patient_id != Some(patient_id) {
        return Err(not_found());
    }
    let patient = state.store.patient(patient_id)?;
    if caller.role == Role::Clinician {
        // A missing patient's team is looked up too (the nil team has no members).
        let team = patient.as_ref().map_or(Uuid::nil(), |p| p.care_team_id);
        let member = state.store.is_care_team_member(team, caller.user_id)?;
        if !(member && patient.is_some()) {
            audit::record(
                state,
                audit::Entry::by(caller, "patient.access", Some(patient_id), DENIED_DETAIL)
                    .outcome("denied"),
            )
            .await?;
            return Err(not_found());
        }
    }
    patient.ok_or_else(not_found)
}

/// Whether the caller's role may change a patient's record (clinicians of the team, admins).
pub async fn writable_patient(
    state: &AppState,
    caller: &Caller,
    patient_id: Uuid,
) -> Result<PatientRecord, AppError> {
    caller.require(&[Role::Clinician, Role::Admin])?;
    readable_patient(state, caller, patient_id).await
}
