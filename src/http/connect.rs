//! `GET /connect/{id}` and `GET /connect/{id}/callback`: a signed-in user
//! connects an upstream provider. The first redirects to the provider's
//! authorization endpoint (code flow with `state` and, unless the
//! provider was configured without, PKCE S256), carrying the pending
//! connection in a sealed cookie scoped to `/connect/{id}`; the callback
//! checks `state`, the user and (RFC 9207) `iss`, exchanges the code,
//! stores the tokens under a new data key and records `UpstreamConnected`.
//! A refusal or failure at the provider is recorded as `UpstreamFailed`.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use authlog_events::{Principal, UpstreamStage};
use authlog_projections::ProviderRecord;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::authorize::show_login;
use super::context::RequestFacts;
use super::form::OAuthForm;
use super::pages::{error_page, message_page};
use super::session::current_user;
use crate::commands::rules::pkce_s256;
use crate::commands::upstream::{Connect, RecordUpstreamFailure};
use crate::commands::EventContext;
use crate::state::AppState;
use crate::upstream::connect_state::{random_value, PendingConnect, LIFETIME_SECONDS};
use crate::upstream::oauth;
use crate::upstream::provider::{callback_url, valid_id};

fn cookie_name(state: &AppState, provider_id: &str) -> String {
    let base = format!("authlog_connect_{provider_id}");
    if state.config.issuer.starts_with("https://") {
        // `__Secure-`, not `__Host-`: the cookie is scoped to its path.
        format!("__Secure-{base}")
    } else {
        base
    }
}

fn cookie(state: &AppState, provider_id: &str, value: String, max_age: i64) -> Cookie<'static> {
    let mut c = Cookie::new(cookie_name(state, provider_id), value);
    c.set_http_only(true);
    // Lax: sent on the provider's top-level redirect back.
    c.set_same_site(SameSite::Lax);
    c.set_path(format!("/connect/{provider_id}"));
    c.set_secure(state.config.issuer.starts_with("https://"));
    c.set_max_age(actix_web::cookie::time::Duration::seconds(max_age));
    c
}

fn provider(state: &AppState, id: &str) -> Option<ProviderRecord> {
    if !valid_id(id) {
        return None;
    }
    state.read().ok()?.upstream.provider(id).cloned()
}

fn unknown() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Unknown provider",
        "There is no provider by this name to connect.",
    )
}

/// The redirect to `record`'s authorization endpoint for `user`, with the
/// pending connection's cookie; afterwards the browser goes to `return_to`.
pub fn begin(
    state: &AppState,
    record: &ProviderRecord,
    user: Uuid,
    return_to: Option<String>,
) -> HttpResponse {
    let p = &record.provider;
    let verifier = p.pkce.then(|| random_value(&*state.entropy));
    let pending = PendingConnect {
        provider_id: record.provider_id.clone(),
        user_id: user,
        state: random_value(&*state.entropy),
        verifier: verifier.clone(),
        return_to,
        expires: state.clock.now().unix_seconds() + LIFETIME_SECONDS,
    };
    let Ok(mut url) = url::Url::parse(&p.authorization_url) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Provider misconfigured",
            "The provider's authorization URL is not valid.",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.client_id)
            .append_pair(
                "redirect_uri",
                &callback_url(&state.config.issuer, &record.provider_id),
            )
            .append_pair("state", &pending.state);
        if !p.scopes.is_empty() {
            query.append_pair("scope", &p.scopes.join(" "));
        }
        if let Some(v) = &verifier {
            query
                .append_pair("code_challenge", &pkce_s256(v))
                .append_pair("code_challenge_method", "S256");
        }
        for (k, v) in &p.authorization_params {
            query.append_pair(k, v);
        }
    }
    let value = pending.seal(&state.key, &*state.entropy);
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie(state, &record.provider_id, value, LIFETIME_SECONDS))
        .finish()
}

#[get("/connect/{id}")]
async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(record) = provider(&state, &id) else {
        return unknown();
    };
    let Some(user) = current_user(&req, &state) else {
        return show_login(&req, &state, &format!("/connect/{id}"));
    };
    begin(&state, &record, user.user_id, None)
}

/// Records a failed connection attempt and shows why.
async fn failed(
    state: &AppState,
    ctx: EventContext,
    pending: &PendingConnect,
    status: StatusCode,
    reason: String,
) -> HttpResponse {
    if let Some(writer) = state.ready_writer() {
        let recorded = writer
            .submit(RecordUpstreamFailure {
                user_id: pending.user_id,
                provider_id: pending.provider_id.clone(),
                key_id: None,
                stage: UpstreamStage::Connect,
                reason: reason.clone(),
                needs_reconnect: false,
                client_id: None,
                ctx,
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %crate::error_report::Report(&e), "a failed connection could not be recorded");
        }
    }
    let mut response = error_page(status, "Not connected", &reason);
    let _ = response.add_cookie(&cookie(state, &pending.provider_id, String::new(), 0));
    response
}

