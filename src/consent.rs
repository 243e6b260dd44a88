//! What a user can grant a client: scopes narrowed to the user's roles,
//! and the teams the user may pick under the client's `team_selection` and
//! `team_restrictions`. Pure functions shared by the authorization and
//! device flows.

use authlog_events::TeamSelection;
use authlog_projections::{ClientRecord, UserRecord};

use crate::scopes::narrow_to_roles;

/// The user's teams the client may be granted (all of them when the
/// client has no restrictions).
pub fn eligible_teams(user: &UserRecord, client: &ClientRecord) -> Vec<String> {
    let restrictions = &client.metadata.team_restrictions;
    user.teams
        .iter()
        .filter(|t| restrictions.is_empty() || restrictions.contains(t))
        .cloned()
        .collect()
}

/// Checks a team choice: `single` needs exactly one, `multiple` at least
/// one, each among the eligible teams. With no eligible team the choice is
/// empty, unless the client is restricted to teams the user is not in.
pub fn choose_teams(
    chosen: &[String],
    eligible: &[String],
    client: &ClientRecord,
) -> Result<Vec<String>, String> {
    if eligible.is_empty() {
        if client.metadata.team_restrictions.is_empty() {
            return Ok(Vec::new());
        }
        return Err("you are not in any team this application may access".into());
    }
    if let Some(t) = chosen.iter().find(|t| !eligible.contains(t)) {
        return Err(format!("team {t} cannot be granted to this application"));
    }
    let mut teams: Vec<String> = Vec::new();
    for t in chosen {
        if !teams.contains(t) {
            teams.push(t.clone());
        }
    }
    match client.metadata.team_selection {
        TeamSelection::Single if teams.len() != 1 => Err("choose exactly one team".into()),
        TeamSelection::Multiple if teams.is_empty() => Err("choose at least one team".into()),
        _ => Ok(teams),
    }
}

/// The scopes the user can actually grant of those requested.
pub fn grantable_scopes(requested: &[String], user: &UserRecord) -> Vec<String> {
    narrow_to_roles(requested, &user.roles)
}
