//! `authlog serve`: opens the log, listens, replays, starts the writer, and
//! serves until stopped.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpServer};

use crate::http::observation::Observation;
use authlog_events::{EventStore, PgStore, RedbStore, StoreError};
use thiserror::Error;

use crate::audit::AuditKey;
use crate::bootstrap::{self, BootstrapError};
use crate::cimd::DocumentFetcher;
use crate::clock::{Clock, SystemClock};
use crate::commands::keys::RotateSigningKeys;
use crate::commands::users::{RecordAuthFailures, RecordTokenUse};
use crate::config::{Config, StoreLocation};
use crate::entropy::SystemEntropy;
use crate::error_report::Report;
use crate::http::connections::{self, ConnectionLimits};
use crate::http::{request_id, transport_security};
use crate::replay::progress::{Reporter, REPORT_EVERY};
use crate::replay::replay_counting;
use crate::replication::Replica;
use crate::secrets::{KeyError, ServerKey};
use crate::snapshot::{self, SnapshotError};
use crate::state::{AppState, Keys};
use crate::vault::key_store::{KeyStore, PgKeyStore, RedbKeyStore};
use crate::vault::Vault;
use crate::writer::{self, WriterConfig};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The log could not be opened or replayed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// First-start provisioning failed.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The token vault could not be opened.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Http(std::io::Error),
}

/// Creates the data directory (owner-only) if missing.
pub fn prepare_data_dir(config: &Config) -> Result<(), ServeError> {
    let err = |source| ServeError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&config.data_dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(err)?;
    }
    Ok(())
}

/// Runs the server until it is stopped (SIGINT/SIGTERM).
pub fn serve(config: Config) -> Result<(), ServeError> {
    prepare_data_dir(&config)?;
    let key = ServerKey::load_or_create(&config.data_dir, config.server_key.as_deref())?;
    let audit_key = AuditKey::load_or_create(&config.data_dir, config.audit_key.as_deref())?;
    let (store, replica) = open_store(&config)?;
    #[cfg(unix)]
    if replica.is_none() {
        // The log holds digests, not secrets, but it is nobody else's business.
        use std::os::unix::fs::PermissionsExt;
        for file in [
            config.log_path(),
            authlog_events::redb_store::log_path(&config.log_path()),
        ] {
            let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600));
        }
    }
    let clock: Arc<dyn Clock> =
        Arc::new(SystemClock::with_offset_seconds(config.clock_skew_seconds));
    let ca = match &config.cimd_ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|source| ServeError::DataDir {
            path: path.display().to_string(),
            source,
        })?),
        None => None,
    };
    let documents = DocumentFetcher::new(config.cimd_allow_hosts.clone(), ca.as_deref())
        .map_err(|e| ServeError::Http(std::io::Error::other(e)))?;
    let key_store: Arc<dyn KeyStore> = match &replica {
        Some(replica) => Arc::new(PgKeyStore(replica.store.clone())),
        None => {
            Arc::new(RedbKeyStore::open(&config.data_dir).map_err(crate::vault::VaultError::Store)?)
        }
    };
    let vault = Vault::open(&config.data_dir, config.vault_key.as_deref(), key_store)?;
    let mut state = AppState::new(
        config.clone(),
        clock,
        Arc::new(SystemEntropy),
        Keys {
            server: key,
            audit: audit_key,
            vault,
        },
        store.clone(),
        documents,
    );
    if let Some(replica) = &replica {
        state = state.with_replica(replica.clone());
    }
    let state = web::Data::new(state);

    let budget = connections::default_total();
    let total = config.max_connections.unwrap_or(budget);
    if total > budget {
        tracing::warn!(
            total,
            budget,
            "AUTHLOG_MAX_CONNECTIONS is above what the file-descriptor limit leaves room for"
        );
    }
    let limits = ConnectionLimits::new(total, config.max_connections_per_address);

    let https = config.issuer.starts_with("https://");
    crate::telemetry::install();
    let metrics_apart = config.metrics_listen;

    actix_web::rt::System::new().block_on(async move {
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(crate::http::forward::Replicated)
                .wrap_fn(move |req, srv| {
                    use actix_web::dev::Service;
                    let id = request_id::of(&req);
                    let observation = Observation::start(&req);
                    let response = request_id::scoped(id, srv.call(req));
                    async move {
                        response
                            .await
                            .inspect(|res| observation.finish(res))
                            .map(crate::http::cors::finish)
                            .map(connections::finish)
                            .map(request_id::finish)
                            .map(|res| transport_security::finish(https, res))
                    }
                })
                .wrap(tracing_actix_web::TracingLogger::<
                    crate::http::request_span::RequestSpan,
                >::new())
                .configure(crate::http::routes)
                .configure(|cfg| {
                    if metrics_apart.is_none() {
                        crate::http::observation::routes(cfg);
                    }
                })
                .default_service(web::to(crate::http::not_found))
        })
        .workers(config.workers)
        // Slots are refused by `on_connect`; actix's own per-worker cap only
        // backs it up.
        .max_connections(total.saturating_add(64))
        .client_request_timeout(connections::HEADER_TIMEOUT)
        .keep_alive(connections::KEEP_ALIVE)
        .on_connect(move |conn, ext| connections::on_connect(&limits, conn, ext))
        .shutdown_timeout(10)
        .bind(config.listen)
        .map_err(|source| ServeError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
        for addr in server.addrs() {
            // Tests and scripts read this line to learn the bound port.
            println!("authlog listening on http://{addr}");
        }
        if let (Some(replica), Some(addr)) = (&replica, server.addrs().first()) {
            let own = config
                .advertise_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}"));
            replica.set_own_url(own);
        }
        let _ = std::io::stdout().flush();
        let running = server.run();
        if let Some(addr) = metrics_apart {
            let metrics_state = state.clone();
            let metrics_server = HttpServer::new(move || {
                App::new()
                    .app_data(metrics_state.clone())
                    .configure(crate::http::observation::routes)
            })
            .workers(1)
            .bind(addr)
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?;
            for addr in metrics_server.addrs() {
                // Ignored if nobody reads stdout any more (a closed pipe).
                let _ = writeln!(
                    std::io::stdout(),
                    "authlog metrics on http://{addr}/metrics"
                );
            }
            actix_web::rt::spawn(metrics_server.run());
        }

        let replay_state = state.clone();
        let writer_config = WriterConfig {
            max_batch: config.writer_max_batch,
            queue: config.writer_queue,
        };
        let startup = tokio::task::spawn_blocking(move || match replica {
            None => start_write_side(&replay_state, store, writer_config),
            Some(replica) => start_replica(replay_state, replica, store, writer_config),
        });
        let handle = running.handle();
        let served = actix_web::rt::spawn(running);
        let restored_at = match startup.await {
            Ok(Ok(position)) => position,
            Ok(Err(e)) => {
                handle.stop(false).await;
                return Err(e);
            }
            Err(join) => {
                handle.stop(false).await;
                return Err(ServeError::Http(std::io::Error::other(join.to_string())));
            }
        };
        let flushing = state.clone();
        let every = std::time::Duration::from_secs(config.usage_flush_seconds);
        actix_web::rt::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                flush_summaries(&flushing).await;
            }
        });
        let rotating = state.clone();
        actix_web::rt::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                ticks.tick().await;
                rotate_keys_when_due(&rotating).await;
            }
        });
        actix_web::rt::spawn(crate::upstream::refresh::run(state.clone().into_inner()));
        let result = served
            .await
            .map_err(|e| ServeError::Http(std::io::Error::other(e.to_string())))?
            .map_err(ServeError::Http);
        flush_summaries(&state).await;
        let closing = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            closing.stop_writer();
            save_snapshot(&closing, restored_at);
        })
        .await;
        tracing::info!("stopped");
        result
    })
}

