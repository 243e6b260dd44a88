//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a `client_id` that is an https URL names a JSON document holding the
//! client's metadata. This module checks such URLs, fetches documents
//! without becoming an SSRF tool, validates them and caches them.
//!
//! Fetching: resolve the host once, refuse loopback, private, link-local,
//! CGNAT, multicast, unspecified, reserved and IPv4-mapped/NAT64 forms of
//! them, then connect to the vetted address (no second lookup); no
//! redirects; 5 s timeout; 5 KB body cap; JSON only. Cached per
//! `Cache-Control: max-age`, clamped to 5 minutes – 24 hours; concurrent
//! fetches of one URL are merged into one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authlog_events::{ClientMetadata, Timestamp, TokenEndpointAuthMethod};
use thiserror::Error;

use crate::client_document::ClientDocument;
use crate::client_policy;

/// Longest accepted client id URL.
pub const MAX_URL: usize = 2048;
/// Largest document.
pub const MAX_BODY: usize = 5 * 1024;
/// Fetch timeout.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Cache lifetime bounds.
pub const MIN_TTL: i64 = 300;
/// Cache lifetime bounds.
pub const MAX_TTL: i64 = 86_400;

/// Why a metadata document cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CimdError {
    /// The URL breaks the rules for a client id URL.
    #[error("client_id URL is not acceptable: {0}")]
    BadUrl(String),
    /// The host resolves only to addresses authlog will not connect to.
    #[error("client_id host is not a public address")]
    ForbiddenAddress,
    /// The fetch failed.
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
    /// The document is not acceptable.
    #[error("the client metadata document is invalid: {0}")]
    Document(String),
}

/// A fetch failure as the client hears it: `said`, a fixed description.
/// The cause (a resolver's or TLS library's words, which could tell an
/// outsider which internal names resolve) goes to the log only.
fn hidden(
    url: &url::Url,
    said: &'static str,
    cause: &(dyn std::error::Error + 'static),
) -> CimdError {
    tracing::info!(%url, cause = %crate::error_report::Report(cause), "{said}");
    CimdError::Fetch(said.into())
}

/// Whether `client_id` is meant as a metadata document URL.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// The URL rules: https, a path beyond `/`, no fragment, no userinfo, no
/// dot segments, bounded length.
pub fn check_url(client_id: &str) -> Result<url::Url, CimdError> {
    let bad = |m: &str| CimdError::BadUrl(m.to_owned());
    if client_id.len() > MAX_URL {
        return Err(bad("too long"));
    }
    let url = url::Url::parse(client_id).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(bad("must be https"));
    }
    if url.fragment().is_some() || client_id.contains('#') {
        return Err(bad("must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain user information"));
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err(bad("must have a path"));
    }
    let raw_path = client_id
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    let raw_path = raw_path.split(['?', '#']).next().unwrap_or("");
    if raw_path.split('/').any(|seg| {
        let seg = seg.to_ascii_lowercase();
        seg == "."
            || seg == ".."
            || seg == "%2e"
            || seg == "%2e%2e"
            || seg == ".%2e"
            || seg == "%2e."
    }) {
        return Err(bad("must not contain dot segments"));
    }
    // The parsed URL must be the URL as given: no normalisation tricks.
    if url.as_str() != client_id {
        return Err(bad("must be in normalised form"));
    }
    Ok(url)
}

/// Whether authlog may connect to `ip` to fetch a document.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 well-known prefix 64:ff9b::/96 embeds an IPv4 address.
            // NAT64 prefixes 64:ff9b::/96 and 64:ff9b:1::/48 embed an IPv4 address.
            if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1) {
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return is_public_v4(v4);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || o[0] >= 240) // reserved
}

/// Checks a fetched document against its URL and turns it into metadata.
pub fn parse_document(client_id: &str, body: &[u8]) -> Result<ClientMetadata, CimdError> {
    let doc: ClientDocument = serde_json::from_slice(body)
        .map_err(|e| CimdError::Document(format!("not a JSON object: {e}")))?;
    if doc.client_id.as_deref() != Some(client_id) {
        return Err(CimdError::Document(
            "its client_id must equal its URL exactly".into(),
        ));
    }
    if doc.redirect_uris.as_ref().is_none_or(|r| r.is_empty()) {
        return Err(CimdError::Document("redirect_uris is required".into()));
    }
    if doc.client_secret.is_some() {
        return Err(CimdError::Document(
            "a metadata document cannot carry a client_secret".into(),
        ));
    }
    let metadata = doc
        .metadata()
        .map_err(|e| CimdError::Document(format!("{}: {}", e.field, e.message)))?;
    if metadata.token_endpoint_auth_method != TokenEndpointAuthMethod::None {
        return Err(CimdError::Document(
            "only token_endpoint_auth_method none is supported (no shared secrets)".into(),
        ));
    }
    crate::client_document::check_self_registered(&metadata)
        .and_then(|_| client_policy::validate(&metadata, false).map(|_| ()))
        .map_err(|e| CimdError::Document(format!("{}: {}", e.field, e.message)))?;
    Ok(metadata)
}

