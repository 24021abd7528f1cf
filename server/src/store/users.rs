//! Users: accounts with a role and an argon2id password hash.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use time::OffsetDateTime;
use uuid::Uuid;

use super::codec::{decode, encode, encode_txn};
use super::{ServerStore, StoreError, txn_error};
use crate::role::Role;

/// A user account as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's id.
    pub user_id: Uuid,
    /// Login name, stored lower-case.
    pub username: String,
    /// The user's role.
    pub role: Role,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    /// The patient this login belongs to (patients only).
    pub patient_id: Option<Uuid>,
    /// When the account was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl ServerStore {
    /// Stores a new user; [`StoreError::Conflict`] when the username is taken.
    pub fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let t = &self.trees;
        (&t.users, &t.user_by_name)
            .transaction(|(users, by_name)| insert_user_txn(users, by_name, user))
            .map_err(txn_error)
    }

    /// The user with this id.
    pub fn user(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        match self.trees.users.get(user_id.as_bytes())? {
            Some(bytes) => Ok(Some(decode("users", &bytes)?)),
            None => Ok(None),
        }
    }

    /// The user with this username (case-insensitive).
    pub fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = username.to_lowercase();
        let Some(id) = self.trees.user_by_name.get(key.as_bytes())? else {
            return Ok(None);
        };
        let id = Uuid::from_slice(&id).map_err(|e| StoreError::Format {
            tree: "user_by_name",
            detail: e.to_string(),
        })?;
        self.user(id)
    }

    /// Replaces a user's password hash (a change, or a rehash with new parameters) if it is
    /// still `previous`, the one the caller verified the password against. Returns whether
    /// it was replaced: `false` when the hash changed meanwhile, so that a login's rehash of
    /// the old password never undoes a concurrent password change.
    pub fn set_password_hash(
        &self,
        user_id: Uuid,
        previous: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let key = user_id.as_bytes();
        loop {
            let Some(bytes) = self.trees.users.get(key)? else {
                return Err(StoreError::NotFound("user"));
            };
            let mut user: UserRecord = decode("users", &bytes)?;
            if user.password_hash != previous {
                return Ok(false);
            }
            user.password_hash = hash.to_string();
            let swapped = self.trees.users.compare_and_swap(
                key,
                Some(&bytes),
                Some(encode("users", &user)?),
            )?;
            // Another field of the record changed in between: read it again.
            if swapped.is_ok() {
                return Ok(true);
            }
        }
    }

    /// How many users there are.
    pub fn user_count(&self) -> usize {
        self.trees.users.len()
    }
}

/// Inserts `user` inside a transaction over (`users`, `user_by_name`).
pub(crate) fn insert_user_txn(
    users: &sled::transaction::TransactionalTree,
    by_name: &sled::transaction::TransactionalTree,
    user: &UserRecord,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let name = user.username.to_lowercase();
    if by_name.get(name.as_bytes())?.is_some() {
        return Err(ConflictableTransactionError::Abort(StoreError::Conflict(
            format!("the username `{name}` is taken"),
        )));
    }
    by_name.insert(name.as_bytes(), user.user_id.as_bytes().as_slice())?;
    let mut stored = user.clone();
    stored.username = name;
    users.insert(user.user_id.as_bytes(), encode_txn("users", &stored)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserRecord {
        UserRecord {
            user_id: Uuid::now_v7(),
            username: name.into(),
            role: Role::Clinician,
            password_hash: "x".into(),
            patient_id: None,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn usernames_are_unique_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let a = user("Alice");
        store.insert_user(&a).unwrap();
        assert!(matches!(
            store.insert_user(&user("alice")),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.user_by_name("ALICE").unwrap().unwrap().user_id,
            a.user_id
        );
        assert!(store.set_password_hash(a.user_id, "x", "y").unwrap());
        assert_eq!(store.user(a.user_id).unwrap().unwrap().password_hash, "y");
    }

    #[test]
    fn a_rehash_of_the_old_password_does_not_undo_a_password_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = ServerStore::open(dir.path()).unwrap();
        let a = user("carol");
        store.insert_user(&a).unwrap();
        // A login verified the password against "x" and rehashes it; meanwhile the
        // password was changed to "changed".
        assert!(store.set_password_hash(a.user_id, "x", "changed").unwrap());
        assert!(
            !store
                .set_password_hash(a.user_id, "x", "rehash-of-x")
                .unwrap()
        );
        assert_eq!(
            store.user(a.user_id).unwrap().unwrap().password_hash,
            "changed"
        );
        assert!(matches!(
            store.set_password_hash(Uuid::now_v7(), "x", "y"),
            Err(StoreError::NotFound(_))
        ));
    }
}
