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

    /// Adds a fresh code for a patient who has no login yet (the old one expired or was lost).
    pub fn insert_enrollment(
        &self,
        code_hash: &[u8; 32],
        enrollment: &EnrollmentRecord,
    ) -> Result<(), StoreError> {
        self.trees
            .enrollment_by_code_hash
            .transaction(|codes| {
                codes.insert(
                    code_hash,
                    encode_txn("enrollment_by_code_hash", enrollment)?,
                )?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(txn_error)
    }
}
