//! `PATCH /v1/patients/{id}`: a care team's change to a patient, applied in the store's
//! transaction to the record as stored, and audited from what it really changed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::patients::{
    PatientView, check_baseline, check_display_name, check_team, parse_patient_id,
};
use crate::access::writable_patient;
use crate::audit::Entry;
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody};
use crate::json::parse_body;
use crate::path::AppPath;
use crate::role::Role;
use crate::state::AppState;
use crate::store::{AuditEvent, PatientRecord, StoreError};

/// `PATCH /v1/patients/{id}`: only the fields present change. Only `baseline_mme` may be
/// null (it clears the baseline); a null elsewhere is a 422 naming the field, not a no-op.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientChange {
    /// New research consent.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = bool, required = false)]
    pub research_consent: Option<bool>,
    /// New baseline (null clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub baseline_mme: Option<Option<f64>>,
    /// New display name.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, required = false)]
    pub display_name: Option<String>,
    /// Move to another care team (one of the caller's).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Uuid, required = false)]
    pub care_team_id: Option<Uuid>,
}

/// A field that may be left out or given a value, null meaning "clear it".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A field that may be left out but not null (it cannot be cleared).
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "may not be null (leave the field out to keep its value)",
        )),
    }
}

/// Changes research consent, baseline, display name or care team.
#[utoipa::path(patch, path = "/v1/patients/{id}", tag = "patients", request_body = PatientChange,
    params(("id" = Uuid, Path, description = "Patient id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The patient after the change", body = PatientView),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not a clinician or admin", body = ErrorBody),
        (status = 404, description = "No such patient among the caller's", body = ErrorBody),
        (status = 409, description = "The patient moved to another care team meanwhile", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)))]
pub async fn update_patient(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    body: Bytes,
) -> Result<Json<PatientView>, AppError> {
    let patient_id = parse_patient_id(&id)?;
    let seen = writable_patient(&state, &caller, patient_id).await?;
    let change: PatientChange = parse_body(&body)?;
    if let Some(name) = &change.display_name {
        check_display_name(name)?;
    }
    if let Some(baseline) = change.baseline_mme {
        check_baseline(baseline)?;
    }
    if let Some(team) = change.care_team_id {
        check_team(&state, &caller, team)?;
    }
    let seen_team = seen.care_team_id;
    // On the blocking pool: the change waits for the audit lock (see `audit::record_all`).
    let patient = state
        .blocking(move |state| {
            let (_, patient) = state.store.update_patient(
                patient_id,
                |patient| {
                    // The caller's right to this patient was checked against the team seen then.
                    if caller.role == Role::Clinician && patient.care_team_id != seen_team {
                        return Err(StoreError::Conflict(
                            "the patient moved to another care team meanwhile; try again".into(),
                        ));
                    }
                    apply_change(&change, patient);
                    Ok(())
                },
                |before, after| audit_change(&caller, before, after),
            )?;
            state.store.flush_blocking()?;
            Ok(patient)
        })
        .await?;
    Ok(Json(PatientView::from(&patient)))
}

/// Sets the fields a `PATCH` names (checked before) on the record as stored.
fn apply_change(change: &PatientChange, patient: &mut PatientRecord) {
    if let Some(name) = &change.display_name {
        patient.display_name = name.trim().to_string();
    }
    if let Some(baseline) = change.baseline_mme {
        patient.baseline_mme = baseline;
    }
    if let Some(team) = change.care_team_id {
        patient.care_team_id = team;
    }
    if let Some(consent) = change.research_consent {
        patient.research_consent = consent;
    }
}

/// The audit records of a `PATCH`, from what it really changed: a consent change, the
/// other fields changed, or, when nothing changed, a read (the answer is the record).
fn audit_change(caller: &Caller, before: &PatientRecord, after: &PatientRecord) -> Vec<AuditEvent> {
    let patient_id = Some(after.patient_id);
    let mut entries = Vec::new();
    if before.research_consent != after.research_consent {
        entries.push(Entry::by(
            caller,
            "patient.consent",
            patient_id,
            format!(
                "research_consent {} -> {}",
                before.research_consent, after.research_consent
            ),
        ));
    }
    let mut changed = Vec::new();
    if before.display_name != after.display_name {
        changed.push("display_name".to_string());
    }
    if before.baseline_mme != after.baseline_mme {
        changed.push(format!(
            "baseline_mme {:?} -> {:?}",
            before.baseline_mme, after.baseline_mme
        ));
    }
    if before.care_team_id != after.care_team_id {
        changed.push(format!(
            "care_team_id {} -> {}",
            before.care_team_id, after.care_team_id
        ));
    }
    if !changed.is_empty() {
        entries.push(Entry::by(
            caller,
            "patient.update",
            patient_id,
            changed.join("; "),
        ));
    }
    if entries.is_empty() && caller.patient_id != patient_id {
        entries.push(Entry::by(
            caller,
            "patient.read",
            patient_id,
            "patient record (a change that changed nothing)",
        ));
    }
    entries.into_iter().map(Entry::into_event).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_may_clear_the_baseline_but_no_other_field() {
        let parse = |body: &str| crate::json::parse_body::<PatientChange>(body.as_bytes());
        for field in ["research_consent", "display_name", "care_team_id"] {
            match parse(&format!(r#"{{"{field}": null}}"#)) {
                Err(AppError::Validation {
                    field: named,
                    message,
                }) => {
                    assert_eq!(named, field);
                    assert!(message.contains("null"), "{message}");
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        let cleared = parse(r#"{"baseline_mme": null}"#).unwrap();
        assert_eq!(cleared.baseline_mme, Some(None));
        assert!(cleared.research_consent.is_none() && cleared.display_name.is_none());
        let set = parse(r#"{"research_consent": false, "display_name": "A", "baseline_mme": 5}"#)
            .unwrap();
        assert_eq!(set.research_consent, Some(false));
        assert_eq!(set.display_name.as_deref(), Some("A"));
        assert_eq!(set.baseline_mme, Some(Some(5.0)));
        let empty = parse("{}").unwrap();
        assert!(empty.baseline_mme.is_none() && empty.care_team_id.is_none());
    }
}
