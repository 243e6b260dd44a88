//! What only the embedded store has: the record file and its redb index
//! (indexing, crash recovery, torn commits, tamper detection in the file).
//! The contract every backend keeps is tested in `conformance.rs`.

mod common;

use authlog_events::log_file::rewrite;
use authlog_events::redb_store::{log_path, PENDING_LIMIT};
use authlog_events::tables::{META, META_HEAD};
use authlog_events::*;
use common::*;
use redb::ReadableTable;

fn open(dir: &tempfile::TempDir) -> RedbStore {
    RedbStore::open(dir.path().join("log.redb")).unwrap()
}

/// The positions of `records`, in their order.
fn positions(records: Vec<RecordedEvent>) -> Vec<u64> {
    records.iter().map(|r| r.position).collect()
}

fn append_one(store: &RedbStore, unit: AppendBatch) -> UnitOutcome {
    store.append(vec![unit]).unwrap().pop().unwrap()
}

#[test]
fn an_append_that_leaves_too_many_records_unindexed_waits_for_the_indexer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let units: Vec<AppendBatch> = (0..PENDING_LIMIT + 100)
        .map(|i| AppendBatch::new(vec![resumed(&format!("client/c{i}"), "c")]))
        .collect();
    store.append(units).unwrap();
    let waiting = store.unindexed();
    assert!(waiting < PENDING_LIMIT, "{waiting} records still wait");
    let read = store.read_stream("client/c7", 1, 10).unwrap();
    assert_eq!(read.len(), 1);
}

/// Polls `done` every 5 ms; fails with `what` if it is still false after 10 s.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Waits until the indexer has committed every acknowledged record.
fn wait_until_indexed(store: &RedbStore) {
    eventually("the indexer never caught up", || store.unindexed() == 0);
}

#[test]
fn reads_span_indexed_and_pending_records_after_the_indexer_hands_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = append_one(&store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    let old = resumed("client/a", "a");
    append_one(&store, AppendBatch::new(vec![old.clone()])).unwrap();
    wait_until_indexed(&store);
    // Records both in redb and still waiting are read once.
    assert_eq!(store.read_all(1, 10).unwrap().len(), 2);
    assert_eq!(store.read_stream("client/a", 1, 10).unwrap().len(), 2);
    assert_eq!(store.read_client("a", None, 10).unwrap().len(), 2);
    assert_eq!(store.stream_version("client/a").unwrap(), 2);
    // This append drops the indexed records from what waits.
    append_one(&store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    append_one(&store, AppendBatch::new(vec![resumed("client/b", "a")])).unwrap();
    let stream = positions(store.read_stream("client/a", 1, 10).unwrap());
    assert_eq!(stream, vec![1, 2, 3]);
    assert_eq!(store.stream_version("client/a").unwrap(), 3);
    let all = positions(store.read_all(1, 10).unwrap());
    assert_eq!(all, vec![1, 2, 3, 4]);
    let by_client = positions(store.read_client("a", None, 10).unwrap());
    assert_eq!(by_client, vec![4, 3, 2, 1]);
    // An indexed event id is still known: the retry is answered from redb.
    let retry = append_one(&store, AppendBatch::new(vec![old])).unwrap();
    assert_eq!(retry[0].position, 2);
    assert_eq!(a[0].position, 1);
    assert_eq!(store.head().unwrap().unwrap().position, 4);
    drop(store);
    let reopened = open(&dir);
    assert_eq!(reopened.read_all(1, 10).unwrap().len(), 4);
    assert!(reopened.verify().unwrap().is_intact());
}

/// The name and nice value in a `/proc/.../stat` line: fields after the
/// ")" that ends the name start at field 3 (state); nice is field 19.
#[cfg(target_os = "linux")]
fn name_and_nice(stat: &str) -> Option<(&str, i64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1;
    Some((name, rest.split_whitespace().nth(16)?.parse().ok()?))
}

/// The nice values of this process's indexer threads.
#[cfg(target_os = "linux")]
fn indexer_nice_values() -> Vec<i64> {
    let mut values = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread exited
        };
        if let Some(("authlog-indexer", nice)) = name_and_nice(&stat) {
            values.push(nice);
        }
    }
    values
}

