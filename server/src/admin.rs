//! The operator's commands on a data dir no server holds: create a user, verify the
//! audit chain.

use std::path::Path;

use crate::audit::Entry;
use crate::auth::PasswordHasher;
use crate::error::AppError;
use crate::role::Role;
use crate::routes::admin::create_user_record;
use crate::settings::Settings;
use crate::store::{AuditBreak, ServerStore, StoreError};

/// Failures of the admin commands.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The store could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The input was refused.
    #[error("{0}")]
    Refused(String),
}

impl From<AppError> for AdminError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation { field, message } => {
                AdminError::Refused(format!("{field}: {message}"))
            }
            other => AdminError::Refused(other.to_string()),
        }
    }
}

/// Opens the store of a data dir.
pub fn open_store(data_dir: &Path) -> Result<ServerStore, StoreError> {
    ServerStore::open(&data_dir.join("db"))
}

/// Creates a clinician, researcher or admin in the data dir, audited as the operator.
/// Returns the new user id.
pub async fn create_user(
    settings: &Settings,
    username: &str,
    role: Role,
    password: String,
) -> Result<uuid::Uuid, AdminError> {
    crate::secrets::ensure_data_dir(&settings.data_dir)
        .map_err(|e| AdminError::Refused(e.to_string()))?;
    let store = open_store(&settings.data_dir)?;
    let passwords = PasswordHasher::new(settings.argon2, 1)?;
    let user = create_user_record(&passwords, username, password, role).await?;
    store.insert_user(&user)?;
    let entry = Entry::system(
        None,
        "system",
        "user.create",
        None,
        format!(
            "user {} `{}` role {} (command line)",
            user.user_id, user.username, user.role
        ),
    );
    store.append_audit(&[entry.into_event()])?;
    store.flush().await?;
    Ok(user.user_id)
}

/// Checks the audit chain of a data dir: `Ok((records, head hash))` or the first break.
pub fn verify_audit(data_dir: &Path) -> Result<Result<(u64, String), AuditBreak>, AdminError> {
    let store = open_store(data_dir)?;
    Ok(store.verify_audit_chain()?)
}
