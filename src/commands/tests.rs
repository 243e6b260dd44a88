//! Every OAuth and lifecycle rule, tested where it lives: given the events
//! so far, when a command is decided, then these events (or this error).
//! No HTTP, no store: `Given` folds decided events into projections as the
//! writer would (positions, stream versions and expectations included),
//! with a fixed clock and `SequentialEntropy`.

use std::collections::HashMap;

use authlog_events::{
    Actor, ClientMetadata, Event, ExpectedVersion, GrantType, NewEvent, Principal, RecordedEvent,
    RegistrationType, RevocationReason, RevocationTarget, Role, Timestamp, TokenEndpointAuthMethod,
};
use authlog_projections::{ClientStatus, Projections};
use uuid::Uuid;

use super::clients::*;
use super::grants::*;
use super::issue::Issued;
use super::tokens::*;
use super::users::*;
use super::*;
use crate::entropy::SequentialEntropy;
use crate::secrets::ServerKey;

/// The committed state and the sources a writer would decide with.
struct Given {
    state: Projections,
    versions: HashMap<String, u64>,
    position: u64,
    now: Timestamp,
    entropy: SequentialEntropy,
    key: ServerKey,
    /// The envelopes of the last accepted command's events.
    last: Vec<NewEvent>,
}

/// What a decided command left: its outcome and the events it appended.
type Then<O> = Result<(O, Vec<Event>), DomainError>;

impl Given {
    fn new() -> Self {
        Given {
            state: Projections::default(),
            versions: HashMap::new(),
            position: 0,
            now: Timestamp(1_700_000_000_000_000),
            entropy: SequentialEntropy::default(),
            key: ServerKey::from_bytes([3; 32]),
            last: Vec::new(),
        }
    }

    fn later(&mut self, seconds: i64) {
        self.now = self.now.plus_seconds(seconds);
    }

    fn digest(&self, value: &str) -> authlog_events::Digest {
        self.key.digest(value)
    }

    /// Decides `command` and, when it is accepted, commits its unit.
    fn when<C: Command>(&mut self, command: C) -> Then<C::Outcome> {
        let env = Env::new(self.now, &self.entropy, &self.key);
        let decided = command.decide(&self.state, &env)?;
        for (stream, expected) in &decided.unit.expected {
            let actual = self.versions.get(stream).copied().unwrap_or(0);
            let holds = match expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual == 0,
                ExpectedVersion::Exact(v) => *v == actual,
            };
            assert!(holds, "{stream}: expected {expected:?}, at {actual}");
        }
        let events = decided.unit.events;
        self.commit(&events);
        self.last.clone_from(&events);
        Ok((
            decided.outcome,
            events.into_iter().map(|e| e.payload).collect(),
        ))
    }

    fn commit(&mut self, events: &[NewEvent]) {
        for e in events {
            self.position += 1;
            let version = self.versions.entry(e.stream.clone()).or_default();
            *version += 1;
            let recorded = RecordedEvent {
                position: self.position,
                stream: e.stream.clone(),
                stream_version: *version,
                event_id: e.event_id,
                recorded_at: e.recorded_at,
                actor: e.actor.clone(),
                client_id: e.client_id.clone(),
                correlation_id: e.correlation_id.clone(),
                payload: e.payload.clone(),
                prev_hash: [0; 32],
                hash: [0; 32],
            };
            assert!(self.state.apply(&recorded));
        }
    }

    /// A user with `roles`.
    fn user(&mut self, name: &str, roles: Vec<Role>) -> Uuid {
        self.when(CreateUser {
            username: name.into(),
            display_name: name.into(),
            email: None,
            password_digest: "$argon2id$test".into(),
            roles,
            teams: vec![],
            ctx: ctx(),
        })
        .unwrap()
        .0
    }

    /// Registers `id` as an admin would; answers its secret, if any.
    fn client(&mut self, id: &str, metadata: ClientMetadata) -> Option<String> {
        self.when(RegisterClient {
            client_id: Some(id.into()),
            registration_type: RegistrationType::Preregistered,
            metadata,
            preset_secret: None,
            confirm_high_risk: true,
            access_token_format: Default::default(),
            oidc: Default::default(),
            ctx: ctx(),
        })
        .unwrap()
        .0
        .client_secret
    }
}

fn ctx() -> EventContext {
    EventContext {
        actor: Actor {
            principal: Principal::Anonymous,
            via_client: None,
            ip: None,
            user_agent: None,
        },
        correlation_id: None,
    }
}

/// A confidential client_credentials client with scopes `read write`.
fn service() -> ClientMetadata {
    let mut md = crate::client_policy::default_metadata();
    md.client_name = "service".into();
    md.grant_types = vec![GrantType::ClientCredentials];
    md.response_types = vec![];
    md.scopes = vec!["read".into(), "write".into()];
    md
}

/// A public app: authorization code + refresh, device flow, API scopes too.
fn app() -> ClientMetadata {
    let mut md = crate::client_policy::default_metadata();
    md.client_name = "app".into();
    md.grant_types = vec![
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::DeviceCode,
    ];
    md.redirect_uris = vec!["https://app.example/cb".into()];
    md.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
    md.scopes = vec!["profile".into(), "email".into(), "clients:read".into()];
    md.refresh_token_enabled = true;
    md
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    super::rules::pkce_s256(verifier)
}

