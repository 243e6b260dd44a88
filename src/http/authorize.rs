//! `GET /oauth/authorize` and the consent form it leads to
//! (`POST /oauth/authorize`): RFC 6749 §4.1.1–4.1.2 with OAuth 2.1 rules
//! (PKCE S256 for every client, exact redirect URIs; a loopback IP redirect
//! may use any port, RFC 8252 §7.3) and RFC 9207 `iss` in every response.
//!
//! An unknown client or a redirect URI that does not match is shown as an
//! error page and never redirected to; every other error is redirected
//! back (§4.1.2.1).

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use authlog_events::{AccessPreset, GrantType, Principal, TeamSelection, TokenEndpointAuthMethod};
use authlog_projections::{ClientRecord, ClientStatus, UserRecord};

use super::context::RequestFacts;
use super::error::AuthorizeError;
use super::form::OAuthForm;
use super::pages::{consent_page, error_page, login_page, ConsentView};
use super::session::{csrf_token, current_user, read_page_form, session_facts};
use crate::client_policy::parse_scope;
use crate::commands::grants::{IssueCode, SignInFacts};
use crate::consent::{choose_teams, eligible_teams, grantable_scopes};
use crate::scopes::OPENID;
use crate::state::AppState;

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// The client.
    pub client: ClientRecord,
    /// Where to send the answer.
    pub redirect_uri: String,
    /// The redirect URI as sent ("" when omitted).
    pub redirect_given: String,
    /// Round-tripped `state`.
    pub state: Option<String>,
    /// Requested scopes (checked against the client's).
    pub scopes: Vec<String>,
    /// RFC 8707 resources.
    pub resources: Vec<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// OpenID Connect `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// OpenID Connect `prompt` (Core §3.1.2.1).
    pub prompt: Prompt,
    /// OpenID Connect `max_age`: the longest a login may be ago, seconds.
    pub max_age: Option<i64>,
    /// Set on the way back from a login this request forced: a session
    /// that signed in at or after this instant (unix seconds) satisfies
    /// `prompt=login` and `max_age` (else `max_age=0` could never be met).
    pub login_after: Option<i64>,
    /// OpenID Connect `login_hint`: the username to prefill.
    pub login_hint: Option<String>,
    /// The query string, carried through login and consent.
    pub query: String,
}

/// The `prompt` values authlog acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: answer without showing any page, or fail.
    pub none: bool,
    /// `login`: sign in again even with a session.
    pub login: bool,
    /// `consent`: ask again even if consent was remembered.
    pub consent: bool,
}

/// Whether `given` is the registered `registered` redirect URI: exact
/// match, except that a loopback IP literal over http may change its port.
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback_ip = |u: &url::Url| {
        u.scheme() == "http"
            && matches!(
                u.host(),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback()
            ) | matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    };
    if !loopback_ip(&r) || !loopback_ip(&g) {
        return false;
    }
    let Some(host) = r.host_str() else {
        return false;
    };
    let mut g_without_port = g.clone();
    let _ = g_without_port.set_port(r.port());
    g_without_port == r && !given.contains('#') && written_plainly(given, host)
}

/// RFC 8252 §7.3: the loopback redirect names the registered IP literal
/// as written there (`127.0.0.1`, `[::1]`), with any port written the
/// normal way, so `127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`,
/// `:05555` and an empty port (which URL parsing would all accept as the
/// same address) are refused.
fn written_plainly(given: &str, host: &str) -> bool {
    let Some(rest) = given.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some(port) = authority.strip_prefix(host) else {
        return false;
    };
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => {
            !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok()
        }
    }
}

/// Builds the redirect back to the client with `params` and `iss`.
pub fn redirect_to(
    redirect_uri: &str,
    params: &[(&str, &str)],
    issuer: &str,
    status: StatusCode,
) -> HttpResponse {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect",
                "the redirect URI is not valid",
            )
        }
    };
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
        pairs.append_pair("iss", issuer);
    }
    HttpResponse::build(status)
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn page_error(detail: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page(StatusCode::BAD_REQUEST, "Invalid request", detail.into())
}

