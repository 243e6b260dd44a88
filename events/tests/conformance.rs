//! The log's contract, the same tests on every backend: the embedded
//! store (redb) and PostgreSQL. Each test takes a `Backend` that opens (and
//! reopens) one empty log; the PostgreSQL cases get a schema of their own.

mod common;

use authlog_events::*;
use common::pg::TestDb;
use common::*;
use proptest::prelude::*;

/// Opens one log, again and again (a reopen sees what was appended).
trait Backend {
    fn open(&self) -> Box<dyn EventStore>;
}

struct Embedded(tempfile::TempDir);

impl Backend for Embedded {
    fn open(&self) -> Box<dyn EventStore> {
        Box::new(RedbStore::open(self.0.path().join("log.redb")).unwrap())
    }
}

struct Postgres(TestDb);

impl Backend for Postgres {
    fn open(&self) -> Box<dyn EventStore> {
        let store = PgStore::open(&self.0.url).unwrap();
        // A store dropped just before may hold the lock until PostgreSQL
        // has seen its session end.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.try_lead().unwrap() != pg_store::Role::Leader {
            assert!(
                std::time::Instant::now() < deadline,
                "the lock stayed taken"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Box::new(store)
    }
}

/// Runs each test on both backends.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(#[test]
            fn $name() {
                super::$name(&super::Embedded(tempfile::tempdir().unwrap()));
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                if let Some(db) = super::TestDb::create(stringify!($name)) {
                    super::$name(&super::Postgres(db));
                }
            })*
        }
    };
}

conformance!(
    positions_start_at_one_and_are_gapless_across_units,
    an_expected_version_conflict_writes_nothing_of_that_unit_and_keeps_the_others,
    no_stream_expectation_refuses_an_existing_stream,
    exact_expectation_sees_earlier_units_of_the_same_transaction,
    re_appending_an_event_id_is_a_no_op_that_returns_the_stored_record,
    the_same_event_id_twice_in_one_unit_is_stored_once,
    client_reads_are_newest_first_and_paginate_by_position,
    every_variant_round_trips_through_the_store,
    a_record_too_large_is_refused_and_nothing_is_written,
    an_empty_unit_still_checks_its_expectations,
    reading_nothing_returns_nothing,
    an_intact_log_verifies_with_its_head,
    random_batches_read_back_identically_after_reopen,
    names_with_any_characters_are_stored_and_found,
);

fn positions(records: Vec<RecordedEvent>) -> Vec<u64> {
    records.iter().map(|r| r.position).collect()
}

fn append_one(store: &dyn EventStore, unit: AppendBatch) -> UnitOutcome {
    store.append(vec![unit]).unwrap().pop().unwrap()
}

fn positions_start_at_one_and_are_gapless_across_units(backend: &dyn Backend) {
    let store = backend.open();
    assert_eq!(store.head().unwrap(), None);
    let units = vec![
        AppendBatch::new(vec![resumed("client/a", "a"), resumed("client/a", "a")]),
        AppendBatch::new(vec![resumed("client/b", "b")]),
    ];
    let out = store.append(units).unwrap();
    let positions: Vec<u64> = out
        .iter()
        .flat_map(|u| u.as_ref().unwrap())
        .map(|r| r.position)
        .collect();
    assert_eq!(positions, vec![1, 2, 3]);
    let versions: Vec<u64> = out[0]
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| r.stream_version)
        .collect();
    assert_eq!(versions, vec![1, 2]);
    assert_eq!(store.head().unwrap().unwrap().position, 3);
    assert_eq!(store.stream_version("client/a").unwrap(), 2);
}

