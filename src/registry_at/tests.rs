//! The registry at an instant, folded from one client's records and from
//! the whole log, equals a fold of every read model over the records
//! stamped at or before that instant, for every client and many instants
//! of a scripted random history (registrations, edits, rotations, pauses,
//! deletions, tokens of clients and users, revocations of tokens,
//! families and whole clients, users disabled, and a clock that once
//! steps back).

use authlog_events::*;
use authlog_projections::Projections;
use uuid::Uuid;

use super::*;
use crate::client_policy::default_metadata;

/// A small deterministic generator (xorshift).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const CLIENTS: usize = 6;
const USERS: u128 = 4;

fn user(n: u128) -> Uuid {
    Uuid::from_u128(0xabcd_0000 + n)
}

/// Writes a random history to a fresh log; returns it.
fn history(dir: &std::path::Path, seed: u64, steps: usize) -> RedbStore {
    let store = RedbStore::open(dir.join("log.redb")).unwrap();
    let mut dice = Dice(seed);
    let mut time = Timestamp::from_unix_seconds(1_800_000_000);
    let mut registered = [false; CLIENTS];
    let mut deleted = [false; CLIENTS];
    let mut tokens: Vec<(usize, Uuid, Uuid, TokenKind)> = Vec::new();
    let mut ids = 0u128;
    for step in 0..steps {
        // The clock steps back once, a minute, in the middle.
        if step == steps / 2 {
            time = time.plus_seconds(-60);
        } else {
            time = Timestamp(time.0 + 1 + dice.roll(20_000_000) as i64);
        }
        let c = dice.roll(CLIENTS as u64) as usize;
        let id = format!("c{c}");
        let live = registered[c] && !deleted[c];
        let client_event = |payload| (format!("client/{id}"), Some(id.clone()), payload);
        let (stream, client_id, payload) = if !registered[c] && !deleted[c] {
            registered[c] = true;
            let mut metadata = default_metadata();
            metadata.client_name = format!("client {c}");
            client_event(Event::ClientRegistered {
                client_id: id.clone(),
                registration_type: RegistrationType::Preregistered,
                metadata: Box::new(metadata),
                secret_digest: (c % 3 != 0).then_some(Digest([c as u8; 32])),
                registration_access_token_digest: None,
                confirm_high_risk: false,
            })
        } else if !live {
            // A deleted client: something about a user instead.
            let u = user(dice.roll(USERS as u64) as u128);
            (
                format!("user/{u}"),
                None,
                Event::UserDisabled {
                    user_id: u,
                    tokens_revoked: 0,
                },
            )
        } else {
            match dice.roll(100) {
                0..=4 => {
                    let mut metadata = default_metadata();
                    metadata.client_name = format!("client {c} renamed at step {step}");
                    client_event(Event::ClientUpdated {
                        client_id: id.clone(),
                        metadata: Box::new(metadata),
                        confirm_high_risk: false,
                    })
                }
                5..=7 => client_event(Event::ClientSecretRotated {
                    client_id: id.clone(),
                    secret_digest: Digest([step as u8; 32]),
                    previous_valid_until: time.plus_seconds(30),
                }),
                8..=9 => client_event(Event::ClientPaused {
                    client_id: id.clone(),
                    tokens_revoked: 0,
                }),
                10..=13 => client_event(Event::ClientResumed {
                    client_id: id.clone(),
                }),
                14 => client_event(Event::ClientAccessTokenFormatSet {
                    client_id: id.clone(),
                    format: AccessTokenFormat::Jwt,
                }),
                15 => client_event(Event::ClientOidcSettingsSet {
                    client_id: id.clone(),
                    settings: OidcSettings {
                        id_token_signed_response_alg: SigningAlgorithm::Rs256,
                        backchannel_logout_uri: None,
                        backchannel_logout_session_required: false,
                    },
                }),
                16 if step > steps / 3 => {
                    deleted[c] = true;
                    client_event(Event::ClientDeleted {
                        client_id: id.clone(),
                        tokens_revoked: 0,
                        codes_revoked: 0,
                    })
                }
                17..=18 => (
                    format!("client-tokens/{id}"),
                    Some(id.clone()),
                    Event::ClientTokensRevoked {
                        client_id: id.clone(),
                        reason: RevocationReason::RevokedByAdmin,
                        tokens_revoked: 0,
                    },
                ),
                19..=21 => {
                    let u = user(dice.roll(USERS as u64) as u128);
                    (
                        format!("user/{u}"),
                        None,
                        Event::UserDisabled {
                            user_id: u,
                            tokens_revoked: 0,
                        },
                    )
                }
                22..=31 if !tokens.is_empty() => {
                    let (owner, token, family, kind) =
                        tokens[dice.roll(tokens.len() as u64) as usize];
                    let target = if kind == TokenKind::Refresh {
                        RevocationTarget::Family(family)
                    } else {
                        RevocationTarget::Token(token)
                    };
                    (
                        format!("grant/{family}"),
                        Some(format!("c{owner}")),
                        Event::TokenRevoked {
                            target,
                            client_id: format!("c{owner}"),
                            reason: RevocationReason::RevokedByClient,
                            tokens_revoked: 0,
                        },
                    )
                }
                32..=34 if !tokens.is_empty() => {
                    let (_, token, _, _) = tokens[dice.roll(tokens.len() as u64) as usize];
                    (
                        "token-usage".to_owned(),
                        None,
                        Event::TokensUsed {
                            uses: vec![(token, time)],
                        },
                    )
                }
                _ => {
                    ids += 1;
                    let token_id = Uuid::from_u128(ids);
                    let for_user = dice.roll(2) == 0;
                    let (kind, family) = match (for_user, dice.roll(3)) {
                        (false, _) => (TokenKind::Access, token_id),
                        // A refresh token starting or continuing a family of this client.
                        (true, 0) => {
                            let family = tokens
                                .iter()
                                .rev()
                                .find(|t| t.0 == c && t.3 == TokenKind::Refresh)
                                .map_or(token_id, |t| t.2);
                            (TokenKind::Refresh, family)
                        }
                        (true, _) => (TokenKind::Access, token_id),
                    };
                    tokens.push((c, token_id, family, kind));
                    (
                        format!("grant/{family}"),
                        Some(id.clone()),
                        Event::TokenIssued {
                            token_id,
                            kind,
                            digest: Digest([(ids % 251) as u8; 32]),
                            client_id: id.clone(),
                            subject: for_user.then(|| user(dice.roll(USERS as u64) as u128)),
                            scopes: vec!["api:read".into()],
                            audience: vec![],
                            teams: vec![],
                            access: AccessPreset::ReadOnly,
                            issued_at: time,
                            expires_at: time.plus_seconds(30 + dice.roll(600) as i64),
                            family_id: family,
                            grant_type: if for_user {
                                GrantType::RefreshToken
                            } else {
                                GrantType::ClientCredentials
                            },
                            parent_id: None,
                        },
                    )
                }
            }
        };
        let event = NewEvent {
            event_id: Uuid::from_u128((1 << 64) + step as u128),
            stream,
            recorded_at: time,
            actor: Actor::system(),
            client_id,
            correlation_id: None,
            payload,
        };
        store.append(vec![AppendBatch::new(vec![event])]).unwrap();
    }
    store
}