/// Validates an authorization request's query string.
pub fn parse_request(state: &AppState, query: &str) -> Result<AuthRequest, AuthorizeError> {
    let form = OAuthForm::parse(query.as_bytes()).map_err(|e| page_error(e.description))?;
    let client_id = form
        .get("client_id")
        .ok_or_else(|| page_error("client_id is missing"))?;
    let client = state
        .read()
        .map_err(|e| {
            AuthorizeError::Page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                e.to_string(),
            )
        })?
        .registry
        .get(client_id)
        .cloned()
        .ok_or_else(|| page_error("this application is not registered"))?;
    let registered = &client.metadata.redirect_uris;
    let given = form.get("redirect_uri");
    let redirect_uri = match given {
        Some(g) => {
            if !registered.iter().any(|r| redirect_matches(r, g)) {
                return Err(page_error(
                    "redirect_uri is not registered for this application",
                ));
            }
            g.to_owned()
        }
        None if registered.len() == 1 => registered[0].clone(),
        None => return Err(page_error("redirect_uri is required")),
    };
    let state_param = form.get("state").map(str::to_owned);
    let fail = |error: &'static str, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description: description.to_owned(),
        state: state_param.clone(),
    };
    if client.status == ClientStatus::Paused {
        return Err(fail("unauthorized_client", "this application is paused"));
    }
    match form.get("response_type") {
        None => return Err(fail("invalid_request", "response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    if !client
        .metadata
        .grant_types
        .contains(&GrantType::AuthorizationCode)
    {
        return Err(fail(
            "unauthorized_client",
            "this application may not use the authorization code grant",
        ));
    }
    let challenge = form.get("code_challenge").ok_or_else(|| {
        fail(
            "invalid_request",
            "code_challenge is required (PKCE with S256)",
        )
    })?;
    if form.get("code_challenge_method") != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }
    let scopes = match form.get("scope") {
        Some(s) => {
            let scopes = parse_scope(s).map_err(|e| fail("invalid_scope", &e))?;
            if let Some(extra) = scopes.iter().find(|s| !client.metadata.scopes.contains(s)) {
                return Err(fail(
                    "invalid_scope",
                    &format!("scope {extra} is not allowed for this application"),
                ));
            }
            scopes
        }
        None => client.metadata.scopes.clone(),
    };
    // Request objects and the claims parameter are not supported (and say
    // so in discovery): refused rather than silently ignored.
    if form.get("request").is_some() {
        return Err(fail(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if form.get("request_uri").is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if form.get("claims").is_some() {
        return Err(fail(
            "invalid_request",
            "the claims parameter is not supported",
        ));
    }
    let mut prompt = Prompt::default();
    for value in form
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // One account per browser: nothing to select.
            "select_account" => {}
            _ => {
                return Err(fail(
                    "invalid_request",
                    "prompt must be none, login, consent or select_account",
                ))
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let number = |name: &str| -> Result<Option<i64>, AuthorizeError> {
        form.get(name)
            .map(|v| {
                v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    fail(
                        "invalid_request",
                        &format!("{name} must be a number of seconds"),
                    )
                })
            })
            .transpose()
    };
    let max_age = number("max_age")?;
    let login_after = number("login_after")?;
    let login_hint = form
        .get("login_hint")
        .map(|h| h.chars().take(128).collect());
    let nonce = form.get("nonce").map(str::to_owned);
    if nonce
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > 512)
    {
        return Err(fail("invalid_request", "nonce must be 1 to 512 characters"));
    }
    // OpenID Connect: a public client's ID token is bound to its request
    // by the nonce alone (Core §3.1.2.1, and what oidc-provider requires).
    let public = client.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None;
    if public && nonce.is_none() && scopes.iter().any(|s| s == OPENID) {
        return Err(fail(
            "invalid_request",
            "nonce is required for a public client asking for openid",
        ));
    }
    let mut resources = Vec::new();
    for r in form.get_all("resource") {
        match url::Url::parse(r) {
            Ok(u) if u.fragment().is_none() => resources.push(r.to_owned()),
            _ => {
                return Err(fail(
                    "invalid_target",
                    "resource must be an absolute URI without a fragment",
                ))
            }
        }
    }
    Ok(AuthRequest {
        redirect_given: given.unwrap_or("").to_owned(),
        client,
        redirect_uri,
        state: state_param,
        scopes,
        resources,
        code_challenge: challenge.to_owned(),
        nonce,
        prompt,
        max_age,
        login_after,
        login_hint,
        query: query.to_owned(),
    })
}

/// Origin of a redirect URI, for the consent page's CSP `form-action`.
fn origin_of(uri: &str) -> Vec<String> {
    url::Url::parse(uri)
        .map(|u| vec![u.origin().ascii_serialization()])
        .unwrap_or_default()
}

fn access_of(client: &ClientRecord) -> AccessPreset {
    client.metadata.access_preset
}

/// What the user grants.
struct Approval {
    scopes: Vec<String>,
    teams: Vec<String>,
    /// Remember it (`ConsentGranted`): the user just consented.
    remember: bool,
}

/// Issues the code and redirects with it.
async fn issue_code(
    req: &HttpRequest,
    state: &AppState,
    facts: &RequestFacts,
    request: &AuthRequest,
    user: &UserRecord,
    approval: Approval,
    status: StatusCode,
) -> HttpResponse {
    let Some(writer) = state.ready_writer() else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "authlog is starting",
        );
    };
    let result = writer
        .submit(IssueCode {
            client_id: request.client.client_id.clone(),
            user_id: user.user_id,
            redirect_uri: request.redirect_given.clone(),
            code_challenge: request.code_challenge.clone(),
            scopes: approval.scopes,
            resources: request.resources.clone(),
            teams: approval.teams,
            access: access_of(&request.client),
            remember_consent: approval.remember,
            sign_in: session_facts(req, state).map(|(auth_time, session_id)| SignInFacts {
                nonce: request.nonce.clone(),
                auth_time,
                session_id,
            }),
            ctx: facts.context(
                Principal::User(user.user_id),
                Some(request.client.client_id.clone()),
            ),
        })
        .await;
    match result {
        Ok(issued) => {
            let mut params = vec![("code", issued.code.as_str())];
            if let Some(s) = request.state.as_deref() {
                params.push(("state", s));
            }
            redirect_to(&request.redirect_uri, &params, &state.config.issuer, status)
        }
        Err(e) => AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            error: match e {
                crate::writer::WriteError::Unavailable(_) => "temporarily_unavailable",
                _ => "access_denied",
            },
            description: e.to_string(),
            state: request.state.clone(),
        }
        .respond(&state.config.issuer, status),
    }
}

