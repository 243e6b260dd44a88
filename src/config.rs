//! Configuration: raw values from flags, `AUTHLOG_*` environment variables
//! and an optional TOML file, validated once into `Config` at start.
//! Precedence: flag, then environment, then file, then default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default issuer.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "data";

/// A configuration value that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for authlog.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the key).
        message: String,
    },
    /// One setting has a bad value.
    #[error("invalid {key} {value:?}: {reason}")]
    Invalid {
        /// Which setting (as its env var / file key).
        key: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        reason: String,
    },
}

/// Settings as given; every field optional. Also the TOML file's schema.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Data directory (`AUTHLOG_DATA`, `--data`).
    pub data: Option<PathBuf>,
    /// Listen address (`AUTHLOG_LISTEN`, `--listen`).
    pub listen: Option<String>,
    /// Issuer URL (`AUTHLOG_ISSUER`).
    pub issuer: Option<String>,
    /// Most write requests committed in one transaction (`AUTHLOG_WRITER_MAX_BATCH`).
    pub writer_max_batch: Option<usize>,
    /// Write requests that may wait for the writer (`AUTHLOG_WRITER_QUEUE`).
    pub writer_queue: Option<usize>,
    /// HTTP worker threads (`AUTHLOG_WORKERS`); default: number of cores.
    pub workers: Option<usize>,
    /// redb cache of the log's index in MiB (`AUTHLOG_INDEX_CACHE_MB`); default 256.
    pub index_cache_mb: Option<usize>,
    /// Shift of the server clock in seconds (`AUTHLOG_CLOCK_SKEW_SECONDS`);
    /// for tests that must move past an expiry. Default 0.
    pub clock_skew_seconds: Option<i64>,
    /// Milliseconds a follower waits before folding what it read
    /// (`AUTHLOG_REPLICA_APPLY_DELAY_MS`): for tests that show a read waits
    /// for the head. Default 0.
    pub replica_apply_delay_ms: Option<u64>,
    /// HMAC key, 32 bytes base64url (`AUTHLOG_SERVER_KEY`); default: `<data>/server-key`.
    pub server_key: Option<String>,
    /// Checkpoint-signing key, 32 bytes base64url (`AUTHLOG_AUDIT_KEY`);
    /// default: `<data>/audit-key`. Separate from the server key.
    pub audit_key: Option<String>,
    /// The token vault's key, 32 bytes base64url (`AUTHLOG_VAULT_KEY`);
    /// default: `<data>/vault-key`.
    pub vault_key: Option<String>,
    /// Seconds between scans for upstream tokens to refresh
    /// (`AUTHLOG_UPSTREAM_REFRESH_INTERVAL_SECONDS`, default 30).
    pub upstream_refresh_interval_seconds: Option<u64>,
    /// Secret of `authlog-admin` at first start (`AUTHLOG_BOOTSTRAP_ADMIN_SECRET`).
    pub bootstrap_admin_secret: Option<String>,
    /// Password of the `admin` user at first start (`AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD`).
    pub bootstrap_admin_password: Option<String>,
    /// Seconds between "last used" and failed-authentication summaries
    /// (`AUTHLOG_USAGE_FLUSH_SECONDS`, default 60).
    pub usage_flush_seconds: Option<u64>,
    /// Dynamic registration policy: `open`, `initial_access_token` or
    /// `disabled` (`AUTHLOG_REGISTRATION_POLICY`, default `open`).
    pub registration_policy: Option<String>,
    /// The bearer token required under `initial_access_token`
    /// (`AUTHLOG_REGISTRATION_INITIAL_ACCESS_TOKEN`).
    pub registration_initial_access_token: Option<String>,
    /// Registrations allowed per client IP per minute (`AUTHLOG_REGISTRATION_RATE_LIMIT`, default 10).
    pub registration_rate_limit: Option<usize>,
    /// Appends caused by unauthenticated requests (open registrations, new
    /// or changed metadata-document clients, device authorizations of
    /// public clients) per minute from all addresses together
    /// (`AUTHLOG_ANONYMOUS_WRITES_PER_MINUTE`, default 300).
    pub anonymous_writes_per_minute: Option<usize>,
    /// Days a signing key signs before it is rotated automatically
    /// (`AUTHLOG_SIGNING_KEY_ROTATION_DAYS`, default 90).
    pub signing_key_rotation_days: Option<usize>,
    /// Password hashes computed at once (`AUTHLOG_PASSWORD_HASHING_SLOTS`,
    /// default: the number of cores, at least 2); each holds ~19 MiB.
    pub password_hashing_slots: Option<usize>,
    /// `host:port` pairs whose metadata documents may be fetched although
    /// they resolve to loopback or private addresses (`AUTHLOG_CIMD_ALLOW_HOSTS`,
    /// comma-separated; for tests only; default none).
    pub cimd_allow_hosts: Option<String>,
    /// Extra CA certificate (PEM) trusted for metadata documents (`AUTHLOG_CIMD_CA_FILE`).
    pub cimd_ca_file: Option<PathBuf>,
    /// Address of a listener serving only `GET /metrics`
    /// (`AUTHLOG_METRICS_LISTEN`); default: `/metrics` on the main listener.
    pub metrics_listen: Option<String>,
    /// Connections open at once (`AUTHLOG_MAX_CONNECTIONS`); default: the
    /// file-descriptor limit less 512.
    pub max_connections: Option<usize>,
    /// Connections open at once from one address or IPv6 /64
    /// (`AUTHLOG_MAX_CONNECTIONS_PER_ADDRESS`, default 256).
    pub max_connections_per_address: Option<usize>,
    /// Where the log lives (`AUTHLOG_STORE`): a `postgres://` URL for
    /// several replicas on one database; default: the embedded record
    /// file and redb index in the data directory.
    pub store: Option<String>,
    /// The URL the other replicas reach this one at, when it leads
    /// (`AUTHLOG_ADVERTISE_URL`); default: `http://` and the bound address.
    pub advertise_url: Option<String>,
}

