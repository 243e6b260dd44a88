//! Walking the record file from its first frame and checking every link
//! of the hash chain, then that the index's head names the same chain.

use crate::chain::{link_hash, GENESIS};
use crate::codec::{self, decode};
use crate::log_file::{LogFile, Next};
use crate::store::{io, BrokenLink, Head, StoreError, VerifyReport};

/// Checks the chain of `log`. `index_head` is the head the index recorded
/// (none for a log read without its index); it must name a record of the
/// chain. A torn final commit (see `log_file`) ends the walk without
/// breaking it: it was never acknowledged and the next writer discards it.
pub fn verify_log(log: &LogFile, index_head: Option<Head>) -> Result<VerifyReport, StoreError> {
    let mut scan = log.scan(0).map_err(io)?;
    let mut prev = GENESIS;
    let mut expected = 1u64;
    let mut hash_at_index_head = None;
    let broken = |position: u64, reason: String| Some(BrokenLink { position, reason });
    let mut first_broken = None;
    loop {
        let frame = match scan.next_frame().map_err(io)? {
            Next::End => break,
            Next::Bad => {
                let offset = scan.offset();
                if log.later_commit_after(offset, expected).map_err(io)? {
                    first_broken = broken(
                        expected,
                        format!("bytes at offset {offset} are not a record"),
                    );
                }
                break;
            }
            Next::Frame(frame) => frame,
        };
        let bytes = &frame.bytes;
        let (body, stored_hash) = match codec::split(bytes) {
            Ok(parts) => parts,
            Err(e) => {
                first_broken = broken(expected, e.to_string());
                break;
            }
        };
        let record = match decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                first_broken = broken(expected, e.to_string());
                break;
            }
        };
        if record.position != expected {
            first_broken = broken(
                expected,
                format!("record claims position {}", record.position),
            );
            break;
        }
        if record.prev_hash != prev {
            first_broken = broken(
                expected,
                "prev_hash does not match the previous record".into(),
            );
            break;
        }
        if link_hash(&prev, body) != stored_hash {
            first_broken = broken(expected, "hash does not match the record's contents".into());
            break;
        }
        if index_head.is_some_and(|h| h.position == expected) {
            hash_at_index_head = Some(stored_hash);
        }
        prev = stored_hash;
        expected += 1;
    }
    let last = expected - 1;
    if first_broken.is_none() {
        if let Some(h) = index_head {
            if h.position > last {
                first_broken = broken(
                    last + 1,
                    format!("head says position {}, last record is {last}", h.position),
                );
            } else if h.position > 0 && hash_at_index_head != Some(h.hash) {
                first_broken = broken(h.position, "head hash does not match the record".into());
            }
        }
    }
    Ok(VerifyReport {
        records: last,
        head: (last > 0).then_some(Head {
            position: last,
            hash: prev,
        }),
        broken: first_broken,
    })
}
