//! Model test: random command sequences (register, edit, rotate, pause,
//! resume, delete, revoke-all, issue, revoke, users, logins, token use,
//! clock jumps) through the real writer and a redb store, with restarts at
//! random points, some of which first write a projection snapshot (later
//! starts restore the newest one and replay the log after it). The
//! projections built live always equal the projections a fresh replay of
//! the log builds and those a snapshot of them restores, and a restart
//! changes nothing.

use std::path::Path;
use std::sync::Arc;

use authlog_events::{
    AuthFailure, EventStore, GrantType, RedbStore, RevocationReason, Role, Timestamp,
};
use authlog_projections::{ClientStatus, Projections};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::clock::ManualClock;
use crate::commands::clients::{
    DeleteClients, RegisterClient, RevokeClientTokens, RotateSecret, SetClientStatus, UpdateClient,
};
use crate::commands::tokens::{IssueClientToken, RevokeToken};
use crate::commands::users::{
    CreateUser, DisableUser, RecordAuthFailures, RecordLogin, RecordTokenUse,
};
use crate::commands::EventContext;
use crate::replay::replay;
use crate::secrets::ServerKey;
use crate::snapshot::{self, SnapshotError};

/// The key the test's snapshots are signed with.
fn snapshot_key() -> ServerKey {
    ServerKey::from_bytes([9; 32])
}

/// Where the test keeps the snapshot of the log at `path`.
fn snapshot_at(path: &Path) -> std::path::PathBuf {
    path.with_extension("snapshot")
}

const CLIENTS: u8 = 4;
const USERS: u8 = 3;

#[derive(Debug, Clone)]
enum Op {
    Register(u8),
    Rename(u8, u16),
    Rotate(u8, bool),
    Pause(u8),
    Resume(u8),
    Delete(u8),
    RevokeAll(u8),
    Issue(u8),
    Revoke(usize),
    UseToken(usize),
    CreateUser(u8),
    DisableUser(u8),
    Login(u8, bool),
    /// Failed authentications summarised: for clients with these ids (any
    /// may be unknown) and for unknown usernames, through the tally.
    AuthFailures(Vec<u8>),
    /// Rotate the signing keys (provision them when `true`).
    RotateKeys(bool),
    /// A user's session `n` ends.
    Logout(u8, u8),
    Advance(i64),
    /// Restart; write a snapshot first when true.
    Restart(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..CLIENTS).prop_map(Op::Register),
        2 => (0..CLIENTS, any::<u16>()).prop_map(|(c, n)| Op::Rename(c, n)),
        1 => (0..CLIENTS, any::<bool>()).prop_map(|(c, g)| Op::Rotate(c, g)),
        1 => (0..CLIENTS).prop_map(Op::Pause),
        1 => (0..CLIENTS).prop_map(Op::Resume),
        1 => (0..CLIENTS).prop_map(Op::Delete),
        1 => (0..CLIENTS).prop_map(Op::RevokeAll),
        6 => (0..CLIENTS).prop_map(Op::Issue),
        2 => any::<usize>().prop_map(Op::Revoke),
        1 => any::<usize>().prop_map(Op::UseToken),
        1 => (0..USERS).prop_map(Op::CreateUser),
        1 => (0..USERS).prop_map(Op::DisableUser),
        1 => (0..USERS, any::<bool>()).prop_map(|(u, ok)| Op::Login(u, ok)),
        1 => proptest::collection::vec(0..CLIENTS + 2, 0..6).prop_map(Op::AuthFailures),
        1 => any::<bool>().prop_map(Op::RotateKeys),
        1 => (0..USERS, 0..3u8).prop_map(|(u, n)| Op::Logout(u, n)),
        1 => prop_oneof![Just(60i64), Just(3_600), Just(200_000)].prop_map(Op::Advance),
        1 => any::<bool>().prop_map(Op::Restart),
    ]
}

/// The writer over a redb file, with its projections.
struct Running {
    store: Arc<dyn EventStore>,
    projections: SharedProjections,
    writer: WriterHandle,
    thread: std::thread::JoinHandle<()>,
}

fn open(path: &Path, clock: Arc<ManualClock>) -> Running {
    let store: Arc<dyn EventStore> = Arc::new(RedbStore::open(path).unwrap());
    let restored = match snapshot::load(&snapshot_at(path), store.as_ref(), &snapshot_key()) {
        Ok(restored) => restored,
        Err(SnapshotError::Missing) => Projections::default(),
        Err(e) => panic!("a snapshot this test wrote was refused: {e}"),
    };
    let projections = SharedProjections::new(std::sync::RwLock::new(restored));
    replay(store.as_ref(), &mut projections.write().unwrap()).unwrap();
    let (writer, thread) = spawn(
        store.clone(),
        projections.clone(),
        super::Sources {
            clock,
            entropy: Arc::new(crate::entropy::SystemEntropy),
            key: ServerKey::from_bytes([7; 32]),
            issuer: "https://authlog.test".into(),
        },
        WriterConfig {
            max_batch: 64,
            queue: 64,
        },
    );
    Running {
        store,
        projections,
        writer,
        thread,
    }
}

