//! `--demo`: a demo care team and cohort in an empty data dir, with printed logins.
//!
//! Diary entries are hung on [`DemoCohort::patients`] by the sync area once it can ingest.

use rand::Rng;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::{new_enrollment_code, token_hash};
use crate::error::AppError;
use crate::role::Role;
use crate::routes::admin::create_user_record;
use crate::state::AppState;
use crate::store::{
    CareTeamRecord, EnrollmentRecord, PatientRecord, RedeemOutcome, Sex, StoreError, UserRecord,
};

/// A login the demo made.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// Role.
    pub role: Role,
    /// Username.
    pub username: String,
    /// Password (random per demo).
    pub password: String,
}

/// A demo patient.
#[derive(Debug, Clone)]
pub struct DemoPatient {
    /// Patient id.
    pub patient_id: Uuid,
    /// Their login's user id.
    pub user_id: Uuid,
    /// Their username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// First day of follow-up.
    pub enrolled_on: Date,
    /// Baseline set by the care team, if any.
    pub baseline_mme: Option<f64>,
    /// Research consent.
    pub research_consent: bool,
}

/// What the demo made.
#[derive(Debug, Clone)]
pub struct DemoCohort {
    /// The demo care team.
    pub care_team_id: Uuid,
    /// Every login, staff and patients.
    pub logins: Vec<DemoLogin>,
    /// The patients, for hanging diary entries on.
    pub patients: Vec<DemoPatient>,
}

impl DemoCohort {
    /// The lines printed on standard output.
    pub fn login_lines(&self) -> Vec<String> {
        let mut lines = vec!["demo logins (role username password):".to_string()];
        for login in &self.logins {
            lines.push(format!(
                "  {:<10} {:<16} {}",
                login.role.as_str(),
                login.username,
                login.password
            ));
        }
        lines
    }
}

/// Refusals of `--demo`.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The data dir holds data already.
    #[error("--demo loads only into an empty data dir, and this one holds data")]
    NotEmpty,
    /// A step failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for DemoError {
    fn from(e: StoreError) -> Self {
        DemoError::App(e.into())
    }
}

/// Marker remembered in the store once the demo is loaded.
pub const DEMO_META_KEY: &str = "demo_loaded";

/// Whether the demo was loaded into this store before.
pub fn demo_loaded(state: &AppState) -> Result<bool, StoreError> {
    Ok(state.store.meta(DEMO_META_KEY)?.is_some())
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// (display name, username, days since enrolment, research consent, baseline, birth year, sex)
type PatientSpec = (&'static str, &'static str, i64, bool, Option<f64>, i32, Sex);

const DEMO_PATIENTS: [PatientSpec; 5] = [
    (
        "Alex Moreau",
        "demo-alex",
        35,
        true,
        Some(120.0),
        1968,
        Sex::Female,
    ),
    ("Sam Keller", "demo-sam", 28, true, None, 1975, Sex::Male),
    (
        "Robin Okafor",
        "demo-robin",
        24,
        false,
        None,
        1959,
        Sex::Other,
    ),
    ("Jo Lindqvist", "demo-jo", 21, true, None, 1982, Sex::Female),
    ("Kim Tanaka", "demo-kim", 18, true, None, 1990, Sex::Unknown),
];

/// Loads the demo into an empty store.
pub async fn load_demo(state: &AppState) -> Result<DemoCohort, DemoError> {
    if !state.store.is_empty() {
        return Err(DemoError::NotEmpty);
    }
    let now = OffsetDateTime::now_utc();
    let store = &state.store;
    let team = CareTeamRecord {
        care_team_id: Uuid::now_v7(),
        name: "Demo pain clinic".into(),
        created_at: now,
    };
    store.insert_care_team(&team)?;
    let mut logins = Vec::new();
    let mut audit = Vec::new();
    let mut clinician_id = Uuid::nil();
    for (role, username) in [
        (Role::Admin, "demo-admin"),
        (Role::Clinician, "demo-clinician"),
        (Role::Researcher, "demo-researcher"),
    ] {
        let password = random_password();
        let user = create_user_record(&state.passwords, username, password.clone(), role).await?;
        store.insert_user(&user)?;
        if role == Role::Clinician {
            store.add_care_team_member(team.care_team_id, user.user_id)?;
            clinician_id = user.user_id;
        }
        audit.push(Entry::system(
            None,
            "system",
            "user.create",
            None,
            format!("demo user `{username}` role {role}"),
        ));
        logins.push(DemoLogin {
            role,
            username: username.into(),
            password,
        });
    }
    let mut patients = Vec::new();
    for (display_name, username, days, consent, baseline, birth_year, sex) in DEMO_PATIENTS {
        let patient = PatientRecord {
            patient_id: Uuid::now_v7(),
            display_name: display_name.into(),
            enrolled_on: now.date() - Duration::days(days),
            care_team_id: team.care_team_id,
            birth_year: Some(birth_year),
            sex: Some(sex),
            research_consent: consent,
            baseline_mme: baseline,
            user_id: None,
            created_at: now,
        };
        let code = new_enrollment_code();
        let enrollment = EnrollmentRecord {
            patient_id: patient.patient_id,
            created_by: clinician_id,
            created_at: now,
            expires_at: now + Duration::days(14),
            used_at: None,
        };
        store.insert_patient(&patient, &token_hash(&code), &enrollment)?;
        let password = random_password();
        let hash = state.passwords.hash(password.clone()).await?;
        let user = UserRecord {
            user_id: Uuid::now_v7(),
            username: username.into(),
            role: Role::Patient,
            password_hash: hash,
            patient_id: Some(patient.patient_id),
            created_at: now,
        };
        if store.redeem_enrollment(&token_hash(&code), &user, now)?
            != (RedeemOutcome::Enrolled {
                patient_id: patient.patient_id,
            })
        {
            return Err(DemoError::App(AppError::Internal(
                "demo enrolment failed".into(),
            )));
        }
        audit.push(Entry::system(
            None,
            "system",
            "patient.create",
            Some(patient.patient_id),
            "demo patient, enrolled",
        ));
        logins.push(DemoLogin {
            role: Role::Patient,
            username: username.into(),
            password,
        });
        patients.push(DemoPatient {
            patient_id: patient.patient_id,
            user_id: user.user_id,
            username: username.into(),
            display_name: display_name.into(),
            enrolled_on: patient.enrolled_on,
            baseline_mme: baseline,
            research_consent: consent,
        });
    }
    // A few weeks of diary for each patient, as if their phones had synced (UTC+1).
    let patients_now = now.to_offset(time::macros::offset!(+1));
    for (profile, patient) in patients.iter().enumerate() {
        let entries = crate::demo_diary::demo_diary(profile, patient.enrolled_on, patients_now);
        store.apply_changes(patient.patient_id, &entries, state.sync.table(), now)?;
    }
    store.set_meta(DEMO_META_KEY, &now.unix_timestamp().to_string())?;
    let events: Vec<_> = audit.into_iter().map(Entry::into_event).collect();
    store.append_audit(&events)?;
    store.flush().await?;
    Ok(DemoCohort {
        care_team_id: team.care_team_id,
        logins,
        patients,
    })
}
