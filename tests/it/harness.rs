//! Starting and stopping a real server for a test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `authlog` binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_authlog")
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Its data directory.
    pub data: PathBuf,
    /// Keeps the temporary directory alive.
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server on a fresh temporary data directory.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server::start_on(&data, &[]);
        server._dir = Some(dir);
        server
    }

    /// Starts a server on `data` with extra environment variables, and waits until ready.
    pub fn start_on(data: &Path, env: &[(&str, &str)]) -> Server {
        let stderr = std::fs::File::create(data.with_extension("stderr.log")).unwrap();
        let mut child = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .envs(env.iter().copied())
            .env("AUTHLOG_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start authlog");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("authlog listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; see {}",
                    data.with_extension("stderr.log").display()
                )
            })
            .to_owned();
        let server = Server {
            child,
            base,
            data: data.to_owned(),
            _dir: None,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::blocking::Client::new();
        loop {
            if let Ok(r) = client.get(self.url("/readyz")).send() {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "server not ready in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it; returns the data directory's temp holder.
    pub fn stop(mut self) -> Option<tempfile::TempDir> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}");
        self._dir.take()
    }

    /// Stops and starts the server again on the same data directory.
    pub fn restart(self) -> Server {
        let data = self.data.clone();
        let dir = self.stop();
        let mut server = Server::start_on(&data, &[]);
        server._dir = dir;
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