/// The code `user` asks `app` for, with PKCE and `scopes`.
fn code_request(user: Uuid, scopes: &[&str]) -> IssueCode {
    IssueCode {
        client_id: "app".into(),
        user_id: user,
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: challenge(VERIFIER),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        resources: vec![],
        teams: vec![],
        access: authlog_events::AccessPreset::ReadOnly,
        remember_consent: false,
        sign_in: None,
        ctx: ctx(),
    }
}

fn issue_code(g: &mut Given, user: Uuid, scopes: &[&str]) -> IssuedCode {
    g.when(code_request(user, scopes)).unwrap().0
}

fn redeem(g: &Given, code: &str, verifier: &str) -> Result<RedeemCode, DomainError> {
    RedeemCode::of_code(
        &g.state,
        &g.digest(code),
        "app",
        Some("https://app.example/cb".into()),
        verifier.into(),
        vec![],
        |_| ctx(),
    )
}

fn refresh(g: &Given, token: &str, scopes: Option<&[&str]>) -> Result<RefreshTokens, DomainError> {
    RefreshTokens::of_token(
        &g.state,
        &g.digest(token),
        "app",
        scopes.map(|s| s.iter().map(|s| s.to_string()).collect()),
        vec![],
        |_| ctx(),
    )
}

/// Refreshes with `token`, which must yield tokens.
fn refreshed(g: &mut Given, token: &str, scopes: Option<&[&str]>) -> Issued {
    let command = refresh(g, token, scopes).unwrap();
    match g.when(command).unwrap().0 {
        GrantOutcome::Issued(issued) => issued,
        other => panic!("{other:?}"),
    }
}

/// Takes the admin role from `user`.
fn demote(user_id: Uuid) -> UpdateUser {
    UpdateUser {
        user_id,
        edit: Box::new(|p| {
            let mut p = p.clone();
            p.roles = vec![Role::Member];
            Ok(p)
        }),
        expected_version: None,
        ctx: ctx(),
    }
}

/// A user who signed in to `app` with `scopes`: the tokens of the grant.
fn signed_in(g: &mut Given, roles: Vec<Role>, scopes: &[&str]) -> (Uuid, Issued) {
    g.client("app", app());
    let user = g.user("alice", roles);
    let code = issue_code(g, user, scopes);
    let issued = g.when(redeem(g, &code.code, VERIFIER).unwrap()).unwrap().0;
    match issued {
        GrantOutcome::Issued(issued) => (user, issued),
        other => panic!("{other:?}"),
    }
}

fn active(g: &Given, token: &str) -> bool {
    g.state
        .tokens
        .by_digest(&g.digest(token))
        .is_some_and(|t| t.is_active(g.now))
}

fn grant_error(result: Result<impl std::fmt::Debug, DomainError>) -> GrantError {
    match result {
        Err(DomainError::Grant(e)) => e,
        other => panic!("expected a grant error, got {other:?}"),
    }
}

#[test]
fn a_code_redeemed_with_the_wrong_verifier_is_refused_and_stays_usable() {
    let mut g = Given::new();
    g.client("app", app());
    let user = g.user("alice", vec![Role::Member]);
    let code = issue_code(&mut g, user, &["profile"]);
    let wrong = "x".repeat(43);
    let refused = g.when(redeem(&g, &code.code, &wrong).unwrap());
    assert!(
        matches!(grant_error(refused), GrantError::InvalidGrant(m) if m.contains("code_verifier"))
    );
    // The code is still good with the right verifier.
    let (outcome, events) = g.when(redeem(&g, &code.code, VERIFIER).unwrap()).unwrap();
    assert!(matches!(outcome, GrantOutcome::Issued(_)));
    assert!(matches!(events[0], Event::AuthorizationCodeRedeemed { .. }));
}

#[test]
fn a_code_presented_again_with_its_proof_revokes_every_token_it_produced_once() {
    let mut g = Given::new();
    g.client("app", app());
    let user = g.user("alice", vec![Role::Member]);
    let code = issue_code(&mut g, user, &["profile"]);
    let first = g.when(redeem(&g, &code.code, VERIFIER).unwrap()).unwrap().0;
    let GrantOutcome::Issued(issued) = first else {
        panic!("{first:?}")
    };
    let refresh_token = issued.refresh_token.clone().unwrap();
    assert!(active(&g, &issued.access_token) && active(&g, &refresh_token));
    // Someone who saw the used code but lacks the verifier revokes nothing.
    let wrong = g.when(redeem(&g, &code.code, &"y".repeat(43)).unwrap());
    assert!(matches!(grant_error(wrong), GrantError::InvalidGrant(_)));
    assert!(active(&g, &issued.access_token) && active(&g, &refresh_token));
    let (outcome, events) = g.when(redeem(&g, &code.code, VERIFIER).unwrap()).unwrap();
    assert_eq!(outcome, GrantOutcome::ReuseDetected { tokens_revoked: 2 });
    assert!(matches!(
        &events[..],
        [Event::TokenRevoked { target: RevocationTarget::Family(f), reason: RevocationReason::ReuseDetected, tokens_revoked: 2, .. }] if *f == code.code_id
    ));
    // The replay proved the client, not the user.
    assert_eq!(g.last[0].actor.principal, Principal::Client("app".into()));
    assert!(!active(&g, &issued.access_token) && !active(&g, &refresh_token));
    // Further replays change nothing and append nothing.
    let (outcome, events) = g.when(redeem(&g, &code.code, VERIFIER).unwrap()).unwrap();
    assert_eq!(outcome, GrantOutcome::ReuseDetected { tokens_revoked: 0 });
    assert!(events.is_empty());
}