fn an_expected_version_conflict_writes_nothing_of_that_unit_and_keeps_the_others(
    backend: &dyn Backend,
) {
    let store = backend.open();
    append_one(&*store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    let stale = AppendBatch::new(vec![resumed("client/a", "a"), resumed("client/z", "z")])
        .expect("client/a", ExpectedVersion::Exact(0));
    let fresh = AppendBatch::new(vec![resumed("client/b", "b")])
        .expect("client/b", ExpectedVersion::NoStream);
    let out = store.append(vec![stale, fresh]).unwrap();
    assert_eq!(
        out[0],
        Err(VersionConflict {
            stream: "client/a".into(),
            expected: ExpectedVersion::Exact(0),
            actual: 1
        })
    );
    assert_eq!(out[1].as_ref().unwrap()[0].position, 2);
    assert_eq!(store.stream_version("client/z").unwrap(), 0);
    assert_eq!(store.head().unwrap().unwrap().position, 2);
}

fn no_stream_expectation_refuses_an_existing_stream(backend: &dyn Backend) {
    let store = backend.open();
    let unit = || {
        AppendBatch::new(vec![resumed("client/a", "a")])
            .expect("client/a", ExpectedVersion::NoStream)
    };
    append_one(&*store, unit()).unwrap();
    assert!(append_one(&*store, unit()).is_err());
}

fn exact_expectation_sees_earlier_units_of_the_same_transaction(backend: &dyn Backend) {
    let store = backend.open();
    let first = AppendBatch::new(vec![resumed("client/a", "a")])
        .expect("client/a", ExpectedVersion::Exact(0));
    let second = AppendBatch::new(vec![resumed("client/a", "a")])
        .expect("client/a", ExpectedVersion::Exact(0));
    let out = store.append(vec![first, second]).unwrap();
    assert!(out[0].is_ok());
    assert_eq!(out[1].as_ref().unwrap_err().actual, 1);
}

fn re_appending_an_event_id_is_a_no_op_that_returns_the_stored_record(backend: &dyn Backend) {
    let store = backend.open();
    let event = resumed("client/a", "a");
    let first = append_one(&*store, AppendBatch::new(vec![event.clone()])).unwrap();
    // Even with an expectation that would now fail, a retry is answered with what is stored.
    let retry = append_one(
        &*store,
        AppendBatch::new(vec![event.clone()]).expect("client/a", ExpectedVersion::NoStream),
    )
    .unwrap();
    assert_eq!(first, retry);
    assert_eq!(store.head().unwrap().unwrap().position, 1);
    // Twice in one transaction, too.
    let twice = store
        .append(vec![
            AppendBatch::new(vec![event.clone()]),
            AppendBatch::new(vec![event]),
        ])
        .unwrap();
    assert_eq!(twice[0].as_ref().unwrap()[0].position, 1);
    assert_eq!(twice[1].as_ref().unwrap()[0].position, 1);
    assert_eq!(store.head().unwrap().unwrap().position, 1);
}

fn the_same_event_id_twice_in_one_unit_is_stored_once(backend: &dyn Backend) {
    let store = backend.open();
    let event = resumed("client/a", "a");
    let out = append_one(&*store, AppendBatch::new(vec![event.clone(), event])).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], out[1]);
    assert_eq!(store.head().unwrap().unwrap().position, 1);
}

fn client_reads_are_newest_first_and_paginate_by_position(backend: &dyn Backend) {
    let store = backend.open();
    for i in 0..5 {
        let client = if i % 2 == 0 { "even" } else { "odd" };
        append_one(
            &*store,
            AppendBatch::new(vec![resumed(&format!("client/{client}"), client)]),
        )
        .unwrap();
    }
    let page = positions(store.read_client("even", None, 2).unwrap());
    assert_eq!(page, vec![5, 3]);
    let next = positions(store.read_client("even", Some(3), 2).unwrap());
    assert_eq!(next, vec![1]);
    let stream: Vec<u64> = store
        .read_stream("client/odd", 2, 10)
        .unwrap()
        .iter()
        .map(|r| r.stream_version)
        .collect();
    assert_eq!(stream, vec![2]);
}

fn every_variant_round_trips_through_the_store(backend: &dyn Backend) {
    let store = backend.open();
    let events: Vec<NewEvent> = every_variant()
        .into_iter()
        .map(|p| new_event("system", p))
        .collect();
    append_one(&*store, AppendBatch::new(events.clone())).unwrap();
    drop(store);
    let store = backend.open();
    let read = store.read_all(1, 1000).unwrap();
    assert_eq!(read.len(), events.len());
    for (r, e) in read.iter().zip(&events) {
        assert_eq!(r.payload, e.payload);
        assert_eq!(r.actor, e.actor);
        assert_eq!(r.event_id, e.event_id);
    }
    let mut stored = Vec::new();
    store
        .for_each_stored(2, &mut |position, bytes| {
            stored.push((position, bytes.len()));
            true
        })
        .unwrap();
    assert_eq!(stored.len(), events.len() - 1);
    assert_eq!(stored[0].0, 2);
    assert!(store.verify().unwrap().is_intact());
}

