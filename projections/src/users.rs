//! Users and their consents: profile, roles, teams, password digest,
//! disabled state, and what each user consented to per client.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use authlog_events::{AccessPreset, Event, RecordedEvent, Role, Timestamp};
use uuid::Uuid;

use crate::Projection;

/// One user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Id.
    pub user_id: Uuid,
    /// Login name (unique, case-insensitive).
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Email.
    pub email: Option<String>,
    /// Argon2id PHC string.
    pub password_digest: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Teams.
    pub teams: Vec<String>,
    /// Disabled users cannot log in and have no active tokens.
    pub disabled: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Stream version (`ETag`).
    pub version: u64,
}

/// A remembered consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Scopes consented to.
    pub scopes: Vec<String>,
    /// Teams chosen.
    pub teams: Vec<String>,
    /// Access preset.
    pub access: AccessPreset,
    /// When.
    pub granted_at: Timestamp,
}

/// All users and consents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    by_id: HashMap<Uuid, UserRecord>,
    by_username: HashMap<String, Uuid>,
    consents: HashMap<(Uuid, String), Consent>,
    /// Sessions logged out before they expired (`sid` → expiry).
    ended_sessions: HashMap<String, Timestamp>,
}

/// The key usernames are unique under.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

impl Users {
    /// Whether session `sid` was logged out.
    pub fn session_ended(&self, sid: &str) -> bool {
        self.ended_sessions.contains_key(sid)
    }

    /// A user by id.
    pub fn get(&self, id: &Uuid) -> Option<&UserRecord> {
        self.by_id.get(id)
    }

    /// A user by username (case-insensitive).
    pub fn by_username(&self, username: &str) -> Option<&UserRecord> {
        self.by_username
            .get(&username_key(username))
            .and_then(|id| self.by_id.get(id))
    }

    /// All users, ordered by username.
    pub fn all(&self) -> Vec<&UserRecord> {
        let mut users: Vec<&UserRecord> = self.by_id.values().collect();
        users.sort_by_key(|u| username_key(&u.username));
        users
    }

    /// The consent `user` gave `client`, if any.
    pub fn consent(&self, user: &Uuid, client_id: &str) -> Option<&Consent> {
        self.consents.get(&(*user, client_id.to_owned()))
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl Projection for Users {
    fn apply(&mut self, event: &RecordedEvent) {
        let at = event.recorded_at;
        match &event.payload {
            Event::UserCreated {
                user_id,
                username,
                display_name,
                email,
                password_digest,
                roles,
                teams,
            } => {
                self.by_username.insert(username_key(username), *user_id);
                self.by_id.insert(
                    *user_id,
                    UserRecord {
                        user_id: *user_id,
                        username: username.clone(),
                        display_name: display_name.clone(),
                        email: email.clone(),
                        password_digest: password_digest.clone(),
                        roles: roles.clone(),
                        teams: teams.clone(),
                        disabled: false,
                        created_at: at,
                        updated_at: at,
                        version: event.stream_version,
                    },
                );
            }
            Event::UserUpdated {
                user_id,
                display_name,
                email,
                password_digest,
                roles,
                teams,
            } => {
                if let Some(u) = self.by_id.get_mut(user_id) {
                    u.display_name = display_name.clone();
                    u.email = email.clone();
                    if let Some(p) = password_digest {
                        u.password_digest = p.clone();
                    }
                    u.roles = roles.clone();
                    u.teams = teams.clone();
                    u.updated_at = at;
                    u.version = event.stream_version;
                }
            }
            Event::UserDisabled { user_id, .. } => {
                if let Some(u) = self.by_id.get_mut(user_id) {
                    u.disabled = true;
                    u.updated_at = at;
                    u.version = event.stream_version;
                }
            }
            Event::UserDeleted { user_id } => {
                if let Some(u) = self.by_id.remove(user_id) {
                    self.by_username.remove(&username_key(&u.username));
                }
                self.consents.retain(|(u, _), _| u != user_id);
            }
            Event::ConsentGranted {
                user_id,
                client_id,
                scopes,
                teams,
                access,
            } => {
                self.consents.insert(
                    (*user_id, client_id.clone()),
                    Consent {
                        scopes: scopes.clone(),
                        teams: teams.clone(),
                        access: *access,
                        granted_at: at,
                    },
                );
            }
            Event::ConsentRevoked { user_id, client_id } => {
                self.consents.remove(&(*user_id, client_id.clone()));
            }
            Event::ClientDeleted { client_id, .. } => {
                self.consents.retain(|(_, c), _| c != client_id);
            }
            Event::UserLoggedOut {
                session_id,
                session_expires,
                ..
            } => {
                // Expired sessions need no entry: their cookies fail anyway.
                // Few logouts happen between two, so the sweep is cheap.
                self.ended_sessions.retain(|_, expires| *expires > at);
                if *session_expires > at {
                    self.ended_sessions
                        .insert(session_id.clone(), *session_expires);
                }
            }
            _ => {}
        }
    }
}
