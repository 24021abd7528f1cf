//! Patients: the enrolment facts a care team keeps about each of them.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::codec::{decode, encode_txn};
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

    /// Replaces a patient's record, moving it between teams' indexes when its team changed.
    pub fn update_patient(&self, patient: &PatientRecord) -> Result<(), StoreError> {
        let t = &self.trees;
        (&t.patients, &t.patients_by_team)
            .transaction(|(patients, by_team)| {
                let Some(bytes) = patients.get(patient.patient_id.as_bytes())? else {
                    return Err(sled::transaction::ConflictableTransactionError::Abort(
                        StoreError::NotFound("patient"),
                    ));
                };
                let old: PatientRecord = super::codec::decode_txn("patients", &bytes)?;
                if old.care_team_id != patient.care_team_id {
                    by_team.remove(&pair_key(old.care_team_id, old.patient_id))?;
                    by_team.insert(&pair_key(patient.care_team_id, patient.patient_id), &[])?;
                }
                patients.insert(
                    patient.patient_id.as_bytes(),
                    encode_txn("patients", patient)?,
                )?;
                Ok(())
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
