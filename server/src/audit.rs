//! Writing audit records from handlers: every read or export of a patient's data by
//! someone other than that patient, every account and consent change.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::AuditEvent;

/// One audit record to write; build with [`Entry::by`] or [`Entry::system`].
#[derive(Debug, Clone)]
pub struct Entry(AuditEvent);

impl Entry {
    /// `caller` did `action` (on `patient_id`'s data), outcome `ok` unless changed.
    pub fn by(
        caller: &Caller,
        action: &str,
        patient_id: Option<Uuid>,
        detail: impl Into<String>,
    ) -> Self {
        Entry(AuditEvent {
            at: OffsetDateTime::now_utc(),
            user_id: Some(caller.user_id),
            role: caller.role_name().to_string(),
            action: action.to_string(),
            patient_id,
            detail: detail.into(),
            outcome: "ok".into(),
        })
    }

    /// An unauthenticated actor or the operator's command line (`role` says which).
    pub fn system(
        user_id: Option<Uuid>,
        role: &str,
        action: &str,
        patient_id: Option<Uuid>,
        detail: impl Into<String>,
    ) -> Self {
        Entry(AuditEvent {
            at: OffsetDateTime::now_utc(),
            user_id,
            role: role.to_string(),
            action: action.to_string(),
            patient_id,
            detail: detail.into(),
            outcome: "ok".into(),
        })
    }

    /// Sets the outcome (`ok`, `denied`, `failed`).
    pub fn outcome(mut self, outcome: &str) -> Self {
        self.0.outcome = outcome.to_string();
        self
    }

    /// The event to append.
    pub fn into_event(self) -> AuditEvent {
        self.0
    }
}

/// Appends entries and flushes them before returning.
pub async fn record_all(state: &AppState, entries: Vec<Entry>) -> Result<(), AppError> {
    if entries.is_empty() {
        return Ok(());
    }
    let events: Vec<AuditEvent> = entries.into_iter().map(Entry::into_event).collect();
    state.store.append_audit(&events)?;
    state.store.flush().await?;
    Ok(())
}

/// Appends one entry and flushes it.
pub async fn record(state: &AppState, entry: Entry) -> Result<(), AppError> {
    record_all(state, vec![entry]).await
}

/// Records that `caller` read (`action`: `patient.read`, `entries.read`, `export.csv`, …)
/// the data of `patient_id`, unless the caller is that patient.
pub async fn record_patient_read(
    state: &AppState,
    caller: &Caller,
    patient_id: Uuid,
    action: &str,
    detail: impl Into<String>,
) -> Result<(), AppError> {
    if caller.patient_id == Some(patient_id) {
        return Ok(());
    }
    record(state, Entry::by(caller, action, Some(patient_id), detail)).await
}