#[test]
fn an_expired_code_and_another_clients_code_are_invalid_grants() {
    let mut g = Given::new();
    g.client("app", app());
    let mut other = app();
    other.client_name = "other".into();
    g.client("other", other);
    let user = g.user("alice", vec![Role::Member]);
    let code = issue_code(&mut g, user, &["profile"]);
    let mut stolen = redeem(&g, &code.code, VERIFIER).unwrap();
    stolen.client_id = "other".into();
    assert!(
        matches!(grant_error(g.when(stolen)), GrantError::InvalidGrant(m) if m.contains("another client"))
    );
    g.later(CODE_TTL_SECONDS);
    let late = g.when(redeem(&g, &code.code, VERIFIER).unwrap());
    assert!(matches!(grant_error(late), GrantError::InvalidGrant(m) if m.contains("expired")));
}

#[test]
fn refresh_rotates_and_a_retired_refresh_token_revokes_the_family() {
    let mut g = Given::new();
    let (_, first) = signed_in(&mut g, vec![Role::Member], &["profile", "email"]);
    let old = first.refresh_token.clone().unwrap();
    let (outcome, events) = g.when(refresh(&g, &old, None).unwrap()).unwrap();
    let GrantOutcome::Issued(second) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(matches!(
        events[0],
        Event::TokenRevoked {
            reason: RevocationReason::Rotated,
            tokens_revoked: 1,
            ..
        }
    ));
    assert_eq!(events.len(), 3, "revocation, access and refresh token");
    let new = second.refresh_token.clone().unwrap();
    assert!(!active(&g, &old) && active(&g, &new) && active(&g, &second.access_token));
    // The retired token again: the whole family goes, nothing is issued.
    let (outcome, events) = g.when(refresh(&g, &old, None).unwrap()).unwrap();
    assert!(
        matches!(outcome, GrantOutcome::ReuseDetected { tokens_revoked } if tokens_revoked >= 2)
    );
    assert!(matches!(
        events[..],
        [Event::TokenRevoked {
            reason: RevocationReason::ReuseDetected,
            ..
        }]
    ));
    assert!(
        !active(&g, &new) && !active(&g, &second.access_token) && !active(&g, &first.access_token)
    );
    assert_eq!(g.last[0].actor.principal, Principal::Client("app".into()));
    // Once the family is revoked, replays append nothing.
    let (_, events) = g.when(refresh(&g, &old, None).unwrap()).unwrap();
    assert!(events.is_empty());
}

#[test]
fn a_refresh_narrows_scope_and_never_widens_it() {
    let mut g = Given::new();
    let (_, first) = signed_in(&mut g, vec![Role::Member], &["profile", "email"]);
    let token = first.refresh_token.unwrap();
    let wider = refresh(&g, &token, Some(&["profile", "clients:read"])).unwrap();
    assert!(matches!(
        grant_error(g.when(wider)),
        GrantError::InvalidScope(_)
    ));
    let issued = refreshed(&mut g, &token, Some(&["email"]));
    assert_eq!(issued.scope, "email");
    // The new refresh token still holds the whole grant.
    let again = refreshed(&mut g, issued.refresh_token.as_deref().unwrap(), None);
    assert_eq!(again.scope, "profile email");
}

#[test]
fn api_scopes_follow_the_users_role_at_each_refresh() {
    let mut g = Given::new();
    let (user, first) = signed_in(&mut g, vec![Role::Admin], &["profile", "clients:read"]);
    assert_eq!(first.scope, "profile clients:read");
    // Another admin remains, so alice may be demoted.
    g.user("root", vec![Role::Admin]);
    g.when(demote(user)).unwrap();
    let issued = refreshed(&mut g, first.refresh_token.as_deref().unwrap(), None);
    assert_eq!(issued.scope, "profile");
}

#[test]
fn a_disabled_user_loses_every_token_and_cannot_refresh() {
    let mut g = Given::new();
    let (user, first) = signed_in(&mut g, vec![Role::Member], &["profile"]);
    let (_, events) = g
        .when(DisableUser {
            user_id: user,
            ctx: ctx(),
        })
        .unwrap();
    assert!(matches!(
        events[..],
        [Event::UserDisabled {
            tokens_revoked: 2,
            ..
        }]
    ));
    assert!(!active(&g, &first.access_token));
    let command = refresh(&g, first.refresh_token.as_deref().unwrap(), None).unwrap();
    assert!(matches!(
        grant_error(g.when(command)),
        GrantError::InvalidGrant(_)
    ));
    let code = g.when(code_request(user, &[]));
    assert!(matches!(grant_error(code), GrantError::InvalidGrant(_)));
}

