//! Pending grants: authorization codes and device authorizations, until
//! they are redeemed, denied or expired (then dropped, by the time of the
//! event being folded, like expired tokens).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

use authlog_events::{AccessPreset, Digest, Event, GrantType, RecordedEvent, Timestamp};
use uuid::Uuid;

use crate::Projection;

/// How long after expiry a grant is still remembered (to answer
/// `expired_token` and detect code reuse).
pub const GRANT_RETENTION_SECONDS: i64 = 86_400;

/// An authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// Id (its tokens' grant family).
    pub code_id: Uuid,
    /// Digest of the code.
    pub code_digest: Digest,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: Uuid,
    /// The redirect URI of the request ("" when it was omitted).
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Teams.
    pub teams: Vec<String>,
    /// Access.
    pub access: AccessPreset,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Exchanged already.
    pub redeemed: bool,
}

/// Where a device authorization stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceState {
    /// Waiting for the user.
    Pending,
    /// The user approved.
    Approved {
        /// Who.
        user_id: Uuid,
        /// Granted scopes.
        scopes: Vec<String>,
        /// Teams.
        teams: Vec<String>,
        /// Access.
        access: AccessPreset,
    },
    /// The user denied.
    Denied,
    /// Tokens were issued.
    Redeemed,
}

/// A device authorization (RFC 8628).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Id (its tokens' grant family).
    pub device_id: Uuid,
    /// Digest of the device code.
    pub device_code_digest: Digest,
    /// The user code, normalised (8 letters, no dash).
    pub user_code: String,
    /// The client.
    pub client_id: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Polling interval.
    pub interval_seconds: u32,
    /// State.
    pub state: DeviceState,
}

/// How the user of an OpenID Connect grant signed in (`SignInContext`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// The authorization request's nonce.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// The browser session.
    pub session_id: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Forgotten after this.
    pub until: Timestamp,
    /// The client the user signed in to.
    pub client_id: Option<String>,
}

/// Codes and device authorizations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    sign_ins: HashMap<Uuid, SignIn>,
    sign_ins_by_expiry: BTreeSet<(Timestamp, Uuid)>,
    codes: HashMap<Uuid, CodeRecord>,
    code_by_digest: HashMap<Digest, Uuid>,
    devices: HashMap<Uuid, DeviceRecord>,
    device_by_digest: HashMap<Digest, Uuid>,
    device_by_user_code: HashMap<String, Uuid>,
    by_expiry: BTreeSet<(Timestamp, Uuid)>,
}

impl Grants {
    /// A code by the digest of its value.
    pub fn code_by_digest(&self, digest: &Digest) -> Option<&CodeRecord> {
        self.code_by_digest
            .get(digest)
            .and_then(|id| self.codes.get(id))
    }

    /// How the user of grant family `family` signed in, for ID tokens.
    pub fn sign_in(&self, family: &Uuid) -> Option<&SignIn> {
        self.sign_ins.get(family)
    }

    /// The clients signed in to through browser session `session_id`
    /// (whose sign-ins have not been forgotten), each once.
    pub fn clients_of_session(&self, session_id: &str) -> BTreeSet<&str> {
        self.sign_ins
            .values()
            .filter(|s| s.session_id == session_id)
            .filter_map(|s| s.client_id.as_deref())
            .collect()
    }

    /// A code by id.
    pub fn code(&self, id: &Uuid) -> Option<&CodeRecord> {
        self.codes.get(id)
    }

    /// A device authorization by the digest of its device code.
    pub fn device_by_digest(&self, digest: &Digest) -> Option<&DeviceRecord> {
        self.device_by_digest
            .get(digest)
            .and_then(|id| self.devices.get(id))
    }

    /// A device authorization by its (normalised) user code.
    pub fn device_by_user_code(&self, user_code: &str) -> Option<&DeviceRecord> {
        self.device_by_user_code
            .get(user_code)
            .and_then(|id| self.devices.get(id))
    }

    /// A device authorization by id.
    pub fn device(&self, id: &Uuid) -> Option<&DeviceRecord> {
        self.devices.get(id)
    }

    /// Unredeemed, unexpired codes and undecided device authorizations of a client.
    pub fn open_for_client(&self, client_id: &str, now: Timestamp) -> u64 {
        let codes = self
            .codes
            .values()
            .filter(|c| c.client_id == client_id && !c.redeemed && now < c.expires_at)
            .count();
        let devices = self
            .devices
            .values()
            .filter(|d| {
                d.client_id == client_id
                    && now < d.expires_at
                    && matches!(d.state, DeviceState::Pending | DeviceState::Approved { .. })
            })
            .count();
        (codes + devices) as u64
    }

