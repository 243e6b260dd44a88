//! The one source of "now". Everything that needs the time takes a
//! `Clock`; `Utc::now` is banned elsewhere by clippy's `disallowed-methods`.

use std::sync::atomic::{AtomicI64, Ordering};

use authlog_events::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system clock, optionally shifted by a fixed offset (configuration
/// `clock_skew_seconds`, used by end-to-end tests to move past expiries
/// without sleeping).
#[derive(Debug, Default)]
pub struct SystemClock {
    offset_micros: AtomicI64,
}

impl SystemClock {
    /// A system clock shifted by `offset_seconds`.
    pub fn with_offset_seconds(offset_seconds: i64) -> Self {
        SystemClock {
            offset_micros: AtomicI64::new(offset_seconds.saturating_mul(1_000_000)),
        }
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let now = chrono::Utc::now().timestamp_micros();
        Timestamp(now.saturating_add(self.offset_micros.load(Ordering::Relaxed)))
    }
}

/// A clock that only moves when told to; for tests of pure logic.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// Starts at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            micros: AtomicI64::new(start.0),
        }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance_seconds(&self, seconds: i64) {
        self.micros
            .fetch_add(seconds.saturating_mul(1_000_000), Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.micros.load(Ordering::Relaxed))
    }
}
