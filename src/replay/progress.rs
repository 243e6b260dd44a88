//! How far a startup replay has got: events folded out of how many, the
//! rate so far and the time left at that rate. The fold counts each chunk
//! as it finishes it; a reporter thread logs a line every few seconds while
//! the replay runs, and `/readyz` shows the same while the server is not
//! ready.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How often a running replay logs its progress. A replay shorter than
/// this logs nothing but its summary.
pub const REPORT_EVERY: Duration = Duration::from_secs(3);

/// Counters of one replay, shared between the fold, the reporter and
/// `/readyz`.
#[derive(Debug, Default)]
pub struct ReplayProgress {
    started: OnceLock<Instant>,
    total: AtomicU64,
    folded: AtomicU64,
}

/// A reading of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProgressView {
    /// Events folded so far.
    pub events: u64,
    /// Events the replay has to fold in all.
    pub total: u64,
    /// `events` of `total`, in percent (one decimal).
    pub percent: f64,
    /// Events folded per second so far.
    pub events_per_second: u64,
    /// Seconds left at that rate; absent before the first chunk is folded.
    pub eta_seconds: Option<u64>,
}

impl ProgressView {
    /// The reading after `elapsed` with `events` of `total` folded.
    pub fn at(events: u64, total: u64, elapsed: Duration) -> ProgressView {
        let events = events.min(total);
        let percent = if total == 0 {
            100.0
        } else {
            (events as f64 * 1000.0 / total as f64).floor() / 10.0
        };
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        };
        let eta_seconds = (rate > 0.0).then(|| ((total - events) as f64 / rate).ceil() as u64);
        ProgressView {
            events,
            total,
            percent,
            events_per_second: rate as u64,
            eta_seconds,
        }
    }
}

impl ReplayProgress {
    /// Starts the clock for a replay of `total` events.
    pub fn begin(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        let _ = self.started.set(Instant::now());
    }

    /// Counts `events` more as folded.
    pub fn add(&self, events: u64) {
        self.folded.fetch_add(events, Ordering::Relaxed);
    }

    /// The current reading; `None` before the replay began.
    pub fn view(&self) -> Option<ProgressView> {
        let started = self.started.get()?;
        Some(ProgressView::at(
            self.folded.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            started.elapsed(),
        ))
    }
}

/// Logs the progress every `every` until dropped.
pub struct Reporter {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts reporting on a thread of its own. Without a thread (the OS
    /// refused one) the replay runs unreported.
    pub fn start(progress: Arc<ReplayProgress>, every: Duration) -> Reporter {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("authlog-replay-progress".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if let Some(view) = progress.view() {
                        tracing::info!(
                            events = view.events,
                            total = view.total,
                            percent = view.percent,
                            events_per_second = view.events_per_second,
                            eta_seconds = view.eta_seconds,
                            "replaying the event log"
                        );
                    }
                }
            })
            .ok();
        Reporter {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_gives_percent_rate_and_time_left() {
        let view = ProgressView::at(250_000, 1_000_000, Duration::from_secs(5));
        assert_eq!(view.percent, 25.0);
        assert_eq!(view.events_per_second, 50_000);
        assert_eq!(view.eta_seconds, Some(15));
        // Percent rounds down, so 100 means done.
        assert_eq!(
            ProgressView::at(999_999, 1_000_000, Duration::from_secs(1)).percent,
            99.9
        );
    }

    #[test]
    fn nothing_folded_yet_has_no_time_left_and_nothing_to_fold_is_done() {
        let view = ProgressView::at(0, 10, Duration::from_secs(2));
        assert_eq!((view.percent, view.eta_seconds), (0.0, None));
        let view = ProgressView::at(0, 0, Duration::ZERO);
        assert_eq!((view.percent, view.eta_seconds), (100.0, None));
    }

    #[test]
    fn the_counters_read_back_once_begun() {
        let progress = ReplayProgress::default();
        assert_eq!(progress.view(), None);
        progress.begin(4096);
        progress.add(1024);
        progress.add(1024);
        let view = progress.view().unwrap();
        assert_eq!((view.events, view.total, view.percent), (2048, 4096, 50.0));
    }
}
