//! Who may see which patient.

use uuid::Uuid;

use crate::audit;
use crate::auth::Caller;
use crate::error::AppError;
use crate::role::Role;
use crate::state::AppState;
use crate::store::PatientRecord;

/// The patient `patient_id` if the caller may read their data: the patient themself, a
/// clinician of the patient's care team, or an admin. Anyone else gets 404, exactly as for
/// a patient that does not exist (researchers get 403: their role never reads patients
/// by id). A refused attempt by someone else is audited as `denied`.
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
    let Some(patient) = state.store.patient(patient_id)? else {
        return Err(not_found());
    };
    if caller.role == Role::Clinician
        && !state
            .store
            .is_care_team_member(patient.care_team_id, caller.user_id)?
    {
        audit::record(
            state,
            audit::Entry::by(
                caller,
                "patient.access",
                Some(patient_id),
                "not in the caller's care teams",
            )
            .outcome("denied"),
        )
        .await?;
        return Err(not_found());
    }
    Ok(patient)
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
