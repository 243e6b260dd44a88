//! A PostgreSQL schema of its own for one test, dropped at the end. The
//! server is `AUTHLOG_TEST_POSTGRES`, else the development machines'
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached,
//! a test run with `CI` set fails; elsewhere the test says loudly that it
//! skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The server tests use when nothing else is said.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema; `url` connects with it first on the search path.
pub struct TestDb {
    /// What `PgStore::open` and `authlog --store` take.
    pub url: String,
    base: String,
    schema: String,
}

fn base_url() -> String {
    std::env::var("AUTHLOG_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config: tokio_postgres::Config = url.parse()?;
        config.connect_timeout(Duration::from_secs(5));
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(sql).await
    })
}

impl TestDb {
    /// A new schema, or `None` (after saying so) when PostgreSQL is not
    /// there and this is not CI.
    pub fn create(test: &str) -> Option<TestDb> {
        let base = base_url();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "authlog_t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // A schema of that name left by a killed run with the same pid goes.
        let fresh = format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}");
        if let Err(e) = execute(&base, &fresh) {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL at {base} is required in CI: {e}");
            }
            eprintln!(
                "SKIPPED {test}: PostgreSQL at {base} is not reachable ({e}); \
                 set AUTHLOG_TEST_POSTGRES to run it"
            );
            return None;
        }
        let separator = if base.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{base}{separator}options=-c%20search_path%3D{schema}"),
            base,
            schema,
        })
    }

    /// Runs `sql` with this schema on the search path.
    pub fn execute(&self, sql: &str) {
        execute(&self.url, sql).unwrap();
    }

    /// Ends the session holding this schema's leader lock, as a dead
    /// leader process or a cut connection would.
    pub fn end_leader_session(&self) {
        self.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 2
               AND classid::int = x'61757468'::int
               AND objid::int = hashtext(current_schema())",
        );
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = execute(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        );
    }
}
