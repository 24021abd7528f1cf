//! Settings: defaults, then an optional JSON file, then environment, then flags.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Bytes that must never be printed: `Debug` shows `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The secret bytes, for keying.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Secret(s.into_bytes()))
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 lane.
pub const OWASP_ARGON2: Argon2Settings = Argon2Settings {
    memory_kib: 19_456,
    iterations: 2,
    parallelism: 1,
};

/// Shortest accepted secret given in settings, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Shortest access token lifetime, seconds.
pub const MIN_ACCESS_TOKEN_TTL_SECS: u64 = 60;
/// Longest access token lifetime, seconds (one day).
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 24 * 3600;
/// Longest refresh token lifetime, seconds (one year): beyond it an expiry is no limit,
/// and far beyond it the expiry time overflows.
pub const MAX_REFRESH_TOKEN_TTL_SECS: u64 = 366 * 24 * 3600;
/// Longest enrolment code lifetime, seconds (90 days).
pub const MAX_ENROLLMENT_CODE_TTL_SECS: u64 = 90 * 24 * 3600;

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the store and the generated secrets live.
    pub data_dir: PathBuf,
    /// `ADDR:PORT` to listen on (port 0 picks one).
    pub listen: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Key of the access tokens; generated into the data dir when not given.
    pub jwt_secret: Option<Secret>,
    /// Key of research pseudonyms; generated into the data dir when not given.
    pub pseudonym_secret: Option<Secret>,
    /// `iss` of access tokens.
    pub jwt_issuer: String,
    /// `aud` of access tokens.
    pub jwt_audience: String,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_token_ttl_secs: u64,
    /// Lifetime of enrolment codes, seconds.
    pub enrollment_code_ttl_secs: u64,
    /// Password hashing cost.
    pub argon2: Argon2Settings,
    /// Concurrent password hashes (default: the number of cores).
    pub hash_workers: Option<usize>,
    /// Whether research exports may show calendar dates.
    pub research_calendar_dates: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./taperlog-data"),
            listen: "127.0.0.1:8080".into(),
            log_format: LogFormat::Plain,
            jwt_secret: None,
            pseudonym_secret: None,
            jwt_issuer: "taperlog".into(),
            jwt_audience: "taperlog-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            enrollment_code_ttl_secs: 14 * 24 * 3600,
            argon2: OWASP_ARGON2,
            hash_workers: None,
            research_calendar_dates: false,
        }
    }
}

/// The settings file: any subset of the settings, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    log_format: Option<LogFormat>,
    jwt_secret: Option<Secret>,
    pseudonym_secret: Option<Secret>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_secs: Option<u64>,
    enrollment_code_ttl_secs: Option<u64>,
    argon2: Option<Argon2Settings>,
    hash_workers: Option<usize>,
    research_calendar_dates: Option<bool>,
}

/// Values from the environment and the command line (clap merges the two, flags winning).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir` / `TAPERLOG_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen` / `TAPERLOG_LISTEN`.
    pub listen: Option<String>,
    /// `--log-format` / `TAPERLOG_LOG_FORMAT`.
    pub log_format: Option<LogFormat>,
    /// `TAPERLOG_JWT_SECRET`.
    pub jwt_secret: Option<Secret>,
    /// `TAPERLOG_PSEUDONYM_SECRET`.
    pub pseudonym_secret: Option<Secret>,
}

/// Settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid settings.
    #[error("settings file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("setting `{field}`: {message}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// Defaults, then the file at `file` (if any), then `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Settings, SettingsError> {
        let mut settings = Settings::default();
        if let Some(path) = file {
            let bytes = std::fs::read(path).map_err(|source| SettingsError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let parsed: SettingsFile =
                serde_json::from_slice(&bytes).map_err(|e| SettingsError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
            settings.apply_file(parsed);
        }
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = overrides.$field { settings.$field = v; } )* };
        }
        take!(data_dir, listen, log_format);
        if overrides.jwt_secret.is_some() {
            settings.jwt_secret = overrides.jwt_secret;
        }
        if overrides.pseudonym_secret.is_some() {
            settings.pseudonym_secret = overrides.pseudonym_secret;
        }
        settings.check()?;
        Ok(settings)
    }

    fn apply_file(&mut self, file: SettingsFile) {
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = file.$field { self.$field = v; } )* };
        }
        take!(
            data_dir,
            listen,
            log_format,
            jwt_issuer,
            jwt_audience,
            access_token_ttl_secs,
            refresh_token_ttl_secs,
            enrollment_code_ttl_secs,
            argon2,
            research_calendar_dates
        );
        if file.jwt_secret.is_some() {
            self.jwt_secret = file.jwt_secret;
        }
        if file.pseudonym_secret.is_some() {
            self.pseudonym_secret = file.pseudonym_secret;
        }
        if file.hash_workers.is_some() {
            self.hash_workers = file.hash_workers;
        }
    }

    /// Refuses values the server cannot run with.
    pub fn check(&self) -> Result<(), SettingsError> {
        let invalid = |field, message: &str| {
            Err(SettingsError::Invalid {
                field,
                message: message.to_string(),
            })
        };
        for (field, secret) in [
            ("jwt_secret", &self.jwt_secret),
            ("pseudonym_secret", &self.pseudonym_secret),
        ] {
            if secret
                .as_ref()
                .is_some_and(|s| s.expose().len() < MIN_SECRET_BYTES)
            {
                return invalid(field, "must be at least 32 bytes");
            }
        }
        let ttls = [
            (
                "access_token_ttl_secs",
                self.access_token_ttl_secs,
                MIN_ACCESS_TOKEN_TTL_SECS,
                MAX_ACCESS_TOKEN_TTL_SECS,
            ),
            (
                "refresh_token_ttl_secs",
                self.refresh_token_ttl_secs,
                self.access_token_ttl_secs,
                MAX_REFRESH_TOKEN_TTL_SECS,
            ),
            (
                "enrollment_code_ttl_secs",
                self.enrollment_code_ttl_secs,
                1,
                MAX_ENROLLMENT_CODE_TTL_SECS,
            ),
        ];
        for (field, value, min, max) in ttls {
            if !(min..=max).contains(&value) {
                let message = format!("must be {min} to {max} seconds, not {value}");
                return invalid(field, &message);
            }
        }
        if argon2::Params::new(
            self.argon2.memory_kib,
            self.argon2.iterations,
            self.argon2.parallelism,
            None,
        )
        .is_err()
        {
            return invalid("argon2", "parameters out of argon2's range");
        }
        if self.hash_workers == Some(0) {
            return invalid("hash_workers", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_overrides_and_debug_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(
            &path,
            br#"{"listen":"127.0.0.1:1","access_token_ttl_secs":120,"jwt_secret":"0123456789abcdef0123456789abcdef-very-secret"}"#,
        )
        .unwrap();
        let settings = Settings::load(
            Some(&path),
            Overrides {
                listen: Some("127.0.0.1:2".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(settings.listen, "127.0.0.1:2");
        assert_eq!(settings.access_token_ttl_secs, 120);
        let shown = format!("{settings:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn lifetimes_are_bounded_with_an_error_naming_the_setting() {
        assert!(Settings::default().check().is_ok());
        let at_most = Settings {
            access_token_ttl_secs: MAX_ACCESS_TOKEN_TTL_SECS,
            refresh_token_ttl_secs: MAX_REFRESH_TOKEN_TTL_SECS,
            enrollment_code_ttl_secs: MAX_ENROLLMENT_CODE_TTL_SECS,
            ..Settings::default()
        };
        assert!(at_most.check().is_ok());
        let cases = [
            ("access_token_ttl_secs", r#"{"access_token_ttl_secs":59}"#),
            (
                "access_token_ttl_secs",
                r#"{"access_token_ttl_secs":86401}"#,
            ),
            (
                "refresh_token_ttl_secs",
                r#"{"refresh_token_ttl_secs":18446744073709551615}"#,
            ),
            (
                "refresh_token_ttl_secs",
                r#"{"refresh_token_ttl_secs":31622401}"#,
            ),
            ("refresh_token_ttl_secs", r#"{"refresh_token_ttl_secs":60}"#),
            (
                "enrollment_code_ttl_secs",
                r#"{"enrollment_code_ttl_secs":9223372036854775808}"#,
            ),
            (
                "enrollment_code_ttl_secs",
                r#"{"enrollment_code_ttl_secs":7776001}"#,
            ),
            (
                "enrollment_code_ttl_secs",
                r#"{"enrollment_code_ttl_secs":0}"#,
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        for (field, json) in cases {
            std::fs::write(&path, json).unwrap();
            match Settings::load(Some(&path), Overrides::default()) {
                Err(SettingsError::Invalid { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_keys_and_short_secrets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, br#"{"lisen":"x"}"#).unwrap();
        assert!(Settings::load(Some(&path), Overrides::default()).is_err());
        let short = Overrides {
            jwt_secret: Some(Secret::new("short")),
            ..Default::default()
        };
        assert!(Settings::load(None, short).is_err());
    }
}
