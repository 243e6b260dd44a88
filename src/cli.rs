//! The command line: `authlog serve`, `authlog verify`, `authlog audit`,
//! and the admin API's `authlog clients` and `authlog tokens`
//! (`admin_cli`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::admin_cli::{self, args::ClientsArgs, args::TokensArgs};
use crate::audit::checkpoint::{Extension, AUDIT_KEY_ENV};
use crate::audit::export::ExportFormat;
use crate::audit::filter::{parse_time, parse_type, AuditFilter};
use crate::audit::offline;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, RawConfig};
use crate::error_report::Report;
use crate::registry_at::parse_at;

/// authlog: an OAuth 2.1 authorization server whose append-only,
/// hash-chained event log is the source of truth.
#[derive(Debug, Parser)]
#[command(name = "authlog", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server: open (or create) the log in the data directory,
    /// replay it into memory, and serve HTTP (`/healthz`, `/readyz`, ...).
    Serve(ServeArgs),
    /// Walk the log's hash chain and report the first broken link; with
    /// `--checkpoint`, also prove the log still extends a checkpoint.
    /// Read-only: safe while a server runs. Exit status 0: intact; 1: broken
    /// or not extending the checkpoint; 2: the log could not be read.
    Verify(VerifyArgs),
    /// Print one client's events, newest first; or, with `--at`, the client
    /// (or every client) as it was at that instant, as JSON. Reads the data
    /// directory read-only (safe while a server runs).
    Audit(AuditArgs),
    /// Manage OAuth clients through a running server's admin API:
    /// list, get, create, pause, resume, rotate (the secret), delete.
    Clients(ClientsArgs),
    /// Revoke tokens through a running server's admin API (one by id, or
    /// all of a client's), or list a client's active tokens.
    Tokens(TokensArgs),
    /// Create or migrate the PostgreSQL schema of the log and exit (`serve`
    /// also does this at start). Exit status 0: done; 2: failed.
    Migrate(MigrateArgs),
    /// Copy a log, record for record, from a data directory or PostgreSQL
    /// database to an empty other one, and verify the copy's chain.
    /// Stop the servers of both first. Exit status 0: copied; 2: failed.
    MigrateStore(MigrateStoreArgs),
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// The database: `postgres://USER@HOST/DB`.
    #[arg(long, env = "AUTHLOG_STORE", value_name = "URL")]
    store: String,
}