    fn forget(&mut self, id: Uuid) {
        if let Some(code) = self.codes.remove(&id) {
            self.code_by_digest.remove(&code.code_digest);
        }
        if let Some(device) = self.devices.remove(&id) {
            self.device_by_digest.remove(&device.device_code_digest);
            if self.device_by_user_code.get(&device.user_code) == Some(&id) {
                self.device_by_user_code.remove(&device.user_code);
            }
        }
    }

    fn prune(&mut self, at: Timestamp) {
        let horizon = at.plus_seconds(-GRANT_RETENTION_SECONDS);
        while let Some(&(expires_at, id)) = self.by_expiry.first() {
            if expires_at >= horizon {
                break;
            }
            self.by_expiry.pop_first();
            self.forget(id);
        }
        while let Some(&(until, id)) = self.sign_ins_by_expiry.first() {
            if until >= at {
                break;
            }
            self.sign_ins_by_expiry.pop_first();
            self.sign_ins.remove(&id);
        }
    }
}

impl Projection for Grants {
    fn apply(&mut self, event: &RecordedEvent) {
        match &event.payload {
            Event::AuthorizationCodeIssued {
                code_id,
                code_digest,
                client_id,
                user_id,
                redirect_uri,
                code_challenge,
                scopes,
                resources,
                teams,
                access,
                expires_at,
            } => {
                self.codes.insert(
                    *code_id,
                    CodeRecord {
                        code_id: *code_id,
                        code_digest: *code_digest,
                        client_id: client_id.clone(),
                        user_id: *user_id,
                        redirect_uri: redirect_uri.clone(),
                        code_challenge: code_challenge.clone(),
                        scopes: scopes.clone(),
                        resources: resources.clone(),
                        teams: teams.clone(),
                        access: *access,
                        expires_at: *expires_at,
                        redeemed: false,
                    },
                );
                self.code_by_digest.insert(*code_digest, *code_id);
                self.by_expiry.insert((*expires_at, *code_id));
            }
            Event::AuthorizationCodeRedeemed { code_id, .. } => {
                if let Some(c) = self.codes.get_mut(code_id) {
                    c.redeemed = true;
                }
            }
            Event::DeviceAuthorizationStarted {
                device_id,
                device_code_digest,
                user_code,
                client_id,
                scopes,
                resources,
                expires_at,
                interval_seconds,
            } => {
                self.devices.insert(
                    *device_id,
                    DeviceRecord {
                        device_id: *device_id,
                        device_code_digest: *device_code_digest,
                        user_code: user_code.clone(),
                        client_id: client_id.clone(),
                        scopes: scopes.clone(),
                        resources: resources.clone(),
                        expires_at: *expires_at,
                        interval_seconds: *interval_seconds,
                        state: DeviceState::Pending,
                    },
                );
                self.device_by_digest
                    .insert(*device_code_digest, *device_id);
                self.device_by_user_code
                    .insert(user_code.clone(), *device_id);
                self.by_expiry.insert((*expires_at, *device_id));
            }
            Event::DeviceAuthorizationApproved {
                device_id,
                user_id,
                scopes,
                teams,
                access,
                ..
            } => {
                if let Some(d) = self.devices.get_mut(device_id) {
                    d.state = DeviceState::Approved {
                        user_id: *user_id,
                        scopes: scopes.clone(),
                        teams: teams.clone(),
                        access: *access,
                    };
                }
            }
            Event::SignInContext {
                family_id,
                nonce,
                auth_time,
                session_id,
                amr,
                until,
            } => {
                if let Some(old) = self.sign_ins.insert(
                    *family_id,
                    SignIn {
                        nonce: nonce.clone(),
                        auth_time: *auth_time,
                        session_id: session_id.clone(),
                        amr: amr.clone(),
                        until: *until,
                        client_id: event.client_id.clone(),
                    },
                ) {
                    self.sign_ins_by_expiry.remove(&(old.until, *family_id));
                }
                self.sign_ins_by_expiry.insert((*until, *family_id));
            }
            Event::DeviceAuthorizationDenied { device_id, .. } => {
                if let Some(d) = self.devices.get_mut(device_id) {
                    d.state = DeviceState::Denied;
                }
            }
            Event::TokenIssued {
                grant_type: GrantType::DeviceCode,
                family_id,
                ..
            } => {
                if let Some(d) = self.devices.get_mut(family_id) {
                    d.state = DeviceState::Redeemed;
                }
            }
            Event::ClientDeleted { client_id, .. } => {
                for c in self
                    .codes
                    .values_mut()
                    .filter(|c| &c.client_id == client_id)
                {
                    c.redeemed = true;
                }
                for d in self
                    .devices
                    .values_mut()
                    .filter(|d| &d.client_id == client_id)
                {
                    d.state = DeviceState::Denied;
                }
            }
            _ => {}
        }
        self.prune(event.recorded_at);
    }
}