fn a_record_too_large_is_refused_and_nothing_is_written(backend: &dyn Backend) {
    let store = backend.open();
    append_one(&*store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    let mut huge = metadata("huge");
    huge.client_name = "x".repeat(authlog_events::log_file::MAX_RECORD + 1);
    let event = new_event(
        "client/huge",
        Event::ClientRegistered {
            client_id: "huge".into(),
            registration_type: RegistrationType::Preregistered,
            metadata: Box::new(huge),
            secret_digest: None,
            registration_access_token_digest: None,
            confirm_high_risk: false,
        },
    );
    let refused = store
        .append(vec![AppendBatch::new(vec![event])])
        .unwrap_err();
    assert!(matches!(refused, StoreError::TooLarge { .. }), "{refused}");
    assert_eq!(store.head().unwrap().unwrap().position, 1);
    let next = append_one(&*store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    assert_eq!(next[0].position, 2);
    drop(store);
    assert_eq!(backend.open().read_all(1, usize::MAX).unwrap().len(), 2);
}

fn an_empty_unit_still_checks_its_expectations(backend: &dyn Backend) {
    let store = backend.open();
    append_one(&*store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    let conflict = append_one(
        &*store,
        AppendBatch::new(vec![]).expect("client/a", ExpectedVersion::Exact(99)),
    );
    assert_eq!(conflict.unwrap_err().actual, 1);
    let holds = append_one(
        &*store,
        AppendBatch::new(vec![]).expect("client/a", ExpectedVersion::Exact(1)),
    );
    assert_eq!(holds.unwrap(), vec![]);
}

fn reading_nothing_returns_nothing(backend: &dyn Backend) {
    let store = backend.open();
    append_one(&*store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    assert!(store.read_all(1, 0).unwrap().is_empty());
    assert!(store.read_all(2, 10).unwrap().is_empty());
    assert!(store.read_stream("client/a", 1, 0).unwrap().is_empty());
    assert!(store.read_client("a", None, 0).unwrap().is_empty());
    assert!(store.read_client("nobody", None, 10).unwrap().is_empty());
}

fn an_intact_log_verifies_with_its_head(backend: &dyn Backend) {
    let store = backend.open();
    for _ in 0..4 {
        append_one(&*store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    }
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.records, 4);
    assert_eq!(report.head, store.head().unwrap());
}

fn arb_payload() -> impl Strategy<Value = Event> {
    let variants = every_variant();
    (0..variants.len(), "[a-z]{0,12}").prop_map(move |(i, s)| {
        let mut e = variants[i].clone();
        if let Event::ClientResumed { client_id } | Event::ClientPaused { client_id, .. } = &mut e {
            *client_id = s;
        }
        e
    })
}

fn arb_event() -> impl Strategy<Value = NewEvent> {
    (0u8..6, arb_payload(), proptest::option::of("[a-z0-9]{1,6}")).prop_map(
        |(stream, payload, client)| {
            let mut e = new_event(&format!("client/s{stream}"), payload);
            e.client_id = client;
            e
        },
    )
}

type Calls = Vec<Vec<Vec<NewEvent>>>;

fn random_batches_read_back_identically_after_reopen(backend: &dyn Backend) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    let strategy = prop::collection::vec(
        prop::collection::vec(prop::collection::vec(arb_event(), 1..4), 1..5),
        1..6,
    );
    // One log for all cases: each case appends on top of the last.
    let written = std::cell::RefCell::new(Vec::new());
    runner
        .run(&strategy, |calls: Calls| {
            {
                let store = backend.open();
                for units in &calls {
                    let units: Vec<AppendBatch> =
                        units.iter().cloned().map(AppendBatch::new).collect();
                    for outcome in store.append(units).unwrap() {
                        written.borrow_mut().extend(outcome.unwrap());
                    }
                }
            }
            let store = backend.open();
            let written = written.borrow();
            let read = store.read_all(1, usize::MAX).unwrap();
            prop_assert_eq!(&read, &*written);
            for (i, r) in read.iter().enumerate() {
                prop_assert_eq!(r.position, i as u64 + 1);
            }
            for stream in 0..6 {
                let s = format!("client/s{stream}");
                let versions: Vec<u64> = store
                    .read_stream(&s, 1, usize::MAX)
                    .unwrap()
                    .iter()
                    .map(|r| r.stream_version)
                    .collect();
                let expected: Vec<u64> = (1..=versions.len() as u64).collect();
                prop_assert_eq!(versions, expected);
            }
            let report = store.verify().unwrap();
            prop_assert!(report.is_intact(), "{:?}", report.broken);
            prop_assert_eq!(report.records, written.len() as u64);
            Ok(())
        })
        .unwrap();
}

/// Stream names and client ids come from what clients send: a NUL byte or
/// any other character must neither fail an append nor be lost.
fn names_with_any_characters_are_stored_and_found(backend: &dyn Backend) {
    let store = backend.open();
    let odd = "a\0b\u{7f}\u{1F600}'\"%_";
    let stream = format!("client/{odd}");
    append_one(&*store, AppendBatch::new(vec![resumed(&stream, odd)])).unwrap();
    append_one(
        &*store,
        AppendBatch::new(vec![resumed(&stream, odd)]).expect(&stream, ExpectedVersion::Exact(1)),
    )
    .unwrap();
    assert_eq!(store.stream_version(&stream).unwrap(), 2);
    assert_eq!(store.read_stream(&stream, 1, 10).unwrap().len(), 2);
    assert_eq!(
        positions(store.read_client(odd, None, 10).unwrap()),
        vec![2, 1]
    );
    assert!(store.read_client("a", None, 10).unwrap().is_empty());
    assert!(store.verify().unwrap().is_intact());
}