impl RawConfig {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
    }

    /// Fills every unset field of `self` from `lower` (lower precedence).
    pub fn or(self, lower: RawConfig) -> RawConfig {
        RawConfig {
            data: self.data.or(lower.data),
            listen: self.listen.or(lower.listen),
            issuer: self.issuer.or(lower.issuer),
            writer_max_batch: self.writer_max_batch.or(lower.writer_max_batch),
            writer_queue: self.writer_queue.or(lower.writer_queue),
            workers: self.workers.or(lower.workers),
            index_cache_mb: self.index_cache_mb.or(lower.index_cache_mb),
            clock_skew_seconds: self.clock_skew_seconds.or(lower.clock_skew_seconds),
            replica_apply_delay_ms: self.replica_apply_delay_ms.or(lower.replica_apply_delay_ms),
            server_key: self.server_key.or(lower.server_key),
            vault_key: self.vault_key.or(lower.vault_key),
            upstream_refresh_interval_seconds: self
                .upstream_refresh_interval_seconds
                .or(lower.upstream_refresh_interval_seconds),
            audit_key: self.audit_key.or(lower.audit_key),
            bootstrap_admin_secret: self.bootstrap_admin_secret.or(lower.bootstrap_admin_secret),
            bootstrap_admin_password: self
                .bootstrap_admin_password
                .or(lower.bootstrap_admin_password),
            usage_flush_seconds: self.usage_flush_seconds.or(lower.usage_flush_seconds),
            registration_policy: self.registration_policy.or(lower.registration_policy),
            registration_initial_access_token: self
                .registration_initial_access_token
                .or(lower.registration_initial_access_token),
            registration_rate_limit: self
                .registration_rate_limit
                .or(lower.registration_rate_limit),
            password_hashing_slots: self.password_hashing_slots.or(lower.password_hashing_slots),
            anonymous_writes_per_minute: self
                .anonymous_writes_per_minute
                .or(lower.anonymous_writes_per_minute),
            signing_key_rotation_days: self
                .signing_key_rotation_days
                .or(lower.signing_key_rotation_days),
            cimd_allow_hosts: self.cimd_allow_hosts.or(lower.cimd_allow_hosts),
            cimd_ca_file: self.cimd_ca_file.or(lower.cimd_ca_file),
            metrics_listen: self.metrics_listen.or(lower.metrics_listen),
            max_connections: self.max_connections.or(lower.max_connections),
            max_connections_per_address: self
                .max_connections_per_address
                .or(lower.max_connections_per_address),
            store: self.store.or(lower.store),
            advertise_url: self.advertise_url.or(lower.advertise_url),
        }
    }
}