fn client_credentials(g: &Given, secret: &str, scopes: Option<&[&str]>) -> IssueClientToken {
    IssueClientToken {
        client_id: "svc".into(),
        secret_digest: g.digest(secret),
        scopes: scopes.map(|s| s.iter().map(|s| s.to_string()).collect()),
        audience: vec![],
        ctx: ctx(),
    }
}

#[test]
fn client_credentials_issue_only_scopes_the_client_holds() {
    let mut g = Given::new();
    let secret = g.client("svc", service()).unwrap();
    let (issued, events) = g.when(client_credentials(&g, &secret, None)).unwrap();
    assert_eq!(issued.scope, "read write");
    assert!(issued.refresh_token.is_none());
    assert!(matches!(
        &events[..],
        [Event::TokenIssued { subject: None, grant_type: GrantType::ClientCredentials, digest, .. }] if *digest == g.digest(&issued.access_token)
    ));
    let extra = g.when(client_credentials(&g, &secret, Some(&["admin"])));
    assert!(matches!(grant_error(extra), GrantError::InvalidScope(_)));
}

#[test]
fn a_paused_client_gets_nothing_and_a_deleted_one_is_gone() {
    let mut g = Given::new();
    let secret = g.client("svc", service()).unwrap();
    let (issued, _) = g.when(client_credentials(&g, &secret, None)).unwrap();
    let (_, events) = g
        .when(SetClientStatus {
            client_id: "svc".into(),
            status: ClientStatus::Paused,
            ctx: ctx(),
        })
        .unwrap();
    assert!(matches!(
        events[..],
        [Event::ClientPaused {
            tokens_revoked: 1,
            ..
        }]
    ));
    assert!(!active(&g, &issued.access_token));
    assert!(matches!(
        g.when(client_credentials(&g, &secret, None)),
        Err(DomainError::ClientPaused(_))
    ));
    // Pausing again changes nothing and appends nothing.
    let (_, events) = g
        .when(SetClientStatus {
            client_id: "svc".into(),
            status: ClientStatus::Paused,
            ctx: ctx(),
        })
        .unwrap();
    assert!(events.is_empty());
    g.when(DeleteClients {
        client_ids: vec!["svc".into()],
        by_client: false,
        ctx: ctx(),
    })
    .unwrap();
    assert!(matches!(
        g.when(client_credentials(&g, &secret, None)),
        Err(DomainError::NotFound(_))
    ));
    let again = g.when(RegisterClient {
        client_id: Some("svc".into()),
        registration_type: RegistrationType::Preregistered,
        metadata: service(),
        preset_secret: None,
        confirm_high_risk: false,
        access_token_format: Default::default(),
        oidc: Default::default(),
        ctx: ctx(),
    });
    assert!(matches!(again, Err(DomainError::Conflict(m)) if m.contains("deleted")));
}

#[test]
fn a_paused_app_gets_no_code_no_tokens_and_no_device_authorization() {
    let mut g = Given::new();
    g.client("app", app());
    let user = g.user("alice", vec![Role::Member]);
    let code = issue_code(&mut g, user, &["profile"]);
    g.when(SetClientStatus {
        client_id: "app".into(),
        status: ClientStatus::Paused,
        ctx: ctx(),
    })
    .unwrap();
    let paused = |r: Result<(), DomainError>| matches!(r, Err(DomainError::ClientPaused(_)));
    let redeemed = g.when(redeem(&g, &code.code, VERIFIER).unwrap());
    assert!(paused(redeemed.map(drop)));
    let issued = g.when(code_request(user, &[]));
    assert!(paused(issued.map(drop)));
    let started = g.when(StartDevice {
        client_id: "app".into(),
        scopes: None,
        resources: vec![],
        ctx: ctx(),
    });
    assert!(paused(started.map(drop)));
}

#[test]
fn a_rotated_secret_keeps_the_old_one_working_for_the_grace_period_only() {
    let mut g = Given::new();
    let old = g.client("svc", service()).unwrap();
    let rotate = |grace_seconds| RotateSecret {
        client_id: "svc".into(),
        grace_seconds,
        ctx: ctx(),
    };
    let new = g.when(rotate(3_600)).unwrap().0;
    assert_ne!(new, old);
    assert!(g.when(client_credentials(&g, &old, None)).is_ok());
    assert!(g.when(client_credentials(&g, &new, None)).is_ok());
    g.later(3_600);
    assert!(matches!(
        g.when(client_credentials(&g, &old, None)),
        Err(DomainError::ClientAuthFailed)
    ));
    let newest = g.when(rotate(0)).unwrap().0;
    assert!(matches!(
        g.when(client_credentials(&g, &new, None)),
        Err(DomainError::ClientAuthFailed)
    ));
    assert!(g.when(client_credentials(&g, &newest, None)).is_ok());
}

