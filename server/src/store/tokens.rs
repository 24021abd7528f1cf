//! Refresh tokens, stored by hash, grouped in families (one family per login).
//!
//! Rotation marks the presented token used and adds its successor to the family; a used
//! token presented again means it was copied, so the whole family is revoked.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use time::OffsetDateTime;
use uuid::Uuid;

use super::codec::{decode, decode_txn, encode, encode_txn};
use super::{ServerStore, StoreError, UserRecord, pair_key, second_of_pair, txn_error};
use crate::role::Role;

/// One refresh token as stored (under the SHA-256 of the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The login this token belongs to.
    pub family_id: Uuid,
    /// The user of that login.
    pub user_id: Uuid,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was exchanged for a successor; a used token must never come back.
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

/// One login: the chain of refresh tokens issued to one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FamilyRecord {
    /// The family's id (also in the access tokens of this login, claim `fam`).
    pub family_id: Uuid,
    /// Whose login it is.
    pub user_id: Uuid,
    /// The device that logged in, when it said.
    pub device_id: Option<String>,
    /// When the login began.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the login was ended (logout, password change, theft detection).
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why it was ended.
    pub revoked_reason: Option<String>,
    /// The user's role when the login began (roles never change), so that every request
    /// can check its token's `role` against the account with the read it already makes.
    /// Absent in logins stored before it was kept; the user record is read then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The user's patient (patients only), checked against the token's `pid` likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// Exchanged: the successor is stored.
    Rotated {
        /// The login.
        family_id: Uuid,
        /// Its user.
        user_id: Uuid,
    },
    /// No such token.
    Unknown,
    /// The token or its login has ended.
    Expired,
    /// The token had been exchanged before: the whole login is now revoked.
    Reused {
        /// The revoked login.
        family_id: Uuid,
        /// Its user.
        user_id: Uuid,
    },
}

impl ServerStore {
    /// Begins a login: stores its family and its first refresh token.
    ///
    /// Only while the user's password hash is still `verified_hash`, the one the password
    /// was checked against: a password change that lands during the check revokes the
    /// user's logins, and a login made from the old password after it must not survive it.
    /// Returns whether the login was stored.
    pub fn insert_family(
        &self,
        family: &FamilyRecord,
        token_hash: &[u8; 32],
        token: &RefreshRecord,
        verified_hash: &str,
    ) -> Result<bool, StoreError> {
        let t = &self.trees;
        (
            &t.users,
            &t.refresh_families,
            &t.families_by_user,
            &t.refresh_by_hash,
        )
            .transaction(|(users, families, by_user, tokens)| {
                let current = match users.get(family.user_id.as_bytes())? {
                    Some(bytes) => decode_txn::<UserRecord>("users", &bytes)?.password_hash,
                    None => return Ok(false),
                };
                if current != verified_hash {
                    return Ok(false);
                }
                families.insert(
                    family.family_id.as_bytes(),
                    encode_txn("refresh_families", family)?,
                )?;
                by_user.insert(&pair_key(family.user_id, family.family_id), &[])?;
                tokens.insert(token_hash, encode_txn("refresh_by_hash", token)?)?;
                Ok(true)
            })
            .map_err(txn_error)
    }

    /// The login with this id.
    pub fn family(&self, family_id: Uuid) -> Result<Option<FamilyRecord>, StoreError> {
        match self.trees.refresh_families.get(family_id.as_bytes())? {
            Some(bytes) => Ok(Some(decode("refresh_families", &bytes)?)),
            None => Ok(None),
        }
    }

    /// The stored refresh token with this hash.
    pub fn refresh_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<RefreshRecord>, StoreError> {
        match self.trees.refresh_by_hash.get(token_hash)? {
            Some(bytes) => Ok(Some(decode("refresh_by_hash", &bytes)?)),
            None => Ok(None),
        }
    }