/// The secrets a client had had by `at`, counted from the records.
fn secrets_by(records: &[RecordedEvent], client: &str, at: Timestamp) -> u64 {
    records
        .iter()
        .filter(|r| r.recorded_at <= at)
        .filter(|r| match &r.payload {
            Event::ClientRegistered {
                client_id,
                secret_digest,
                ..
            } => client_id == client && secret_digest.is_some(),
            Event::ClientSecretRotated { client_id, .. } => client_id == client,
            _ => false,
        })
        .count() as u64
}

fn json(view: &ClientAt) -> serde_json::Value {
    serde_json::to_value(view).unwrap()
}

#[test]
fn one_clients_fold_and_the_whole_logs_equal_a_fold_of_every_read_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = history(dir.path(), 0x5eed_1234_abcd, 1500);
    let records = store.read_all(1, usize::MAX).unwrap();
    let mut instants: Vec<Timestamp> = records
        .iter()
        .step_by(37)
        .flat_map(|r| [r.recorded_at, Timestamp(r.recorded_at.0 - 1)])
        .collect();
    instants.push(Timestamp(records[0].recorded_at.0 - 1));
    instants.push(records.last().unwrap().recorded_at);
    let (mut shown, mut with_tokens, mut deleted, mut not_yet) = (0, 0, 0, 0);
    for at in instants {
        let mut reference = Projections::default();
        for r in records.iter().filter(|r| r.recorded_at <= at) {
            reference.apply(r);
        }
        let all = fold_all(&store, at).unwrap();
        let listed: Vec<String> = all
            .all()
            .items
            .iter()
            .map(|c| c.view.client_id.clone())
            .collect();
        let expected: Vec<String> = reference
            .registry
            .iter_from(None)
            .map(|c| c.client_id.clone())
            .collect();
        assert_eq!(listed, expected, "the list at {}", at.to_rfc3339());
        for c in 0..CLIENTS {
            let id = format!("c{c}");
            let one = fold_client(&store, &id, at).unwrap().client(&id);
            let whole = all.client(&id);
            match reference.registry.get(&id) {
                Some(record) => {
                    let active = reference.tokens.active_count(&id, at);
                    let want = ClientAt {
                        view: ClientView::of(record, active, at),
                        at: at.to_rfc3339(),
                        secret_generation: secrets_by(&records, &id, at),
                        active_tokens: active,
                    };
                    let (one, whole) = (one.unwrap(), whole.unwrap());
                    assert_eq!(json(&one), json(&want), "{id} alone at {}", want.at);
                    assert_eq!(json(&whole), json(&want), "{id} in the list at {}", want.at);
                    shown += 1;
                    with_tokens += usize::from(active > 0);
                }
                None => {
                    let (one, whole) = (one.unwrap_err(), whole.unwrap_err());
                    assert!(one.is_absent(), "{one}");
                    assert_eq!(one.to_string(), whole.to_string());
                    match one {
                        RegistryAtError::Deleted { deleted_at, .. } => {
                            assert!(deleted_at <= at);
                            deleted += 1;
                        }
                        RegistryAtError::NotYetRegistered { registered_at, .. } => {
                            assert!(registered_at > at);
                            not_yet += 1;
                        }
                        other => panic!("every client of the history registers: {other}"),
                    }
                }
            }
        }
    }
    // The history must have exercised every case.
    assert!(shown > 100, "{shown} clients shown");
    assert!(with_tokens > 50, "{with_tokens} with active tokens");
    assert!(deleted > 0, "no deleted client");
    assert!(not_yet > 0, "no client before its registration");
}