#[cfg(target_os = "linux")]
#[test]
fn the_indexer_thread_runs_at_a_lower_priority() {
    // The indexer is five steps nicer than the thread that opens the store.
    let own = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let expected = (name_and_nice(&own).unwrap().1 + 5).min(19);
    let dir = tempfile::tempdir().unwrap();
    let _store = open(&dir);
    eventually(&format!("no indexer thread at nice {expected}"), || {
        indexer_nice_values().contains(&expected)
    });
}

/// Rewrites the stored bytes at `position` through `f` (same length), as
/// someone with write access to the record file would.
fn tamper(dir: &tempfile::TempDir, position: u64, f: impl FnOnce(&mut Vec<u8>)) {
    edit_records(dir, |frames| {
        let bytes = &mut frames[position as usize - 1].bytes;
        let len = bytes.len();
        f(bytes);
        assert_eq!(bytes.len(), len);
    });
}

fn edit_records(
    dir: &tempfile::TempDir,
    edit: impl FnOnce(&mut Vec<authlog_events::log_file::Frame>),
) {
    rewrite(&log_path(&dir.path().join("log.redb")), edit).unwrap();
}

fn open_read_only(dir: &tempfile::TempDir) -> RedbStore {
    RedbStore::open_read_only(dir.path().join("log.redb")).unwrap()
}

/// The writer of a log holding `n` records of client `a` (dropping it
/// closes the log).
/// After a recovery the log goes on: the next append gets `position` and
/// the chain is intact.
fn assert_continues_at(store: &RedbStore, position: u64) {
    let next = append_one(store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    assert_eq!(next[0].position, position);
    assert!(store.verify().unwrap().is_intact());
}

fn filled(dir: &tempfile::TempDir, n: usize) -> RedbStore {
    let store = open(dir);
    for _ in 0..n {
        append_one(&store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    }
    store
}

#[test]
fn verify_names_the_position_of_a_flipped_byte() {
    for (position, byte) in [(1u64, 5usize), (4, 30), (7, 60)] {
        let dir = tempfile::tempdir().unwrap();
        filled(&dir, 8);
        tamper(&dir, position, |bytes| bytes[byte] ^= 0x01);
        let report = open(&dir).verify().unwrap();
        assert_eq!(
            report.broken.map(|b| b.position),
            Some(position),
            "flipped byte {byte}"
        );
    }
}

#[test]
fn verify_detects_a_flipped_byte_in_the_stored_hash() {
    let dir = tempfile::tempdir().unwrap();
    filled(&dir, 3);
    tamper(&dir, 2, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
    });
    // Position 2's own hash no longer matches its contents.
    assert_eq!(open(&dir).verify().unwrap().broken.unwrap().position, 2);
}

#[test]
fn verify_detects_a_removed_head_record() {
    let dir = tempfile::tempdir().unwrap();
    filled(&dir, 5);
    edit_records(&dir, |frames| {
        frames.pop();
    });
    let report = open_read_only(&dir).verify().unwrap();
    assert_eq!(report.broken.unwrap().position, 5);
    // The writer refuses a record file shorter than its index.
    let refused = RedbStore::open(dir.path().join("log.redb")).unwrap_err();
    assert!(
        refused.to_string().contains("records are missing"),
        "{refused}"
    );
}

#[test]
fn verify_detects_an_altered_head_hash() {
    let dir = tempfile::tempdir().unwrap();
    filled(&dir, 3);
    let db = redb::Database::create(dir.path().join("log.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        let mut head = meta.get(META_HEAD).unwrap().unwrap().value().to_vec();
        head[20] ^= 0xff;
        meta.insert(META_HEAD, head.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    assert_eq!(
        open_read_only(&dir)
            .verify()
            .unwrap()
            .broken
            .unwrap()
            .position,
        3
    );
    // The writer refuses an index whose head the record file does not hold.
    assert!(RedbStore::open(dir.path().join("log.redb")).is_err());
}

#[test]
fn verify_detects_a_record_removed_from_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    filled(&dir, 5);
    edit_records(&dir, |frames| {
        frames.remove(2);
    });
    assert_eq!(
        open_read_only(&dir)
            .verify()
            .unwrap()
            .broken
            .unwrap()
            .position,
        3
    );
}

#[test]
fn an_intact_log_verifies_with_its_head() {
    let dir = tempfile::tempdir().unwrap();
    filled(&dir, 4);
    let store = open(&dir);
    let report = store.verify().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.records, 4);
    assert_eq!(report.head, store.head().unwrap());
    let db = redb::ReadOnlyDatabase::open(dir.path().join("log.redb"));
    // The log is open for writing by `store`; a second handle is refused, not corrupted.
    assert!(db.is_err());
}

/// The two files of the log at `dir` as a crash would leave them right now:
/// copied while the writer still has them open (what is in the page cache
/// is what survives a killed process).
fn crash_image(from: &tempfile::TempDir) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for name in ["log.redb", "log.log"] {
        std::fs::copy(from.path().join(name), to.path().join(name)).unwrap();
    }
    to
}

fn ids(store: &RedbStore) -> Vec<(u64, uuid::Uuid)> {
    store
        .read_all(1, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.position, r.event_id))
        .collect()
}