#[get("/connect/{id}/callback")]
async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(record) = provider(&state, &id) else {
        return unknown();
    };
    let Ok(query) = OAuthForm::parse(req.query_string().as_bytes()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "The provider's answer is malformed.",
        );
    };
    let now = state.clock.now().unix_seconds();
    let pending = req
        .cookie(&cookie_name(&state, &id))
        .and_then(|c| PendingConnect::open(&state.key, c.value(), now))
        .filter(|p| p.provider_id == *id);
    let given_state = query.get("state").unwrap_or("");
    let Some(pending) =
        pending.filter(|p| bool::from(p.state.as_bytes().ct_eq(given_state.as_bytes())))
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "This connection attempt is unknown or has expired. Start it again.",
        );
    };
    let Some(user) = current_user(&req, &state).filter(|u| u.user_id == pending.user_id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "You are no longer signed in as the user who started this connection. Sign in and start again.",
        );
    };
    let ctx = RequestFacts::of(&req).context(Principal::User(user.user_id), None);
    let provider = &record.provider;
    if let (Some(expected), Some(given)) = (&provider.issuer, query.get("iss")) {
        if expected != given {
            let reason = format!("the answer came from another issuer ({given})");
            return failed(&state, ctx, &pending, StatusCode::BAD_REQUEST, reason).await;
        }
    }
    if let Some(error) = super::error::redirect_error(&query) {
        let reason = format!("{} refused: {error}", provider.name);
        return failed(&state, ctx, &pending, StatusCode::BAD_REQUEST, reason).await;
    }
    let Some(code) = query.get("code") else {
        let reason = "the provider's answer has no code".to_owned();
        return failed(&state, ctx, &pending, StatusCode::BAD_REQUEST, reason).await;
    };
    let vault = state.vault.clone();
    let sealed_secret = record.sealed_client_secret.clone();
    let provider_id = record.provider_id.clone();
    let secret = web::block(move || {
        sealed_secret
            .map(|s| vault.open_client_secret(&provider_id, &s))
            .transpose()
    })
    .await;
    let secret = match secret {
        Ok(Ok(secret)) => secret,
        _ => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not connected",
                "The token vault is unavailable.",
            )
        }
    };
    let granted = oauth::exchange_code(
        provider,
        secret.as_deref().map(|s| s.as_str()),
        code,
        &callback_url(&state.config.issuer, &record.provider_id),
        pending.verifier.as_deref(),
    )
    .await;
    let granted = match granted {
        Ok(g) => g,
        Err(e) => {
            let status = if matches!(e, oauth::UpstreamError::Refused { .. }) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::BAD_GATEWAY
            };
            let reason = format!(
                "the code exchange with {} failed: {}",
                provider.name,
                e.reason()
            );
            return failed(&state, ctx, &pending, status, reason).await;
        }
    };
    match store(&state, &record, &pending, granted, ctx).await {
        Ok(()) => {}
        Err(page) => return page,
    }
    let mut response = match &pending.return_to {
        Some(to) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to.clone()))
            .finish(),
        None => message_page(
            "Connected",
            &format!(
                "Your {} account is connected. Applications you allow can now use it on your behalf.",
                provider.name
            ),
        ),
    };
    let _ = response.add_cookie(&cookie(&state, &record.provider_id, String::new(), 0));
    response
}

/// Seals the tokens under a new data key and records the connection.
async fn store(
    state: &AppState,
    record: &ProviderRecord,
    pending: &PendingConnect,
    granted: oauth::Granted,
    ctx: EventContext,
) -> Result<(), HttpResponse> {
    let unavailable = |why: &str| error_page(StatusCode::SERVICE_UNAVAILABLE, "Not connected", why);
    let writer = state
        .ready_writer()
        .ok_or_else(|| unavailable("authlog is starting."))?;
    let vault = state.vault.clone();
    let entropy = state.entropy.clone();
    let key = web::block(move || vault.new_data_key(&*entropy))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| unavailable("The token vault is unavailable."))?;
    let sealed = state.vault.seal_tokens(
        &*state.entropy,
        &key,
        &pending.user_id,
        &record.provider_id,
        &granted.tokens,
    );
    let now = state.clock.now();
    let replaced = writer
        .submit(Connect {
            user_id: pending.user_id,
            provider_id: record.provider_id.clone(),
            key_id: key.id(),
            sealed_tokens: sealed,
            expires_at: granted.expires_in.map(|s| now.plus_seconds(s)),
            scopes: granted
                .scopes
                .unwrap_or_else(|| record.provider.scopes.clone()),
            ctx,
        })
        .await;
    match replaced {
        Ok(replaced) => {
            crate::upstream::disconnect::destroy_keys(state, replaced.into_iter().collect()).await;
            Ok(())
        }
        Err(e) => {
            // The key was never named by a committed event.
            crate::upstream::disconnect::destroy_keys(state, vec![key.id()]).await;
            tracing::warn!(error = %crate::error_report::Report(&e), "a connection could not be recorded");
            Err(unavailable("The connection could not be recorded."))
        }
    }
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(start).service(callback);
}