/// Where the log lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The record file and redb index in the data directory.
    Embedded,
    /// A PostgreSQL database shared by replicas.
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Embedded => f.write_str("Embedded"),
            // The URL may carry a password.
            StoreLocation::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the log lives (`AUTHLOG_STORE`).
    pub store: StoreLocation,
    /// The URL other replicas forward writes to while this one leads.
    pub advertise_url: Option<String>,
    /// Data directory (created if missing).
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Issuer URL, without a trailing slash.
    pub issuer: String,
    /// Most write requests per commit.
    pub writer_max_batch: usize,
    /// Bounded queue in front of the writer.
    pub writer_queue: usize,
    /// HTTP worker threads.
    pub workers: usize,
    /// redb cache of the log's index, in bytes.
    pub index_cache_bytes: usize,
    /// Clock shift in seconds.
    pub clock_skew_seconds: i64,
    /// A follower's wait before folding what it read (tests only).
    pub replica_apply_delay: std::time::Duration,
    /// Configured HMAC key (base64url), if any.
    pub server_key: Option<String>,
    /// Configured checkpoint-signing key (base64url), if any.
    pub audit_key: Option<String>,
    /// Configured vault key (base64url), if any.
    pub vault_key: Option<String>,
    /// Seconds between scans for upstream tokens to refresh.
    pub upstream_refresh_interval_seconds: u64,
    /// Configured first-start admin secret, if any.
    pub bootstrap_admin_secret: Option<String>,
    /// Configured first-start admin password, if any.
    pub bootstrap_admin_password: Option<String>,
    /// Seconds between "last used" summaries.
    pub usage_flush_seconds: u64,
    /// Who may register clients dynamically.
    pub registration: RegistrationPolicy,
    /// Registrations per client IP per minute.
    pub registration_rate_limit: usize,
    /// Unauthenticated appends per minute, all addresses together.
    pub anonymous_writes_per_minute: usize,
    /// Days between automatic signing-key rotations.
    pub signing_key_rotation_days: usize,
    /// Password hashes computed at once.
    pub password_hashing_slots: usize,
    /// `host:port` exceptions to the metadata-document address rules.
    pub cimd_allow_hosts: Vec<String>,
    /// Extra CA certificate for metadata documents.
    pub cimd_ca_file: Option<PathBuf>,
    /// Where `/metrics` is served alone, when not on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Connections open at once, when set; otherwise sized to the
    /// file-descriptor limit (`http::connections::default_total`).
    pub max_connections: Option<usize>,
    /// Connections open at once from one address.
    pub max_connections_per_address: usize,
}

/// RFC 7591 registration policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Anyone may register (rate-limited per IP).
    Open,
    /// A bearer initial access token is required.
    InitialAccessToken(String),
    /// `/oauth/register` answers 403.
    Disabled,
}

fn invalid(key: &'static str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

fn bounded(key: &'static str, value: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            key,
            value,
            &format!("must be between {min} and {max}"),
        ))
    }
}