#[test]
fn a_crash_before_the_index_is_durable_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..6 {
        append_one(
            &store,
            AppendBatch::new(vec![resumed(&format!("client/{i}"), "a")]),
        )
        .unwrap();
    }
    let image = crash_image(&dir);
    let before = ids(&store);
    drop(store);

    let recovered = open(&image);
    assert_eq!(ids(&recovered), before);
    assert_eq!(recovered.read_client("a", None, 100).unwrap().len(), 6);
    assert_eq!(recovered.stream_version("client/5").unwrap(), 1);
    assert!(recovered.verify().unwrap().is_intact());
}

#[test]
fn after_a_crash_the_index_opens_without_walking_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(&dir, 5);
    wait_until_indexed(&store);
    let image = crash_image(&dir);
    drop(store);

    // redb calls the repair callback only when it must rebuild its
    // allocator state by walking every table (tens of seconds at 10M events).
    let repaired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = repaired.clone();
    let mut builder = redb::Builder::new();
    builder.set_concurrency_mode(redb::ConcurrencyMode::ExclusiveWriter);
    builder.set_repair_callback(move |_| seen.store(true, std::sync::atomic::Ordering::SeqCst));
    drop(builder.open(image.path().join("log.redb")).unwrap());
    assert!(
        !repaired.load(std::sync::atomic::Ordering::SeqCst),
        "the crashed index needed a full repair"
    );
    let recovered = open(&image);
    assert_eq!(recovered.head().unwrap().map(|h| h.position), Some(5));
    assert!(recovered.verify().unwrap().is_intact());
}

#[test]
fn a_torn_final_commit_is_cut_off_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    filled(&dir, 4);
    let path = log_path(&dir.path().join("log.redb"));
    let whole = std::fs::metadata(&path).unwrap().len();
    // Half of a fifth frame, as a crash mid-write leaves it.
    let mut frame = Vec::new();
    authlog_events::log_file::frame(5, &[7u8; 300], &mut frame);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, &frame[..150]).unwrap();
    drop(file);

    // Read-only, the torn bytes are not a break (never acknowledged).
    assert!(open_read_only(&dir).verify().unwrap().is_intact());
    let store = open(&dir);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
    assert_eq!(store.head().unwrap().unwrap().position, 4);
    assert_continues_at(&store, 5);
}

#[test]
fn damage_followed_by_later_commits_is_refused_not_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(&dir, 5);
    drop(store);
    // Without its index, opening must read (and check) every record.
    std::fs::remove_file(dir.path().join("log.redb")).unwrap();
    edit_records(&dir, |frames| frames[1].bytes[20] ^= 0x01);
    let refused = RedbStore::open(dir.path().join("log.redb")).unwrap_err();
    assert!(
        refused.to_string().contains("position 2") && refused.to_string().contains("damaged"),
        "{refused}"
    );
    let report = open_read_only(&dir).verify().unwrap();
    assert_eq!(report.broken.unwrap().position, 2);
}

#[test]
fn a_lost_index_is_rebuilt_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    filled(&dir, 7);
    let before = ids(&open_read_only(&dir));
    std::fs::remove_file(dir.path().join("log.redb")).unwrap();
    let store = open(&dir);
    assert_eq!(ids(&store), before);
    assert_eq!(store.read_client("a", Some(5), 2).unwrap()[0].position, 4);
    assert!(store.verify().unwrap().is_intact());
}