    /// Exchanges the token hashed `old_hash` for `new_token` (hashed `new_hash`), atomically,
    /// so that two concurrent exchanges of one token cannot both succeed.
    pub fn rotate_refresh_token(
        &self,
        old_hash: &[u8; 32],
        new_hash: &[u8; 32],
        new_token: impl Fn(Uuid, Uuid) -> RefreshRecord,
        now: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        let t = &self.trees;
        (&t.refresh_by_hash, &t.refresh_families)
            .transaction(|(tokens, families)| {
                let Some(bytes) = tokens.get(old_hash)? else {
                    return Ok(RotateOutcome::Unknown);
                };
                let mut old: RefreshRecord = decode_txn("refresh_by_hash", &bytes)?;
                let Some(fam_bytes) = families.get(old.family_id.as_bytes())? else {
                    return Ok(RotateOutcome::Unknown);
                };
                let mut family: FamilyRecord = decode_txn("refresh_families", &fam_bytes)?;
                if family.revoked_at.is_some() {
                    return Ok(RotateOutcome::Expired);
                }
                if old.used_at.is_some() {
                    family.revoked_at = Some(now);
                    family.revoked_reason = Some("refresh token reuse".into());
                    families.insert(
                        family.family_id.as_bytes(),
                        encode_txn("refresh_families", &family)?,
                    )?;
                    return Ok(RotateOutcome::Reused {
                        family_id: family.family_id,
                        user_id: family.user_id,
                    });
                }
                if old.expires_at <= now {
                    return Ok(RotateOutcome::Expired);
                }
                old.used_at = Some(now);
                tokens.insert(old_hash, encode_txn("refresh_by_hash", &old)?)?;
                let successor = new_token(old.family_id, old.user_id);
                tokens.insert(new_hash, encode_txn("refresh_by_hash", &successor)?)?;
                Ok(RotateOutcome::Rotated {
                    family_id: old.family_id,
                    user_id: old.user_id,
                })
            })
            .map_err(txn_error)
    }

    /// Ends a login. Returns false when it did not exist or had already ended.
    pub fn revoke_family(
        &self,
        family_id: Uuid,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let tree = &self.trees.refresh_families;
        tree.transaction(|families| {
            let Some(bytes) = families.get(family_id.as_bytes())? else {
                return Ok(false);
            };
            let mut family: FamilyRecord = decode_txn("refresh_families", &bytes)?;
            if family.revoked_at.is_some() {
                return Ok(false);
            }
            family.revoked_at = Some(now);
            family.revoked_reason = Some(reason.to_string());
            families.insert(
                family_id.as_bytes(),
                encode_txn("refresh_families", &family)?,
            )?;
            Ok(true)
        })
        .map_err(|e: sled::transaction::TransactionError<StoreError>| txn_error(e))
    }