impl Config {
    /// Validates raw settings, applying defaults.
    pub fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        let data_dir = raw.data.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("AUTHLOG_DATA", "", "must not be empty"));
        }
        let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "AUTHLOG_LISTEN",
                &listen_text,
                "expected IP:PORT, for example 127.0.0.1:8080",
            )
        })?;
        let issuer_text = raw.issuer.unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        let issuer = validate_issuer(&issuer_text)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let store = match raw.store.as_deref() {
            None | Some("") => StoreLocation::Embedded,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StoreLocation::Postgres(url.to_owned())
            }
            Some(_) => {
                // Not echoed: whatever it is may hold a password.
                return Err(invalid(
                    "AUTHLOG_STORE",
                    "(not shown)",
                    "expected a postgres://USER@HOST/DB URL (or nothing: the embedded log)",
                ));
            }
        };
        let advertise_url = match raw.advertise_url {
            Some(url) if url::Url::parse(&url).is_ok_and(|u| u.scheme().starts_with("http")) => {
                Some(url.trim_end_matches('/').to_owned())
            }
            Some(other) => {
                return Err(invalid(
                    "AUTHLOG_ADVERTISE_URL",
                    other,
                    "expected an http(s) URL, for example http://10.0.0.2:8080",
                ))
            }
            None => None,
        };
        if store != StoreLocation::Embedded
            && advertise_url.is_none()
            && listen.ip().is_unspecified()
        {
            // The other replicas would forward to "0.0.0.0": to themselves.
            return Err(invalid(
                "AUTHLOG_ADVERTISE_URL",
                "",
                "required with a PostgreSQL store when listening on every address: the URL the other replicas reach this one at",
            ));
        }
        Ok(Config {
            store,
            advertise_url,
            data_dir,
            listen,
            issuer,
            writer_max_batch: bounded(
                "AUTHLOG_WRITER_MAX_BATCH",
                raw.writer_max_batch.unwrap_or(1024),
                1,
                65_536,
            )?,
            writer_queue: bounded(
                "AUTHLOG_WRITER_QUEUE",
                raw.writer_queue.unwrap_or(8192),
                1,
                1_048_576,
            )?,
            workers: bounded("AUTHLOG_WORKERS", raw.workers.unwrap_or(cores), 1, 1024)?,
            index_cache_bytes: bounded(
                "AUTHLOG_INDEX_CACHE_MB",
                raw.index_cache_mb.unwrap_or(256),
                1,
                1_048_576,
            )? << 20,
            clock_skew_seconds: raw.clock_skew_seconds.unwrap_or(0),
            replica_apply_delay: std::time::Duration::from_millis(
                raw.replica_apply_delay_ms.unwrap_or(0).min(60_000),
            ),
            server_key: raw.server_key,
            audit_key: raw.audit_key,
            bootstrap_admin_secret: match raw.bootstrap_admin_secret {
                Some(s) if s.len() < 16 => {
                    return Err(invalid(
                        "AUTHLOG_BOOTSTRAP_ADMIN_SECRET",
                        "(hidden)",
                        "must be at least 16 characters",
                    ))
                }
                other => other,
            },
            registration: match (
                raw.registration_policy.as_deref().unwrap_or("open"),
                raw.registration_initial_access_token,
            ) {
                ("open", _) => RegistrationPolicy::Open,
                ("disabled", _) => RegistrationPolicy::Disabled,
                ("initial_access_token", Some(t)) if t.len() >= 16 => RegistrationPolicy::InitialAccessToken(t),
                ("initial_access_token", _) => {
                    return Err(invalid(
                        "AUTHLOG_REGISTRATION_INITIAL_ACCESS_TOKEN",
                        "(hidden)",
                        "is required (16+ characters) when AUTHLOG_REGISTRATION_POLICY is initial_access_token",
                    ))
                }
                (other, _) => {
                    return Err(invalid(
                        "AUTHLOG_REGISTRATION_POLICY",
                        other,
                        "must be open, initial_access_token or disabled",
                    ))
                }
            },
            registration_rate_limit: bounded(
                "AUTHLOG_REGISTRATION_RATE_LIMIT",
                raw.registration_rate_limit.unwrap_or(10),
                1,
                100_000,
            )?,
            signing_key_rotation_days: bounded(
                "AUTHLOG_SIGNING_KEY_ROTATION_DAYS",
                raw.signing_key_rotation_days.unwrap_or(90),
                1,
                3650,
            )?,
            anonymous_writes_per_minute: bounded(
                "AUTHLOG_ANONYMOUS_WRITES_PER_MINUTE",
                raw.anonymous_writes_per_minute.unwrap_or(300),
                1,
                1_000_000,
            )?,
            password_hashing_slots: bounded(
                "AUTHLOG_PASSWORD_HASHING_SLOTS",
                raw.password_hashing_slots.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
                }),
                1,
                256,
            )?,
            cimd_allow_hosts: raw
                .cimd_allow_hosts
                .unwrap_or_default()
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            cimd_ca_file: raw.cimd_ca_file,
            metrics_listen: raw
                .metrics_listen
                .map(|text| {
                    text.parse().map_err(|_| {
                        invalid("AUTHLOG_METRICS_LISTEN", &text, "must be an address such as 127.0.0.1:9090")
                    })
                })
                .transpose()?,
            max_connections: raw
                .max_connections
                .map(|n| bounded("AUTHLOG_MAX_CONNECTIONS", n, 16, 10_000_000))
                .transpose()?,
            max_connections_per_address: bounded(
                "AUTHLOG_MAX_CONNECTIONS_PER_ADDRESS",
                raw.max_connections_per_address
                    .unwrap_or(crate::http::connections::DEFAULT_PER_ADDRESS),
                1,
                10_000_000,
            )?,
            vault_key: raw.vault_key,
            upstream_refresh_interval_seconds: bounded(
                "AUTHLOG_UPSTREAM_REFRESH_INTERVAL_SECONDS",
                raw.upstream_refresh_interval_seconds.unwrap_or(30) as usize,
                1,
                3600,
            )? as u64,
            usage_flush_seconds: bounded(
                "AUTHLOG_USAGE_FLUSH_SECONDS",
                raw.usage_flush_seconds.unwrap_or(60) as usize,
                1,
                3600,
            )? as u64,
            bootstrap_admin_password: match raw.bootstrap_admin_password {
                Some(p) => {
                    crate::passwords::check_policy(&p).map_err(|reason| {
                        invalid("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", "(hidden)", &reason)
                    })?;
                    Some(p)
                }
                None => None,
            },
        })
    }

    /// Path of the log inside the data directory (see the free `log_path`).
    pub fn log_path(&self) -> PathBuf {
        log_path(&self.data_dir)
    }
}