/// `max-age` of a `Cache-Control` value, clamped.
pub fn cache_ttl(cache_control: Option<&str>) -> i64 {
    let max_age = cache_control.and_then(|v| {
        v.split(',').find_map(|d| {
            let d = d.trim();
            d.strip_prefix("max-age=")
                .and_then(|n| n.trim_matches('"').parse::<i64>().ok())
        })
    });
    max_age.unwrap_or(MIN_TTL).clamp(MIN_TTL, MAX_TTL)
}

#[derive(Debug, Clone)]
struct Cached {
    result: Result<ClientMetadata, CimdError>,
    until: Timestamp,
}

/// Counts one lookup that was not answered from the cache, by outcome.
fn count(outcome: Result<(), &CimdError>) {
    let outcome = match outcome {
        Ok(()) => "fetched",
        Err(CimdError::BadUrl(_)) => "bad_url",
        Err(CimdError::ForbiddenAddress) => "forbidden_address",
        Err(CimdError::Fetch(_)) => "fetch_failed",
        Err(CimdError::Document(_)) => "invalid_document",
    };
    metrics::counter!(crate::telemetry::CIMD_FETCHES, "outcome" => outcome).increment(1);
}

/// Fetches and caches metadata documents.
pub struct DocumentFetcher {
    allow_hosts: Vec<String>,
    extra_root: Option<reqwest::Certificate>,
    cache: Mutex<HashMap<String, Cached>>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for DocumentFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentFetcher")
            .field("allow_hosts", &self.allow_hosts)
            .finish()
    }
}

