//! The rules every client registration and edit must satisfy, whichever
//! way it arrives (admin API, dynamic registration, metadata document), and
//! the warnings shown for risky but allowed settings. Pure functions.

use authlog_events::{
    AccessPreset, ClientMetadata, GrantType, RegistrationType, SigningAlgorithm, TeamSelection,
    TokenEndpointAuthMethod,
};
use serde::Serialize;

/// A field that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, by its JSON name.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
}

impl FieldError {
    /// An error on `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How serious a warning is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WarningLevel {
    /// For information.
    Info,
    /// Worth a second look.
    Warning,
    /// High risk.
    High,
}

/// An allowed setting worth pointing out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Severity.
    pub level: WarningLevel,
    /// The field.
    pub field: &'static str,
    /// Explanation.
    pub message: String,
}

/// Most redirect URIs, origins, contacts, scopes or teams per client.
pub const MAX_LIST: usize = 50;
/// Longest URI accepted.
pub const MAX_URI: usize = 2000;
/// Access tokens live at most a day.
pub const MAX_ACCESS_TTL: u32 = 86_400;
/// Refresh tokens live at most a year.
pub const MAX_REFRESH_TTL: u32 = 365 * 86_400;
/// Access-token lifetime above which a `full` preset is high risk.
pub const HIGH_RISK_ACCESS_TTL: u32 = 3_600;

const DAY: u32 = 86_400;

/// Every grant type authlog supports, in the order it lists them.
pub const GRANT_TYPES: [GrantType; 4] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
    GrantType::DeviceCode,
];

/// Every way a client can come to be registered.
const REGISTRATION_TYPES: [RegistrationType; 4] = [
    RegistrationType::Dynamic,
    RegistrationType::Cimd,
    RegistrationType::Preregistered,
    RegistrationType::Default,
];

/// Names and parses grant types.
pub fn grant_type_name(g: GrantType) -> &'static str {
    match g {
        GrantType::AuthorizationCode => "authorization_code",
        GrantType::RefreshToken => "refresh_token",
        GrantType::ClientCredentials => "client_credentials",
        GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
    }
}

/// Parses an RFC 7591 grant type name.
pub fn parse_grant_type(s: &str) -> Option<GrantType> {
    GRANT_TYPES.into_iter().find(|g| grant_type_name(*g) == s)
}

/// `dynamic`, `cimd`, `preregistered`, `default`.
pub fn registration_type_name(r: RegistrationType) -> &'static str {
    match r {
        RegistrationType::Dynamic => "dynamic",
        RegistrationType::Cimd => "cimd",
        RegistrationType::Preregistered => "preregistered",
        RegistrationType::Default => "default",
    }
}

/// Parses a registration type name.
pub fn parse_registration_type(s: &str) -> Option<RegistrationType> {
    REGISTRATION_TYPES
        .into_iter()
        .find(|r| registration_type_name(*r) == s)
}

/// RFC 7591 auth method name.
pub fn auth_method_name(m: TokenEndpointAuthMethod) -> &'static str {
    match m {
        TokenEndpointAuthMethod::None => "none",
        TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
        TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
    }
}

/// Parses an RFC 7591 auth method name.
pub fn parse_auth_method(s: &str) -> Option<TokenEndpointAuthMethod> {
    [
        TokenEndpointAuthMethod::None,
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
    ]
    .into_iter()
    .find(|m| auth_method_name(*m) == s)
}

/// RFC 6749 §3.3 scope-token: one or more of %x21 / %x23-5B / %x5D-7E.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits a space-delimited scope string; refuses empty tokens and bad characters.
pub fn parse_scope(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for token in s.split(' ') {
        if !is_scope_token(token) {
            return Err(format!("{token:?} is not a valid scope (RFC 6749 §3.3)"));
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

/// A client id chosen by an admin: 1–128 of `A-Z a-z 0-9 . _ ~ - :`.
pub fn validate_client_id(id: &str) -> Result<(), FieldError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-' | b':'))
        && id != "."
        && id != ".."
        // Fixed paths under /api/admin/oauth-clients/.
        && id != "export"
        && id != "bulk-delete";
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "client_id",
            "must be 1-128 characters of A-Z a-z 0-9 . _ ~ - :",
        ))
    }
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => *ip == std::net::Ipv4Addr::LOCALHOST,
        url::Host::Ipv6(ip) => *ip == std::net::Ipv6Addr::LOCALHOST,
    }
}

