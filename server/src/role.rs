//! The roles of the access model.

use serde::{Deserialize, Serialize};

/// Who a user is to the system; checked on every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A patient: their own data only.
    Patient,
    /// A clinician: the patients of their care teams.
    Clinician,
    /// A researcher: pseudonymised exports of consenting patients.
    Researcher,
    /// An administrator: accounts, care teams, the audit log.
    Admin,
}

impl Role {
    /// The wire name (`patient`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinician => "clinician",
            Role::Researcher => "researcher",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patient" => Ok(Role::Patient),
            "clinician" => Ok(Role::Clinician),
            "researcher" => Ok(Role::Researcher),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (patient, clinician, researcher, admin)"
            )),
        }
    }
}
