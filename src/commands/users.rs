//! User commands: create, edit, disable (revoking all their tokens in the
//! same event), record logins, remember consent, and record token use.

use authlog_events::{
    AppendBatch, AuthFailure, Event, ExpectedVersion, FailedSubject, Role, Timestamp,
};
use authlog_projections::{users::username_key, Projections, UserRecord};
use uuid::Uuid;

use super::rules::{expected_version, keeps_a_way_in};
use super::{user_stream, Access, Command, Decided, DomainError, Env, EventContext};

fn live<'a>(state: &'a Projections, id: &Uuid) -> Result<&'a UserRecord, DomainError> {
    state
        .users
        .get(id)
        .ok_or_else(|| DomainError::NotFound(format!("user {id}")))
}

/// Creates a user with a new id (the outcome); usernames are unique
/// (case-insensitive).
pub struct CreateUser {
    /// Login name.
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
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for CreateUser {
    type Outcome = Uuid;

    fn access(&self) -> Access {
        // The user's own stream is new: nothing else can touch it.
        Access::writes(vec![format!("username/{}", username_key(&self.username))])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Uuid>, DomainError> {
        if state.users.by_username(&self.username).is_some() {
            return Err(DomainError::Conflict(format!(
                "username {} is taken",
                self.username
            )));
        }
        let user_id = env.id();
        let stream = user_stream(&user_id);
        let event = self.ctx.event_for(
            env,
            stream.clone(),
            None,
            Event::UserCreated {
                user_id,
                username: self.username.clone(),
                display_name: self.display_name.clone(),
                email: self.email.clone(),
                password_digest: self.password_digest.clone(),
                roles: self.roles.clone(),
                teams: self.teams.clone(),
            },
        );
        Ok(Decided::unit(
            AppendBatch::new(vec![event]).expect(stream, ExpectedVersion::NoStream),
            user_id,
        ))
    }
}

/// The editable part of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Display name.
    pub display_name: String,
    /// Email.
    pub email: Option<String>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Teams.
    pub teams: Vec<String>,
    /// A new password digest, if the password changes.
    pub password_digest: Option<String>,
}

/// An edit of a profile, applied to the profile current at decision time.
pub type ProfileEdit = Box<dyn Fn(&Profile) -> Result<Profile, DomainError> + Send>;

/// Edits a user.
pub struct UpdateUser {
    /// The user.
    pub user_id: Uuid,
    /// The change.
    pub edit: ProfileEdit,
    /// `If-Match` version.
    pub expected_version: Option<u64>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for UpdateUser {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![user_stream(&self.user_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let user = live(state, &self.user_id)?;
        expected_version(self.expected_version, user.version)?;
        let current = Profile {
            display_name: user.display_name.clone(),
            email: user.email.clone(),
            roles: user.roles.clone(),
            teams: user.teams.clone(),
            password_digest: None,
        };
        let next = (self.edit)(&current)?;
        if next == current {
            return Ok(Decided::nothing(()));
        }
        if !next.roles.contains(&Role::Admin) {
            keeps_a_way_in(state, &[], Some(&self.user_id))?;
        }
        let stream = user_stream(&self.user_id);
        let event = self.ctx.event_for(
            env,
            stream.clone(),
            None,
            Event::UserUpdated {
                user_id: self.user_id,
                display_name: next.display_name,
                email: next.email,
                password_digest: next.password_digest,
                roles: next.roles,
                teams: next.teams,
            },
        );
        Ok(Decided::unit(
            AppendBatch::new(vec![event]).expect(stream, ExpectedVersion::Exact(user.version)),
            (),
        ))
    }
}

/// Disables a user; all their tokens stop working in the same event.
pub struct DisableUser {
    /// The user.
    pub user_id: Uuid,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for DisableUser {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![user_stream(&self.user_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let user = live(state, &self.user_id)?;
        if user.disabled {
            return Ok(Decided::nothing(()));
        }
        keeps_a_way_in(state, &[], Some(&self.user_id))?;
        let count = state
            .tokens
            .active_for_subject(&self.user_id, env.now())
            .count() as u64;
        let event = self.ctx.event_for(
            env,
            user_stream(&self.user_id),
            None,
            Event::UserDisabled {
                user_id: self.user_id,
                tokens_revoked: count,
            },
        );
        Ok(Decided::events(vec![event], ()))
    }
}

/// Records a login attempt of an existing account (`LoginSucceeded` /
/// `LoginFailed`). A failed login with a username that names no account is
/// never an event of its own: it is counted in `FailureTally` and appended
/// in an `AuthenticationFailures` summary, without the name (which may be a
/// password typed into the wrong field).
pub struct RecordLogin {
    /// The account.
    pub user_id: Uuid,
    /// `None` on success.
    pub failure: Option<AuthFailure>,
    /// The client the login was for, if any.
    pub client_id: Option<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RecordLogin {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![format!("logins/{}", self.user_id)])
    }

    fn decide(&self, _: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let user_id = self.user_id;
        let payload = match self.failure {
            None => Event::LoginSucceeded { user_id },
            // The account by its id, never the name as typed.
            Some(reason) => Event::LoginFailed {
                username: format!("user:{user_id}"),
                reason,
            },
        };
        let event = self.ctx.event_for(
            env,
            format!("logins/{user_id}"),
            self.client_id.as_deref(),
            payload,
        );
        Ok(Decided::events(vec![event], ()))
    }
}

/// Appends the coarse "last used" summary of tokens.
pub struct RecordTokenUse {
    /// (token, last use).
    pub uses: Vec<(Uuid, Timestamp)>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RecordTokenUse {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec!["token-usage".into()])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let uses: Vec<(Uuid, Timestamp)> = self
            .uses
            .iter()
            .copied()
            .filter(|(id, at)| {
                state
                    .tokens
                    .get(id)
                    .is_some_and(|t| t.last_used().is_none_or(|l| l < *at))
            })
            .collect();
        if uses.is_empty() {
            return Ok(Decided::nothing(()));
        }
        let event = self
            .ctx
            .event_for(env, "token-usage".into(), None, Event::TokensUsed { uses });
        Ok(Decided::events(vec![event], ()))
    }
}

/// Appends the `AuthenticationFailures` summaries drained from the
/// `FailureTally`: one event per subject, on `client-auth/<client id>`
/// (attributed to that client id), `client-auth-others` or
/// `logins/unknown`.
pub struct RecordAuthFailures {
    /// The summaries (`Event::AuthenticationFailures`).
    pub summaries: Vec<Event>,
    /// Attribution (the system: no one request caused them).
    pub ctx: EventContext,
}

impl RecordAuthFailures {
    fn placed(summary: &Event) -> (String, Option<&str>) {
        match summary {
            Event::AuthenticationFailures {
                subject: FailedSubject::Client(id),
                ..
            } => (format!("client-auth/{id}"), Some(id.as_str())),
            Event::AuthenticationFailures {
                subject: FailedSubject::UnknownUsernames,
                ..
            } => ("logins/unknown".to_owned(), None),
            _ => ("client-auth-others".to_owned(), None),
        }
    }
}

impl Command for RecordAuthFailures {
    type Outcome = ();

    fn access(&self) -> Access {
        let mut streams: Vec<String> = self.summaries.iter().map(|e| Self::placed(e).0).collect();
        streams.sort();
        streams.dedup();
        Access::writes(streams)
    }

    fn decide(&self, _: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let events = self
            .summaries
            .iter()
            .map(|summary| {
                let (stream, client) = Self::placed(summary);
                self.ctx.event_for(env, stream, client, summary.clone())
            })
            .collect();
        Ok(Decided::events(events, ()))
    }
}

/// Ends a browser session (`UserLoggedOut`): from now on its cookie is
/// refused wherever a copy of it is. Ending an ended session appends
/// nothing.
pub struct EndSession {
    /// The session's user.
    pub user_id: Uuid,
    /// The session (`sid`).
    pub session_id: String,
    /// The relying party that asked, if one did.
    pub client_id: Option<String>,
    /// When the session would have expired.
    pub session_expires: Timestamp,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for EndSession {
    type Outcome = bool;

    fn access(&self) -> Access {
        Access::writes(vec![format!("logins/{}", self.user_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<bool>, DomainError> {
        if state.users.session_ended(&self.session_id) || self.session_expires <= env.now() {
            return Ok(Decided::nothing(false));
        }
        let event = self.ctx.event_for(
            env,
            format!("logins/{}", self.user_id),
            self.client_id.as_deref(),
            Event::UserLoggedOut {
                user_id: self.user_id,
                session_id: self.session_id.clone(),
                client_id: self.client_id.clone(),
                session_expires: self.session_expires,
            },
        );
        Ok(Decided::events(vec![event], true))
    }
}
