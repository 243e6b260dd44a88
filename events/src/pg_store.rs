//! The log on PostgreSQL, for several replicas on one database. The same
//! sealed records (`codec`) and the same hash chain as the embedded store,
//! one row per record in `authlog_events`, and the head in the one-row
//! table `authlog_log_head`.
//!
//! **Gapless positions in commit order.** An append locks the head row
//! (`SELECT … FOR UPDATE`) before it assigns a position, and holds that lock
//! until its transaction commits. The next append waits for the lock, so it
//! reads the head the previous one committed and positions are assigned in
//! commit order: no reader can see position N+1 while N is not yet visible,
//! because N+1 is assigned only after N's transaction committed. There is no
//! sequence, whose values are handed out before commit (the gap a reader of
//! an identity column can observe when a later transaction commits first).
//!
//! **One writer.** Only the session holding the leader lock (a session-level
//! advisory lock keyed by the schema) may append, and it appends on that
//! same session: when the session ends (the process died, or its connection
//! was cut), the lock is released and nothing more can be written through
//! it, so two replicas can never both append. The head lock above would
//! still keep the chain linear even if they tried.
//!
//! Every commit notifies (`NOTIFY`) with the new head position, so replicas
//! tailing the log wake at once instead of polling.
//!
//! The trait is synchronous; this store runs `tokio-postgres` on a small
//! runtime of its own and waits for each query from the calling thread, so
//! it can be called from any thread (the writer, a blocking task, a request
//! handler) without nesting runtimes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::runtime::Runtime;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use crate::envelope::RecordedEvent;
use crate::store::{
    decode_stored, AppendBatch, EventLog, EventStore, Head, StoreError, UnitOutcome, VerifyReport,
};
use crate::units::{self, Stored};
use crate::verify::ChainWalk;

/// The schema versions this build knows, in order. Each runs once, in the
/// transaction that records it in `authlog_schema_migrations`.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "the log: records, their head and the indexes the reads use",
        "CREATE TABLE authlog_log_head (
         one boolean PRIMARY KEY DEFAULT true CHECK (one),
         position bigint NOT NULL,
         hash bytea NOT NULL
     );
     INSERT INTO authlog_log_head (one, position, hash)
         VALUES (true, 0, decode(repeat('00', 32), 'hex'));
     CREATE TABLE authlog_events (
         position bigint PRIMARY KEY,
         stream bytea NOT NULL,
         stream_version bigint NOT NULL,
         event_id uuid NOT NULL UNIQUE,
         client_id bytea,
         record bytea NOT NULL,
         UNIQUE (stream, stream_version)
     );
     CREATE INDEX authlog_events_by_client ON authlog_events (client_id, position)
         WHERE client_id IS NOT NULL;",
    ),
    (
        2,
        "where the leader takes writes: its advertised URL",
        "CREATE TABLE authlog_leader (
             one boolean PRIMARY KEY DEFAULT true CHECK (one),
             url text NOT NULL,
             since timestamptz NOT NULL DEFAULT now()
         );",
    ),
    (
        3,
        "the vault's data keys, wrapped: deletable, unlike the log",
        "CREATE TABLE authlog_vault_keys (
             key_id uuid PRIMARY KEY,
             wrapped bytea NOT NULL
         );",
    ),
];

/// Longest a connection may take to open.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);
/// Longest any one call may wait for the database.
const CALL_LIMIT: Duration = Duration::from_secs(30);
/// TCP keepalive on every connection, both ways (the leader session asks
/// the server for the same): a peer that vanished is given up after about
/// `IDLE + INTERVAL * RETRIES` (16 s), on both sides.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_RETRIES: u32 = 3;

/// Longest schema name (see `PgStore::channel`).
const MAX_SCHEMA_NAME: usize = 48;

/// Records read per query when walking the log.
const PAGE: i64 = 10_000;

/// The first key of the leader lock (`pg_try_advisory_lock(key, schema)`).
const LEADER_LOCK: i32 = 0x6175_7468; // "auth"
/// The first key of the lock migrations take.
const MIGRATION_LOCK: i32 = 0x6d69_6772; // "migr"