/// The log, and this replica's part when it is shared.
type OpenedStore = (Arc<dyn EventStore>, Option<Arc<Replica>>);

/// Opens the log the configuration names: the embedded store, or a
/// replica's handle on the shared PostgreSQL log.
fn open_store(config: &Config) -> Result<OpenedStore, ServeError> {
    Ok(match &config.store {
        StoreLocation::Embedded => (
            Arc::new(RedbStore::open_with_cache(
                config.log_path(),
                config.index_cache_bytes,
            )?),
            None,
        ),
        StoreLocation::Postgres(url) => {
            let store = Arc::new(PgStore::open(url)?);
            (
                store.clone(),
                Some(Replica::new(store, config.replica_apply_delay)),
            )
        }
    })
}

/// A replica's start: replays like `start_write_side`, is ready to serve
/// reads as a follower, and leaves the rest to `Replica::run` on its own
/// thread, which starts the writer when this replica takes the lead.
fn start_replica(
    state: web::Data<AppState>,
    replica: Arc<Replica>,
    store: Arc<dyn EventStore>,
    writer_config: WriterConfig,
) -> Result<u64, ServeError> {
    let restored_at = replay_into(&state)?;
    state.set_ready();
    let shared = state.into_inner();
    let leading = shared.clone();
    std::thread::Builder::new()
        .name("authlog-replica".into())
        .spawn(move || {
            let provisioning = leading.clone();
            replica.run(
                shared,
                move || start_writer(&leading, store, writer_config),
                move || {
                    bootstrap::provision(&provisioning, &provisioning.key)
                        .map_err(|e| Report(&e).to_string())
                },
            )
        })
        .map_err(|source| ServeError::DataDir {
            path: "the replica thread".into(),
            source,
        })?;
    Ok(restored_at)
}