    /// Ends every login of `user_id` except `keep`; returns how many were ended.
    pub fn revoke_families_of_user(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let mut ended = 0;
        for item in self.trees.families_by_user.scan_prefix(user_id.as_bytes()) {
            let (key, _) = item?;
            let Some(family_id) = second_of_pair(&key) else {
                continue;
            };
            if Some(family_id) != keep && self.revoke_family(family_id, reason, now)? {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Deletes refresh tokens that expired before `now`; returns how many. (Past its expiry
    /// a token is refused anyway, so reuse detection loses nothing by forgetting it.)
    pub fn prune_expired_refresh_tokens(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        let mut pruned = 0;
        for item in self.trees.refresh_by_hash.iter() {
            let (key, bytes) = item?;
            let record: RefreshRecord = decode("refresh_by_hash", &bytes)?;
            if record.expires_at < now
                && self
                    .trees
                    .refresh_by_hash
                    .compare_and_swap(&key, Some(&bytes), None as Option<&[u8]>)?
                    .is_ok()
            {
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    /// Stores `family` as it is now (used by tests of expiry and by maintenance).
    pub fn put_family(&self, family: &FamilyRecord) -> Result<(), StoreError> {
        self.trees.refresh_families.insert(
            family.family_id.as_bytes(),
            encode("refresh_families", family)?,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(family_id: Uuid, user_id: Uuid, now: OffsetDateTime) -> RefreshRecord {
        RefreshRecord {
            family_id,
            user_id,
            issued_at: now,
            expires_at: now + time::Duration::days(30),
            used_at: None,
        }
    }

    #[test]
    fn a_login_stored_before_roles_were_kept_still_reads() {
        let old = br#"{"family_id":"0190d1a2-0000-7000-8000-000000000001","user_id":"0190d1a2-0000-7000-8000-000000000002","device_id":null,"created_at":"2026-01-01T00:00:00Z","revoked_at":null,"revoked_reason":null}"#;
        let family: FamilyRecord = serde_json::from_slice(old).unwrap();
        assert_eq!((family.role, family.patient_id), (None, None));
    }

    /// A store with one user whose password hash is `h0`, and a login family of theirs not
    /// stored yet.
    fn store_with_user(now: OffsetDateTime) -> (tempfile::TempDir, ServerStore, FamilyRecord) {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let uid = Uuid::now_v7();
        store
            .insert_user(&UserRecord {
                user_id: uid,
                username: "u".into(),
                role: Role::Clinician,
                password_hash: "h0".into(),
                patient_id: None,
                created_at: now,
            })
            .unwrap();
        let family = FamilyRecord {
            family_id: Uuid::now_v7(),
            user_id: uid,
            device_id: None,
            created_at: now,
            revoked_at: None,
            revoked_reason: None,
            role: None,
            patient_id: None,
        };
        (dir, store, family)
    }

    #[test]
    fn a_login_checked_against_a_replaced_password_is_not_stored() {
        let now = OffsetDateTime::now_utc();
        let (_dir, store, family) = store_with_user(now);
        let token = record(family.family_id, family.user_id, now);
        assert!(
            !store
                .insert_family(&family, &[1; 32], &token, "h-before")
                .unwrap()
        );
        assert!(store.family(family.family_id).unwrap().is_none());
        assert!(store.refresh_token(&[1; 32]).unwrap().is_none());
        assert!(
            store
                .insert_family(&family, &[1; 32], &token, "h0")
                .unwrap()
        );
        assert!(store.family(family.family_id).unwrap().is_some());
    }

    #[test]
    fn rotation_then_reuse_revokes_the_family() {
        let now = OffsetDateTime::now_utc();
        let (_dir, store, family) = store_with_user(now);
        let (fid, uid) = (family.family_id, family.user_id);
        assert!(
            store
                .insert_family(&family, &[1; 32], &record(fid, uid, now), "h0")
                .unwrap()
        );
        let make = |f, u| record(f, u, now);
        assert_eq!(
            store
                .rotate_refresh_token(&[1; 32], &[2; 32], make, now)
                .unwrap(),
            RotateOutcome::Rotated {
                family_id: fid,
                user_id: uid
            }
        );
        assert_eq!(
            store
                .rotate_refresh_token(&[1; 32], &[3; 32], make, now)
                .unwrap(),
            RotateOutcome::Reused {
                family_id: fid,
                user_id: uid
            }
        );
        assert_eq!(
            store
                .rotate_refresh_token(&[2; 32], &[4; 32], make, now)
                .unwrap(),
            RotateOutcome::Expired
        );
        assert_eq!(
            store
                .rotate_refresh_token(&[9; 32], &[5; 32], make, now)
                .unwrap(),
            RotateOutcome::Unknown
        );
        assert!(store.family(fid).unwrap().unwrap().revoked_at.is_some());
        assert_eq!(store.prune_expired_refresh_tokens(now).unwrap(), 0);
        let later = now + time::Duration::days(31);
        assert_eq!(store.prune_expired_refresh_tokens(later).unwrap(), 2);
        assert!(store.refresh_token(&[2; 32]).unwrap().is_none());
    }
}
