//! A provider as an admin gives it (`/api/admin/upstream-providers`):
//! the JSON input, its rules, discovery of the endpoints from an issuer
//! (RFC 8414 `/.well-known/oauth-authorization-server`, then OpenID
//! Connect Discovery `/.well-known/openid-configuration`, the issuer in
//! the document checked against the one given), and the view an admin
//! reads (never the client secret).

use authlog_events::{TokenEndpointAuthMethod, UpstreamProvider};
use authlog_projections::upstream::ProviderActivity;
use authlog_projections::{ConnectionStatus, ProviderRecord, Upstream};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::client_policy::{is_scope_token, FieldError};

/// Provider ids: what `/connect/{id}` and `upstream:{id}` can hold.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// The scope that lets a client exchange a user's token for this
/// provider's.
pub fn scope_of(provider_id: &str) -> String {
    format!("upstream:{provider_id}")
}

/// The provider a scope names, if it is an `upstream:` scope.
pub fn provider_of_scope(scope: &str) -> Option<&str> {
    scope.strip_prefix("upstream:")
}

/// The callback the admin registers at the provider.
pub fn callback_url(issuer: &str, provider_id: &str) -> String {
    format!("{issuer}/connect/{provider_id}/callback")
}

/// A provider as sent (create: every required field; edit: merged over
/// the current one first).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    /// Its id.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Discover the endpoints from this issuer.
    pub issuer: Option<String>,
    /// Authorization endpoint.
    pub authorization_url: Option<String>,
    /// Token endpoint.
    pub token_url: Option<String>,
    /// Revocation endpoint.
    pub revocation_url: Option<String>,
    /// Userinfo endpoint.
    pub userinfo_url: Option<String>,
    /// authlog's client id there.
    pub client_id: Option<String>,
    /// authlog's client secret there (write-only).
    pub client_secret: Option<String>,
    /// Scopes to ask for.
    pub scopes: Option<Vec<String>>,
    /// Send PKCE (default true).
    pub pkce: Option<bool>,
    /// `client_secret_basic` (default with a secret), `client_secret_post`, `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// Extra authorization request parameters.
    pub authorization_params: Option<Map<String, Value>>,
    /// Clients allowed to exchange tokens for this provider's.
    pub allowed_clients: Option<Vec<String>>,
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// An endpoint URL: absolute, no fragment, https, or http on a loopback
/// host (a provider on the same machine).
pub fn check_url(field: &str, value: &str) -> Result<String, FieldError> {
    let url = url::Url::parse(value).map_err(|_| invalid(field, "must be an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(invalid(field, "must not have a fragment"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(value.to_owned()),
        "http" if loopback => Ok(value.to_owned()),
        _ => Err(invalid(
            field,
            "must be an https URL (http only on a loopback host)",
        )),
    }
}

fn parse_method(value: &str) -> Result<TokenEndpointAuthMethod, FieldError> {
    match value {
        "client_secret_basic" => Ok(TokenEndpointAuthMethod::ClientSecretBasic),
        "client_secret_post" => Ok(TokenEndpointAuthMethod::ClientSecretPost),
        "none" => Ok(TokenEndpointAuthMethod::None),
        _ => Err(invalid(
            "token_endpoint_auth_method",
            "must be client_secret_basic, client_secret_post or none",
        )),
    }
}

/// The method's RFC 7591 name.
pub fn method_name(m: TokenEndpointAuthMethod) -> &'static str {
    match m {
        TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
        TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
        TokenEndpointAuthMethod::None => "none",
    }
}

fn bounded_text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be 1-{max} characters without control characters"),
        ));
    }
    Ok(value.to_owned())
}

