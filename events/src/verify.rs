//! Checking every link of the hash chain: `ChainWalk` takes the stored
//! records in position order, whatever the backend; `verify_log` walks the
//! record file from its first frame with it, then checks that the index's
//! head names the same chain.

use crate::chain::{link_hash, GENESIS};
use crate::codec::{self, decode};
use crate::log_file::{LogFile, Next};
use crate::store::{io, BrokenLink, Head, StoreError, VerifyReport};

/// A walk along the chain from position 1: each record must hold the next
/// position, link to the previous record's hash and hash to its stored hash.
#[derive(Debug)]
pub struct ChainWalk {
    prev: [u8; 32],
    expected: u64,
    /// The head some index recorded, which must name a record of the chain.
    claimed_head: Option<Head>,
    hash_at_claimed_head: Option<[u8; 32]>,
    broken: Option<BrokenLink>,
}

impl ChainWalk {
    /// A walk that will check `claimed_head` at its end.
    pub fn new(claimed_head: Option<Head>) -> Self {
        ChainWalk {
            prev: GENESIS,
            expected: 1,
            claimed_head,
            hash_at_claimed_head: None,
            broken: None,
        }
    }

    /// The position the next record must hold.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// Checks the next stored record; false once the chain is broken.
    pub fn record(&mut self, bytes: &[u8]) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let (body, stored_hash) = match codec::split(bytes) {
            Ok(parts) => parts,
            Err(e) => return self.fail(e.to_string()),
        };
        let record = match decode(bytes) {
            Ok(r) => r,
            Err(e) => return self.fail(e.to_string()),
        };
        if record.position != self.expected {
            return self.fail(format!("record claims position {}", record.position));
        }
        if record.prev_hash != self.prev {
            return self.fail("prev_hash does not match the previous record".into());
        }
        if link_hash(&self.prev, body) != stored_hash {
            return self.fail("hash does not match the record's contents".into());
        }
        if self
            .claimed_head
            .is_some_and(|h| h.position == self.expected)
        {
            self.hash_at_claimed_head = Some(stored_hash);
        }
        self.prev = stored_hash;
        self.expected += 1;
        true
    }

    /// Ends the walk at something that is not a record.
    pub fn fail(&mut self, reason: String) -> bool {
        if self.broken.is_none() {
            self.broken = Some(BrokenLink {
                position: self.expected,
                reason,
            });
        }
        false
    }

    /// The report: the first broken link, or the claimed head checked
    /// against the last record walked.
    pub fn finish(mut self) -> VerifyReport {
        let last = self.expected - 1;
        if self.broken.is_none() {
            if let Some(h) = self.claimed_head {
                if h.position > last {
                    self.broken = Some(BrokenLink {
                        position: last + 1,
                        reason: format!("head says position {}, last record is {last}", h.position),
                    });
                } else if h.position > 0 && self.hash_at_claimed_head != Some(h.hash) {
                    self.broken = Some(BrokenLink {
                        position: h.position,
                        reason: "head hash does not match the record".into(),
                    });
                }
            }
        }
        VerifyReport {
            records: last,
            head: (last > 0).then_some(Head {
                position: last,
                hash: self.prev,
            }),
            broken: self.broken,
        }
    }
}

/// Checks the chain of `log`. `index_head` is the head the index recorded
/// (none for a log read without its index); it must name a record of the
/// chain. A torn final commit (see `log_file`) ends the walk without
/// breaking it: it was never acknowledged and the next writer discards it.
pub fn verify_log(log: &LogFile, index_head: Option<Head>) -> Result<VerifyReport, StoreError> {
    let mut scan = log.scan(0).map_err(io)?;
    let mut walk = ChainWalk::new(index_head);
    loop {
        match scan.next_frame().map_err(io)? {
            Next::End => break,
            Next::Bad => {
                let offset = scan.offset();
                if log
                    .later_commit_after(offset, walk.expected())
                    .map_err(io)?
                {
                    walk.fail(format!("bytes at offset {offset} are not a record"));
                }
                break;
            }
            Next::Frame(frame) => {
                if !walk.record(frame.bytes) {
                    break;
                }
            }
        }
    }
    Ok(walk.finish())
}
