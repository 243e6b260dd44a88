//! Starting and stopping a real server for a test, and an HTTP client that
//! speaks its APIs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

/// The `authlog-admin` secret every test server starts with.
pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";

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
    http: Client,
    dir: Option<tempfile::TempDir>,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts a server on a fresh temporary data directory.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server on a fresh temporary data directory with extra environment.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server::start_on(&data, env);
        server.dir = Some(dir);
        server
    }

    /// Starts a server whose issuer is its own address (for relying-party
    /// libraries that check the issuer against the discovery URL): a free
    /// loopback port is picked first.
    pub fn start_as_issuer(env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let issuer = format!("http://{listen}");
        let mut env = env.to_vec();
        env.push(("AUTHLOG_ISSUER", &issuer));
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server::spawn(&data, &listen, &env);
        server.dir = Some(dir);
        assert_eq!(server.base, issuer);
        server
    }

    /// Starts a server on `data` with extra environment variables, and waits until ready.
    pub fn start_on(data: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(data, "127.0.0.1:0", env)
    }

    fn spawn(data: &Path, listen: &str, env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("stderr.log"))
            .unwrap();
        let mut child = Command::new(binary())
            .args(["serve", "--listen", listen, "--data"])
            .arg(data)
            .env("AUTHLOG_BOOTSTRAP_ADMIN_SECRET", ADMIN_SECRET)
            .env("AUTHLOG_LOG", "info")
            .envs(env.iter().copied())
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
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            dir: None,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send() {
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

    /// Stops the server gracefully (SIGTERM) and waits for it; returns the temp dir holder.
    pub fn stop(mut self) -> Option<tempfile::TempDir> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}");
        self.dir.take()
    }

    /// Kills the server with SIGKILL (no shutdown, no flush) and waits for
    /// it to die; returns its data directory and the temp dir holder.
    pub fn kill9(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        self.child.wait().unwrap();
        (self.data.clone(), self.dir.take())
    }

    /// Waits up to `within` for the process to exit by itself; its exit
    /// code, or `None` if it still runs (or died of a signal).
    pub fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Adopts `dir` as this server's temp dir holder (removed on drop).
    pub fn hold(&mut self, dir: Option<tempfile::TempDir>) {
        self.dir = dir;
    }

    /// Stops and starts the server again on the same data directory.
    pub fn restart(self) -> Server {
        self.restart_with(&[])
    }

    /// Restarts with extra environment (for example a clock skew).
    pub fn restart_with(self, env: &[(&str, &str)]) -> Server {
        let data = self.data.clone();
        let dir = self.stop();
        let mut server = Server::start_on(&data, env);
        server.dir = dir;
        server
    }

    /// Stops the server, runs `between` on its data directory, and starts
    /// it again on the same data directory, address and issuer (for a
    /// server started with `start_as_issuer`) with extra environment.
    pub fn restart_in_place_after<T>(
        self,
        env: &[(&str, &str)],
        between: impl FnOnce(&Path) -> T,
    ) -> (Server, T) {
        let data = self.data.clone();
        let base = self.base.clone();
        let listen = base.strip_prefix("http://").unwrap().to_owned();
        let dir = self.stop();
        let result = between(&data);
        let mut env = env.to_vec();
        env.push(("AUTHLOG_ISSUER", &base));
        let mut server = Server::spawn(&data, &listen, &env);
        server.dir = dir;
        (server, result)
    }

    /// `restart_in_place_after` with nothing in between.
    pub fn restart_in_place(self, env: &[(&str, &str)]) -> Server {
        self.restart_in_place_after(env, |_| ()).0
    }

    /// A GET.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path))
    }

    /// A POST.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path))
    }

    /// A PATCH.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.http.patch(self.url(path))
    }

    /// A PUT.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.http.put(self.url(path))
    }

    /// A CORS preflight for `path` from `origin`.
    pub fn http_options(&self, path: &str, origin: &str) -> Response {
        self.http
            .request(reqwest::Method::OPTIONS, self.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
            .unwrap()
    }

    /// A request with any method.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// A DELETE.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.http.delete(self.url(path))
    }

    /// A client_credentials token for `client_id` using HTTP Basic.
    pub fn token_basic(&self, client_id: &str, secret: &str, scope: Option<&str>) -> Response {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.post("/oauth/token")
            .basic_auth(enc(client_id), Some(enc(secret)))
            .form(&form)
            .send()
            .unwrap()
    }

    /// An access token of `authlog-admin` with `scope` (all admin scopes when `None`).
    pub fn admin_token(&self, scope: Option<&str>) -> String {
        self.access_token("authlog-admin", ADMIN_SECRET, scope)
    }

    /// A client_credentials access token (the request must succeed).
    pub fn access_token(&self, client_id: &str, secret: &str, scope: Option<&str>) -> String {
        let r = self.token_basic(client_id, secret, scope);
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Revokes `token` as `client_id` (RFC 7009, Basic); the status.
    pub fn revoke(&self, client_id: &str, secret: &str, token: &str) -> u16 {
        self.post("/oauth/revoke")
            .basic_auth(enc(client_id), Some(enc(secret)))
            .form(&[("token", token)])
            .send()
            .unwrap()
            .status()
            .as_u16()
    }

    /// Creates a client through the admin API; returns the response body.
    pub fn create_client(&self, admin: &str, body: Value) -> Value {
        let r = self
            .post("/api/admin/oauth-clients")
            .bearer_auth(admin)
            .json(&body)
            .send()
            .unwrap();
        let status = r.status();
        let body: Value = r.json().unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }

    /// A confidential client_credentials client with `scope`; returns (id, secret).
    pub fn service_client(&self, admin: &str, id: &str, scope: &str) -> (String, String) {
        let body = self.create_client(
            admin,
            serde_json::json!({
                "client_id": id,
                "client_name": format!("service {id}"),
                "grant_types": ["client_credentials"],
                "scope": scope,
            }),
        );
        (
            id.to_owned(),
            body["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Introspects `token` as `client_id` (Basic).
    pub fn introspect(&self, client_id: &str, secret: &str, token: &str) -> Value {
        let r = self
            .post("/oauth/introspect")
            .basic_auth(enc(client_id), Some(enc(secret)))
            .form(&[("token", token)])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    }

    /// The log head position, from `/readyz`.
    pub fn head(&self) -> u64 {
        let ready: Value = self.get("/readyz").send().unwrap().json().unwrap();
        ready["position"].as_u64().unwrap()
    }
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