fn with_cookie(
    mut response: HttpResponse,
    cookie: Option<actix_web::cookie::Cookie<'static>>,
) -> HttpResponse {
    if let Some(c) = cookie {
        let _ = response.add_cookie(&c);
    }
    response
}

/// The consent page for `request`.
fn show_consent(
    req: &HttpRequest,
    state: &AppState,
    request: &AuthRequest,
    user: &UserRecord,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(req, state);
    let scopes = grantable_scopes(&request.scopes, user);
    let teams = eligible_teams(user, &request.client);
    let view = ConsentView {
        client_name: &request.client.metadata.client_name,
        client_id: &request.client.client_id,
        scopes: &scopes,
        full_access: access_of(&request.client) == AccessPreset::Full,
        teams: &teams,
        multiple: request.client.metadata.team_selection == TeamSelection::Multiple,
        action: "/oauth/authorize",
        hidden: vec![("request", request.query.clone())],
        csrf: &csrf,
        error,
        username: &user.username,
        upstream: upstream_names(state, &scopes),
    };
    with_cookie(
        consent_page(&view, &origin_of(&request.redirect_uri)),
        cookie,
    )
}

/// The display names of the providers `upstream:{id}` scopes name.
pub fn upstream_names(state: &AppState, scopes: &[String]) -> Vec<String> {
    let Ok(p) = state.read() else {
        return Vec::new();
    };
    scopes
        .iter()
        .filter_map(|s| crate::upstream::provider::provider_of_scope(s))
        .map(|id| {
            p.upstream
                .provider(id)
                .map_or_else(|| id.to_owned(), |r| r.provider.name.clone())
        })
        .collect()
}

/// When an approved `upstream:{id}` scope names a provider the user has
/// no usable connection to: the redirect that connects it first and then
/// comes back to this request (an authorization code would expire while
/// the user is at the provider).
fn connect_first(
    state: &AppState,
    request: &AuthRequest,
    user: &UserRecord,
    scopes: &[String],
) -> Option<HttpResponse> {
    let provider = {
        let p = state.read().ok()?;
        scopes
            .iter()
            .filter_map(|s| crate::upstream::provider::provider_of_scope(s))
            .filter_map(|id| p.upstream.provider(id))
            .find(|record| {
                !p.upstream
                    .connection(&user.user_id, &record.provider_id)
                    .is_some_and(|c| c.status == authlog_projections::ConnectionStatus::Active)
            })
            .cloned()?
    };
    let back = format!("/oauth/authorize?{}", request.query);
    Some(super::connect::begin(
        state,
        &provider,
        user.user_id,
        Some(back),
    ))
}

