//! Failed authentications without a disk write per failure: failed client
//! authentications and logins with unknown usernames are counted here and
//! appended once per flush interval (`AUTHLOG_USAGE_FLUSH_SECONDS`) as
//! `AuthenticationFailures` summaries, one per subject.
//!
//! Bounds, whatever arrives and from however many addresses:
//! * memory: at most `MAX_SUBJECTS` subjects of at most `MAX_ADDRESSES`
//!   addresses each; failures past either bound are still counted, as
//!   "other clients" or "other addresses";
//! * the log: at most `NAMED_PER_FLUSH` named subjects per flush (clients
//!   that exist first, then the most failed), each with its
//!   `ADDRESSES_PER_SUMMARY` busiest addresses, plus one summary of the
//!   rest: under 45 KB per flush for 36-character client ids, and
//!   under 130 KB when every id is 256 characters (see the test
//!   `the_largest_flush_stays_small`).

use std::collections::HashMap;
use std::sync::Mutex;

use authlog_events::{AuthFailure, Event, FailedSubject, Timestamp};

/// Subjects remembered between flushes.
pub const MAX_SUBJECTS: usize = 10_000;
/// Addresses remembered per subject between flushes.
pub const MAX_ADDRESSES: usize = 64;
/// Subjects named in one flush; the rest are summarised together.
pub const NAMED_PER_FLUSH: usize = 100;
/// Addresses named per summary.
pub const ADDRESSES_PER_SUMMARY: usize = 8;

/// Failures of one subject since the last flush.
#[derive(Debug, Clone)]
struct Count {
    failures: u64,
    throttled: u64,
    reasons: Vec<(AuthFailure, u64)>,
    addresses: HashMap<String, u64>,
    first: Timestamp,
    last: Timestamp,
}

impl Count {
    fn new(now: Timestamp) -> Self {
        Count {
            failures: 0,
            throttled: 0,
            reasons: Vec::new(),
            addresses: HashMap::new(),
            first: now,
            last: now,
        }
    }

    fn add(&mut self, reason: AuthFailure, address: &str, throttled: bool, now: Timestamp) {
        self.failures += 1;
        self.throttled += u64::from(throttled);
        match self.reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.reasons.push((reason, 1)),
        }
        if let Some(n) = self.addresses.get_mut(address) {
            *n += 1;
        } else if self.addresses.len() < MAX_ADDRESSES {
            self.addresses.insert(address.to_owned(), 1);
        }
        self.first = self.first.min(now);
        self.last = self.last.max(now);
    }

    fn merge(&mut self, other: Count) {
        self.failures += other.failures;
        self.throttled += other.throttled;
        for (reason, n) in other.reasons {
            match self.reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, m)) => *m += n,
                None => self.reasons.push((reason, n)),
            }
        }
        for (address, n) in other.addresses {
            if let Some(m) = self.addresses.get_mut(&address) {
                *m += n;
            } else if self.addresses.len() < MAX_ADDRESSES {
                self.addresses.insert(address, n);
            }
        }
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    fn summary(mut self, subject: FailedSubject) -> Event {
        let mut addresses: Vec<(String, u64)> = self.addresses.drain().collect();
        addresses.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        addresses.truncate(ADDRESSES_PER_SUMMARY);
        self.reasons.sort();
        Event::AuthenticationFailures {
            subject,
            failures: self.failures,
            throttled: self.throttled,
            reasons: self.reasons,
            addresses,
            first: self.first,
            last: self.last,
        }
    }
}

#[derive(Debug, Default)]
struct Pending {
    subjects: HashMap<FailedSubject, Count>,
    /// Failures of subjects past `MAX_SUBJECTS`.
    overflow: Option<Count>,
    /// Distinct subjects in `overflow` (each counted once per failure at
    /// most: they are not remembered).
    overflow_subjects: u64,
}

/// Failed authentications not yet in the log.
#[derive(Debug, Default)]
pub struct FailureTally {
    pending: Mutex<Pending>,
}