#[test]
fn a_reader_beside_the_writer_sees_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(&dir, 3);
    let reader = open_read_only(&dir);
    assert_eq!(ids(&reader), ids(&store));
    let positions =
        |records: Vec<RecordedEvent>| records.iter().map(|r| r.position).collect::<Vec<_>>();
    assert_eq!(positions(reader.read_all(2, 1).unwrap()), [2]);
    assert_eq!(positions(reader.read_all(2, 10).unwrap()), [2, 3]);
    assert!(reader.read_all(2, 0).unwrap().is_empty());
    assert!(reader.read_all(4, 10).unwrap().is_empty());
    let mut stored = Vec::new();
    reader
        .for_each_stored(2, &mut |position, bytes| {
            stored.push(decode_stored(position, bytes).unwrap());
            true
        })
        .unwrap();
    assert_eq!(stored, store.read_all(2, 10).unwrap());
    assert_eq!(reader.read_client("a", None, 2).unwrap()[0].position, 3);
    assert_eq!(reader.head().unwrap(), store.head().unwrap());
    assert!(reader.verify().unwrap().is_intact());
    assert!(reader
        .append(vec![AppendBatch::new(vec![resumed("client/a", "a")])])
        .is_err());
}

#[test]
fn an_append_whose_fsync_fails_leaves_nothing_behind() {
    use authlog_events::fault_backend::{FaultBackend, Faults};
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let faults = std::sync::Arc::new(Faults::default());
    let backend = |name: &str| FaultBackend::open(&dir.path().join(name), faults.clone()).unwrap();
    let store = RedbStore::open_with_backends(backend("log.redb"), backend("log.log")).unwrap();
    append_one(&store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    faults.syncs.store(true, Ordering::SeqCst);
    assert!(store
        .append(vec![AppendBatch::new(vec![resumed("client/a", "a")])])
        .is_err());
    faults.syncs.store(false, Ordering::SeqCst);
    drop(store);
    // The failed append's frame was written, then cut back off.
    let reopened = open(&dir);
    assert_eq!(reopened.head().unwrap().unwrap().position, 1);
    assert!(reopened.verify().unwrap().is_intact());
}

#[test]
fn an_append_waiting_for_a_failing_indexer_returns_and_later_appends_are_refused() {
    use authlog_events::fault_backend::{FaultBackend, Faults};
    let dir = tempfile::tempdir().unwrap();
    let index_faults = std::sync::Arc::new(Faults::default());
    let index = FaultBackend::open(&dir.path().join("log.redb"), index_faults.clone()).unwrap();
    let records = FaultBackend::open(
        &log_path(&dir.path().join("log.redb")),
        std::sync::Arc::new(Faults::default()),
    )
    .unwrap();
    let store = RedbStore::open_with_backends(index, records).unwrap();
    append_one(&store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    wait_until_indexed(&store);
    index_faults.set_all(true);
    // Enough records that the append waits for a round, which fails.
    let units: Vec<AppendBatch> = (0..PENDING_LIMIT + 10)
        .map(|i| AppendBatch::new(vec![resumed(&format!("client/c{i}"), "c")]))
        .collect();
    store.append(units).unwrap();
    assert!(store
        .append(vec![AppendBatch::new(vec![resumed("client/b", "b")])])
        .is_err());
    index_faults.set_all(false);
    drop(store);
    // Every acknowledged record is in the record file; opening indexes them.
    let reopened = open(&dir);
    let head = reopened.head().unwrap().unwrap().position;
    assert_eq!(head, PENDING_LIMIT as u64 + 11);
    assert_eq!(reopened.read_stream("client/c7", 1, 10).unwrap().len(), 1);
    assert!(reopened.verify().unwrap().is_intact());
}

#[test]
fn a_record_file_that_is_not_the_indexs_is_refused_not_cut() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    filled(&a, 3);
    let store = open(&b);
    store
        .append(vec![AppendBatch::new(
            (0..10)
                .map(|i| resumed(&format!("client/{i}"), "b"))
                .collect(),
        )])
        .unwrap();
    drop(store);
    let foreign = log_path(&b.path().join("log.redb"));
    let own = log_path(&a.path().join("log.redb"));
    std::fs::copy(&foreign, &own).unwrap();
    let before = std::fs::metadata(&own).unwrap().len();
    let refused = RedbStore::open(a.path().join("log.redb")).unwrap_err();
    assert!(
        refused.to_string().contains("not this index's file"),
        "{refused}"
    );
    assert_eq!(
        std::fs::metadata(&own).unwrap().len(),
        before,
        "nothing cut"
    );
}

#[test]
fn reading_nothing_returns_nothing_on_every_handle() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
    let reader = open_read_only(&dir);
    for s in [&store, &reader] {
        assert!(s.read_all(1, 0).unwrap().is_empty());
        assert!(s.read_stream("client/a", 1, 0).unwrap().is_empty());
        assert!(s.read_client("a", None, 0).unwrap().is_empty());
    }
}