impl DocumentFetcher {
    /// A fetcher; `allow_hosts` (`host:port`) skip the address rules (tests),
    /// `extra_root_pem` is an extra trusted CA.
    pub fn new(allow_hosts: Vec<String>, extra_root_pem: Option<&[u8]>) -> Result<Self, String> {
        let extra_root = extra_root_pem
            .map(|pem| {
                reqwest::Certificate::from_pem(pem)
                    .map_err(|e| format!("AUTHLOG_CIMD_CA_FILE: {e}"))
            })
            .transpose()?;
        Ok(DocumentFetcher {
            allow_hosts,
            extra_root,
            cache: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, client_id: &str, now: Timestamp) -> Option<Result<ClientMetadata, CimdError>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(client_id)
            .filter(|c| now < c.until)
            .map(|c| c.result.clone())
    }

    /// The metadata behind `client_id`, from the cache or a fetch.
    pub async fn metadata(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> Result<ClientMetadata, CimdError> {
        let url = check_url(client_id).inspect_err(|e| count(Err(e)))?;
        if let Some(hit) = self.cached(client_id, now) {
            metrics::counter!(crate::telemetry::CIMD_FETCHES, "outcome" => "cached").increment(1);
            return hit;
        }
        // One fetch per URL at a time; the others wait and read the cache.
        let gate = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            inflight.entry(client_id.to_owned()).or_default().clone()
        };
        let _guard = gate.lock().await;
        if let Some(hit) = self.cached(client_id, now) {
            return hit;
        }
        let fetched = tokio::time::timeout(TIMEOUT, self.fetch(&url))
            .await
            .unwrap_or_else(|_| Err(CimdError::Fetch("timed out".into())));
        let (result, ttl) = match fetched {
            Ok((body, ttl)) => (parse_document(client_id, &body), ttl),
            // Failures are remembered briefly, so a bad URL cannot make authlog fetch in a loop.
            Err(e) => (Err(e), 30),
        };
        count(result.as_ref().map(drop));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, c| now < c.until);
            if cache.len() > 10_000 {
                cache.clear();
            }
        }
        cache.insert(
            client_id.to_owned(),
            Cached {
                result: result.clone(),
                until: now.plus_seconds(ttl),
            },
        );
        drop(cache);
        self.inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client_id);
        result
    }

    /// A client builder that connects to `url`'s host only at an address
    /// vetted here: a public one, unless `any_address` or the host is
    /// allow-listed (`AUTHLOG_CIMD_ALLOW_HOSTS`); no redirects, no proxy,
    /// `TIMEOUT`, the extra CA if configured. Shared by every outbound
    /// request a client's metadata can aim (documents, back-channel logout).
    pub async fn vetted_client(
        &self,
        url: &url::Url,
        any_address: bool,
        user_agent: &'static str,
    ) -> Result<reqwest::ClientBuilder, CimdError> {
        let host = url
            .host_str()
            .ok_or_else(|| CimdError::BadUrl("no host".into()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let allowed = any_address
            || self
                .allow_hosts
                .contains(&format!("{}:{port}", host.to_ascii_lowercase()));
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| CimdError::Fetch("DNS lookup timed out".into()))?
                .map_err(|e| hidden(url, "the host could not be resolved", &e))?
                .collect();
        let addr = addrs
            .into_iter()
            .find(|a| allowed || is_public(a.ip()))
            .ok_or(CimdError::ForbiddenAddress)?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .no_proxy()
            .resolve(&host, addr)
            .user_agent(user_agent);
        if let Some(root) = &self.extra_root {
            builder = builder.add_root_certificate(root.clone());
        }
        Ok(builder)
    }

    /// Resolves, vets the address, and fetches the document from it.
    async fn fetch(&self, url: &url::Url) -> Result<(Vec<u8>, i64), CimdError> {
        let builder = self
            .vetted_client(url, false, "authlog (client metadata fetcher)")
            .await?
            .https_only(true);
        let client = builder
            .build()
            .map_err(|e| hidden(url, "the fetch could not be prepared", &e))?;
        let mut response = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| hidden(url, "the host could not be reached", &e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(CimdError::Fetch(format!(
                "status {}",
                response.status().as_u16()
            )));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if content_type != "application/json" && !content_type.ends_with("+json") {
            return Err(CimdError::Fetch(format!(
                "content type {content_type:?} is not JSON"
            )));
        }
        let ttl = cache_ttl(
            response
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
        );
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| hidden(url, "the document could not be read", &e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(CimdError::Fetch(format!("larger than {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_fetch_tells_the_client_nothing_of_the_resolver() {
        let fetcher = DocumentFetcher::new(vec![], None).unwrap();
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        // RFC 6761: .invalid never resolves.
        let e = fetcher
            .metadata("https://no-such-host.invalid/client.json", now)
            .await
            .unwrap_err();
        assert_eq!(
            e,
            CimdError::Fetch("the host could not be resolved".into()),
            "{e}"
        );
    }

    #[test]
    fn client_id_urls_follow_the_draft_rules() {
        assert!(check_url("https://app.example.com/oauth/client.json").is_ok());
        assert!(check_url("https://app.example.com/client?v=1").is_ok());
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com/",
            "https://app.example.com",
            "https://app.example.com/a#frag",
            "https://user:pw@app.example.com/client.json",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/./client.json",
            "https://app.example.com/a/%2e%2e/client.json",
            "https://APP.example.com/client.json",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://a.example.com/{}", "x".repeat(3000))).is_err());
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn cache_lifetimes_are_clamped() {
        assert_eq!(cache_ttl(None), MIN_TTL);
        assert_eq!(cache_ttl(Some("max-age=10")), MIN_TTL);
        assert_eq!(cache_ttl(Some("public, max-age=3600")), 3600);
        assert_eq!(cache_ttl(Some("max-age=99999999")), MAX_TTL);
    }

    #[test]
    fn documents_must_name_themselves_and_use_no_secret() {
        let id = "https://app.example.com/client.json";
        let ok = format!(
            r#"{{"client_id":"{id}","client_name":"App","redirect_uris":["https://app.example.com/cb"]}}"#
        );
        let md = parse_document(id, ok.as_bytes()).unwrap();
        assert_eq!(md.token_endpoint_auth_method, TokenEndpointAuthMethod::None);
        let other = r#"{"client_id":"https://evil.example.com/c.json","redirect_uris":["https://app.example.com/cb"]}"#;
        assert!(parse_document(id, other.as_bytes()).is_err());
        let secret = format!(
            r#"{{"client_id":"{id}","redirect_uris":["https://a.example.com/cb"],"token_endpoint_auth_method":"client_secret_basic"}}"#
        );
        assert!(parse_document(id, secret.as_bytes()).is_err());
        let no_redirect = format!(r#"{{"client_id":"{id}"}}"#);
        assert!(parse_document(id, no_redirect.as_bytes()).is_err());
    }
}