/// How this replica stands towards the leader lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It holds the lock and may append.
    Leader,
    /// Another session holds it; this one only reads.
    Follower,
}

/// The log on PostgreSQL (see the module documentation).
pub struct PgStore {
    runtime: Option<Runtime>,
    database: Database,
    /// Reads share one pipelined connection, reopened when it closes.
    reader: Arc<tokio::sync::Mutex<Option<Arc<Client>>>>,
    /// The leader session: holds the leader lock and does every append.
    writer: Arc<tokio::sync::Mutex<Option<Client>>>,
    /// Whether `writer` holds the lock; cleared the moment its connection ends.
    leading: Arc<AtomicBool>,
    /// Bumped for every writer session, so an old session's end does not
    /// clear a newer one's flag.
    generation: Arc<AtomicU64>,
    /// The schema the tables live in (`current_schema()`).
    schema: String,
    /// The highest head position a notification announced, and wakeups.
    notified: Arc<(Mutex<u64>, Condvar)>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("leading", &self.leading.load(Ordering::Relaxed))
            .finish()
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(e)
}

fn position_of(value: i64) -> u64 {
    value.max(0) as u64
}

fn hash_of(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Format("the head hash is not 32 bytes".into()))
}

/// Where the database is and how to talk to it: the parsed URL, and TLS.
///
/// TLS is used when the URL says `sslmode=require` (or libpq's
/// `verify-ca` / `verify-full`, which mean the same here): the server's
/// certificate is always verified, against the PEM file `sslrootcert=`
/// names (only it, as with libpq) or else the Mozilla roots, and its name
/// must match the host. Any other `sslmode` (and none) connects without TLS.
#[derive(Clone)]
struct Database {
    config: Config,
    tls: MakeRustlsConnect,
}

