//! Golden samples: `golden/v1.hex` holds one encoded record of every event
//! variant, written once and never regenerated. Decoding them must keep
//! working for as long as authlog exists; the decoded form is snapshotted
//! with insta into the top-level `snapshots/`. A schema change that breaks
//! old logs fails here.

mod common;

use authlog_events::codec::{decode, seal};
use authlog_events::*;
use common::*;

const GOLDEN_V1: &str = include_str!("golden/v1.hex");

fn sample_records() -> Vec<RecordedEvent> {
    let mut prev = chain::GENESIS;
    every_variant()
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let mut record = RecordedEvent {
                position: i as u64 + 1,
                stream: "golden".into(),
                stream_version: i as u64 + 1,
                event_id: uuid(1000 + i as u128),
                recorded_at: Timestamp(1_764_000_000_000_000 + i as i64),
                actor: actor(),
                client_id: Some("app".into()),
                correlation_id: Some(format!("req-{i}")),
                payload,
                prev_hash: prev,
                hash: [0; 32],
            };
            seal(&mut record);
            prev = record.hash;
            record
        })
        .collect()
}

fn golden_lines() -> Vec<(&'static str, Vec<u8>)> {
    GOLDEN_V1
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, hex) = l.split_once(' ').expect("`Name hex` per line");
            (name, hex::decode(hex.trim()).expect("hex"))
        })
        .collect()
}

/// Run with `AUTHLOG_WRITE_GOLDEN=1` only when adding a NEW variant: it
/// appends lines for variants that have none and never rewrites old ones.
#[test]
fn golden_file_has_every_variant() {
    let mut existing: Vec<(String, Vec<u8>)> = golden_lines()
        .into_iter()
        .map(|(n, b)| (n.to_owned(), b))
        .collect();
    if std::env::var_os("AUTHLOG_WRITE_GOLDEN").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v1.hex");
        let mut text = GOLDEN_V1.to_owned();
        if text.is_empty() {
            text.push_str(
                "# authlog record format v1: one sealed record per event variant. Never edit.\n",
            );
        }
        for record in sample_records() {
            let name = record.payload.type_name();
            if !existing.iter().any(|(n, _)| n == name) {
                let mut r = record.clone();
                let bytes = seal(&mut r);
                text.push_str(&format!("{name} {}\n", hex::encode(&bytes)));
                existing.push((name.to_owned(), bytes));
            }
        }
        std::fs::write(path, text).unwrap();
    }
    let names: Vec<&str> = existing.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        Event::TYPE_NAMES.to_vec(),
        "every variant needs a golden sample"
    );
}

#[test]
fn golden_v1_records_decode_to_the_samples() {
    let samples = sample_records();
    let lines = golden_lines();
    assert_eq!(lines.len(), samples.len());
    let mut decoded = Vec::new();
    for ((name, bytes), sample) in lines.iter().zip(&samples) {
        let record = decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(record.payload.type_name(), *name);
        assert_eq!(&record, sample, "{name} decodes to something else");
        let (body, hash) = codec::split(bytes).unwrap();
        assert_eq!(
            chain::link_hash(&record.prev_hash, body),
            hash,
            "{name}: hash"
        );
        decoded.push(format!("{record:#?}"));
    }
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("events_golden_v1_decoded", decoded.join("\n"));
    });
}

#[test]
fn encoding_today_matches_the_golden_bytes() {
    // Not required for compatibility (decoding is), but a change here means
    // the v1 encoding changed, which needs a new format version instead.
    for ((name, bytes), mut sample) in golden_lines().into_iter().zip(sample_records()) {
        assert_eq!(seal(&mut sample), bytes, "{name}");
    }
}

#[test]
fn unknown_versions_and_truncation_are_errors_not_panics() {
    let (_, mut bytes) = golden_lines().remove(0);
    assert!(matches!(
        decode(&bytes[..10]),
        Err(codec::CodecError::Truncated(10))
    ));
    bytes[0] = 9;
    assert!(matches!(
        decode(&bytes),
        Err(codec::CodecError::UnknownVersion(9))
    ));
    let garbage = vec![1u8; 200];
    assert!(matches!(decode(&garbage), Err(codec::CodecError::Body(_))));
}
