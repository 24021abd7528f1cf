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
///
/// On the blocking pool: an append waits for the audit lock, which another append or a
/// patient's change may hold, and a worker blocked there would stall every other request.
pub async fn record_all(state: &AppState, entries: Vec<Entry>) -> Result<(), AppError> {
    if entries.is_empty() {
        return Ok(());
    }
    let events: Vec<AuditEvent> = entries.into_iter().map(Entry::into_event).collect();
    state
        .blocking(move |state| {
            state.store.append_audit(&events)?;
            state.store.flush_blocking()?;
            Ok(())
        })
        .await
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use super::*;
    use crate::{Server, Settings};

    /// An append waiting for the audit lock must leave its async worker free: with a single
    /// worker, another task still runs meanwhile. (Appended on the worker itself, it would
    /// block the worker, and every request on it, until the lock came free.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_append_waiting_for_the_audit_lock_leaves_the_worker_free() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        let state = Server::prepare(settings).unwrap().state().clone();

        let (locked_tx, locked) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let store = Arc::clone(&state.store);
        let holder = std::thread::spawn(move || {
            let _guard = store.audit_lock();
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(30));
        });
        locked.recv().unwrap();
        let append = tokio::spawn({
            let state = state.clone();
            async move {
                record(
                    &state,
                    Entry::system(None, "system", "test.append", None, ""),
                )
                .await
            }
        });
        // The append reaches the lock and waits there.
        std::thread::sleep(Duration::from_millis(200));
        let (ran_tx, ran) = mpsc::channel();
        tokio::spawn(async move { ran_tx.send(()).unwrap() });
        let other_task_ran = ran.recv_timeout(Duration::from_secs(5)).is_ok();
        release.send(()).unwrap();
        holder.join().unwrap();
        append.await.unwrap().unwrap();
        assert!(
            other_task_ran,
            "no other task ran while an audit append waited for the lock"
        );
        assert_eq!(state.store.verify_audit_chain().unwrap().unwrap().0, 1);
    }
}