impl Database {
    fn parse(url: &str) -> Result<Database, StoreError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut ca_file = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslrootcert", path)) => {
                    ca_file = Some(
                        percent_encoding::percent_decode_str(path)
                            .decode_utf8_lossy()
                            .into_owned(),
                    )
                }
                Some(("sslmode", "verify-ca" | "verify-full")) => kept.push("sslmode=require"),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: Config = url.parse().map_err(StoreError::Postgres)?;
        // A silent network loss (no FIN, no RST) is noticed in seconds,
        // not after the operating system's two-hour keepalive.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_LIMIT);
        }
        config
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_RETRIES);
        if config.get_ssl_mode() != SslMode::Require {
            // `prefer` would try TLS and then fail on an unverifiable
            // certificate rather than fall back: say what you want.
            config.ssl_mode(SslMode::Disable);
        }
        // As libpq: `sslrootcert` names the only roots trusted; without it,
        // the Mozilla roots.
        let mut roots = rustls::RootCertStore::empty();
        if ca_file.is_none() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(path) = &ca_file {
            let bad =
                |e: &dyn std::fmt::Display| StoreError::Format(format!("sslrootcert {path}: {e}"));
            for cert in <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Storage(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Database {
            config,
            tls: MakeRustlsConnect::new(tls),
        })
    }

    /// Opens a session and drives it on the current runtime until it
    /// ends (the returned task), passing notifications to `notified`.
    async fn session(
        &self,
        notified: Option<Arc<(Mutex<u64>, Condvar)>>,
    ) -> Result<(Client, tokio::task::JoinHandle<()>), StoreError> {
        let (client, mut connection) = self.config.connect(self.tls.clone()).await.map_err(pg)?;
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if let (Some(woken), Ok(position)) = (&notified, n.payload().parse()) {
                            wake(woken, position);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "a PostgreSQL connection ended");
                        break;
                    }
                }
            }
        });
        Ok((client, driver))
    }

    /// A session whose end nobody waits for.
    async fn connect(&self) -> Result<Client, StoreError> {
        self.session(None).await.map(|(client, _)| client)
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host/db`), creates or migrates
    /// the schema, and starts listening for appends. The replica starts as
    /// a follower: `try_lead` takes the leader lock.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_migrating(url).map(|(store, _)| store)
    }

    /// `open`, also returning the schema versions the migration ran.
    pub fn open_migrating(url: &str) -> Result<(Self, Vec<i32>), StoreError> {
        let store = Self::connect(url)?;
        let ran = store.migrate()?;
        Ok((store, ran))
    }

    /// Connects to a database authlog has already migrated, changing
    /// nothing (for `authlog verify` and the offline audit commands):
    /// refused when its schema is missing or of another version.
    pub fn open_existing(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect(url)?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        match store.schema_version() {
            Ok(version) if version == known => Ok(store),
            Ok(version) => Err(StoreError::Format(format!(
                "the database is at schema version {version}, this authlog needs {known}: run `authlog migrate`"
            ))),
            Err(e) => Err(StoreError::Format(format!(
                "no authlog log in this database ({e}): run `authlog migrate`"
            ))),
        }
    }

    fn connect(url: &str) -> Result<Self, StoreError> {
        let database = Database::parse(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("authlog-pg")
            .enable_all()
            .build()
            .map_err(StoreError::Io)?;
        let store = {
            let connecting = database.clone();
            let (schema, reader) = block(&runtime, async move {
                let client = connecting.connect().await?;
                let schema: Option<String> = client
                    .query_one("SELECT current_schema()", &[])
                    .await
                    .map_err(pg)?
                    .get(0);
                let schema = schema.ok_or_else(|| {
                    StoreError::Format(
                        "no schema of the search path exists in this database; create it first"
                            .into(),
                    )
                })?;
                // The notification channel (`authlog_log.` + schema) must fit
                // PostgreSQL's 63-byte identifiers.
                if schema.len() > MAX_SCHEMA_NAME {
                    return Err(StoreError::Format(format!(
                        "the schema name {schema:?} is longer than {MAX_SCHEMA_NAME} bytes"
                    )));
                }
                Ok((schema, client))
            })?;
            PgStore {
                runtime: Some(runtime),
                database,
                reader: Arc::new(tokio::sync::Mutex::new(Some(Arc::new(reader)))),
                writer: Arc::new(tokio::sync::Mutex::new(None)),
                leading: Arc::new(AtomicBool::new(false)),
                generation: Arc::new(AtomicU64::new(0)),
                schema,
                notified: Arc::new((Mutex::new(0), Condvar::new())),
            }
        };
        store.listen();
        Ok(store)
    }

    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
    }

    /// Runs `work` on the store's runtime and waits for it here.
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        block(self.runtime(), limited(work))
    }

    /// The shared read connection, reopened if it closed.
    fn reader(&self) -> impl Future<Output = Result<Arc<Client>, StoreError>> + Send + 'static {
        let reader = self.reader.clone();
        let database = self.database.clone();
        async move {
            let mut slot = reader.lock().await;
            if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
                return Ok(client.clone());
            }
            let client = Arc::new(database.connect().await?);
            *slot = Some(client.clone());
            Ok(client)
        }
    }

    /// Runs the migrations this database lacks; returns the versions run.
    /// Replicas starting together take turns (an advisory lock), and a
    /// database migrated by a newer authlog is refused.
    pub fn migrate(&self) -> Result<Vec<i32>, StoreError> {
        let database = self.database.clone();
        self.run(async move {
            let mut client = database.connect().await?;
            let txn = client.transaction().await.map_err(pg)?;
            txn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
                &[&MIGRATION_LOCK],
            )
            .await
            .map_err(pg)?;
            let exists: bool = txn
                .query_one(
                    "SELECT to_regclass('authlog_schema_migrations') IS NOT NULL",
                    &[],
                )
                .await
                .map_err(pg)?
                .get(0);
            if !exists {
                txn.batch_execute(
                    "CREATE TABLE authlog_schema_migrations (
                         version integer PRIMARY KEY,
                         description text NOT NULL,
                         applied_at timestamptz NOT NULL DEFAULT now()
                     )",
                )
                .await
                .map_err(pg)?;
            }
            let applied: Vec<i32> = txn
                .query("SELECT version FROM authlog_schema_migrations", &[])
                .await
                .map_err(pg)?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let known = MIGRATIONS.last().map_or(0, |m| m.0);
            if let Some(newer) = applied.iter().find(|v| **v > known) {
                return Err(StoreError::Format(format!(
                    "the database is at schema version {newer}; this authlog knows up to {known}"
                )));
            }
            let mut ran = Vec::new();
            for (version, description, sql) in MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                txn.batch_execute(sql).await.map_err(pg)?;
                txn.execute(
                    "INSERT INTO authlog_schema_migrations (version, description) VALUES ($1, $2)",
                    &[version, description],
                )
                .await
                .map_err(pg)?;
                ran.push(*version);
            }
            txn.commit().await.map_err(pg)?;
            Ok(ran)
        })
    }

    /// The schema version of the database (the last migration run).
    pub fn schema_version(&self) -> Result<i32, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let row = reader
                .await?
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM authlog_schema_migrations",
                    &[],
                )
                .await
                .map_err(pg)?;
            Ok(row.get(0))
        })
    }

    /// The notification channel of this schema's log.
    fn channel(&self) -> String {
        format!("authlog_log.{}", self.schema)
    }

    /// Starts the task that listens for appends (reconnecting when its
    /// connection drops) and wakes `wait_for_append`.
    fn listen(&self) {
        let database = self.database.clone();
        let notified = self.notified.clone();
        let listen = format!("LISTEN \"{}\"", self.channel().replace('"', "\"\""));
        self.runtime().spawn(async move {
            loop {
                if let Ok((client, messages)) = database.session(Some(notified.clone())).await {
                    if client.batch_execute(&listen).await.is_ok() {
                        // Anything appended while no one listened is read now.
                        wake(&notified, 0);
                        let _ = messages.await;
                    } else {
                        messages.abort();
                    }
                }
                wake(&notified, 0);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// Waits until an append beyond `position` was announced, or `timeout`
    /// passed; a tailer reads the log again either way (a notification can
    /// be lost with its connection, so this only saves polling).
    pub fn wait_for_append(&self, position: u64, timeout: Duration) {
        let (lock, signal) = &*self.notified;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if *guard > position {
            return;
        }
        let _ = signal
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Takes the leader lock if no other session holds it; true when this
    /// replica leads (now or already). Its appends then go through the
    /// session holding the lock.
    pub fn try_lead(&self) -> Result<Role, StoreError> {
        if self.is_leading() {
            return Ok(Role::Leader);
        }
        let database = self.database.clone();
        let writer = self.writer.clone();
        let leading = self.leading.clone();
        let generation = self.generation.clone();
        self.run(async move {
            let mut slot = writer.lock().await;
            // The candidate session stays open between tries.
            if slot.as_ref().is_none_or(Client::is_closed) {
                let (client, session) = database.session(None).await?;
                // The server gives a vanished leader's session (and its lock)
                // up as fast as the leader gives up the server.
                client
                    .batch_execute(
                        "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 2;
                         SET tcp_keepalives_count = 3; SET tcp_user_timeout = 16000",
                    )
                    .await
                    .map_err(pg)?;
                let mine = generation.fetch_add(1, Ordering::SeqCst) + 1;
                let ended = leading.clone();
                let current = generation.clone();
                tokio::spawn(async move {
                    let _ = session.await;
                    // The session is gone and its lock with it: stop writing now.
                    if current.load(Ordering::SeqCst) == mine {
                        ended.store(false, Ordering::SeqCst);
                    }
                });
                *slot = Some(client);
            }
            let Some(client) = slot.as_ref() else {
                return Err(not_leading());
            };
            let won: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                    &[&LEADER_LOCK],
                )
                .await
                .map_err(pg)?
                .get(0);
            if !won {
                return Ok(Role::Follower);
            }
            leading.store(true, Ordering::SeqCst);
            Ok(Role::Leader)
        })
    }

    /// Checks that the leader session still answers within `within`; when
    /// it does not, this replica stops leading at once (the session is
    /// closed, and with it the lock).
    pub fn heartbeat(&self, within: Duration) -> bool {
        if !self.is_leading() {
            return false;
        }
        let writer = self.writer.clone();
        let leading = self.leading.clone();
        let alive = self.run(async move {
            // The wait for the session counts: an append that holds it
            // longer than `within` is a session in trouble too.
            let answered = tokio::time::timeout(within, async {
                let mut slot = writer.lock().await;
                let answered = match slot.as_ref() {
                    Some(client) => client.simple_query("SELECT 1").await.is_ok(),
                    None => false,
                };
                if !answered {
                    slot.take();
                }
                answered
            })
            .await
            .unwrap_or(false);
            if !answered {
                leading.store(false, Ordering::SeqCst);
            }
            Ok(answered)
        });
        alive.unwrap_or(false) && self.is_leading()
    }

    /// Whether this replica's session holds the leader lock right now.
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Gives the leader lock up (closes the session holding it).
    pub fn resign(&self) {
        self.leading.store(false, Ordering::SeqCst);
        let writer = self.writer.clone();
        let _ = self.run(async move {
            writer.lock().await.take();
            Ok(())
        });
    }

    /// Publishes where this leader takes the writes the others forward
    /// (on the leader session, so only the lock holder can).
    pub fn advertise(&self, url: &str) -> Result<(), StoreError> {
        self.ensure_leading()?;
        let writer = self.writer.clone();
        let url = url.to_owned();
        self.run(async move {
            let slot = writer.lock().await;
            let client = slot.as_ref().ok_or_else(not_leading)?;
            client
                .execute(
                    "INSERT INTO authlog_leader (one, url, since) VALUES (true, $1, now())
                     ON CONFLICT (one) DO UPDATE SET url = excluded.url, since = now()",
                    &[&url],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    /// The URL the leader advertised last (it may have died since).
    pub fn leader_url(&self) -> Result<Option<String>, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let row = reader
                .await?
                .query_opt("SELECT url FROM authlog_leader", &[])
                .await
                .map_err(pg)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// Stores a wrapped vault data key (`authlog_vault_keys`), durably.
    pub fn vault_key_put(&self, key_id: Uuid, wrapped: &[u8]) -> Result<(), StoreError> {
        let reader = self.reader();
        let wrapped = wrapped.to_vec();
        self.run(async move {
            reader
                .await?
                .execute(
                    "INSERT INTO authlog_vault_keys (key_id, wrapped) VALUES ($1, $2)
                     ON CONFLICT (key_id) DO UPDATE SET wrapped = excluded.wrapped",
                    &[&key_id, &wrapped],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    /// A wrapped vault data key.
    pub fn vault_key_get(&self, key_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let row = reader
                .await?
                .query_opt(
                    "SELECT wrapped FROM authlog_vault_keys WHERE key_id = $1",
                    &[&key_id],
                )
                .await
                .map_err(pg)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// Deletes a vault data key (absent is fine).
    pub fn vault_key_delete(&self, key_id: Uuid) -> Result<(), StoreError> {
        let reader = self.reader();
        self.run(async move {
            reader
                .await?
                .execute(
                    "DELETE FROM authlog_vault_keys WHERE key_id = $1",
                    &[&key_id],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    /// Every stored vault data key's id.
    pub fn vault_key_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let reader = self.reader();
        self.run(async move {
            let rows = reader
                .await?
                .query("SELECT key_id FROM authlog_vault_keys", &[])
                .await
                .map_err(pg)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// The head, for a caller on another runtime that must not block: the
    /// query runs on the store's runtime and the answer comes back through
    /// a channel (no thread is parked waiting for it).
    pub fn head_async(
        &self,
    ) -> impl Future<Output = Result<Option<Head>, StoreError>> + Send + 'static {
        let reader = self.reader();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.runtime().spawn(async move {
            let head = limited(async { read_head(&*reader.await?, false).await }).await;
            let _ = tx.send(head);
        });
        async move { rx.await.map_err(|_| stopped())? }
    }

    /// Wakes `wait_for_append` as if an append up to `position` had been
    /// announced (a reader that saw that head wants it applied now).
    pub fn announce(&self, position: u64) {
        wake(&self.notified, position);
    }

    fn ensure_leading(&self) -> Result<(), StoreError> {
        if self.is_leading() {
            Ok(())
        } else {
            Err(not_leading())
        }
    }
}

fn not_leading() -> StoreError {
    StoreError::Storage("this replica does not hold the leader lock".into())
}

/// `work`, or an error once the database has taken `CALL_LIMIT`.
async fn limited<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(CALL_LIMIT, work)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Storage(
                "PostgreSQL did not answer in time".into(),
            ))
        })
}

fn stopped() -> StoreError {
    StoreError::Storage("the PostgreSQL task stopped".into())
}

/// Runs `work` on `runtime` and waits for it on this thread (which may be
/// any thread, even one driving another runtime).
fn block<T: Send + 'static>(
    runtime: &Runtime,
    work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().map_err(|_| stopped())?
}

fn wake(notified: &(Mutex<u64>, Condvar), position: u64) {
    let (lock, signal) = notified;
    let mut highest = lock.lock().unwrap_or_else(|e| e.into_inner());
    *highest = (*highest).max(position);
    signal.notify_all();
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Never blocks, so dropping the last handle inside another runtime
        // is fine; the sessions close with their tasks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The head row, locked for the transaction when `lock`. Typed queries
/// (here and below) take one round trip: no statement is prepared first.
async fn read_head(client: &Client, lock: bool) -> Result<Option<Head>, StoreError> {
    let sql = if lock {
        "SELECT position, hash FROM authlog_log_head FOR UPDATE"
    } else {
        "SELECT position, hash FROM authlog_log_head"
    };
    let row = client.query_typed(sql, &[]).await.map_err(pg)?;
    let row = row
        .first()
        .ok_or_else(|| StoreError::Format("the head row is missing".into()))?;
    let position = position_of(row.get(0));
    if position == 0 {
        return Ok(None);
    }
    Ok(Some(Head {
        position,
        hash: hash_of(row.get(1))?,
    }))
}

/// Moves the head and notifies the tailing replicas, in one statement.
async fn write_head(client: &Client, head: Head, channel: &str) -> Result<(), StoreError> {
    client
        .query_typed(
            // The notification is delivered when (and only if) the
            // transaction commits.
            "WITH moved AS (UPDATE authlog_log_head SET position = $1, hash = $2 RETURNING 1)
             SELECT pg_notify($3, $4) FROM moved",
            &[
                (&(head.position as i64), Type::INT8),
                (&&head.hash[..], Type::BYTEA),
                (&channel, Type::TEXT),
                (&head.position.to_string(), Type::TEXT),
            ],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

/// New rows, as the columns of one `INSERT … SELECT FROM unnest(…)`.
#[derive(Default)]
struct Rows {
    positions: Vec<i64>,
    streams: Vec<Vec<u8>>,
    versions: Vec<i64>,
    ids: Vec<Uuid>,
    clients: Vec<Option<Vec<u8>>>,
    records: Vec<Vec<u8>>,
}

impl Rows {
    fn push(&mut self, record: &RecordedEvent, bytes: &[u8]) {
        self.positions.push(record.position as i64);
        self.streams.push(record.stream.as_bytes().to_vec());
        self.versions.push(record.stream_version as i64);
        self.ids.push(record.event_id);
        self.clients
            .push(record.client_id.as_deref().map(|c| c.as_bytes().to_vec()));
        self.records.push(bytes.to_vec());
    }

    async fn insert(&self, client: &Client) -> Result<(), StoreError> {
        client
            .execute_typed(
                "INSERT INTO authlog_events
                     (position, stream, stream_version, event_id, client_id, record)
                 SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int8[], $4::uuid[],
                                      $5::bytea[], $6::bytea[])",
                &[
                    (&self.positions, Type::INT8_ARRAY),
                    (&self.streams, Type::BYTEA_ARRAY),
                    (&self.versions, Type::INT8_ARRAY),
                    (&self.ids, Type::UUID_ARRAY),
                    (&self.clients, Type::BYTEA_ARRAY),
                    (&self.records, Type::BYTEA_ARRAY),
                ],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }
}

/// What an append looked up before deciding, and the rows it decided.
struct Prefetched {
    by_id: HashMap<u128, RecordedEvent>,
    versions: HashMap<String, u64>,
    rows: Rows,
}

impl Stored for Prefetched {
    fn by_event_id(&mut self, id: u128) -> Result<Option<RecordedEvent>, StoreError> {
        Ok(self.by_id.get(&id).cloned())
    }

    fn version(&mut self, stream: &str) -> Result<u64, StoreError> {
        Ok(self.versions.get(stream).copied().unwrap_or(0))
    }

    fn accept(&mut self, record: &RecordedEvent, bytes: &[u8]) -> Result<(), StoreError> {
        self.rows.push(record, bytes);
        Ok(())
    }
}

/// A `LIMIT` of `limit` records.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Decodes `(position, record)` rows.
fn decode_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter()
        .map(|row| decode_stored(position_of(row.get(0)), row.get(1)))
        .collect()
}

impl PgStore {
    /// Up to `limit` stored records from position `from` on, undecoded.
    fn stored_page(&self, from: u64, limit: i64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reader = self.reader();
        self.run(async move {
            let rows = reader
                .await?
                .query_typed(
                    "SELECT position, record FROM authlog_events
                     WHERE position >= $1 ORDER BY position LIMIT $2",
                    &[(&(from as i64), Type::INT8), (&limit, Type::INT8)],
                )
                .await
                .map_err(pg)?;
            Ok(rows
                .iter()
                .map(|row| (position_of(row.get(0)), row.get::<_, Vec<u8>>(1)))
                .collect())
        })
    }
}

impl EventStore for PgStore {
    fn append(&self, units: Vec<AppendBatch>) -> Result<Vec<UnitOutcome>, StoreError> {
        self.ensure_leading()?;
        let writer = self.writer.clone();
        let leading = self.leading.clone();
        let channel = self.channel();
        self.run(async move {
            let mut slot = writer.lock().await;
            let client = slot.as_mut().ok_or_else(not_leading)?;
            let result = append_in(client, units, &channel).await;
            if matches!(result, Err(StoreError::Postgres(_))) || client.is_closed() {
                // Whether the commit happened is unknown: this session
                // writes no more, and gives the lock up with it.
                leading.store(false, Ordering::SeqCst);
                slot.take();
            }
            result
        })
    }
}

/// One append in one transaction on the leader session.
async fn append_in(
    client: &mut Client,
    units: Vec<AppendBatch>,
    channel: &str,
) -> Result<Vec<UnitOutcome>, StoreError> {
    let ids: Vec<Uuid> = units
        .iter()
        .flat_map(|u| u.events.iter().map(|e| e.event_id))
        .collect();
    let mut streams: Vec<Vec<u8>> = units
        .iter()
        .flat_map(|u| {
            u.events
                .iter()
                .map(|e| e.stream.as_bytes().to_vec())
                .chain(u.expected.iter().map(|(s, _)| s.as_bytes().to_vec()))
        })
        .collect();
    streams.sort_unstable();
    streams.dedup();

    // Round trip 1, pipelined: begin, lock the head (so everything after
    // it sees what the previous append committed), and look up the ids and
    // stream versions the decision needs.
    let looked_up = futures_util::future::try_join4(
        async { client.batch_execute("BEGIN").await.map_err(pg) },
        read_head(client, true),
        async {
            client
                .query_typed(
                    "SELECT position, record FROM authlog_events WHERE event_id = ANY($1)",
                    &[(&ids, Type::UUID_ARRAY)],
                )
                .await
                .map_err(pg)
        },
        async {
            client
                .query_typed(
                    "SELECT stream, max(stream_version) FROM authlog_events
                     WHERE stream = ANY($1) GROUP BY stream",
                    &[(&streams, Type::BYTEA_ARRAY)],
                )
                .await
                .map_err(pg)
        },
    )
    .await;
    let decided = looked_up.and_then(|((), head, id_rows, version_rows)| {
        let mut prefetched = Prefetched {
            by_id: HashMap::new(),
            versions: HashMap::new(),
            rows: Rows::default(),
        };
        for record in decode_rows(&id_rows)? {
            prefetched.by_id.insert(record.event_id.as_u128(), record);
        }
        for row in &version_rows {
            prefetched.versions.insert(
                String::from_utf8_lossy(row.get(0)).into_owned(),
                position_of(row.get(1)),
            );
        }
        let (outcomes, new_head) = units::decide(head, units, &mut prefetched)?;
        Ok((outcomes, new_head, prefetched.rows))
    });
    let (outcomes, new_head, rows) = match decided {
        Ok(decided) => decided,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    };
    let Some(new_head) = new_head.filter(|_| !rows.positions.is_empty()) else {
        client.batch_execute("ROLLBACK").await.map_err(pg)?;
        return Ok(outcomes);
    };
    // Round trip 2, pipelined: the records, the head, commit. An error in
    // any (a COMMIT after a failed statement only rolls back) fails the
    // whole append.
    futures_util::future::try_join3(
        rows.insert(client),
        write_head(client, new_head, channel),
        async { client.batch_execute("COMMIT").await.map_err(pg) },
    )
    .await?;
    Ok(outcomes)
}

impl EventLog for PgStore {
    fn head(&self) -> Result<Option<Head>, StoreError> {
        let reader = self.reader();
        self.run(async move { read_head(&*reader.await?, false).await })
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.stored_page(from, sql_limit(limit))?
            .iter()
            .map(|(position, bytes)| decode_stored(*position, bytes))
            .collect()
    }

    fn for_each_stored(
        &self,
        from: u64,
        each: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut next = from.max(1);
        loop {
            let page = self.stored_page(next, PAGE)?;
            let Some(&(last, _)) = page.last() else {
                return Ok(());
            };
            for (position, bytes) in &page {
                if !each(*position, bytes) {
                    return Ok(());
                }
            }
            if (page.len() as i64) < PAGE {
                return Ok(());
            }
            next = last + 1;
        }
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reader = self.reader();
        let stream = stream.as_bytes().to_vec();
        self.run(async move {
            let rows = reader
                .await?
                .query_typed(
                    "SELECT position, record FROM authlog_events
                     WHERE stream = $1 AND stream_version >= $2
                     ORDER BY stream_version LIMIT $3",
                    &[
                        (&stream, Type::BYTEA),
                        (&(from_version as i64), Type::INT8),
                        (&sql_limit(limit), Type::INT8),
                    ],
                )
                .await
                .map_err(pg)?;
            decode_rows(&rows)
        })
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let reader = self.reader();
        let stream = stream.as_bytes().to_vec();
        self.run(async move {
            let row = reader
                .await?
                .query_typed_one(
                    "SELECT coalesce(max(stream_version), 0) FROM authlog_events
                     WHERE stream = $1",
                    &[(&stream, Type::BYTEA)],
                )
                .await
                .map_err(pg)?;
            Ok(position_of(row.get(0)))
        })
    }

    fn read_client(
        &self,
        client_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reader = self.reader();
        let client_id = client_id.as_bytes().to_vec();
        let before = before.unwrap_or(u64::MAX).min(i64::MAX as u64) as i64;
        self.run(async move {
            let rows = reader
                .await?
                .query_typed(
                    "SELECT position, record FROM authlog_events
                     WHERE client_id = $1 AND position < $2
                     ORDER BY position DESC LIMIT $3",
                    &[
                        (&client_id, Type::BYTEA),
                        (&before, Type::INT8),
                        (&sql_limit(limit), Type::INT8),
                    ],
                )
                .await
                .map_err(pg)?;
            decode_rows(&rows)
        })
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut walk = ChainWalk::new(self.head()?);
        let mut gap = None;
        self.for_each_stored(1, &mut |position, bytes| {
            if position != walk.expected() {
                gap = Some(position);
                return false;
            }
            walk.record(bytes)
        })?;
        if let Some(position) = gap {
            walk.fail(format!("the next stored record is at position {position}"));
        }
        Ok(walk.finish())
    }
}