#[test]
fn readers_never_miss_an_acknowledged_record_while_the_indexer_catches_up() {
    // Appends run while the indexer moves entries from memory to redb;
    // readers check every view against what was acknowledged before it.
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(&dir));
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    use std::sync::atomic::Ordering::SeqCst;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, acked, done) = (store.clone(), acked.clone(), done.clone());
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !done.load(SeqCst) {
                    let floor = acked.load(SeqCst);
                    let all = store.read_all(1, usize::MAX).unwrap();
                    assert!(all.len() as u64 >= floor, "read_all missed records");
                    for (i, r) in all.iter().enumerate() {
                        assert_eq!(r.position, i as u64 + 1, "gap in read_all");
                    }
                    let newest = store.read_client("a", None, 5).unwrap();
                    if floor > 0 {
                        assert!(newest[0].position >= floor, "read_client missed records");
                    }
                    assert!(newest.windows(2).all(|w| w[0].position > w[1].position));
                    assert!(store.stream_version("client/a").unwrap() >= floor);
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for _ in 0..3000 {
        let recorded =
            append_one(&store, AppendBatch::new(vec![resumed("client/a", "a")])).unwrap();
        acked.store(recorded[0].position, SeqCst);
    }
    done.store(true, SeqCst);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    drop(store);
    assert_eq!(ids(&open(&dir)).len(), 3000);
}

#[test]
fn zeros_written_ahead_are_never_records_and_are_cut_off_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir.path().join("log.redb"));
    let store = filled(&dir, 3);
    let with_zeros = std::fs::metadata(&path).unwrap().len();
    // Beside the writer, a reader sees the three records and a clean end.
    let reader = open_read_only(&dir);
    assert_eq!(ids(&reader).len(), 3);
    assert!(reader.verify().unwrap().is_intact());
    drop(reader);
    let image = crash_image(&dir);
    drop(store);
    let records = std::fs::metadata(&path).unwrap().len();
    assert!(with_zeros > records, "space was written ahead");
    let mut frames = 0;
    rewrite(&path, |f| frames = f.len()).unwrap();
    assert_eq!(frames, 3);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        records,
        "the file ends at its last record"
    );

    // A crash leaves the zeros; the next open cuts them and goes on.
    let reopened = open(&image);
    assert_eq!(
        std::fs::metadata(log_path(&image.path().join("log.redb")))
            .unwrap()
            .len(),
        records
    );
    assert_continues_at(&reopened, 4);
}

#[test]
fn streams_moved_by_the_indexer_are_found_and_new_names_are_new() {
    // A stream name after every stored name of its prefix is known new
    // without an index lookup; every appended name must raise that bound.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // Until redb holds them and an append has dropped them from what waits.
    let wait_for_indexer = || {
        wait_until_indexed(&store);
        append_one(&store, AppendBatch::new(vec![resumed("other/x", "a")])).unwrap();
    };
    append_one(&store, AppendBatch::new(vec![resumed("grant/b", "a")])).unwrap();
    append_one(&store, AppendBatch::new(vec![resumed("grant/a", "a")])).unwrap();
    wait_for_indexer();
    for (stream, version) in [("grant/b", 1), ("grant/a", 1)] {
        let next = append_one(
            &store,
            AppendBatch::new(vec![resumed(stream, "a")])
                .expect(stream, ExpectedVersion::Exact(version)),
        )
        .unwrap();
        assert_eq!(next[0].stream_version, version + 1, "{stream}");
    }
    // A name after every stored one is new; one before is looked up.
    append_one(&store, AppendBatch::new(vec![resumed("grant/c", "a")])).unwrap();
    wait_for_indexer();
    assert_eq!(store.stream_version("grant/c").unwrap(), 1);
    let conflict = append_one(
        &store,
        AppendBatch::new(vec![resumed("grant/c", "a")])
            .expect("grant/c", ExpectedVersion::NoStream),
    );
    assert_eq!(conflict.unwrap_err().actual, 1);
    let fresh = append_one(&store, AppendBatch::new(vec![resumed("grant/d", "a")])).unwrap();
    assert_eq!(fresh[0].stream_version, 1);
}
