//! One budget, shared by every source address, for appends that an
//! unauthenticated request causes: open dynamic registrations, new or
//! changed metadata-document clients, device authorizations started by
//! public clients. Each of these is also limited per address; this bound
//! holds however many addresses an attacker has, so the log cannot grow
//! faster than `AUTHLOG_ANONYMOUS_WRITES_PER_MINUTE` such events.
//!
//! A GCRA limiter from `governor`: one atomic word, O(1), no per-key
//! memory. Like the throttles it is rate state, not a fact: it is not in
//! the log and starts full on every start.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The shared budget.
#[derive(Debug)]
pub struct AnonymousWrites {
    limiter: DefaultDirectRateLimiter,
}

impl AnonymousWrites {
    /// `per_minute` appends a minute, in bursts of up to `per_minute`.
    pub fn new(per_minute: usize) -> Self {
        let n = NonZeroU32::new(u32::try_from(per_minute).unwrap_or(u32::MAX).max(1))
            .unwrap_or(NonZeroU32::MIN);
        AnonymousWrites {
            limiter: RateLimiter::direct(Quota::per_minute(n)),
        }
    }

    /// Takes one append from the budget, or says in how many whole seconds
    /// (at least 1) the next one is available.
    pub fn take(&self) -> Result<(), i64> {
        self.limiter.check().map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as i64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_spent_then_refused_with_a_wait() {
        let budget = AnonymousWrites::new(3);
        assert_eq!(
            (0..3).map(|_| budget.take()).filter(Result::is_ok).count(),
            3
        );
        let wait = budget.take().unwrap_err();
        // One append per 20 s comes back.
        assert!((1..=20).contains(&wait), "{wait}");
    }
}