/// Redirect URI rules: absolute, `https` (or `http` on a loopback host, any
/// port, RFC 8252 §7.3), no wildcard, no fragment, no userinfo.
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI {
        return Err(format!("longer than {MAX_URI} characters"));
    }
    if uri.contains('*') {
        return Err("wildcards are not allowed".into());
    }
    if uri.contains('#') {
        return Err("must not contain a fragment".into());
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    let url = url::Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information".into());
    }
    let host = url.host().ok_or("must have a host")?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&host) => Ok(()),
        "http" => Err("http is allowed only on localhost, 127.0.0.1 or [::1]; use https".into()),
        other => Err(format!("scheme {other} is not allowed; use https")),
    }
}

/// OpenID Connect settings as sent (Registration 1.0 and Back-Channel
/// Logout 1.0 names): the algorithm must be one authlog signs with, the
/// logout URI follows the redirect URI rules (no fragment, https except
/// on loopback).
pub fn oidc_edit(
    alg: Option<&str>,
    backchannel_logout_uri: Option<Option<String>>,
    session_required: Option<bool>,
) -> Result<crate::commands::clients::OidcEdit, FieldError> {
    let id_token_signed_response_alg = alg
        .map(|a| match a {
            "ES256" => Ok(SigningAlgorithm::Es256),
            "RS256" => Ok(SigningAlgorithm::Rs256),
            other => Err(FieldError::new(
                "id_token_signed_response_alg",
                format!("{other:?} is not supported; use ES256 or RS256"),
            )),
        })
        .transpose()?;
    if let Some(Some(uri)) = &backchannel_logout_uri {
        validate_redirect_uri(uri)
            .map_err(|m| FieldError::new("backchannel_logout_uri", format!("{uri:?}: {m}")))?;
    }
    Ok(crate::commands::clients::OidcEdit {
        id_token_signed_response_alg,
        backchannel_logout_uri,
        backchannel_logout_session_required: session_required,
    })
}

/// A CORS origin: `scheme://host[:port]`, no path, no trailing slash.
pub fn validate_origin(origin: &str) -> Result<(), String> {
    let url = url::Url::parse(origin).map_err(|e| format!("not an origin ({e})"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err("scheme must be https or http".into());
    }
    if url.origin().ascii_serialization() != origin {
        return Err(
            "must be exactly scheme://host[:port], lower case, with no path or trailing slash"
                .into(),
        );
    }
    Ok(())
}

fn validate_optional_uri(field: &str, value: &Option<String>) -> Result<(), FieldError> {
    if let Some(v) = value {
        let url =
            url::Url::parse(v).map_err(|e| FieldError::new(field, format!("not a URL ({e})")))?;
        if url.scheme() != "https" && url.scheme() != "http" || v.len() > MAX_URI {
            return Err(FieldError::new(field, "must be an http(s) URL"));
        }
    }
    Ok(())
}

fn validate_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn check_list(field: &str, list: &[String]) -> Result<(), FieldError> {
    if list.len() > MAX_LIST {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_LIST} entries"),
        ));
    }
    Ok(())
}

