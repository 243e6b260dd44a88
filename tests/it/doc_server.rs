//! An https server on loopback serving client metadata documents, with a
//! certificate made at test time (rcgen + rustls). It counts fetches and
//! can answer slowly, to test caching and merged fetches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A running document server; stops with the test process.
pub struct DocServer {
    /// Its port on 127.0.0.1 (served as `localhost`).
    pub port: u16,
    /// The CA (self-signed certificate) to trust, as PEM.
    pub ca_pem: String,
    /// Fetches served.
    pub hits: Arc<AtomicUsize>,
    docs: Arc<Mutex<HashMap<String, (String, String)>>>,
    delay_ms: Arc<AtomicUsize>,
}

impl DocServer {
    /// Starts the server.
    pub fn start() -> DocServer {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let ca_pem = key.cert.pem();
        let cert_der = key.cert.der().clone();
        let key_der =
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let docs: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
        let delay_ms = Arc::new(AtomicUsize::new(0));
        let (h, d, delay) = (hits.clone(), docs.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else { continue };
                    let (acceptor, h, d, delay) = (acceptor.clone(), h.clone(), d.clone(), delay.clone());
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 1024];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let request = String::from_utf8_lossy(&buf);
                        let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                        h.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst) as u64)).await;
                        let doc = d.lock().unwrap().get(&path).cloned();
                        let response = match doc {
                            Some((body, cache)) => format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: {cache}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            ),
                            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                        };
                        let _ = tls.write_all(response.as_bytes()).await;
                        let _ = tls.shutdown().await;
                    });
                }
            });
        });
        DocServer {
            port,
            ca_pem,
            hits,
            docs,
            delay_ms,
        }
    }

    /// The document URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// Serves `body` at `path` with `Cache-Control: cache`.
    pub fn serve(&self, path: &str, body: &str, cache: &str) {
        self.docs
            .lock()
            .unwrap()
            .insert(path.to_owned(), (body.to_owned(), cache.to_owned()));
    }

    /// Makes every answer wait `ms` milliseconds.
    pub fn delay(&self, ms: usize) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Environment that lets a server trust and reach this one.
    pub fn env(&self, dir: &std::path::Path) -> Vec<(String, String)> {
        let ca = dir.join("doc-ca.pem");
        std::fs::write(&ca, &self.ca_pem).unwrap();
        vec![
            ("AUTHLOG_CIMD_CA_FILE".into(), ca.display().to_string()),
            (
                "AUTHLOG_CIMD_ALLOW_HOSTS".into(),
                format!("localhost:{}", self.port),
            ),
        ]
    }
}