impl ProviderInput {
    /// The provider this input describes, once discovery (if asked for)
    /// has filled `discovered`. `has_secret`: a secret is (or stays) set.
    pub fn to_provider(&self, has_secret: bool) -> Result<UpstreamProvider, FieldError> {
        let required = |field: &str, v: &Option<String>| {
            v.clone()
                .ok_or_else(|| invalid(field, "is required (or give issuer to discover it)"))
        };
        let name = bounded_text("name", &required("name", &self.name)?, 200)?;
        let authorization_url = check_url(
            "authorization_url",
            &required("authorization_url", &self.authorization_url)?,
        )?;
        let token_url = check_url("token_url", &required("token_url", &self.token_url)?)?;
        let optional_url =
            |field: &str, v: &Option<String>| v.as_deref().map(|u| check_url(field, u)).transpose();
        let client_id = bounded_text("client_id", &required("client_id", &self.client_id)?, 512)?;
        let scopes = self.scopes.clone().unwrap_or_default();
        if scopes.len() > 50 || scopes.iter().any(|s| !is_scope_token(s)) {
            return Err(invalid(
                "scopes",
                "must be at most 50 RFC 6749 scope tokens",
            ));
        }
        let method = match &self.token_endpoint_auth_method {
            Some(m) => parse_method(m)?,
            None if has_secret => TokenEndpointAuthMethod::ClientSecretBasic,
            None => TokenEndpointAuthMethod::None,
        };
        if has_secret == (method == TokenEndpointAuthMethod::None) {
            return Err(invalid(
                "client_secret",
                if has_secret {
                    "is not sent with token_endpoint_auth_method none"
                } else {
                    "is required unless token_endpoint_auth_method is none"
                },
            ));
        }
        let mut authorization_params = Vec::new();
        for (k, v) in self.authorization_params.iter().flatten() {
            let reserved = [
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "code_challenge",
                "code_challenge_method",
                "scope",
            ];
            if reserved.contains(&k.as_str()) || k.is_empty() || k.len() > 100 {
                return Err(invalid(
                    "authorization_params",
                    format!("{k:?} cannot be set here"),
                ));
            }
            let Some(v) = v.as_str().filter(|v| v.len() <= 1000) else {
                return Err(invalid(
                    "authorization_params",
                    "values must be strings of at most 1000 characters",
                ));
            };
            authorization_params.push((k.clone(), v.to_owned()));
        }
        if authorization_params.len() > 20 {
            return Err(invalid("authorization_params", "at most 20"));
        }
        let allowed_clients = self.allowed_clients.clone().unwrap_or_default();
        if allowed_clients.len() > 100
            || allowed_clients
                .iter()
                .any(|c| c.is_empty() || c.len() > 2048)
        {
            return Err(invalid("allowed_clients", "at most 100 client ids"));
        }
        Ok(UpstreamProvider {
            name,
            issuer: self
                .issuer
                .as_deref()
                .map(|i| check_url("issuer", i))
                .transpose()?,
            authorization_url,
            token_url,
            revocation_url: optional_url("revocation_url", &self.revocation_url)?,
            userinfo_url: optional_url("userinfo_url", &self.userinfo_url)?,
            client_id,
            scopes,
            pkce: self.pkce.unwrap_or(true),
            token_endpoint_auth_method: method,
            authorization_params,
            allowed_clients,
        })
    }

    /// Fills the endpoints not given from the issuer's metadata.
    pub async fn discover(&mut self) -> Result<(), FieldError> {
        let Some(issuer) = self.issuer.clone() else {
            return Ok(());
        };
        let issuer = check_url("issuer", &issuer)?;
        let document = discovery_document(&issuer).await?;
        let text = |name: &str| {
            document
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let fill = |slot: &mut Option<String>, name: &str| {
            if slot.is_none() {
                *slot = text(name);
            }
        };
        fill(&mut self.authorization_url, "authorization_endpoint");
        fill(&mut self.token_url, "token_endpoint");
        fill(&mut self.revocation_url, "revocation_endpoint");
        fill(&mut self.userinfo_url, "userinfo_endpoint");
        if self.token_endpoint_auth_method.is_none() && self.client_secret.is_some() {
            let supported: Vec<&str> = document
                .get("token_endpoint_auth_methods_supported")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            // RFC 8414 §2: absent means client_secret_basic.
            if !supported.is_empty()
                && !supported.contains(&"client_secret_basic")
                && supported.contains(&"client_secret_post")
            {
                self.token_endpoint_auth_method = Some("client_secret_post".into());
            }
        }
        Ok(())
    }
}

/// RFC 8414 §3 (the well-known segment goes before the issuer's path),
/// then OpenID Connect Discovery §4 (after it).
async fn discovery_document(issuer: &str) -> Result<Value, FieldError> {
    let url = url::Url::parse(issuer).map_err(|_| invalid("issuer", "must be an absolute URL"))?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ];
    let mut last = String::new();
    for candidate in candidates {
        match super::oauth::fetch_json(&candidate).await {
            Ok(document) => {
                let said = document.get("issuer").and_then(Value::as_str);
                if said != Some(issuer) {
                    return Err(invalid(
                        "issuer",
                        format!("the document at {candidate} names another issuer"),
                    ));
                }
                return Ok(document);
            }
            Err(e) => last = format!("{candidate}: {e}"),
        }
    }
    Err(invalid(
        "issuer",
        format!("no discovery document could be read ({last})"),
    ))
}