#[derive(Debug, Args)]
struct MigrateStoreArgs {
    /// The log to copy: a data directory or a `postgres://` URL.
    #[arg(long, value_name = "DIR|URL")]
    from: String,
    /// Where to copy it (must hold no log yet): a data directory or a
    /// `postgres://` URL.
    #[arg(long, value_name = "DIR|URL")]
    to: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Data directory holding the log (created if missing).
    #[arg(long, env = "AUTHLOG_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "AUTHLOG_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Where the log lives: `postgres://USER@HOST/DB` for several replicas
    /// on one database (the data directory then holds only keys and the
    /// projection snapshot); default: the embedded log in the data directory.
    #[arg(long, env = "AUTHLOG_STORE", value_name = "URL")]
    store: Option<String>,
    /// The URL the other replicas forward writes to while this one leads;
    /// default: http:// and the address it listens on.
    #[arg(long, env = "AUTHLOG_ADVERTISE_URL", value_name = "URL")]
    advertise_url: Option<String>,
    /// Issuer URL (RFC 8414), default http://127.0.0.1:8080.
    #[arg(long, env = "AUTHLOG_ISSUER", value_name = "URL")]
    issuer: Option<String>,
    /// TOML config file; flags and AUTHLOG_* variables override it.
    #[arg(long, env = "AUTHLOG_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Most write requests committed in one transaction.
    #[arg(long, env = "AUTHLOG_WRITER_MAX_BATCH", value_name = "N")]
    writer_max_batch: Option<usize>,
    /// Write requests that may wait for the writer.
    #[arg(long, env = "AUTHLOG_WRITER_QUEUE", value_name = "N")]
    writer_queue: Option<usize>,
    /// HTTP worker threads (default: number of cores).
    #[arg(long, env = "AUTHLOG_WORKERS", value_name = "N")]
    workers: Option<usize>,
    /// Memory for redb's cache of the log's index, in MiB (default 256).
    #[arg(long, env = "AUTHLOG_INDEX_CACHE_MB", value_name = "MIB")]
    index_cache_mb: Option<usize>,
    /// Seconds between "last used" summaries appended to the log.
    #[arg(long, env = "AUTHLOG_USAGE_FLUSH_SECONDS", value_name = "SECONDS")]
    usage_flush_seconds: Option<u64>,
    /// Seconds between scans for upstream tokens to refresh.
    #[arg(
        long,
        env = "AUTHLOG_UPSTREAM_REFRESH_INTERVAL_SECONDS",
        value_name = "SECONDS"
    )]
    upstream_refresh_interval_seconds: Option<u64>,
    /// Dynamic registration: open, initial_access_token or disabled.
    #[arg(long, env = "AUTHLOG_REGISTRATION_POLICY", value_name = "POLICY")]
    registration_policy: Option<String>,
    /// Registrations allowed per client IP per minute.
    #[arg(long, env = "AUTHLOG_REGISTRATION_RATE_LIMIT", value_name = "N")]
    registration_rate_limit: Option<usize>,
    /// Appends caused by unauthenticated requests per minute, all addresses together.
    #[arg(long, env = "AUTHLOG_ANONYMOUS_WRITES_PER_MINUTE", value_name = "N")]
    anonymous_writes_per_minute: Option<usize>,
    /// Days a signing key signs before it is rotated automatically.
    #[arg(long, env = "AUTHLOG_SIGNING_KEY_ROTATION_DAYS", value_name = "DAYS")]
    signing_key_rotation_days: Option<usize>,
    /// Password hashes computed at once (each takes ~19 MiB); more are refused with 503.
    #[arg(long, env = "AUTHLOG_PASSWORD_HASHING_SLOTS", value_name = "N")]
    password_hashing_slots: Option<usize>,
    /// host:port pairs allowed for metadata documents despite private addresses (tests).
    #[arg(
        long,
        env = "AUTHLOG_CIMD_ALLOW_HOSTS",
        value_name = "HOSTS",
        hide = true
    )]
    cimd_allow_hosts: Option<String>,
    /// Extra CA certificate (PEM) trusted for metadata documents.
    #[arg(long, env = "AUTHLOG_CIMD_CA_FILE", value_name = "FILE")]
    cimd_ca_file: Option<PathBuf>,
    /// Serve `GET /metrics` on this address only (default: on the main
    /// listener).
    #[arg(long, env = "AUTHLOG_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Connections open at once (default: the file-descriptor limit less 512).
    #[arg(long, env = "AUTHLOG_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Connections open at once from one address or IPv6 /64 (default 256;
    /// behind a reverse proxy, raise it to the total).
    #[arg(long, env = "AUTHLOG_MAX_CONNECTIONS_PER_ADDRESS", value_name = "N")]
    max_connections_per_address: Option<usize>,
    /// Shift the server clock by this many seconds (tests of expiry).
    #[arg(
        long,
        env = "AUTHLOG_CLOCK_SKEW_SECONDS",
        value_name = "SECONDS",
        hide = true
    )]
    clock_skew_seconds: Option<i64>,
    /// A follower waits this long before folding what it read (tests of
    /// the wait a follower's read makes for the head).
    #[arg(
        long,
        env = "AUTHLOG_REPLICA_APPLY_DELAY_MS",
        value_name = "MS",
        hide = true
    )]
    replica_apply_delay_ms: Option<u64>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Data directory holding the log.
    #[arg(long, env = "AUTHLOG_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Verify the PostgreSQL log at this `postgres://` URL instead.
    #[arg(long, env = "AUTHLOG_STORE", value_name = "URL")]
    store: Option<String>,
    /// A checkpoint saved from `GET /api/audit/checkpoint`: the log must
    /// still have that hash at that position. Its signature is checked too
    /// when the audit key is available (AUTHLOG_AUDIT_KEY or DIR/audit-key).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// Data directory holding the log.
    #[arg(long, env = "AUTHLOG_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Read the PostgreSQL log at this `postgres://` URL instead.
    #[arg(long, env = "AUTHLOG_STORE", value_name = "URL")]
    store: Option<String>,
    /// The client whose events (or, with `--at`, whose state) to show.
    #[arg(long, value_name = "ID", required_unless_present = "at")]
    client: Option<String>,
    /// Show the client (every client without `--client`) as it was at this
    /// RFC 3339 instant: the JSON of the admin API's `?at=`. Exit status 1
    /// when the client did not exist then.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["since", "until", "types", "format"])]
    at: Option<String>,
    /// Only events recorded at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events recorded before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events of this type (repeatable).
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Output format: ndjson, csv or table.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    format: String,
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_tracing() {
        eprintln!("authlog: {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Verify(args) => verify(args),
        Command::Audit(args) => audit(args),
        Command::Clients(args) => admin_cli::clients(args),
        Command::Tokens(args) => admin_cli::tokens(args),
        Command::Migrate(args) => migrate(args),
        Command::MigrateStore(args) => migrate_store(args),
    }
}