#[test]
fn an_edit_with_a_stale_version_is_refused() {
    let mut g = Given::new();
    g.client("svc", service());
    let rename = |expected_version, name: &'static str| UpdateClient {
        client_id: "svc".into(),
        edit: Box::new(move |md| {
            let mut md = md.clone();
            md.client_name = name.into();
            Ok(md)
        }),
        confirm_high_risk: false,
        expected_version,
        by_client: false,
        access_token_format: None,
        oidc: Default::default(),
        ctx: ctx(),
    };
    g.when(rename(Some(1), "first")).unwrap();
    let stale = g.when(rename(Some(1), "second"));
    assert!(matches!(
        stale,
        Err(DomainError::PreconditionFailed {
            expected: 1,
            actual: 2
        })
    ));
    assert_eq!(
        g.state.registry.get("svc").unwrap().metadata.client_name,
        "first"
    );
    // The same edit again appends nothing.
    assert!(g.when(rename(Some(2), "first")).unwrap().1.is_empty());
}

#[test]
fn a_bulk_delete_deletes_all_or_none_and_names_the_failing_id() {
    let mut g = Given::new();
    g.client("a", service());
    g.client("b", service());
    let refused = g.when(DeleteClients {
        client_ids: vec!["a".into(), "missing".into(), "b".into()],
        by_client: false,
        ctx: ctx(),
    });
    assert!(matches!(refused, Err(DomainError::NotFound(m)) if m.contains("missing")));
    let (count, events) = g
        .when(DeleteClients {
            client_ids: vec!["a".into(), "b".into()],
            by_client: false,
            ctx: ctx(),
        })
        .unwrap();
    assert_eq!((count, events.len()), (2, 2));
}

#[test]
fn self_registered_clients_are_kept_from_api_scopes() {
    let mut g = Given::new();
    let mut md = app();
    md.scopes = vec!["profile".into(), "clients:write".into()];
    let dynamic = g.when(RegisterClient {
        client_id: None,
        registration_type: RegistrationType::Dynamic,
        metadata: md.clone(),
        preset_secret: None,
        confirm_high_risk: false,
        access_token_format: Default::default(),
        oidc: Default::default(),
        ctx: ctx(),
    });
    assert!(matches!(dynamic, Err(DomainError::Invalid { field, .. }) if field == "scope"));
    md.scopes = vec!["profile".into()];
    let (registered, _) = g
        .when(RegisterClient {
            client_id: None,
            registration_type: RegistrationType::Dynamic,
            metadata: md,
            preset_secret: None,
            confirm_high_risk: false,
            access_token_format: Default::default(),
            oidc: Default::default(),
            ctx: ctx(),
        })
        .unwrap();
    assert!(registered.registration_access_token.is_some());
    assert!(registered.client_secret.is_none(), "a public client");
    let widen = |by_client| UpdateClient {
        client_id: registered.client_id.clone(),
        edit: Box::new(|md| {
            let mut md = md.clone();
            md.scopes.push("audit:read".into());
            Ok(md)
        }),
        confirm_high_risk: false,
        expected_version: None,
        by_client,
        access_token_format: None,
        oidc: Default::default(),
        ctx: ctx(),
    };
    let refused = g.when(widen(true));
    assert!(matches!(refused, Err(DomainError::Invalid { field, .. }) if field == "scope"));
    // A metadata document cannot claim them either.
    let mut document = app();
    document.scopes = vec!["users:write".into()];
    let upsert = g.when(UpsertDocumentClient {
        client_id: "https://app.example/client.json".into(),
        metadata: document,
        ctx: ctx(),
    });
    assert!(matches!(upsert, Err(DomainError::Invalid { field, .. }) if field == "scope"));
    // An admin may give them to a self-registered client.
    assert_eq!(g.when(widen(false)).unwrap().1.len(), 1);
    // An admin-registered client may hold them.
    let mut admin = service();
    admin.scopes = vec!["clients:write".into()];
    assert!(g.client("admin-tool", admin).is_some());
}

fn start_device(g: &mut Given) -> DeviceStarted {
    g.when(StartDevice {
        client_id: "app".into(),
        scopes: Some(vec!["profile".into()]),
        resources: vec![],
        ctx: ctx(),
    })
    .unwrap()
    .0
}

fn poll(g: &mut Given, device_code: &str, too_fast: bool) -> Result<Issued, DomainError> {
    let command = RedeemDevice::of_code(
        &g.state,
        g.now,
        &g.digest(device_code),
        "app",
        |_, _| too_fast,
        |_| ctx(),
    )?;
    g.when(command).map(|(issued, _)| issued)
}

fn try_decide_device(
    g: &mut Given,
    code: &DeviceStarted,
    user: Uuid,
    approve: bool,
) -> Result<(), DomainError> {
    let device_id = g
        .state
        .grants
        .device_by_user_code(&code.user_code)
        .unwrap()
        .device_id;
    g.when(DecideDevice {
        device_id,
        user_id: user,
        approval: approve.then(|| {
            (
                vec!["profile".into()],
                vec![],
                authlog_events::AccessPreset::ReadOnly,
            )
        }),
        sign_in: None,
        ctx: ctx(),
    })
    .map(drop)
}