/// Checks a whole client definition; returns the warnings it deserves.
/// `confirm_high_risk` is the caller's explicit confirmation.
pub fn validate(md: &ClientMetadata, confirm_high_risk: bool) -> Result<Vec<Warning>, FieldError> {
    if md.client_name.trim().is_empty() {
        return Err(FieldError::new("client_name", "is required"));
    }
    validate_text("client_name", &md.client_name, 200)?;
    if let Some(d) = &md.description {
        validate_text("description", d, 2000)?;
    }
    validate_optional_uri("client_uri", &md.client_uri)?;
    validate_optional_uri("logo_uri", &md.logo_uri)?;
    validate_optional_uri("tos_uri", &md.tos_uri)?;
    validate_optional_uri("policy_uri", &md.policy_uri)?;
    for (field, list) in [
        ("redirect_uris", &md.redirect_uris),
        ("post_logout_redirect_uris", &md.post_logout_redirect_uris),
    ] {
        check_list(field, list)?;
        for uri in list {
            validate_redirect_uri(uri)
                .map_err(|m| FieldError::new(field, format!("{uri:?}: {m}")))?;
        }
    }
    check_list("allowed_cors_origins", &md.allowed_cors_origins)?;
    for origin in &md.allowed_cors_origins {
        validate_origin(origin)
            .map_err(|m| FieldError::new("allowed_cors_origins", format!("{origin:?}: {m}")))?;
    }
    check_list("scope", &md.scopes)?;
    for s in &md.scopes {
        if !is_scope_token(s) {
            return Err(FieldError::new(
                "scope",
                format!("{s:?} is not a valid scope"),
            ));
        }
    }
    check_list("contacts", &md.contacts)?;
    for c in &md.contacts {
        validate_text("contacts", c, 200)?;
    }
    check_list("team_restrictions", &md.team_restrictions)?;
    for t in &md.team_restrictions {
        if t.trim().is_empty() {
            return Err(FieldError::new(
                "team_restrictions",
                "team names must not be empty",
            ));
        }
        validate_text("team_restrictions", t, 100)?;
    }
    if let Some(v) = &md.software_id {
        validate_text("software_id", v, 200)?;
    }
    if let Some(v) = &md.software_version {
        validate_text("software_version", v, 100)?;
    }

    let grants = &md.grant_types;
    if grants.is_empty() {
        return Err(FieldError::new(
            "grant_types",
            "at least one grant type is required",
        ));
    }
    let has = |g| grants.contains(&g);
    if has(GrantType::AuthorizationCode) && md.redirect_uris.is_empty() {
        return Err(FieldError::new(
            "redirect_uris",
            "authorization_code needs at least one redirect URI",
        ));
    }
    if md.token_endpoint_auth_method == TokenEndpointAuthMethod::None
        && has(GrantType::ClientCredentials)
    {
        return Err(FieldError::new(
            "grant_types",
            "public clients (token_endpoint_auth_method none) cannot use client_credentials",
        ));
    }
    if has(GrantType::RefreshToken)
        && !has(GrantType::AuthorizationCode)
        && !has(GrantType::DeviceCode)
    {
        return Err(FieldError::new(
            "grant_types",
            "refresh_token needs authorization_code or device_code",
        ));
    }
    for r in &md.response_types {
        if r != "code" {
            return Err(FieldError::new(
                "response_types",
                format!("{r:?} is not supported; only \"code\""),
            ));
        }
    }
    if !md.response_types.is_empty() && !has(GrantType::AuthorizationCode) {
        return Err(FieldError::new(
            "response_types",
            "\"code\" needs the authorization_code grant",
        ));
    }
    if !(60..=MAX_ACCESS_TTL).contains(&md.access_token_ttl_seconds) {
        return Err(FieldError::new(
            "access_token_ttl_seconds",
            format!("must be between 60 and {MAX_ACCESS_TTL}"),
        ));
    }
    if !(60..=MAX_REFRESH_TTL).contains(&md.refresh_token_ttl_seconds) {
        return Err(FieldError::new(
            "refresh_token_ttl_seconds",
            format!("must be between 60 and {MAX_REFRESH_TTL}"),
        ));
    }
    if md.refresh_token_enabled && !has(GrantType::RefreshToken) {
        return Err(FieldError::new(
            "refresh_token_enabled",
            "needs the refresh_token grant type",
        ));
    }
    if is_high_risk(md) && !confirm_high_risk {
        return Err(FieldError::new(
            "confirm_high_risk",
            format!(
                "full access with access tokens living over {HIGH_RISK_ACCESS_TTL} s is high risk; send \"confirm_high_risk\": true to proceed"
            ),
        ));
    }

    let mut warnings = Vec::new();
    if md.refresh_token_enabled {
        let ttl = md.refresh_token_ttl_seconds;
        let (level, message) = if ttl <= 30 * DAY {
            (WarningLevel::Info, "refresh tokens live up to 30 days")
        } else if ttl <= 90 * DAY {
            (WarningLevel::Warning, "refresh tokens live 30 to 90 days")
        } else {
            (WarningLevel::High, "refresh tokens live over 90 days")
        };
        warnings.push(Warning {
            level,
            field: "refresh_token_ttl_seconds",
            message: message.into(),
        });
    }
    if is_high_risk(md) {
        warnings.push(Warning {
            level: WarningLevel::High,
            field: "access_preset",
            message: "full access with long-lived access tokens (confirmed)".into(),
        });
    }
    Ok(warnings)
}

