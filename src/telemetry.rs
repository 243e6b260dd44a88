//! Prometheus metrics: the process-wide recorder (`metrics` with its
//! Prometheus exporter, rendered on demand, no listener of its own), the
//! names of every metric, and the gauges read from the projections and
//! the writer at scrape time (so the hot paths count only what nothing
//! else records).
//!
//! Counted where it happens: HTTP requests by route template, method and
//! status, with a latency histogram (`http::metrics`); tokens issued by
//! grant type, writer batch sizes and commit latency (`writer`); failed
//! authentications (`failure_tally`); metadata-document fetches by outcome
//! (`cimd`). Read at scrape time: events in the log by type, active
//! tokens, the writer's queue depth, the index lag, replay size and time,
//! build info.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// HTTP requests (`route`, `method`, `status`).
pub const HTTP_REQUESTS: &str = "authlog_http_requests_total";
/// HTTP request latency in seconds (`route`, `method`).
pub const HTTP_DURATION: &str = "authlog_http_request_duration_seconds";
/// Responses 429 (`route`): a rate limit or budget refused the request.
pub const RATE_LIMITED: &str = "authlog_rate_limit_refusals_total";
/// Access tokens issued (`grant_type`).
pub const TOKENS_ISSUED: &str = "authlog_tokens_issued_total";
/// Units (commands) per writer commit.
pub const WRITER_BATCH: &str = "authlog_writer_batch_size";
/// Writer commit latency in seconds (the durable append).
pub const WRITER_COMMIT: &str = "authlog_writer_commit_seconds";
/// Failed authentications (`kind`: `client` or `login`).
pub const FAILED_AUTHENTICATIONS: &str = "authlog_failed_authentications_total";
/// Client ID Metadata Document lookups (`outcome`).
pub const CIMD_FETCHES: &str = "authlog_cimd_fetches_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same
/// handle). `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ];
            let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(WRITER_BATCH.into()), &sizes))
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!(error = %e, "metrics are off"))
                .ok()
        })
        .as_ref()
}

/// The metrics in the Prometheus text format, with the scrape-time gauges
/// brought up to date first.
pub fn render(state: &AppState) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    metrics::gauge!("authlog_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!("authlog_index_lag_records").set(state.log.unindexed() as f64);
    metrics::gauge!("authlog_ready").set(if state.is_ready() { 1.0 } else { 0.0 });
    if let Some(writer) = state.writer() {
        metrics::gauge!("authlog_writer_queue_depth").set(writer.queue_depth() as f64);
    }
    // While the log is replayed the projections are write-locked: report
    // only what does not need them.
    if let Ok(projections) = state.projections.try_read() {
        let now = state.clock.now();
        metrics::gauge!("authlog_tokens_active").set(projections.tokens.active_total(now) as f64);
        metrics::gauge!("authlog_clients").set(projections.registry.len() as f64);
        for (kind, count) in &projections.stats.by_type {
            metrics::counter!("authlog_events_total", "type" => *kind).absolute(*count);
        }
        metrics::gauge!("authlog_log_position").set(projections.applied_position as f64);
    }
    handle.render()
}

/// Records the start-up replay (how many events, how long).
pub fn replayed(events: u64, elapsed: std::time::Duration) {
    metrics::gauge!("authlog_replay_events").set(events as f64);
    metrics::gauge!("authlog_replay_seconds").set(elapsed.as_secs_f64());
}