#[test]
fn a_client_deleted_now_is_shown_as_it_was_before_its_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let store = history(dir.path(), 77, 600);
    let records = store.read_all(1, usize::MAX).unwrap();
    let deletion = records
        .iter()
        .find(|r| matches!(r.payload, Event::ClientDeleted { .. }))
        .expect("the history deletes a client");
    let id = deletion.client_id.clone().unwrap();
    let before = Timestamp(deletion.recorded_at.0 - 1);
    let registration = records
        .iter()
        .find(
            |r| matches!(&r.payload, Event::ClientRegistered { client_id, .. } if *client_id == id),
        )
        .unwrap();
    assert!(
        registration.recorded_at <= before,
        "the history registers first"
    );
    let shown = fold_client(&store, &id, before)
        .unwrap()
        .client(&id)
        .unwrap();
    assert_eq!(shown.view.client_id, id);
    assert_eq!(shown.at, before.to_rfc3339());
    let gone = fold_client(&store, &id, deletion.recorded_at)
        .unwrap()
        .client(&id)
        .unwrap_err();
    assert_eq!(
        gone.to_string(),
        format!(
            "client {id} did not exist at {0}: it was deleted at {0}",
            deletion.recorded_at.to_rfc3339()
        )
    );
}

#[test]
fn an_instant_must_be_rfc3339_and_not_in_the_future() {
    let now = Timestamp::from_unix_seconds(1_800_000_000);
    // Another offset, and digits below the microsecond dropped.
    assert_eq!(
        parse_at("2027-01-15T08:00:00.1234567+01:00", now).unwrap(),
        Timestamp(1_800_000_000_000_000 - 3_600_000_000 + 123_456)
    );
    for bad in ["", "yesterday", "2027-01-15", "2027-01-15 07:00:00", "1e9"] {
        assert!(matches!(parse_at(bad, now), Err(RegistryAtError::NotATime)));
    }
    assert!(matches!(
        parse_at("2027-01-15T08:00:00.000001Z", now),
        Err(RegistryAtError::InTheFuture { .. })
    ));
    assert_eq!(parse_at("2027-01-15T08:00:00Z", now).unwrap(), now);
}