/// `full` access with access tokens living over an hour.
pub fn is_high_risk(md: &ClientMetadata) -> bool {
    md.access_preset == AccessPreset::Full && md.access_token_ttl_seconds > HIGH_RISK_ACCESS_TTL
}

/// Defaults of a new client before its input is applied (RFC 7591 §2:
/// `authorization_code`, `client_secret_basic`).
pub fn default_metadata() -> ClientMetadata {
    ClientMetadata {
        client_name: String::new(),
        description: None,
        client_uri: None,
        logo_uri: None,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        allowed_cors_origins: vec![],
        grant_types: vec![GrantType::AuthorizationCode],
        response_types: vec!["code".into()],
        scopes: vec![],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        access_preset: AccessPreset::ReadOnly,
        team_selection: TeamSelection::Single,
        team_restrictions: vec![],
        require_consent: false,
        introspection_allowed: false,
        access_token_ttl_seconds: 3600,
        refresh_token_enabled: false,
        refresh_token_ttl_seconds: 604_800,
        contacts: vec![],
        tos_uri: None,
        policy_uri: None,
        software_id: None,
        software_version: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_rfc_8252_for_loopback() {
        assert!(validate_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:49152/cb").is_ok());
        assert!(validate_redirect_uri("http://localhost/cb").is_ok());
        assert!(validate_redirect_uri("http://[::1]:8000/cb").is_ok());
        assert!(validate_redirect_uri("http://app.example.com/cb").is_err());
        assert!(validate_redirect_uri("https://*.example.com/cb").is_err());
        assert!(validate_redirect_uri("https://app.example.com/cb#x").is_err());
        assert!(validate_redirect_uri("/cb").is_err());
        assert!(validate_redirect_uri("https://u:p@app.example.com/cb").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
    }

    #[test]
    fn origins_are_bare() {
        assert!(validate_origin("https://app.example.com").is_ok());
        assert!(validate_origin("http://localhost:3000").is_ok());
        assert!(validate_origin("https://app.example.com/").is_err());
        assert!(validate_origin("https://app.example.com/path").is_err());
        assert!(validate_origin("ftp://app.example.com").is_err());
    }

    #[test]
    fn scopes_are_rfc_6749_tokens() {
        assert_eq!(parse_scope("a b a").unwrap(), vec!["a", "b"]);
        assert!(parse_scope("a  b").is_err());
        assert!(parse_scope("a\"b").is_err());
        assert!(parse_scope("").is_err());
    }

    #[test]
    fn client_ids_refuse_path_characters() {
        assert!(validate_client_id("svc-1.prod").is_ok());
        assert!(validate_client_id("../etc").is_err());
        assert!(validate_client_id("a/b").is_err());
        assert!(validate_client_id("").is_err());
    }
}
