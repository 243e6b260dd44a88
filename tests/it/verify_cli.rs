//! `authlog verify`: exit 0 on an intact log, non-zero naming the broken
//! position when a stored record was altered.

use std::process::Command;

use crate::harness::{binary, Server};

fn verify(data: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .args(["verify", "--data"])
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Appends `n` events to the log at `data` with the library (the server is stopped).
fn append_events(data: &std::path::Path, n: usize) {
    use authlog_events::*;
    let store = RedbStore::open(data.join("authlog.redb")).unwrap();
    for i in 0..n {
        let event = NewEvent {
            event_id: authlog::entropy::Entropy::id(&authlog::entropy::SystemEntropy),
            stream: format!("client/c{i}"),
            recorded_at: Timestamp(i as i64),
            actor: Actor::system(),
            client_id: Some(format!("c{i}")),
            correlation_id: None,
            payload: Event::ClientResumed {
                client_id: format!("c{i}"),
            },
        };
        store.append(vec![AppendBatch::new(vec![event])]).unwrap();
    }
}

#[test]
fn verify_passes_on_an_intact_log_and_names_a_tampered_position() {
    let server = Server::start();
    let data = server.data.clone();
    let provisioned = server.head();
    let _dir = server.stop();
    append_events(&data, 6);

    // The first start provisioned the defaults; 6 more were appended offline.
    let (code, out) = verify(&data);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("intact: {} records", provisioned + 6)),
        "{out}"
    );

    // The restarted server replays them and does not provision again.
    let server = Server::start_on(&data, &[]);
    assert_eq!(server.head(), provisioned + 6);
    server.stop();

    authlog_events::log_file::rewrite(&data.join("authlog.log"), |frames| {
        frames[3].bytes[12] ^= 0x40;
    })
    .unwrap();

    let (code, out) = verify(&data);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("BROKEN at position 4"), "{out}");
}

#[test]
fn verify_without_a_log_exits_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, Some(2), "{out}");
}