/// Path of the log inside a data directory: its redb index. The records
/// themselves are beside it in `authlog.log` (`redb_store::log_path`).
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("authlog.redb")
}

/// RFC 8414 §2: an `https` URL (or `http` for local use) with no query or
/// fragment. Returned without a trailing slash.
fn validate_issuer(text: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(text)
        .map_err(|e| invalid("AUTHLOG_ISSUER", text, &format!("not a URL ({e})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(
            "AUTHLOG_ISSUER",
            text,
            "scheme must be https (or http for local use)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "AUTHLOG_ISSUER",
            text,
            "must not have a query or fragment (RFC 8414)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "AUTHLOG_ISSUER",
            text,
            "must not contain credentials",
        ));
    }
    if url.host_str().is_none() {
        return Err(invalid("AUTHLOG_ISSUER", text, "must have a host"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_8080() {
        let c = Config::validate(RawConfig::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
    }

    #[test]
    fn a_bad_listen_address_names_the_setting() {
        let raw = RawConfig {
            listen: Some("localhost".into()),
            ..Default::default()
        };
        let err = Config::validate(raw).unwrap_err().to_string();
        assert!(err.contains("AUTHLOG_LISTEN"), "{err}");
    }

    #[test]
    fn an_issuer_with_a_query_is_refused() {
        let raw = RawConfig {
            issuer: Some("https://id.example.com/?x=1".into()),
            ..Default::default()
        };
        assert!(Config::validate(raw).is_err());
    }

    #[test]
    fn a_zero_batch_is_refused() {
        let raw = RawConfig {
            writer_max_batch: Some(0),
            ..Default::default()
        };
        assert!(Config::validate(raw).is_err());
    }

    #[test]
    fn the_index_cache_is_in_mib_and_never_zero() {
        let raw = |mb| RawConfig {
            index_cache_mb: mb,
            ..Default::default()
        };
        assert_eq!(
            Config::validate(raw(None)).unwrap().index_cache_bytes,
            256 << 20
        );
        assert_eq!(
            Config::validate(raw(Some(64))).unwrap().index_cache_bytes,
            64 << 20
        );
        let err = Config::validate(raw(Some(0))).unwrap_err().to_string();
        assert!(err.contains("AUTHLOG_INDEX_CACHE_MB"), "{err}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let flags = RawConfig {
            listen: Some("127.0.0.1:9".into()),
            ..Default::default()
        };
        let file: RawConfig =
            toml::from_str("listen = \"127.0.0.1:7\"\nissuer = \"https://a.example\"").unwrap();
        let merged = flags.or(file);
        assert_eq!(merged.listen.as_deref(), Some("127.0.0.1:9"));
        assert_eq!(merged.issuer.as_deref(), Some("https://a.example"));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<RawConfig>("lisen = \"x\"").is_err());
    }
}