/// The login page, returning to `return_to` afterwards.
pub fn show_login(req: &HttpRequest, state: &AppState, return_to: &str) -> HttpResponse {
    let (csrf, cookie) = csrf_token(req, state);
    with_cookie(
        login_page(StatusCode::OK, &csrf, return_to, "", None),
        cookie,
    )
}

/// Registers a metadata-document client named in `query` before the
/// request is parsed; an unusable document is an error page.
async fn ensure_client(
    req: &HttpRequest,
    state: &AppState,
    query: &str,
) -> Result<(), HttpResponse> {
    let client_id = OAuthForm::parse(query.as_bytes())
        .ok()
        .and_then(|f| f.get("client_id").map(str::to_owned));
    if let Some(id) = client_id {
        super::document_client::ensure(state, &id, &RequestFacts::of(req))
            .await
            .map_err(|e| {
                error_page(
                    StatusCode::BAD_REQUEST,
                    "Unknown application",
                    &e.description,
                )
            })?;
    }
    Ok(())
}

#[get("/oauth/authorize")]
async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(page) = ensure_client(&req, &state, req.query_string()).await {
        return page;
    }
    let request = match parse_request(&state, req.query_string()) {
        Ok(r) => r,
        Err(e) => return e.respond(&state.config.issuer, StatusCode::FOUND),
    };
    let redirect_error = |error: &'static str, description: &str| {
        AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            error,
            description: description.to_owned(),
            state: request.state.clone(),
        }
        .respond(&state.config.issuer, StatusCode::FOUND)
    };
    let user = current_user(&req, &state);
    let now = state.clock.now().unix_seconds();
    let fresh_enough = user.is_some() && login_is_fresh(&req, &state, &request, now);
    let Some(user) = user.filter(|_| fresh_enough) else {
        if request.prompt.none {
            return redirect_error("login_required", "the user is not signed in");
        }
        return show_login_hinted(&req, &state, &request, now);
    };
    let scopes = grantable_scopes(&request.scopes, &user);
    let eligible = eligible_teams(&user, &request.client);
    if eligible.is_empty() && !request.client.metadata.team_restrictions.is_empty() {
        return AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            error: "access_denied",
            description: "you are not in any team this application may access".into(),
            state: request.state.clone(),
        }
        .respond(&state.config.issuer, StatusCode::FOUND);
    }
    if !request.client.metadata.require_consent && !request.prompt.consent {
        let remembered = state.read().ok().and_then(|p| {
            p.users
                .consent(&user.user_id, &request.client.client_id)
                .cloned()
        });
        if let Some(consent) = remembered {
            let covers = scopes.iter().all(|s| consent.scopes.contains(s))
                && consent.access == access_of(&request.client);
            if let (true, Ok(teams)) = (
                covers,
                choose_teams(&consent.teams, &eligible, &request.client),
            ) {
                if !request.prompt.none {
                    if let Some(connect) = connect_first(&state, &request, &user, &scopes) {
                        return connect;
                    }
                }
                let facts = RequestFacts::of(&req);
                let approval = Approval {
                    scopes,
                    teams,
                    remember: false,
                };
                return issue_code(
                    &req,
                    &state,
                    &facts,
                    &request,
                    &user,
                    approval,
                    StatusCode::FOUND,
                )
                .await;
            }
        }
    }
    if request.prompt.none {
        return redirect_error(
            "consent_required",
            "the user has not consented to this request",
        );
    }
    show_consent(&req, &state, &request, &user, None)
}

/// Whether the session's login satisfies `prompt=login` and `max_age`.
fn login_is_fresh(req: &HttpRequest, state: &AppState, request: &AuthRequest, now: i64) -> bool {
    if !request.prompt.login && request.max_age.is_none() {
        return true;
    }
    let Some((auth_time, _)) = session_facts(req, state) else {
        return false;
    };
    let auth_time = auth_time.unix_seconds();
    if request.login_after.is_some_and(|after| auth_time >= after) {
        return true;
    }
    // Core §3.1.2.1: max_age=0 is prompt=login.
    let login = request.prompt.login || request.max_age == Some(0);
    !login && request.max_age.is_some_and(|age| auth_time + age >= now)
}

