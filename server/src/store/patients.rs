//! Patients: the enrolment facts a care team keeps about each of them.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::audit::{AuditEvent, ChainedRows};
use super::codec::{decode, decode_txn, encode_txn};
use super::enrolment::EnrollmentRecord;
use super::{ServerStore, StoreError, pair_key, second_of_pair, txn_error};

use taperlog_core::summary::iso_date;

/// Sex as recorded at enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Not known or not given.
    Unknown,
}

/// A patient as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatientRecord {
    /// The patient's id.
    pub patient_id: Uuid,
    /// The name the care team knows them by.
    pub display_name: String,
    /// First day of follow-up (day 0).
    #[serde(with = "iso_date")]
    pub enrolled_on: Date,
    /// The care team following them.
    pub care_team_id: Uuid,
    /// Year of birth, if given.
    pub birth_year: Option<i32>,
    /// Sex, if given.
    pub sex: Option<Sex>,
    /// Whether they agreed to research use of their pseudonymised data.
    pub research_consent: bool,
    /// Baseline daily MME set by the care team.
    pub baseline_mme: Option<f64>,
    /// Their login, once they redeemed their enrolment code.
    pub user_id: Option<Uuid>,
    /// When the record was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl ServerStore {
    /// Stores a new patient with their enrolment code (hashed), in one step.
    pub fn insert_patient(
        &self,
        patient: &PatientRecord,
        code_hash: &[u8; 32],
        enrollment: &EnrollmentRecord,
    ) -> Result<(), StoreError> {
        let t = &self.trees;
        (&t.patients, &t.patients_by_team, &t.enrollment_by_code_hash)
            .transaction(|(patients, by_team, codes)| {
                patients.insert(
                    patient.patient_id.as_bytes(),
                    encode_txn("patients", patient)?,
                )?;
                by_team.insert(&pair_key(patient.care_team_id, patient.patient_id), &[])?;
                codes.insert(
                    code_hash,
                    encode_txn("enrollment_by_code_hash", enrollment)?,
                )?;
                Ok(())
            })
            .map_err(txn_error)
    }

    /// The patient with this id.
    pub fn patient(&self, patient_id: Uuid) -> Result<Option<PatientRecord>, StoreError> {
        match self.trees.patients.get(patient_id.as_bytes())? {
            Some(bytes) => Ok(Some(decode("patients", &bytes)?)),
            None => Ok(None),
        }
    }

    /// Changes a patient's record and audits the change, in one step. `change` edits the
    /// record as stored at that moment, never a copy read earlier, so a concurrent
    /// enrolment or consent change is not undone; it may refuse with an error, and may run
    /// more than once (a transaction retries on conflict). The patient's id and login (set
    /// only by enrolment) stay as stored whatever `change` does. `audit` describes the
    /// change from the records before and after; its events are appended to the audit log
    /// in the same transaction, under the audit lock, so the log says what was applied, in
    /// the order it was applied. Returns the records before and after. The caller flushes.
    pub fn update_patient(
        &self,
        patient_id: Uuid,
        change: impl Fn(&mut PatientRecord) -> Result<(), StoreError>,
        audit: impl Fn(&PatientRecord, &PatientRecord) -> Vec<AuditEvent>,
    ) -> Result<(PatientRecord, PatientRecord), StoreError> {
        let _guard = self.audit_lock();
        let head = self.audit_head()?;
        let t = &self.trees;
        (
            &t.patients,
            &t.patients_by_team,
            &t.audit_by_seq,
            &t.audit_seq_by_patient,
        )
            .transaction(|(patients, by_team, log, index)| {
                let Some(bytes) = patients.get(patient_id.as_bytes())? else {
                    return Err(ConflictableTransactionError::Abort(StoreError::NotFound(
                        "patient",
                    )));
                };
                let before: PatientRecord = decode_txn("patients", &bytes)?;
                let mut after = before.clone();
                change(&mut after).map_err(ConflictableTransactionError::Abort)?;
                after.patient_id = before.patient_id;
                after.user_id = before.user_id;
                if before.care_team_id != after.care_team_id {
                    by_team.remove(&pair_key(before.care_team_id, patient_id))?;
                    by_team.insert(&pair_key(after.care_team_id, patient_id), &[])?;
                }
                patients.insert(patient_id.as_bytes(), encode_txn("patients", &after)?)?;
                ChainedRows::build(&head, &audit(&before, &after))
                    .map_err(ConflictableTransactionError::Abort)?
                    .insert(log, index)?;
                Ok((before, after))
            })
            .map_err(txn_error)
    }

    /// The patients followed by one care team.
    pub fn patients_of_team(&self, care_team_id: Uuid) -> Result<Vec<PatientRecord>, StoreError> {
        let mut patients = Vec::new();
        for item in self
            .trees
            .patients_by_team
            .scan_prefix(care_team_id.as_bytes())
        {
            let (key, _) = item?;
            if let Some(id) = second_of_pair(&key) {
                patients.extend(self.patient(id)?);
            }
        }
        Ok(patients)
    }

    /// Every patient (admins' view; research exports filter by consent).
    pub fn all_patients(&self) -> Result<Vec<PatientRecord>, StoreError> {
        self.trees
            .patients
            .iter()
            .values()
            .map(|bytes| decode("patients", &bytes?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;
    use crate::store::{AuditFilter, RedeemOutcome, UserRecord};

    fn new_patient(store: &ServerStore) -> (PatientRecord, [u8; 32]) {
        let now = OffsetDateTime::now_utc();
        let patient = PatientRecord {
            patient_id: Uuid::now_v7(),
            display_name: "P".into(),
            enrolled_on: now.date(),
            care_team_id: Uuid::now_v7(),
            birth_year: None,
            sex: None,
            research_consent: true,
            baseline_mme: None,
            user_id: None,
            created_at: now,
        };
        let code_hash = [7u8; 32];
        let enrollment = EnrollmentRecord {
            patient_id: patient.patient_id,
            created_by: Uuid::now_v7(),
            created_at: now,
            expires_at: now + time::Duration::hours(1),
            used_at: None,
        };
        store
            .insert_patient(&patient, &code_hash, &enrollment)
            .unwrap();
        (patient, code_hash)
    }

    fn event(patient_id: Uuid, detail: String) -> AuditEvent {
        AuditEvent {
            at: OffsetDateTime::now_utc(),
            user_id: None,
            role: "clinician".into(),
            action: "patient.update".into(),
            patient_id: Some(patient_id),
            detail,
            outcome: "ok".into(),
        }
    }

    /// Audits a change as `research_consent before -> after; display_name`.
    fn describe(before: &PatientRecord, after: &PatientRecord) -> Vec<AuditEvent> {
        let detail = format!(
            "research_consent {} -> {}; {}",
            before.research_consent, after.research_consent, after.display_name
        );
        vec![event(after.patient_id, detail)]
    }

    fn log_of(store: &ServerStore, patient_id: Uuid) -> Vec<String> {
        let filter = AuditFilter {
            patient_id: Some(patient_id),
            limit: 100,
            ..Default::default()
        };
        let records = store.audit_records(&filter).unwrap();
        records.into_iter().map(|r| r.detail).collect()
    }

    #[test]
    fn a_change_after_an_enrolment_it_did_not_see_keeps_the_login() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let (patient, code_hash) = new_patient(&store);
        // What the handler's access check read, before the patient redeemed their code.
        let seen = store.patient(patient.patient_id).unwrap().unwrap();
        assert_eq!(seen.user_id, None);
        let login = UserRecord {
            user_id: Uuid::now_v7(),
            username: "patient".into(),
            role: Role::Patient,
            password_hash: "x".into(),
            patient_id: None,
            created_at: OffsetDateTime::now_utc(),
        };
        let now = OffsetDateTime::now_utc();
        let outcome = store.redeem_enrollment(&code_hash, &login, now).unwrap();
        assert!(matches!(outcome, RedeemOutcome::Enrolled { .. }));

        let (before, after) = store
            .update_patient(
                patient.patient_id,
                |p| {
                    p.display_name = "Renamed".into();
                    p.user_id = None; // a change cannot unlink the login
                    Ok(())
                },
                describe,
            )
            .unwrap();
        assert_eq!(before.user_id, Some(login.user_id));
        assert_eq!(after.user_id, Some(login.user_id));
        let stored = store.patient(patient.patient_id).unwrap().unwrap();
        assert_eq!(stored.user_id, Some(login.user_id));
        assert_eq!(stored.display_name, "Renamed");
    }

    #[test]
    fn a_change_after_a_consent_change_it_did_not_see_keeps_it_and_the_log_follows() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let (patient, _) = new_patient(&store);
        let id = patient.patient_id;
        let seen = store.patient(id).unwrap().unwrap();
        assert!(seen.research_consent);
        store
            .update_patient(
                id,
                |p| {
                    p.research_consent = false;
                    Ok(())
                },
                describe,
            )
            .unwrap();
        // A rename whose request began before the withdrawal: it changes the name only.
        let (before, after) = store
            .update_patient(
                id,
                |p| {
                    p.display_name = "Renamed".into();
                    Ok(())
                },
                describe,
            )
            .unwrap();
        assert!(!before.research_consent);
        assert!(!after.research_consent);
        assert!(!store.patient(id).unwrap().unwrap().research_consent);
        assert_eq!(
            log_of(&store, id),
            [
                "research_consent true -> false; P",
                "research_consent false -> false; Renamed"
            ]
        );
        assert!(store.verify_audit_chain().unwrap().is_ok());
    }

    #[test]
    fn a_refused_change_writes_neither_the_patient_nor_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let (patient, _) = new_patient(&store);
        let id = patient.patient_id;
        let refused = store.update_patient(
            id,
            |p| {
                p.research_consent = false;
                Err(StoreError::Conflict("no".into()))
            },
            describe,
        );
        assert!(matches!(refused, Err(StoreError::Conflict(_))));
        assert!(store.patient(id).unwrap().unwrap().research_consent);
        assert!(log_of(&store, id).is_empty());
        let missing = store.update_patient(Uuid::now_v7(), |_| Ok(()), describe);
        assert!(matches!(missing, Err(StoreError::NotFound("patient"))));
    }

    #[test]
    fn a_team_change_moves_the_patient_between_team_lists() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let (patient, _) = new_patient(&store);
        let new_team = Uuid::now_v7();
        store
            .update_patient(
                patient.patient_id,
                |p| {
                    p.care_team_id = new_team;
                    Ok(())
                },
                describe,
            )
            .unwrap();
        assert!(
            store
                .patients_of_team(patient.care_team_id)
                .unwrap()
                .is_empty()
        );
        let moved = store.patients_of_team(new_team).unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].patient_id, patient.patient_id);
    }
}
