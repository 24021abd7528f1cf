//! The server's keys: given in settings, or generated on first start into the data dir
//! (files readable by the owner only).

use std::io::Write;
use std::path::Path;

use rand::RngCore;

use crate::settings::{Secret, Settings};

/// Length of a generated key, bytes.
const GENERATED_SECRET_BYTES: usize = 32;

/// The keys in force.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Signs access tokens (HS256).
    pub jwt: Secret,
    /// Keys research pseudonyms (HMAC-SHA256 of the patient id).
    pub pseudonym: Secret,
}

/// Creates the data dir (owner-only) if needed.
pub fn ensure_data_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// The keys from `settings`, or read from / generated into `settings.data_dir`.
pub fn load_or_create(settings: &Settings) -> std::io::Result<Secrets> {
    ensure_data_dir(&settings.data_dir)?;
    let jwt = match &settings.jwt_secret {
        Some(s) => s.clone(),
        None => file_secret(&settings.data_dir.join("jwt.secret"))?,
    };
    let pseudonym = match &settings.pseudonym_secret {
        Some(s) => s.clone(),
        None => file_secret(&settings.data_dir.join("pseudonym.secret"))?,
    };
    Ok(Secrets { jwt, pseudonym })
}

fn file_secret(path: &Path) -> std::io::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not hex: {e}", path.display()),
                )
            })?;
            if bytes.len() < GENERATED_SECRET_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} holds fewer than 32 bytes", path.display()),
                ));
            }
            Ok(Secret::new(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = vec![0u8; GENERATED_SECRET_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path)?;
            file.write_all(hex::encode(&bytes).as_bytes())?;
            file.sync_all()?;
            Ok(Secret::new(bytes))
        }
        Err(e) => Err(e),
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_owner_only_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let first = load_or_create(&settings).unwrap();
        let again = load_or_create(&settings).unwrap();
        assert_eq!(first.jwt, again.jwt);
        assert_ne!(first.jwt, first.pseudonym);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(settings.data_dir.join("jwt.secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