/// The login page for `request`, prefilled with its `login_hint`; after
/// signing in it comes back with `login_after`, so the fresh login
/// satisfies `prompt=login` and `max_age`.
fn show_login_hinted(
    req: &HttpRequest,
    state: &AppState,
    request: &AuthRequest,
    now: i64,
) -> HttpResponse {
    let mut query = request.query.clone();
    if request.prompt.login || request.max_age.is_some() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("login_after="))
            .collect();
        query = format!("{}&login_after={now}", kept.join("&"));
    }
    let (csrf, cookie) = csrf_token(req, state);
    with_cookie(
        login_page(
            StatusCode::OK,
            &csrf,
            &format!("/oauth/authorize?{query}"),
            request.login_hint.as_deref().unwrap_or(""),
            None,
        ),
        cookie,
    )
}

#[post("/oauth/authorize")]
async fn decide(req: HttpRequest, state: web::Data<AppState>, body: web::Payload) -> HttpResponse {
    let form = match read_page_form(&req, &state, body).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    if let Err(page) = ensure_client(&req, &state, form.get("request").unwrap_or("")).await {
        return page;
    }
    let request = match parse_request(&state, form.get("request").unwrap_or("")) {
        Ok(r) => r,
        Err(e) => return e.respond(&state.config.issuer, StatusCode::SEE_OTHER),
    };
    let Some(user) = current_user(&req, &state) else {
        return show_login(&req, &state, &format!("/oauth/authorize?{}", request.query));
    };
    if form.get("decision") != Some("approve") {
        return AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            error: "access_denied",
            description: "the user denied the request".into(),
            state: request.state.clone(),
        }
        .respond(&state.config.issuer, StatusCode::SEE_OTHER);
    }
    let chosen: Vec<String> = form.get_all("team").map(str::to_owned).collect();
    let eligible = eligible_teams(&user, &request.client);
    let teams = match choose_teams(&chosen, &eligible, &request.client) {
        Ok(t) => t,
        Err(message) => return show_consent(&req, &state, &request, &user, Some(&message)),
    };
    let scopes = grantable_scopes(&request.scopes, &user);
    if let Some(connect) = connect_first(&state, &request, &user, &scopes) {
        return connect;
    }
    let facts = RequestFacts::of(&req);
    let approval = Approval {
        scopes,
        teams,
        remember: true,
    };
    issue_code(
        &req,
        &state,
        &facts,
        &request,
        &user,
        approval,
        StatusCode::SEE_OTHER,
    )
    .await
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(authorize).service(decide);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ip_redirects_may_change_port_and_nothing_else() {
        assert!(redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/callback"
        ));
        assert!(redirect_matches(
            "http://[::1]/callback",
            "http://[::1]:8080/callback"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:5000/other"
        ));
        assert!(!redirect_matches(
            "http://localhost/callback",
            "http://localhost:5000/callback"
        ));
        assert!(!redirect_matches(
            "https://app.example.com/cb",
            "https://app.example.com:444/cb"
        ));
        assert!(!redirect_matches(
            "https://app.example.com/cb",
            "https://app.example.com/cb/"
        ));
        assert!(redirect_matches(
            "https://app.example.com/cb",
            "https://app.example.com/cb"
        ));
    }

    #[test]
    fn a_loopback_redirect_names_the_registered_literal_written_plainly() {
        let registered = "http://127.0.0.1/callback";
        for other in [
            "http://[::1]:5555/callback",
            "http://127.1:5555/callback",
            "http://2130706433:5555/callback",
            "http://0x7f.0.0.1:5555/callback",
            "http://0177.0.0.1:5555/callback",
            "http://127.0.0.1:05555/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:70000/callback",
        ] {
            assert!(!redirect_matches(registered, other), "{other}");
        }
        assert!(!redirect_matches(
            "http://[::1]/callback",
            "http://127.0.0.1:5555/callback"
        ));
        assert!(redirect_matches(
            registered,
            "http://127.0.0.1:5555/callback"
        ));
    }
}