/// Logs to stderr: `AUTHLOG_LOG` filters (default `info`),
/// `AUTHLOG_LOG_FORMAT` is `text` (default) or `json` (one object a line:
/// `timestamp`, `level`, `target`, the event's fields, and under `span` the
/// request's span: `request_id`, `http.method`, `http.route`). Each
/// request's access line (`authlog::access`) has its own `request_id`,
/// `method`, `route`, `client_id`, `status` and `latency_ms`.
fn init_tracing() -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTHLOG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = std::env::var("AUTHLOG_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log line that cannot be written (a full disk under the log file,
        // a closed pipe) is dropped. Reporting it would `eprintln!` to the
        // same broken stderr, which panics the request's worker.
        .log_internal_errors(false);
    let _ = match format.as_str() {
        "" | "text" => builder.try_init(),
        "json" => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        other => {
            return Err(format!(
                "AUTHLOG_LOG_FORMAT: {other:?} is not a log format; use text or json"
            ))
        }
    };
    Ok(())
}

fn serve(args: ServeArgs) -> ExitCode {
    let flags = RawConfig {
        data: args.data,
        listen: args.listen,
        issuer: args.issuer,
        writer_max_batch: args.writer_max_batch,
        writer_queue: args.writer_queue,
        workers: args.workers,
        index_cache_mb: args.index_cache_mb,
        clock_skew_seconds: args.clock_skew_seconds,
        replica_apply_delay_ms: args.replica_apply_delay_ms,
        // Secrets come from the environment (or the file), never from flags
        // that `ps` would show.
        server_key: std::env::var("AUTHLOG_SERVER_KEY").ok(),
        audit_key: std::env::var("AUTHLOG_AUDIT_KEY").ok(),
        vault_key: std::env::var("AUTHLOG_VAULT_KEY").ok(),
        upstream_refresh_interval_seconds: args.upstream_refresh_interval_seconds,
        bootstrap_admin_secret: std::env::var("AUTHLOG_BOOTSTRAP_ADMIN_SECRET").ok(),
        bootstrap_admin_password: std::env::var("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD").ok(),
        usage_flush_seconds: args.usage_flush_seconds,
        registration_policy: args.registration_policy,
        registration_initial_access_token: std::env::var(
            "AUTHLOG_REGISTRATION_INITIAL_ACCESS_TOKEN",
        )
        .ok(),
        registration_rate_limit: args.registration_rate_limit,
        password_hashing_slots: args.password_hashing_slots,
        anonymous_writes_per_minute: args.anonymous_writes_per_minute,
        signing_key_rotation_days: args.signing_key_rotation_days,
        cimd_allow_hosts: args.cimd_allow_hosts,
        cimd_ca_file: args.cimd_ca_file,
        metrics_listen: args.metrics_listen,
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        store: args.store,
        advertise_url: args.advertise_url,
    };
    let file = match &args.config {
        Some(path) => match RawConfig::from_file(path) {
            Ok(file) => file,
            Err(e) => return fail(&e),
        },
        None => RawConfig::default(),
    };
    let config = match Config::validate(flags.or(file)) {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    match crate::server::serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("authlog: {}", Report(error));
    ExitCode::from(2)
}

/// `authlog migrate`.
fn migrate(args: MigrateArgs) -> ExitCode {
    match authlog_events::PgStore::open_migrating(&args.store).and_then(|(store, ran)| {
        let version = store.schema_version()?;
        Ok((ran, version))
    }) {
        Ok((ran, version)) => {
            match ran.as_slice() {
                [] => println!("the schema is at version {version}; nothing to migrate"),
                ran => println!("migrated to schema version {version} (ran {ran:?})"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// `authlog migrate-store --from … --to …`.
fn migrate_store(args: MigrateStoreArgs) -> ExitCode {
    let from = crate::store_copy::Place::parse(&args.from);
    let to = crate::store_copy::Place::parse(&args.to);
    let mut last_report = std::time::Instant::now();
    let copied = crate::store_copy::copy(&from, &to, |done, total| {
        if last_report.elapsed() >= std::time::Duration::from_secs(3) {
            last_report = std::time::Instant::now();
            eprintln!("copied {done} of {total} records");
        }
    });
    match copied {
        Ok(copied) => {
            let head = copied
                .head_hash
                .map(|h| hex(&h))
                .unwrap_or_else(|| "none (empty log)".into());
            println!(
                "copied {} records from {from} to {to}; the copy verifies, head hash {head}",
                copied.records
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn verify(args: VerifyArgs) -> ExitCode {
    let data = args
        .data
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
    let source = offline::LogSource {
        data,
        store: args.store,
    };
    let store = match offline::open_log(&source) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("authlog: {}", Report(&e));
            return ExitCode::from(2);
        }
    };
    let chain = match store.verify() {
        Ok(report) => {
            let head = report
                .head
                .map(|h| format!("position {} hash {}", h.position, hex(&h.hash)))
                .unwrap_or_else(|| "empty".into());
            match report.broken {
                None => {
                    println!("intact: {} records, head {head}", report.records);
                    0
                }
                Some(broken) => {
                    println!("BROKEN at position {}: {}", broken.position, broken.reason);
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("authlog: {}", Report(&e));
            return ExitCode::from(2);
        }
    };
    drop(store);
    let checkpoint = match args.checkpoint {
        Some(file) => verify_checkpoint(&source, &file),
        None => 0,
    };
    ExitCode::from(chain.max(checkpoint))
}

/// Checks a checkpoint file; the exit status (0 holds, 1 fails, 2 unreadable).
fn verify_checkpoint(source: &offline::LogSource, file: &std::path::Path) -> u8 {
    let configured = std::env::var(AUDIT_KEY_ENV).ok();
    let verdict = match offline::verify_checkpoint(source, file, configured.as_deref()) {
        Ok(verdict) => verdict,
        Err(e) => {
            eprintln!("authlog: {}", Report(&e));
            return 2;
        }
    };
    match &verdict.extension {
        Extension::Extends { records_after } => {
            println!("checkpoint holds: the log extends it by {records_after} records")
        }
        Extension::Diverges(why) => println!("CHECKPOINT FAILS: {why}"),
    }
    match verdict.signature_valid {
        Some(true) => println!("checkpoint signature: valid"),
        Some(false) => println!("CHECKPOINT SIGNATURE INVALID (not signed by this audit key)"),
        None => println!("checkpoint signature: not checked (no audit key)"),
    }
    if verdict.holds() {
        0
    } else {
        1
    }
}

fn audit(args: AuditArgs) -> ExitCode {
    let source = offline::LogSource {
        data: args
            .data
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR)),
        store: args.store,
    };
    if let Some(at) = &args.at {
        return registry_at(&source, args.client.as_deref(), at);
    }
    let filter = (|| {
        Ok::<_, crate::audit::AuditError>(AuditFilter {
            client_id: args.client.clone(),
            types: args
                .types
                .iter()
                .map(|t| parse_type(t))
                .collect::<Result<_, _>>()?,
            since: args
                .since
                .as_deref()
                .map(|t| parse_time("since", t))
                .transpose()?,
            until: args
                .until
                .as_deref()
                .map(|t| parse_time("until", t))
                .transpose()?,
            ..AuditFilter::default()
        })
    })();
    let run = filter
        .map_err(offline::OfflineError::from)
        .and_then(|filter| {
            let format = ExportFormat::parse(&args.format, true)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            offline::audit(&source, filter, format, &mut out)
        });
    match run {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authlog: {}", Report(&e));
            ExitCode::from(2)
        }
    }
}

/// `authlog audit --at TIME [--client ID]`: exit 0 printed, 1 the client
/// did not exist then, 2 anything else.
fn registry_at(source: &offline::LogSource, client: Option<&str>, at: &str) -> ExitCode {
    let run = parse_at(at, SystemClock::default().now())
        .map_err(offline::OfflineError::from)
        .and_then(|at| {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            offline::registry_at(source, client, at, &mut out)
        });
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authlog: {}", Report(&e));
            let absent = matches!(&e, offline::OfflineError::RegistryAt(e) if e.is_absent());
            ExitCode::from(if absent { 1 } else { 2 })
        }
    }
}

/// Lower-case hex of a hash.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
