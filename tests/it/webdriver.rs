//! A headless Chromium driven over WebDriver for the console tests:
//! `chromedriver` started on a free loopback port and stopped on drop,
//! one fantoccini session, and blocking helpers (each call runs on the
//! wrapper's own tokio runtime, so a test can mix them with the harness's
//! blocking HTTP client). Without chromedriver a test is skipped loudly,
//! or fails when `CI` is set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long a test waits for something to appear in the page.
const WAIT: Duration = Duration::from_secs(20);

fn find_on_path(name: &str) -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin").join(name);
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The chromedriver executable; `None` (after a loud message) when a
/// browser test should skip. Panics when missing under `CI`.
pub fn chromedriver_or_skip(test: &str) -> Option<PathBuf> {
    match find_on_path("chromedriver") {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: chromedriver not found, and CI is set (install chromium and chromium-driver)")
        }
        None => {
            eprintln!("\n*** SKIPPED {test}: chromedriver not found (apt-get install chromium chromium-driver) ***\n");
            None
        }
    }
}

/// A running chromedriver; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(path: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The legacy `se/log` command: the browser's console log since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// One browser session (headless Chromium), with blocking helpers.
pub struct Web {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    _driver: Driver,
    /// Log lines read so far (they are consumed by each read).
    log: Vec<Value>,
}

impl Web {
    /// Starts chromedriver and a 1280×900 headless browser that saves
    /// downloads in `downloads`.
    pub fn start(chromedriver: &Path, downloads: &Path) -> Web {
        // fantoccini's rustls needs a process-wide provider; chromedriver
        // itself is plain http on loopback.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let driver = Driver::start(chromedriver);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut caps = serde_json::Map::new();
        let mut chrome = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"],
        });
        chrome["prefs"] = json!({
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
        });
        if let Some(binary) = find_on_path("chromium") {
            chrome["binary"] = json!(binary);
        }
        caps.insert("goog:chromeOptions".into(), chrome);
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = rt
            .block_on(async {
                ClientBuilder::rustls()
                    .expect("rustls")
                    .capabilities(caps)
                    .connect(&driver.url)
                    .await
            })
            .expect("a WebDriver session");
        Web {
            rt,
            client: Some(client),
            _driver: driver,
            log: Vec::new(),
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.c().goto(url)).unwrap();
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.rt
            .block_on(self.c().current_url())
            .unwrap()
            .to_string()
    }

    /// The page's text (for failure messages).
    pub fn page_text(&self) -> String {
        self.rt
            .block_on(self.c().execute("return document.body.innerText;", vec![]))
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    /// Waits for an element matching `css`.
    pub fn wait(&self, css: &str) -> Element {
        self.rt
            .block_on(self.c().wait().at_most(WAIT).for_element(Locator::Css(css)))
            .unwrap_or_else(|e| {
                panic!(
                    "no {css} in time ({e}); at {}: {}",
                    self.url(),
                    self.page_text()
                )
            })
    }

    /// Whether an element matching `css` is in the page now.
    pub fn exists(&self, css: &str) -> bool {
        !self
            .rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .unwrap()
            .is_empty()
    }

    /// Clicks the element matching `css` (waiting for it).
    pub fn click(&self, css: &str) {
        let el = self.wait(css);
        self.rt
            .block_on(el.click())
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the text of the input matching `css`.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.wait(css);
        self.rt.block_on(el.clear()).unwrap();
        self.rt.block_on(el.send_keys(text)).unwrap();
    }

    /// Types into the input matching `css` without clearing it.
    pub fn type_in(&self, css: &str, text: &str) {
        let el = self.wait(css);
        self.rt.block_on(el.send_keys(text)).unwrap();
    }

    /// The visible text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let el = self.wait(css);
        self.rt.block_on(el.text()).unwrap()
    }

    /// Whether the element matching `css` is enabled.
    pub fn enabled(&self, css: &str) -> bool {
        let el = self.wait(css);
        self.rt.block_on(el.is_enabled()).unwrap()
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .rt
                .block_on(self.c().find(Locator::Css(css)))
                .ok()
                .and_then(|el| self.rt.block_on(el.text()).ok());
            if let Some(text) = &found {
                if text.contains(needle) {
                    return text.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {needle:?}; last text {found:?} at {}: {}",
                self.url(),
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the URL path is `path`.
    pub fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = url::Url::parse(&self.url()).unwrap();
            if url.path() == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never reached {path}; at {url}: {}",
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a script in the page (WebDriver scripts are not subject to the CSP).
    pub fn script(&self, script: &str) -> Value {
        self.rt
            .block_on(self.c().execute(script, vec![]))
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.rt
            .block_on(self.c().set_window_size(width, height))
            .unwrap();
    }

    /// Forgets every cookie of the current site (a new person at this browser).
    pub fn forget_cookies(&self) {
        self.rt.block_on(self.c().delete_all_cookies()).unwrap();
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self.rt.block_on(self.c().screenshot()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }

    /// Waits for a finished download named `name` in `dir`; returns its bytes.
    pub fn downloaded(&self, dir: &Path, name: &str) -> Vec<u8> {
        let path = dir.join(name);
        let deadline = Instant::now() + WAIT;
        loop {
            // Chromium writes `name.crdownload` first and renames it when done.
            if let Ok(bytes) = std::fs::read(&path) {
                if !bytes.is_empty() {
                    return bytes;
                }
            }
            assert!(Instant::now() < deadline, "{name} was not downloaded");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The browser log entries since the last `take_log`.
    pub fn take_log(&mut self) -> Vec<Value> {
        self.log();
        std::mem::take(&mut self.log)
    }

    /// Every browser log entry so far (kept across calls).
    pub fn log(&mut self) -> &[Value] {
        let entries = self
            .rt
            .block_on(self.c().issue_cmd(BrowserLog))
            .expect("the browser log");
        if let Value::Array(entries) = entries {
            self.log.extend(entries);
        }
        &self.log
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
    }
}
