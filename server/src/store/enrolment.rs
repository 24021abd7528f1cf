//! Enrolment codes: one-time, expiring codes that let a patient set their password.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use time::OffsetDateTime;
use uuid::Uuid;

use super::codec::{decode, decode_txn, encode_txn};
use super::patients::PatientRecord;
use super::users::{UserRecord, insert_user_txn};
use super::{ServerStore, StoreError, txn_error};

/// An enrolment code as stored (under the SHA-256 of the code).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollmentRecord {
    /// The patient it enrols.
    pub patient_id: Uuid,
    /// Who made it.
    pub created_by: Uuid,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was redeemed; a code works once.
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

/// What redeeming a code led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// The patient's login now exists.
    Enrolled {
        /// The patient.
        patient_id: Uuid,
    },
    /// No such code, or it was used, or it expired, or the patient already has a login.
    Invalid,
}

impl ServerStore {
    /// The code with this hash, if it can still be redeemed at `now`.
    pub fn redeemable_enrollment(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<EnrollmentRecord>, StoreError> {
        let Some(bytes) = self.trees.enrollment_by_code_hash.get(code_hash)? else {
            return Ok(None);
        };
        let record: EnrollmentRecord = decode("enrollment_by_code_hash", &bytes)?;
        Ok((record.used_at.is_none() && record.expires_at > now).then_some(record))
    }

    /// Redeems a code: marks it used, creates `user` (the patient's login) and links it to
    /// the patient, all in one step. `user.patient_id` is set from the code.
    pub fn redeem_enrollment(
        &self,
        code_hash: &[u8; 32],
        user: &UserRecord,
        now: OffsetDateTime,
    ) -> Result<RedeemOutcome, StoreError> {
        let t = &self.trees;
        (
            &t.enrollment_by_code_hash,
            &t.patients,
            &t.users,
            &t.user_by_name,
        )
            .transaction(|(codes, patients, users, by_name)| {
                let Some(bytes) = codes.get(code_hash)? else {
                    return Ok(RedeemOutcome::Invalid);
                };
                let mut code: EnrollmentRecord = decode_txn("enrollment_by_code_hash", &bytes)?;
                if code.used_at.is_some() || code.expires_at <= now {
                    return Ok(RedeemOutcome::Invalid);
                }
                let Some(bytes) = patients.get(code.patient_id.as_bytes())? else {
                    return Ok(RedeemOutcome::Invalid);
                };
                let mut patient: PatientRecord = decode_txn("patients", &bytes)?;
                if patient.user_id.is_some() {
                    return Ok(RedeemOutcome::Invalid);
                }
                let mut login = user.clone();
                login.patient_id = Some(code.patient_id);
                insert_user_txn(users, by_name, &login)?;
                patient.user_id = Some(login.user_id);
                patients.insert(
                    patient.patient_id.as_bytes(),
                    encode_txn("patients", &patient)?,
                )?;
                code.used_at = Some(now);
                codes.insert(code_hash, encode_txn("enrollment_by_code_hash", &code)?)?;
                Ok(RedeemOutcome::Enrolled {
                    patient_id: code.patient_id,
                })
            })
            .map_err(|e: sled::transaction::TransactionError<StoreError>| txn_error(e))
    }

    /// Adds a fresh code for a patient who has no login yet (the old one expired or was
    /// lost); [`StoreError::Conflict`] if they have one by now (checked in the same step,
    /// so a redemption racing the request is seen).
    pub fn insert_enrollment(
        &self,
        code_hash: &[u8; 32],
        enrollment: &EnrollmentRecord,
    ) -> Result<(), StoreError> {
        let t = &self.trees;
        (&t.enrollment_by_code_hash, &t.patients)
            .transaction(|(codes, patients)| {
                let Some(bytes) = patients.get(enrollment.patient_id.as_bytes())? else {
                    return Err(ConflictableTransactionError::Abort(StoreError::NotFound(
                        "patient",
                    )));
                };
                let patient: PatientRecord = decode_txn("patients", &bytes)?;
                if patient.user_id.is_some() {
                    return Err(ConflictableTransactionError::Abort(StoreError::Conflict(
                        "the patient has already enrolled".into(),
                    )));
                }
                codes.insert(
                    code_hash,
                    encode_txn("enrollment_by_code_hash", enrollment)?,
                )?;
                Ok(())
            })
            .map_err(txn_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;

    #[test]
    fn no_new_code_once_the_patient_has_a_login() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let now = OffsetDateTime::now_utc();
        let patient = PatientRecord {
            patient_id: Uuid::now_v7(),
            display_name: "P".into(),
            enrolled_on: now.date(),
            care_team_id: Uuid::now_v7(),
            birth_year: None,
            sex: None,
            research_consent: false,
            baseline_mme: None,
            user_id: None,
            created_at: now,
        };
        let code = |expires_at| EnrollmentRecord {
            patient_id: patient.patient_id,
            created_by: Uuid::now_v7(),
            created_at: now,
            expires_at,
            used_at: None,
        };
        let first = code(now + time::Duration::hours(1));
        store.insert_patient(&patient, &[1; 32], &first).unwrap();
        store.insert_enrollment(&[2; 32], &first).unwrap();
        let login = UserRecord {
            user_id: Uuid::now_v7(),
            username: "patient".into(),
            role: Role::Patient,
            password_hash: "x".into(),
            patient_id: None,
            created_at: now,
        };
        let outcome = store.redeem_enrollment(&[1; 32], &login, now).unwrap();
        assert!(matches!(outcome, RedeemOutcome::Enrolled { .. }));
        assert!(matches!(
            store.insert_enrollment(&[3; 32], &first),
            Err(StoreError::Conflict(_))
        ));
        assert!(
            store
                .redeemable_enrollment(&[3; 32], now)
                .unwrap()
                .is_none()
        );
        let stranger = EnrollmentRecord {
            patient_id: Uuid::now_v7(),
            ..first
        };
        assert!(matches!(
            store.insert_enrollment(&[4; 32], &stranger),
            Err(StoreError::NotFound("patient"))
        ));
    }
}
