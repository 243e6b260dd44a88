//! Replay deals chunks out to several decoders and folds them back in
//! order: over many chunks, from the start or from a later position, it
//! must equal folding the log one record at a time; a damaged record or a
//! failed read must fail it rather than be skipped, and the earlier of two
//! failures is the one reported.

use authlog_events::redb_store::log_path;
use authlog_events::*;
use uuid::Uuid;

use super::*;
use crate::faulty_store::FaultyStore;

/// More records than all decoders hold at once, not a whole number of chunks.
const EVENTS: u64 = (CHUNK * (MAX_DECODERS * (QUEUED + 2) + 3) + 17) as u64;

/// The `n`-th event of the test log: mostly tokens for five clients, some
/// for a user; now and then a revocation, a pause, a resume or a use.
/// Thirty seconds apart, so that expired tokens are pruned along the way.
fn event(n: u64) -> NewEvent {
    let client = format!("client-{}", n % 5);
    let token_id = Uuid::from_u128(n as u128 + 1);
    let at = Timestamp::from_unix_seconds(1_700_000_000 + 30 * n as i64);
    let payload = match n % 1000 {
        500 => Event::ClientPaused {
            client_id: client.clone(),
            tokens_revoked: 0,
        },
        501 => Event::ClientResumed {
            client_id: client.clone(),
        },
        k if k % 97 == 0 => Event::TokenRevoked {
            target: RevocationTarget::Token(Uuid::from_u128(n as u128)),
            client_id: client.clone(),
            reason: RevocationReason::RevokedByClient,
            tokens_revoked: 1,
        },
        k if k % 89 == 0 => Event::TokensUsed {
            uses: vec![(Uuid::from_u128(n as u128 - 3), at)],
        },
        _ => Event::TokenIssued {
            token_id,
            kind: TokenKind::Access,
            digest: Digest([(n % 251) as u8; 32]),
            client_id: client.clone(),
            subject: (n % 3 == 0).then(|| Uuid::from_u128(7)),
            scopes: vec!["api:read".into()],
            audience: vec![],
            teams: vec![],
            access: AccessPreset::ReadOnly,
            issued_at: at,
            expires_at: at.plus_seconds(3600),
            family_id: token_id,
            grant_type: GrantType::ClientCredentials,
            parent_id: None,
        },
    };
    NewEvent {
        event_id: Uuid::from_u128((1 << 64) + n as u128),
        stream: format!("grant/{n}"),
        recorded_at: at,
        actor: Actor {
            principal: Principal::Client(client.clone()),
            via_client: None,
            ip: None,
            user_agent: None,
        },
        client_id: Some(client),
        correlation_id: None,
        payload,
    }
}

fn log(dir: &std::path::Path) -> RedbStore {
    let store = RedbStore::open(dir.join("log.redb")).unwrap();
    let events: Vec<NewEvent> = (0..EVENTS).map(event).collect();
    for batch in events.chunks(5000) {
        store
            .append(vec![AppendBatch::new(batch.to_vec())])
            .unwrap();
    }
    store
}

/// The first `upto` records folded one at a time, in order.
fn one_by_one(store: &RedbStore, upto: u64) -> Projections {
    let mut projections = Projections::default();
    for event in store.read_all(1, upto as usize).unwrap() {
        assert!(projections.apply(&event));
    }
    projections
}

#[test]
fn a_replay_equals_folding_the_log_one_record_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = log(dir.path());
    let expected = one_by_one(&store, EVENTS);
    assert_eq!(expected.applied_position, EVENTS);
    assert!(expected.tokens.len() > 100, "some tokens are remembered");

    let mut replayed = Projections::default();
    let summary = replay(&store, &mut replayed).unwrap();
    assert_eq!(summary.events, EVENTS);
    assert!(replayed == expected, "a full replay differs");

    // From a position inside a chunk, as after a snapshot; counted.
    let mut resumed = one_by_one(&store, 2500);
    let progress = ReplayProgress::default();
    let summary = replay_counting(&store, &mut resumed, &progress).unwrap();
    assert_eq!(summary.events, EVENTS - 2500);
    let view = progress.view().unwrap();
    assert_eq!((view.events, view.total), (EVENTS - 2500, EVENTS - 2500));
    assert_eq!(view.percent, 100.0);
    assert!(resumed == expected, "a replay from position 2501 differs");

    // Nothing after the head.
    let summary = replay(&store, &mut resumed).unwrap();
    assert_eq!(summary.events, 0);
    assert_eq!(resumed.applied_position, EVENTS);
}

#[test]
fn a_damaged_record_fails_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    drop(log(dir.path()));
    let damaged = (CHUNK * 3 + 5) as u64;
    log_file::rewrite(&log_path(&dir.path().join("log.redb")), |frames| {
        // An unknown format version: the record no longer decodes.
        frames[damaged as usize - 1].bytes[0] = 0xee;
    })
    .unwrap();
    let store = RedbStore::open(dir.path().join("log.redb")).unwrap();
    let mut projections = Projections::default();
    match replay(&store, &mut projections) {
        Err(StoreError::Corrupt { position, .. }) => assert_eq!(position, damaged),
        other => panic!("expected the damaged record to fail the replay, got {other:?}"),
    }
}

#[test]
fn a_failed_read_fails_the_replay_and_an_earlier_damaged_record_is_reported_first() {
    let dir = tempfile::tempdir().unwrap();
    let failing = FaultyStore {
        reads_before_failure: Some((CHUNK * 5 + 3) as u64),
        ..FaultyStore::new(Arc::new(log(dir.path())))
    };
    match replay(&failing, &mut Projections::default()) {
        Err(StoreError::Storage(message)) => assert_eq!(message, "injected read failure"),
        other => panic!("expected the read failure, got {other:?}"),
    }
    drop(failing);

    let damaged = 5;
    log_file::rewrite(&log_path(&dir.path().join("log.redb")), |frames| {
        frames[damaged - 1].bytes[0] = 0xee;
    })
    .unwrap();
    let failing = FaultyStore {
        reads_before_failure: Some((CHUNK * 5 + 3) as u64),
        ..FaultyStore::new(Arc::new(
            RedbStore::open(dir.path().join("log.redb")).unwrap(),
        ))
    };
    match replay(&failing, &mut Projections::default()) {
        Err(StoreError::Corrupt { position, .. }) => assert_eq!(position, damaged as u64),
        other => panic!("expected the damaged record at {damaged}, got {other:?}"),
    }
}