impl Running {
    fn live(&self) -> Projections {
        self.projections.read().unwrap().clone()
    }

    fn replayed(&self) -> Projections {
        let mut fresh = Projections::default();
        replay(self.store.as_ref(), &mut fresh).unwrap();
        fresh
    }

    /// The live projections through a snapshot file and back.
    fn restored(&self, path: &Path) -> Projections {
        let file = path.with_extension("check");
        snapshot::save(&file, &self.live(), &snapshot_key()).unwrap();
        snapshot::load(&file, self.store.as_ref(), &snapshot_key()).unwrap()
    }

    fn close(self) {
        drop(self.writer);
        self.thread.join().unwrap();
    }
}

/// What the test remembers to build valid commands.
struct Model {
    key: ServerKey,
    secrets: [Option<String>; CLIENTS as usize],
    tokens: Vec<(Uuid, String)>,
    users: [Option<Uuid>; USERS as usize],
}

fn client(c: u8) -> String {
    format!("client-{c}")
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000_000)));
    let mut running = open(&path, clock.clone());
    let mut m = Model {
        key: ServerKey::from_bytes([7; 32]),
        secrets: Default::default(),
        tokens: Vec::new(),
        users: [None; USERS as usize],
    };
    let ctx = EventContext::system;
    for (step, op) in ops.into_iter().enumerate() {
        let result = match op {
            Op::Register(c) => {
                let mut metadata = crate::client_policy::default_metadata();
                metadata.client_name = format!("client {c}");
                metadata.grant_types = vec![GrantType::ClientCredentials];
                metadata.response_types = vec![];
                metadata.scopes = vec!["read".into()];
                metadata.access_token_ttl_seconds = 3_600;
                let r = running.writer.submit_blocking(RegisterClient {
                    client_id: Some(client(c)),
                    registration_type: authlog_events::RegistrationType::Preregistered,
                    metadata,
                    preset_secret: None,
                    confirm_high_risk: true,
                    access_token_format: Default::default(),
                    oidc: Default::default(),
                    ctx: ctx(),
                });
                r.map(|(registered, _)| m.secrets[c as usize] = registered.client_secret)
            }
            Op::Rename(c, n) => running
                .writer
                .submit_blocking(UpdateClient {
                    client_id: client(c),
                    edit: Box::new(move |md| {
                        let mut md = md.clone();
                        md.client_name = format!("renamed {n}");
                        Ok(md)
                    }),
                    confirm_high_risk: true,
                    expected_version: None,
                    by_client: false,
                    access_token_format: None,
                    oidc: Default::default(),
                    ctx: ctx(),
                })
                .map(drop),
            Op::Rotate(c, grace) => {
                let r = running.writer.submit_blocking(RotateSecret {
                    client_id: client(c),
                    grace_seconds: if grace { 3_600 } else { 0 },
                    ctx: ctx(),
                });
                r.map(|(secret, _)| m.secrets[c as usize] = Some(secret))
            }
            Op::Pause(c) | Op::Resume(c) => running
                .writer
                .submit_blocking(SetClientStatus {
                    client_id: client(c),
                    status: if matches!(op, Op::Pause(_)) {
                        ClientStatus::Paused
                    } else {
                        ClientStatus::Active
                    },
                    ctx: ctx(),
                })
                .map(drop),
            Op::Delete(c) => running
                .writer
                .submit_blocking(DeleteClients {
                    client_ids: vec![client(c)],
                    by_client: false,
                    ctx: ctx(),
                })
                .map(drop),
            Op::RevokeAll(c) => running
                .writer
                .submit_blocking(RevokeClientTokens {
                    client_id: client(c),
                    reason: RevocationReason::RevokedByAdmin,
                    ctx: ctx(),
                })
                .map(drop),
            Op::Issue(c) => {
                let secret = m.secrets[c as usize].as_deref().unwrap_or("none");
                let r = running.writer.submit_blocking(IssueClientToken {
                    client_id: client(c),
                    secret_digest: m.key.digest(secret),
                    scopes: Some(vec!["read".into()]),
                    audience: vec![],
                    ctx: ctx(),
                });
                r.map(|(issued, _)| m.tokens.push((issued.token_id, client(c))))
            }
            Op::Revoke(i) if !m.tokens.is_empty() => {
                let (token_id, client_id) = m.tokens[i % m.tokens.len()].clone();
                running
                    .writer
                    .submit_blocking(RevokeToken {
                        token_id,
                        family_id: token_id,
                        client_id,
                        reason: RevocationReason::RevokedByClient,
                        ctx: ctx(),
                    })
                    .map(drop)
            }
            Op::UseToken(i) if !m.tokens.is_empty() => {
                let (token_id, _) = m.tokens[i % m.tokens.len()];
                running
                    .writer
                    .submit_blocking(RecordTokenUse {
                        uses: vec![(token_id, clock.now())],
                        ctx: ctx(),
                    })
                    .map(drop)
            }
            Op::Revoke(_) | Op::UseToken(_) => Ok(()),
            Op::CreateUser(u) => {
                let r = running.writer.submit_blocking(CreateUser {
                    username: format!("user{u}"),
                    display_name: format!("User {u}"),
                    email: None,
                    password_digest: "$argon2id$not-a-real-hash".into(),
                    roles: vec![Role::Member],
                    teams: vec!["red".into()],
                    ctx: ctx(),
                });
                r.map(|(user_id, _)| m.users[u as usize] = Some(user_id))
            }
            Op::DisableUser(u) => match m.users[u as usize] {
                Some(user_id) => running
                    .writer
                    .submit_blocking(DisableUser {
                        user_id,
                        ctx: ctx(),
                    })
                    .map(drop),
                None => Ok(()),
            },
            Op::Login(u, ok) => match m.users[u as usize] {
                Some(user_id) => running
                    .writer
                    .submit_blocking(RecordLogin {
                        user_id,
                        failure: (!ok).then_some(AuthFailure::BadCredentials),
                        client_id: Some(client(0)),
                        ctx: ctx(),
                    })
                    .map(drop),
                None => Ok(()),
            },
            Op::AuthFailures(ids) => {
                let tally = crate::failure_tally::FailureTally::default();
                for (i, c) in ids.iter().enumerate() {
                    let subject = match c % 4 {
                        3 => authlog_events::FailedSubject::UnknownUsernames,
                        _ => authlog_events::FailedSubject::Client(client(*c)),
                    };
                    tally.note(
                        subject,
                        AuthFailure::BadCredentials,
                        &format!("192.0.2.{i}"),
                        i % 2 == 0,
                        clock.now(),
                    );
                }
                let summaries = tally.drain();
                if summaries.is_empty() {
                    Ok(())
                } else {
                    running
                        .writer
                        .submit_blocking(RecordAuthFailures {
                            summaries,
                            ctx: ctx(),
                        })
                        .map(drop)
                }
            }
            Op::RotateKeys(only_if_missing) => running
                .writer
                .submit_blocking(crate::commands::keys::RotateSigningKeys {
                    only_if_missing,
                    alg: None,
                    ctx: ctx(),
                })
                .map(drop),
            Op::Logout(u, n) => match m.users[u as usize] {
                Some(user_id) => running
                    .writer
                    .submit_blocking(crate::commands::users::EndSession {
                        user_id,
                        session_id: format!("sid-{u}-{n}"),
                        client_id: None,
                        // Some sessions expire before later events fold.
                        session_expires: clock.now().plus_seconds(3_600 * (i64::from(n) + 1)),
                        ctx: ctx(),
                    })
                    .map(drop),
                None => Ok(()),
            },
            Op::Advance(seconds) => {
                clock.advance_seconds(seconds);
                Ok(())
            }
            Op::Restart(snapshot) => {
                let before = running.live();
                if snapshot {
                    snapshot::save(&snapshot_at(&path), &before, &snapshot_key()).unwrap();
                }
                running.close();
                running = open(&path, clock.clone());
                prop_assert_eq!(
                    &before,
                    &running.live(),
                    "step {}: restart changed state",
                    step
                );
                Ok(())
            }
        };
        // Domain refusals are expected; the log itself must never fail.
        prop_assert!(
            !matches!(result, Err(WriteError::Unavailable(_))),
            "step {step}: {result:?}"
        );
        if step % 8 == 0 {
            prop_assert_eq!(running.live(), running.replayed(), "step {}", step);
            if running.live().applied_position > 0 {
                prop_assert_eq!(running.live(), running.restored(&path), "step {}", step);
            }
        }
    }
    prop_assert_eq!(running.live(), running.replayed(), "at the end");
    prop_assert!(running.store.verify().unwrap().is_intact());
    running.close();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn live_projections_equal_a_fresh_replay_across_restarts(ops in proptest::collection::vec(op(), 10..100)) {
        run(ops)?;
    }
}