fn decide_device(g: &mut Given, code: &DeviceStarted, user: Uuid, approve: bool) {
    try_decide_device(g, code, user, approve).unwrap();
}

#[test]
fn the_device_flow_answers_each_state_and_slow_down_only_while_pending() {
    let mut g = Given::new();
    g.client("app", app());
    let user = g.user("alice", vec![Role::Member]);
    let started = start_device(&mut g);
    assert_eq!(started.user_code.len(), 8);
    assert_eq!(
        grant_error(poll(&mut g, &started.device_code, false)),
        GrantError::AuthorizationPending
    );
    assert_eq!(
        grant_error(poll(&mut g, &started.device_code, true)),
        GrantError::SlowDown
    );
    decide_device(&mut g, &started, user, true);
    // Decided: the answer comes whatever the pace.
    let issued = poll(&mut g, &started.device_code, true).unwrap();
    assert!(active(&g, &issued.access_token));
    assert!(issued.refresh_token.is_some());
    assert!(matches!(
        grant_error(poll(&mut g, &started.device_code, false)),
        GrantError::InvalidGrant(m) if m.contains("already used")
    ));

    let denied = start_device(&mut g);
    decide_device(&mut g, &denied, user, false);
    assert_eq!(
        grant_error(poll(&mut g, &denied.device_code, true)),
        GrantError::AccessDenied
    );

    let expired = start_device(&mut g);
    g.later(DEVICE_TTL_SECONDS);
    for too_fast in [false, true] {
        assert_eq!(
            grant_error(poll(&mut g, &expired.device_code, too_fast)),
            GrantError::ExpiredToken
        );
    }
    assert!(matches!(
        poll(&mut g, "aldc_unknown", false),
        Err(DomainError::Grant(GrantError::InvalidGrant(_)))
    ));
}

#[test]
fn decisions_are_deterministic_given_the_same_sources() {
    let run = || {
        let mut g = Given::new();
        let secret = g.client("svc", service()).unwrap();
        let issued = g.when(client_credentials(&g, &secret, None)).unwrap().0;
        (secret, issued)
    };
    assert_eq!(run(), run());
}

fn acting_as_client(id: &str) -> EventContext {
    let mut ctx = ctx();
    ctx.actor.principal = Principal::Client(id.into());
    ctx
}

/// A client that administers authlog on its own (client_credentials, `clients:write`).
fn admin_api() -> ClientMetadata {
    let mut md = service();
    md.scopes = vec!["clients:write".into()];
    md
}

#[test]
fn a_client_cannot_pause_or_delete_itself_with_its_own_token() {
    let mut g = Given::new();
    g.client("admin-api", admin_api());
    g.user("root", vec![Role::Admin]);
    let pause = g.when(SetClientStatus {
        client_id: "admin-api".into(),
        status: ClientStatus::Paused,
        ctx: acting_as_client("admin-api"),
    });
    assert!(matches!(pause, Err(DomainError::Conflict(m)) if m.contains("itself")));
    g.client("other", service());
    let delete = g.when(DeleteClients {
        client_ids: vec!["other".into(), "admin-api".into()],
        by_client: false,
        ctx: acting_as_client("admin-api"),
    });
    assert!(matches!(delete, Err(DomainError::Conflict(m)) if m.contains("itself")));
    assert!(g.state.registry.get("other").is_some(), "all or nothing");
    // Another caller may (an admin user remains).
    g.when(SetClientStatus {
        client_id: "admin-api".into(),
        status: ClientStatus::Paused,
        ctx: ctx(),
    })
    .unwrap();
}

#[test]
fn the_last_way_to_administer_authlog_cannot_be_removed() {
    let mut g = Given::new();
    let root = g.user("root", vec![Role::Admin]);
    let disable = |user_id| DisableUser {
        user_id,
        ctx: ctx(),
    };
    assert!(matches!(g.when(disable(root)), Err(DomainError::Conflict(m)) if m.contains("no way")));
    assert!(matches!(
        g.when(demote(root)),
        Err(DomainError::Conflict(_))
    ));
    // With an admitting client the last admin user may go; then the client
    // is the last way in and may not be paused, deleted or narrowed.
    g.client("admin-api", admin_api());
    g.when(disable(root)).unwrap();
    let pause = g.when(SetClientStatus {
        client_id: "admin-api".into(),
        status: ClientStatus::Paused,
        ctx: ctx(),
    });
    assert!(matches!(pause, Err(DomainError::Conflict(_))));
    let delete = g.when(DeleteClients {
        client_ids: vec!["admin-api".into()],
        by_client: false,
        ctx: ctx(),
    });
    assert!(matches!(delete, Err(DomainError::Conflict(_))));
    let narrow = g.when(UpdateClient {
        client_id: "admin-api".into(),
        edit: Box::new(|md| {
            let mut md = md.clone();
            md.scopes = vec!["clients:read".into()];
            Ok(md)
        }),
        confirm_high_risk: false,
        expected_version: None,
        by_client: false,
        access_token_format: None,
        oidc: Default::default(),
        ctx: ctx(),
    });
    assert!(matches!(narrow, Err(DomainError::Conflict(_))));
    // A change that removes no way in is never held up.
    let member = g.user("bob", vec![Role::Member]);
    g.when(disable(member)).unwrap();
}