impl FailureTally {
    /// Counts one failure of `subject` from `address` (an `ip_key`);
    /// `throttled`: it was answered 429.
    pub fn note(
        &self,
        subject: FailedSubject,
        reason: AuthFailure,
        address: &str,
        throttled: bool,
        now: Timestamp,
    ) {
        let kind = match subject {
            FailedSubject::UnknownUsernames => "login",
            _ => "client",
        };
        metrics::counter!(crate::telemetry::FAILED_AUTHENTICATIONS, "kind" => kind).increment(1);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Any reason but "unknown" names a client that exists (or the one
        // unknown-usernames subject): those always get a place, so noise
        // cannot push a real client into "other clients".
        let room = pending.subjects.len() < MAX_SUBJECTS
            || (reason != AuthFailure::UnknownPrincipal
                && pending.subjects.len() < MAX_SUBJECTS * 10)
            || subject == FailedSubject::UnknownUsernames;
        match pending.subjects.get_mut(&subject) {
            Some(count) => count.add(reason, address, throttled, now),
            None if room => {
                let mut count = Count::new(now);
                count.add(reason, address, throttled, now);
                pending.subjects.insert(subject, count);
            }
            None => {
                pending.overflow_subjects += 1;
                pending
                    .overflow
                    .get_or_insert_with(|| Count::new(now))
                    .add(reason, address, throttled, now);
            }
        }
    }

    /// Takes everything counted as summaries: the unknown-usernames one,
    /// then clients that exist (a failure other than "unknown"), then the
    /// most failed, up to `NAMED_PER_FLUSH`; every other client in one
    /// `OtherClients`.
    pub fn drain(&self) -> Vec<Event> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut subjects: Vec<(FailedSubject, Count)> = pending.subjects.into_iter().collect();
        let rank = |subject: &FailedSubject, count: &Count| match subject {
            FailedSubject::Client(_)
                if count
                    .reasons
                    .iter()
                    .all(|(r, _)| *r == AuthFailure::UnknownPrincipal) =>
            {
                2
            }
            FailedSubject::Client(_) => 1,
            _ => 0,
        };
        subjects.sort_by(|(a, x), (b, y)| {
            rank(a, x)
                .cmp(&rank(b, y))
                .then(y.failures.cmp(&x.failures))
                .then_with(|| a.cmp(b))
        });
        let rest = subjects.split_off(subjects.len().min(NAMED_PER_FLUSH));
        let mut summaries: Vec<Event> = subjects
            .into_iter()
            .map(|(subject, count)| count.summary(subject))
            .collect();
        let mut others = pending.overflow;
        let mut other_ids = pending.overflow_subjects;
        for (_, count) in rest {
            other_ids += 1;
            match &mut others {
                Some(o) => o.merge(count),
                None => others = Some(count),
            }
        }
        if let Some(others) = others {
            summaries.push(others.summary(FailedSubject::OtherClients {
                client_ids: other_ids,
            }));
        }
        summaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(e: &Event) -> (FailedSubject, u64) {
        match e {
            Event::AuthenticationFailures {
                subject, failures, ..
            } => (subject.clone(), *failures),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_flood_of_subjects_and_addresses_drains_to_a_bounded_set_of_summaries() {
        let tally = FailureTally::default();
        let now = Timestamp::from_unix_seconds(1_000);
        let mut sent = 0u64;
        for i in 0..(MAX_SUBJECTS + 500) {
            for a in 0..3 {
                tally.note(
                    FailedSubject::Client(format!("guess-{i}")),
                    AuthFailure::UnknownPrincipal,
                    &format!("10.0.{a}.{}", i % 250),
                    false,
                    now,
                );
                sent += 1;
            }
        }
        for a in 0..(MAX_ADDRESSES + 40) {
            tally.note(
                FailedSubject::Client("real".into()),
                AuthFailure::BadCredentials,
                &format!("192.0.2.{a}"),
                a % 2 == 0,
                now.plus_seconds(a as i64),
            );
            sent += 1;
        }
        let summaries = tally.drain();
        assert_eq!(summaries.len(), NAMED_PER_FLUSH + 1);
        // The client that exists is named first, whatever the noise.
        assert_eq!(
            failures(&summaries[0]),
            (
                FailedSubject::Client("real".into()),
                MAX_ADDRESSES as u64 + 40
            )
        );
        let Event::AuthenticationFailures {
            addresses,
            throttled,
            first,
            last,
            ..
        } = &summaries[0]
        else {
            unreachable!()
        };
        assert_eq!(addresses.len(), ADDRESSES_PER_SUMMARY);
        assert_eq!(*throttled, (MAX_ADDRESSES as u64 + 40) / 2);
        assert_eq!(
            (*first, *last),
            (now, now.plus_seconds(MAX_ADDRESSES as i64 + 39))
        );
        // Nothing is lost: every failure is in some summary.
        assert_eq!(summaries.iter().map(|e| failures(e).1).sum::<u64>(), sent);
        match failures(summaries.last().unwrap()).0 {
            FailedSubject::OtherClients { client_ids } => {
                // Tracked but not named, plus one per failure past the bound.
                assert_eq!(
                    client_ids,
                    (MAX_SUBJECTS - (NAMED_PER_FLUSH - 1)) as u64 + 3 * 500
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(tally.drain().is_empty(), "drained");
    }

    /// The stored size of a summary as the log would hold it.
    fn stored_bytes(summary: Event) -> usize {
        let (stream, client) = match &summary {
            Event::AuthenticationFailures {
                subject: FailedSubject::Client(id),
                ..
            } => (format!("client-auth/{id}"), Some(id.clone())),
            _ => ("client-auth-others".to_owned(), None),
        };
        let record = authlog_events::RecordedEvent {
            position: u64::MAX,
            stream,
            stream_version: u64::MAX,
            event_id: uuid::Uuid::nil(),
            recorded_at: Timestamp::from_unix_seconds(1_000),
            actor: authlog_events::Actor::system(),
            client_id: client,
            correlation_id: None,
            payload: summary,
            prev_hash: [0xff; 32],
            hash: [0; 32],
        };
        authlog_events::codec::encode_body(&record).len() + 32
    }

    #[test]
    fn the_largest_flush_stays_small() {
        let flush = |id_length: usize| -> usize {
            let tally = FailureTally::default();
            let now = Timestamp::from_unix_seconds(1_000);
            for i in 0..(NAMED_PER_FLUSH + 10) {
                let id: String = format!("{i:0>width$}", width = id_length);
                for a in 0..MAX_ADDRESSES {
                    for reason in [
                        AuthFailure::UnknownPrincipal,
                        AuthFailure::BadCredentials,
                        AuthFailure::WrongMethod,
                    ] {
                        tally.note(
                            FailedSubject::Client(id.clone()),
                            reason,
                            &format!("2001:db8:ffff:{a:x}::"),
                            true,
                            now.plus_seconds(a as i64),
                        );
                    }
                }
            }
            let summaries = tally.drain();
            assert_eq!(summaries.len(), NAMED_PER_FLUSH + 1);
            summaries.into_iter().map(stored_bytes).sum()
        };
        let ordinary = flush(36);
        let longest = flush(256);
        assert!(ordinary < 45_000, "{ordinary} bytes");
        assert!(longest < 130_000, "{longest} bytes");
    }
}
