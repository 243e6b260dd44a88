//! Calls to a provider's endpoints as its OAuth client: the code exchange
//! (RFC 6749 §4.1.3, with the PKCE verifier, RFC 7636), refresh (§6) and
//! revocation (RFC 7009), authenticated as the provider was configured
//! (`client_secret_basic` with the RFC 6749 §2.3.1 form-encoding,
//! `client_secret_post`, or `none`). Answers are bounded in time (10 s)
//! and size (64 KiB), never redirected, and read as JSON (`Accept:
//! application/json`, which GitHub needs).

use std::sync::OnceLock;
use std::time::Duration;

use authlog_events::{TokenEndpointAuthMethod, UpstreamProvider};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::vault::UpstreamTokens;

/// Longest a call to a provider may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a discovery document may take (an admin waits for it, twice
/// at most).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read.
const MAX_BODY: usize = 64 * 1024;

/// Why a call to a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// It could not be reached, or did not answer in time.
    #[error("the provider could not be reached")]
    Unreachable(#[source] reqwest::Error),
    /// It answered with an OAuth error.
    #[error("{error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its `error` code.
        error: String,
        /// Its `error_description`.
        description: Option<String>,
    },
    /// Its answer is not what the protocol says.
    #[error("the provider's answer is not a valid token response: {0}")]
    Malformed(String),
}

impl UpstreamError {
    /// Whether the provider refused the grant itself (the user must
    /// connect again), rather than failing to answer.
    pub fn grant_refused(&self) -> bool {
        matches!(self, UpstreamError::Refused { error, .. }
            if matches!(error.as_str(), "invalid_grant" | "unauthorized_client" | "invalid_client"))
    }

    /// What the log records about it (bounded, never a token).
    pub fn reason(&self) -> String {
        let mut text = self.to_string();
        if let Some((i, _)) = text.char_indices().nth(300) {
            text.truncate(i);
        }
        text
    }
}

/// A token response.
#[derive(Debug)]
pub struct Granted {
    /// The tokens.
    pub tokens: UpstreamTokens,
    /// `expires_in`.
    pub expires_in: Option<i64>,
    /// `scope`, when the provider said (else what was asked).
    pub scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    token_type: Option<String>,
    #[serde(default, deserialize_with = "number_or_text")]
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `expires_in` as a number or, as some providers send it, a string.
fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(i64),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        Some(Either::Number(n)) => Some(n),
        Some(Either::Text(t)) => t.trim().parse().ok(),
        None => None,
    })
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("authlog/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds")
    })
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before
/// they go into the Basic credentials.
fn form_encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A POST of `form` to `url` authenticated as `provider` says.
fn authenticated(
    url: &str,
    provider: &UpstreamProvider,
    secret: Option<&str>,
    mut form: Vec<(&str, String)>,
) -> reqwest::RequestBuilder {
    let mut request = client()
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json");
    match (provider.token_endpoint_auth_method, secret) {
        (TokenEndpointAuthMethod::ClientSecretBasic, Some(secret)) => {
            request = request.basic_auth(
                form_encoded(&provider.client_id),
                Some(form_encoded(secret)),
            );
        }
        (TokenEndpointAuthMethod::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", provider.client_id.clone()));
            form.push(("client_secret", secret.to_owned()));
        }
        _ => form.push(("client_id", provider.client_id.clone())),
    }
    request.form(&form)
}

async fn bounded_body(response: reqwest::Response) -> Result<Zeroizing<Vec<u8>>, UpstreamError> {
    let mut response = response;
    let mut body = Zeroizing::new(Vec::new());
    while let Some(chunk) = response.chunk().await.map_err(UpstreamError::Unreachable)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(UpstreamError::Malformed("the answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn token_call(request: reqwest::RequestBuilder) -> Result<Granted, UpstreamError> {
    let response = request.send().await.map_err(UpstreamError::Unreachable)?;
    let status = response.status().as_u16();
    let body = bounded_body(response).await?;
    let parsed: Option<TokenBody> = serde_json::from_slice(&body).ok();
    let Some(parsed) = parsed else {
        return Err(if status >= 400 {
            UpstreamError::Refused {
                status,
                error: format!("HTTP {status}"),
                description: None,
            }
        } else {
            UpstreamError::Malformed("not a JSON object".into())
        });
    };
    // GitHub answers errors with 200 and an `error` member.
    if let Some(error) = parsed.error {
        return Err(UpstreamError::Refused {
            status,
            error,
            description: parsed.error_description,
        });
    }
    if status >= 400 {
        return Err(UpstreamError::Refused {
            status,
            error: format!("HTTP {status}"),
            description: None,
        });
    }
    let access_token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| UpstreamError::Malformed("no access_token".into()))?;
    let token_type = parsed
        .token_type
        .ok_or_else(|| UpstreamError::Malformed("no token_type".into()))?;
    Ok(Granted {
        tokens: UpstreamTokens {
            access_token,
            refresh_token: parsed.refresh_token.filter(|t| !t.is_empty()),
            token_type,
        },
        expires_in: parsed.expires_in.filter(|s| *s > 0),
        // Space-delimited (RFC 6749 §3.3); GitHub uses commas.
        scopes: parsed.scope.map(|s| {
            s.split([' ', ','])
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        }),
    })
}

/// Exchanges an authorization code.
pub async fn exchange_code(
    provider: &UpstreamProvider,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<Granted, UpstreamError> {
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v.to_owned()));
    }
    token_call(authenticated(&provider.token_url, provider, secret, form)).await
}

/// Refreshes; a response without a refresh token keeps the one sent
/// (RFC 6749 §6).
pub async fn refresh(
    provider: &UpstreamProvider,
    secret: Option<&str>,
    refresh_token: &str,
) -> Result<Granted, UpstreamError> {
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.to_owned()),
    ];
    let mut granted =
        token_call(authenticated(&provider.token_url, provider, secret, form)).await?;
    if granted.tokens.refresh_token.is_none() {
        granted.tokens.refresh_token = Some(refresh_token.to_owned());
    }
    Ok(granted)
}

/// Revokes a token (RFC 7009): 200 means done, whatever the token was.
pub async fn revoke(
    provider: &UpstreamProvider,
    secret: Option<&str>,
    url: &str,
    token: &str,
    hint: &str,
) -> Result<(), UpstreamError> {
    let form = vec![
        ("token", token.to_owned()),
        ("token_type_hint", hint.to_owned()),
    ];
    let response = authenticated(url, provider, secret, form)
        .send()
        .await
        .map_err(UpstreamError::Unreachable)?;
    let status = response.status().as_u16();
    if status == 200 {
        return Ok(());
    }
    let body = bounded_body(response).await?;
    let parsed: Option<TokenBody> = serde_json::from_slice(&body).ok();
    Err(UpstreamError::Refused {
        status,
        error: parsed
            .as_ref()
            .and_then(|p| p.error.clone())
            .unwrap_or_else(|| format!("HTTP {status}")),
        description: parsed.and_then(|p| p.error_description),
    })
}

/// Fetches a discovery document (JSON, bounded).
pub async fn fetch_json(url: &str) -> Result<serde_json::Value, UpstreamError> {
    let response = client()
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(DISCOVERY_TIMEOUT)
        .send()
        .await
        .map_err(UpstreamError::Unreachable)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(UpstreamError::Refused {
            status,
            error: format!("HTTP {status}"),
            description: None,
        });
    }
    let body = bounded_body(response).await?;
    serde_json::from_slice(&body).map_err(|_| UpstreamError::Malformed("not JSON".into()))
}