/// The provider as an admin reads it.
pub fn view(issuer: &str, record: &ProviderRecord, upstream: &Upstream) -> Value {
    let p = &record.provider;
    let (mut connected, mut needs_reconnect) = (0u64, 0u64);
    for c in upstream.connections_of_provider(&record.provider_id) {
        match c.status {
            ConnectionStatus::Active => connected += 1,
            ConnectionStatus::NeedsReconnect { .. } => needs_reconnect += 1,
        }
    }
    let activity = upstream
        .activity(&record.provider_id)
        .cloned()
        .unwrap_or_default();
    json!({
        "id": record.provider_id,
        "name": p.name,
        "issuer": p.issuer,
        "authorization_url": p.authorization_url,
        "token_url": p.token_url,
        "revocation_url": p.revocation_url,
        "userinfo_url": p.userinfo_url,
        "client_id": p.client_id,
        "client_secret_set": record.sealed_client_secret.is_some(),
        "scopes": p.scopes,
        "pkce": p.pkce,
        "token_endpoint_auth_method": method_name(p.token_endpoint_auth_method),
        "authorization_params": p.authorization_params.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect::<Map<_, _>>(),
        "allowed_clients": p.allowed_clients,
        "callback_url": callback_url(issuer, &record.provider_id),
        "scope": scope_of(&record.provider_id),
        "created_at": record.created_at.to_rfc3339(),
        "updated_at": record.updated_at.to_rfc3339(),
        "version": record.version,
        "connections": {"active": connected, "needs_reconnect": needs_reconnect},
        "activity": activity_view(&activity),
    })
}

/// A provider's activity counts.
pub fn activity_view(a: &ProviderActivity) -> Value {
    json!({
        "connects": a.connects,
        "refreshes": a.refreshes,
        "handoffs": a.handoffs,
        "failures": a.failures,
        "disconnects": a.disconnects,
        "last_activity": a.last_activity.map(|t| t.to_rfc3339()),
    })
}

/// The JSON of a provider's editable fields, for merging an edit over.
pub fn editable(record: &ProviderRecord) -> ProviderInput {
    let p = &record.provider;
    ProviderInput {
        id: Some(record.provider_id.clone()),
        name: Some(p.name.clone()),
        issuer: p.issuer.clone(),
        authorization_url: Some(p.authorization_url.clone()),
        token_url: Some(p.token_url.clone()),
        revocation_url: p.revocation_url.clone(),
        userinfo_url: p.userinfo_url.clone(),
        client_id: Some(p.client_id.clone()),
        client_secret: None,
        scopes: Some(p.scopes.clone()),
        pkce: Some(p.pkce),
        token_endpoint_auth_method: Some(method_name(p.token_endpoint_auth_method).into()),
        authorization_params: Some(
            p.authorization_params
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect(),
        ),
        allowed_clients: Some(p.allowed_clients.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProviderInput {
        ProviderInput {
            name: Some("Up".into()),
            authorization_url: Some("https://up.example/authorize".into()),
            token_url: Some("http://127.0.0.1:9/token".into()),
            client_id: Some("authlog".into()),
            ..ProviderInput::default()
        }
    }

    #[test]
    fn endpoints_are_https_or_loopback_http_and_secrets_match_the_method() {
        let p = input().to_provider(true).unwrap();
        assert_eq!(
            p.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert!(p.pkce);
        let public = input().to_provider(false).unwrap();
        assert_eq!(
            public.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
        let plain_http = ProviderInput {
            token_url: Some("http://up.example/token".into()),
            ..input()
        };
        assert_eq!(plain_http.to_provider(true).unwrap_err().field, "token_url");
        let secret_but_none = ProviderInput {
            token_endpoint_auth_method: Some("none".into()),
            ..input()
        };
        assert_eq!(
            secret_but_none.to_provider(true).unwrap_err().field,
            "client_secret"
        );
        let reserved = ProviderInput {
            authorization_params: Some(json!({"state": "x"}).as_object().unwrap().clone()),
            ..input()
        };
        assert_eq!(
            reserved.to_provider(true).unwrap_err().field,
            "authorization_params"
        );
        assert!(valid_id("git-hub_2") && !valid_id("GitHub") && !valid_id("a/b") && !valid_id(""));
    }
}