#[test]
fn a_failed_login_names_the_account_by_its_id_never_by_the_name_typed() {
    let mut g = Given::new();
    let alice = g.user("alice", vec![Role::Member]);
    let (_, events) = g
        .when(RecordLogin {
            user_id: alice,
            failure: Some(authlog_events::AuthFailure::BadCredentials),
            client_id: None,
            ctx: ctx(),
        })
        .unwrap();
    match &events[..] {
        [Event::LoginFailed { username, .. }] => assert_eq!(username, &format!("user:{alice}")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_loser_of_an_approve_and_deny_race_learns_what_won() {
    let mut g = Given::new();
    g.client("app", app());
    let user = g.user("alice", vec![Role::Member]);
    for (first, second, told) in [
        (true, false, "already approved"),
        (false, true, "already denied"),
    ] {
        let started = start_device(&mut g);
        decide_device(&mut g, &started, user, first);
        let lost = try_decide_device(&mut g, &started, user, second);
        assert!(
            matches!(&lost, Err(DomainError::Conflict(m)) if m.contains(told)),
            "{lost:?}"
        );
    }
}

// --- upstream providers and connections ---

mod upstream_rules {
    use authlog_events::{DisconnectReason, UpstreamProvider, UpstreamStage};
    use authlog_projections::ConnectionStatus;

    use super::super::upstream::*;
    use super::*;

    fn provider(allowed: &[&str]) -> UpstreamProvider {
        UpstreamProvider {
            name: "Up".into(),
            issuer: None,
            authorization_url: "https://up.example/authorize".into(),
            token_url: "https://up.example/token".into(),
            revocation_url: None,
            userinfo_url: None,
            client_id: "authlog".into(),
            scopes: vec!["repo".into()],
            pkce: true,
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            authorization_params: vec![],
            allowed_clients: allowed.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn register(g: &mut Given, id: &str, allowed: &[&str]) {
        g.when(RegisterProvider {
            provider_id: id.into(),
            provider: provider(allowed),
            sealed_client_secret: Some(vec![1, 2, 3]),
            ctx: ctx(),
        })
        .unwrap();
    }

    fn connect(g: &mut Given, user: Uuid, provider_id: &str, key: u128) -> Then<Option<Uuid>> {
        g.when(Connect {
            user_id: user,
            provider_id: provider_id.into(),
            key_id: Uuid::from_u128(key),
            sealed_tokens: vec![key as u8; 40],
            expires_at: Some(g.now.plus_seconds(3600)),
            scopes: vec!["repo".into()],
            ctx: ctx(),
        })
    }

    fn hand_off(user: Uuid, key: u128, client: &str) -> HandOff {
        HandOff {
            user_id: user,
            provider_id: "up".into(),
            key_id: Uuid::from_u128(key),
            client_id: client.into(),
            expires_at: None,
            ctx: ctx(),
        }
    }

    #[test]
    fn a_provider_id_is_taken_for_good() {
        let mut g = Given::new();
        register(&mut g, "up", &[]);
        let again = g.when(RegisterProvider {
            provider_id: "up".into(),
            provider: provider(&[]),
            sealed_client_secret: None,
            ctx: ctx(),
        });
        assert!(matches!(again, Err(DomainError::Conflict(_))));
        g.when(DeleteProvider {
            provider_id: "up".into(),
            expected_version: None,
            ctx: ctx(),
        })
        .unwrap();
        let reused = g.when(RegisterProvider {
            provider_id: "up".into(),
            provider: provider(&[]),
            sealed_client_secret: None,
            ctx: ctx(),
        });
        assert!(matches!(reused, Err(DomainError::Conflict(m)) if m.contains("not reused")));
    }

    #[test]
    fn reconnecting_ends_the_old_connection_and_hands_back_its_key() {
        let mut g = Given::new();
        register(&mut g, "up", &[]);
        let user = g.user("alice", vec![Role::Member]);
        let (replaced, events) = connect(&mut g, user, "up", 1).unwrap();
        assert_eq!((replaced, events.len()), (None, 1));
        let (replaced, events) = connect(&mut g, user, "up", 2).unwrap();
        assert_eq!(replaced, Some(Uuid::from_u128(1)));
        assert!(matches!(
            &events[0],
            Event::UpstreamDisconnected { key_id, reason: DisconnectReason::Reconnected, .. }
                if *key_id == Uuid::from_u128(1)
        ));
        assert_eq!(
            g.state.upstream.connection(&user, "up").unwrap().key_id,
            Uuid::from_u128(2)
        );
        // Nobody connects a provider that does not exist.
        assert!(matches!(
            connect(&mut g, user, "nope", 3),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn a_hand_off_needs_an_allowed_live_client_and_the_same_usable_connection() {
        let mut g = Given::new();
        g.client("mcp", service());
        g.client("other", service());
        register(&mut g, "up", &["mcp"]);
        let user = g.user("alice", vec![Role::Member]);
        connect(&mut g, user, "up", 1).unwrap();
        let refused = g.when(hand_off(user, 1, "other"));
        assert!(matches!(
            grant_error(refused),
            GrantError::UnauthorizedClient(_)
        ));
        // The connection was replaced since the token was read.
        let stale = g.when(hand_off(user, 9, "mcp"));
        assert!(matches!(grant_error(stale), GrantError::InvalidGrant(_)));
        let (_, events) = g.when(hand_off(user, 1, "mcp")).unwrap();
        assert!(matches!(
            &events[0],
            Event::UpstreamTokenHandedOff { client_id, .. } if client_id == "mcp"
        ));
        // A refused refresh of this key marks it; the hand-off then stops.
        g.when(RecordUpstreamFailure {
            user_id: user,
            provider_id: "up".into(),
            key_id: Some(Uuid::from_u128(1)),
            stage: UpstreamStage::Refresh,
            reason: "invalid_grant".into(),
            needs_reconnect: true,
            client_id: None,
            ctx: ctx(),
        })
        .unwrap();
        assert!(matches!(
            g.state.upstream.connection(&user, "up").unwrap().status,
            ConnectionStatus::NeedsReconnect { .. }
        ));
        assert!(matches!(
            grant_error(g.when(hand_off(user, 1, "mcp"))),
            GrantError::InvalidGrant(_)
        ));
    }

    #[test]
    fn a_refresh_or_failure_of_a_replaced_connection_leaves_the_new_one_alone() {
        let mut g = Given::new();
        register(&mut g, "up", &[]);
        let user = g.user("alice", vec![Role::Member]);
        connect(&mut g, user, "up", 1).unwrap();
        connect(&mut g, user, "up", 2).unwrap();
        let (applied, events) = g
            .when(RecordRefresh {
                user_id: user,
                provider_id: "up".into(),
                key_id: Uuid::from_u128(1),
                sealed_tokens: vec![7; 40],
                expires_at: None,
                scopes: vec![],
                ctx: ctx(),
            })
            .unwrap();
        assert!(!applied && events.is_empty());
        let (_, events) = g
            .when(RecordUpstreamFailure {
                user_id: user,
                provider_id: "up".into(),
                key_id: Some(Uuid::from_u128(1)),
                stage: UpstreamStage::Refresh,
                reason: "invalid_grant".into(),
                needs_reconnect: true,
                client_id: None,
                ctx: ctx(),
            })
            .unwrap();
        assert!(matches!(
            &events[0],
            Event::UpstreamFailed {
                needs_reconnect: false,
                ..
            }
        ));
        assert_eq!(
            g.state.upstream.connection(&user, "up").unwrap().status,
            ConnectionStatus::Active
        );
    }

    #[test]
    fn deleting_a_user_revokes_their_tokens_ends_their_connections_and_frees_the_name() {
        let mut g = Given::new();
        register(&mut g, "up", &[]);
        register(&mut g, "down", &[]);
        let (user, issued) = signed_in(&mut g, vec![Role::Member], &["profile"]);
        connect(&mut g, user, "up", 1).unwrap();
        connect(&mut g, user, "down", 2).unwrap();
        let (mut keys, events) = g
            .when(DeleteUser {
                user_id: user,
                ctx: ctx(),
            })
            .unwrap();
        keys.sort();
        assert_eq!(keys, vec![Uuid::from_u128(1), Uuid::from_u128(2)]);
        assert!(matches!(
            events[0],
            Event::UserDisabled {
                tokens_revoked: 2,
                ..
            }
        ));
        assert!(matches!(events.last(), Some(Event::UserDeleted { .. })));
        assert!(!active(&g, &issued.access_token));
        assert!(g.state.upstream.connections_of_user(&user).next().is_none());
        assert!(g.state.users.get(&user).is_none());
        g.user("alice", vec![Role::Member]);
        assert!(matches!(
            g.when(DeleteUser {
                user_id: user,
                ctx: ctx(),
            }),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn the_last_admin_cannot_be_deleted() {
        let mut g = Given::new();
        let admin = g.user("root", vec![Role::Admin]);
        assert!(matches!(
            g.when(DeleteUser {
                user_id: admin,
                ctx: ctx(),
            }),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn deleting_a_provider_ends_every_connection_to_it() {
        let mut g = Given::new();
        register(&mut g, "up", &[]);
        let alice = g.user("alice", vec![Role::Member]);
        let bob = g.user("bob", vec![Role::Member]);
        connect(&mut g, alice, "up", 1).unwrap();
        connect(&mut g, bob, "up", 2).unwrap();
        let (keys, events) = g
            .when(DeleteProvider {
                provider_id: "up".into(),
                expected_version: Some(1),
                ctx: ctx(),
            })
            .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(events.len(), 3);
        assert!(g.state.upstream.connections().next().is_none());
        assert!(!g.state.upstream.key_in_use(&Uuid::from_u128(1)));
    }
}