/// Restores the projections from the snapshot (when the log extends it)
/// and replays the rest of the log, then starts the writer. Returns the
/// snapshot's position (0: none used).
fn start_write_side(
    state: &AppState,
    store: Arc<dyn EventStore>,
    writer_config: WriterConfig,
) -> Result<u64, ServeError> {
    let restored_at = replay_into(state)?;
    start_writer(state, store, writer_config);
    bootstrap::provision(state, &state.key)?;
    state.set_ready();
    tracing::info!("ready");
    Ok(restored_at)
}

/// Starts the writer on the replayed projections and hands it to `state`.
fn start_writer(state: &AppState, store: Arc<dyn EventStore>, config: WriterConfig) {
    let (writer, thread) = writer::spawn(store, state.projections.clone(), state.sources(), config);
    state.set_writer(writer, thread);
}

/// Restores the snapshot and replays the log after it; returns the
/// snapshot's position (0: none used).
fn replay_into(state: &AppState) -> Result<u64, ServeError> {
    let (restored_at, summary) = {
        let mut projections = state.projections.write().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let path = snapshot::snapshot_path(&state.config.data_dir);
        match snapshot::load(&path, state.log.as_ref(), &state.key) {
            Ok(restored) => {
                *projections = restored;
                tracing::info!(
                    position = projections.applied_position,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "restored the projections from the snapshot"
                );
            }
            Err(SnapshotError::Missing) => {}
            Err(e) => tracing::warn!(error = %Report(&e), "replaying the whole log instead"),
        }
        let restored_at = projections.applied_position;
        let _reporter = Reporter::start(state.replay_progress.clone(), REPORT_EVERY);
        let replayed =
            replay_counting(state.log.as_ref(), &mut projections, &state.replay_progress)?;
        (restored_at, replayed)
    };
    crate::telemetry::replayed(summary.events, summary.elapsed);
    tracing::info!(
        events = summary.events,
        elapsed_ms = summary.elapsed.as_millis() as u64,
        events_per_second = rate(summary.events, summary.elapsed),
        "replayed the event log"
    );
    Ok(restored_at)
}

/// Writes the projections' snapshot once the writer has stopped, unless
/// they are still what the snapshot restored.
fn save_snapshot(state: &AppState, restored_at: u64) {
    let Ok(projections) = state.read() else {
        // A fold panicked part-way: only a replay may rebuild from here.
        tracing::warn!("not writing the projection snapshot: a fold failed");
        return;
    };
    if projections.applied_position == restored_at {
        return;
    }
    let started = Instant::now();
    match snapshot::save(
        &snapshot::snapshot_path(&state.config.data_dir),
        &projections,
        &state.key,
    ) {
        Ok(bytes) => tracing::info!(
            position = projections.applied_position,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "wrote the projection snapshot"
        ),
        Err(e) => tracing::warn!(error = %Report(&e), "could not write the projection snapshot"),
    }
}

/// Appends what was counted in memory since the last flush: token uses
/// as one `TokensUsed`, failed authentications as `AuthenticationFailures`
/// summaries.
async fn flush_summaries(state: &AppState) {
    let Some(writer) = state.writer() else {
        if state.is_follower() {
            // Only the leader appends; a follower's counts are dropped
            // rather than kept without bound (README: known limits).
            let _ = (state.usage.drain(), state.failures.drain());
        }
        return;
    };
    let uses = state.usage.drain();
    if !uses.is_empty() {
        let command = RecordTokenUse {
            uses,
            ctx: crate::commands::EventContext::system(),
        };
        if let Err(e) = writer.submit(command).await {
            tracing::warn!(error = %Report(&e), "could not record token use");
        }
    }
    let summaries = state.failures.drain();
    if !summaries.is_empty() {
        let command = RecordAuthFailures {
            summaries,
            ctx: crate::commands::EventContext::system(),
        };
        if let Err(e) = writer.submit(command).await {
            tracing::warn!(error = %Report(&e), "could not record failed authentications");
        }
    }
}

/// Rotates the signing keys when an active one has signed for
/// `AUTHLOG_SIGNING_KEY_ROTATION_DAYS` (checked hourly).
async fn rotate_keys_when_due(state: &AppState) {
    let due = {
        let Ok(projections) = state.read() else {
            return;
        };
        let now = state.clock.now();
        let days = state.config.signing_key_rotation_days as i64;
        let due = projections
            .signing_keys
            .all_active()
            .filter_map(|k| k.activated_at)
            .any(|since| since.plus_seconds(days * 86_400) <= now);
        due
    };
    let Some(writer) = state.writer().filter(|_| due) else {
        return;
    };
    let command = RotateSigningKeys {
        only_if_missing: false,
        alg: None,
        ctx: crate::commands::EventContext::system(),
    };
    match writer.submit(command).await {
        Ok(rotated) => tracing::info!(?rotated, "rotated the signing keys on schedule"),
        Err(e) => tracing::warn!(error = %Report(&e), "could not rotate the signing keys"),
    }
}

fn rate(events: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (events as f64 / secs) as u64
    } else {
        events
    }
}
