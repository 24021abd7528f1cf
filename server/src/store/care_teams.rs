//! Care teams and their members (clinicians).

use serde::{Deserialize, Serialize};
use sled::Transactional;
use time::OffsetDateTime;
use uuid::Uuid;

use super::codec::{decode, encode};
use super::{ServerStore, StoreError, pair_key, second_of_pair, txn_error};

/// A care team as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CareTeamRecord {
    /// The team's id.
    pub care_team_id: Uuid,
    /// Its name.
    pub name: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl ServerStore {
    /// Stores a new care team.
    pub fn insert_care_team(&self, team: &CareTeamRecord) -> Result<(), StoreError> {
        self.trees
            .care_teams
            .insert(team.care_team_id.as_bytes(), encode("care_teams", team)?)?;
        Ok(())
    }

    /// The care team with this id.
    pub fn care_team(&self, care_team_id: Uuid) -> Result<Option<CareTeamRecord>, StoreError> {
        match self.trees.care_teams.get(care_team_id.as_bytes())? {
            Some(bytes) => Ok(Some(decode("care_teams", &bytes)?)),
            None => Ok(None),
        }
    }

    /// Makes `user_id` a member of the team (idempotent).
    pub fn add_care_team_member(
        &self,
        care_team_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), StoreError> {
        let t = &self.trees;
        (&t.members_by_team, &t.teams_by_member)
            .transaction(|(members, teams)| {
                members.insert(&pair_key(care_team_id, user_id), &[])?;
                teams.insert(&pair_key(user_id, care_team_id), &[])?;
                Ok(())
            })
            .map_err(txn_error)
    }

    /// Whether `user_id` is a member of the team.
    pub fn is_care_team_member(
        &self,
        care_team_id: Uuid,
        user_id: Uuid,
    ) -> Result<bool, StoreError> {
        Ok(self
            .trees
            .members_by_team
            .contains_key(pair_key(care_team_id, user_id))?)
    }

    /// The teams `user_id` belongs to.
    pub fn care_teams_of_member(&self, user_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let mut teams = Vec::new();
        for item in self.trees.teams_by_member.scan_prefix(user_id.as_bytes()) {
            let (key, _) = item?;
            teams.extend(second_of_pair(&key));
        }
        Ok(teams)
    }
}
