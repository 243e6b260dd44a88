//! Requests on a replica that does not lead (see `replication`): the ones
//! that may write go to the leader, the rest are served here once the
//! projections have caught up with the database's head.
//!
//! Served here: `GET`/`HEAD`/`OPTIONS` (but the authorization, device and
//! logout pages, which may record a grant or end a session), and the
//! read-only `POST`s of introspection and userinfo. Everything else is
//! forwarded to the leader's advertised URL, body and headers as they came,
//! with the client's address in `X-Authlog-Forwarded-For` and a proof that
//! a replica sent it (`X-Authlog-Replica`: the time and an HMAC under the
//! server key the replicas share over the time, method, path and query and
//! that address, good for 30 s); the leader believes the address only with
//! the proof,
//! and never forwards a forwarded request again. When no leader is known
//! or it cannot be reached (it died; a follower is taking over), the answer
//! is 503 with `Retry-After`, never a guess.

use std::future::{ready, Future, Ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderName};
use actix_web::http::{Method, Uri};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use super::error::{ApiError, OAuthError};
use crate::replication::Replica;
use crate::state::AppState;

/// The client's address, as the forwarding replica saw it.
pub const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-authlog-forwarded-for");
/// The proof that a replica forwarded the request.
pub const REPLICA: HeaderName = HeaderName::from_static("x-authlog-replica");

/// Longest a forwarded request may take at the leader.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that describe one connection, not the request.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

/// What a replica does with a request.
enum Plan {
    /// Not replicated, or the leader: serve it.
    Serve,
    /// A read on a follower: serve it once caught up with the head.
    CatchUpThenServe(Arc<Replica>),
    /// A write on a follower: the leader's.
    Forward(Arc<Replica>),
    /// A forwarded write reached a replica that does not lead.
    Refuse,
}

/// How old (or how far ahead) a forwarding proof may be, in seconds.
const PROOF_LIFETIME: i64 = 30;

/// The proof for one forwarded request: the time, and an HMAC under the
/// server key over that time, the method, the path and query, and the
/// client address it vouches for, so it cannot be moved to another request
/// or address, nor replayed after `PROOF_LIFETIME`.
fn proof_at(state: &AppState, seconds: i64, method: &str, target: &str, client: &str) -> String {
    let mac = state.key.digest(&format!(
        "authlog replica forwarding v1\n{seconds}\n{method}\n{target}\n{client}"
    ));
    format!("{seconds}.{}", hex::encode(mac.0))
}

/// Whether a replica forwarded this request (it carries a valid proof).
fn from_replica(state: &AppState, method: &Method, uri: &Uri, headers: &header::HeaderMap) -> bool {
    let Some(sent) = headers.get(REPLICA).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(seconds) = sent
        .split_once('.')
        .and_then(|(s, _)| s.parse::<i64>().ok())
    else {
        return false;
    };
    if (state.clock.now().unix_seconds() - seconds).abs() > PROOF_LIFETIME {
        return false;
    }
    let client = headers
        .get(FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let expected = proof_at(state, seconds, method.as_str(), target, client);
    bool::from(subtle::ConstantTimeEq::ct_eq(
        sent.as_bytes(),
        expected.as_bytes(),
    ))
}

/// The client address a forwarding replica vouched for, if the request
/// carries a valid proof.
pub fn forwarded_for(req: &HttpRequest) -> Option<IpAddr> {
    let state = req.app_data::<web::Data<AppState>>()?;
    if !from_replica(state, req.method(), req.uri(), req.headers()) {
        return None;
    }
    req.headers()
        .get(FORWARDED_FOR)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// How a follower serves a request it may serve itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    /// It does not depend on the log.
    AsIs,
    /// Once the projections have reached the head.
    AfterCatchingUp,
}

/// How a follower serves `method` on `raw_path` (as sent, percent-encoded:
/// routing matches the decoded path, so this decides on it too); `None`
/// when the request may write and is the leader's.
fn served_here(method: &Method, raw_path: &str) -> Option<Local> {
    let decoded = percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy();
    let path = decoded.as_ref();
    let read = match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => {
            !matches!(path, "/oauth/authorize" | "/oauth/device" | "/oauth/logout")
                && !path.starts_with("/connect/")
        }
        Method::POST => matches!(path, "/oauth/introspect" | "/oauth/userinfo"),
        _ => false,
    };
    // The console's page and assets are files; its data comes from the APIs.
    let fixed = matches!(
        path,
        "/" | "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/favicon.ico" | "/console"
    ) || ["/.well-known/", "/assets/", "/console/"]
        .iter()
        .any(|prefix| path.starts_with(prefix));
    read.then_some(if fixed {
        Local::AsIs
    } else {
        Local::AfterCatchingUp
    })
}

fn plan(req: &ServiceRequest) -> Plan {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Plan::Serve;
    };
    let Some(replica) = state.replica.as_ref().filter(|r| !r.is_leader()) else {
        return Plan::Serve;
    };
    match served_here(req.method(), req.path()) {
        Some(Local::AsIs) => Plan::Serve,
        Some(Local::AfterCatchingUp) => Plan::CatchUpThenServe(replica.clone()),
        None if from_replica(state, req.method(), req.uri(), req.headers()) => Plan::Refuse,
        None => Plan::Forward(replica.clone()),
    }
}

/// 503 with `Retry-After`, in the shape of the endpoint asked.
fn unavailable(path: &str, why: &str) -> HttpResponse {
    if path.starts_with("/api/") {
        ApiError::Unavailable(why.to_owned()).error_response()
    } else {
        OAuthError::unavailable(why).retry_after(1).error_response()
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FORWARD_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds")
    })
}

/// Sends the request to the leader and hands its answer back unchanged.
async fn forward(req: ServiceRequest, replica: Arc<Replica>) -> ServiceResponse<BoxBody> {
    let (http, mut payload) = req.into_parts();
    let path = http.path().to_owned();
    let Some(leader) = replica.leader_url() else {
        let res = unavailable(&path, "no replica leads right now; retry shortly");
        return ServiceResponse::new(http, res);
    };
    let body = match web::Bytes::from_request(&http, &mut payload).await {
        Ok(body) => body,
        Err(e) => return ServiceResponse::new(http, e.error_response()),
    };
    let target = format!(
        "{leader}{}",
        http.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let method = reqwest::Method::from_bytes(http.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut outgoing = reqwest::header::HeaderMap::new();
    for (name, value) in http.headers() {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name) || name == REPLICA.as_str() || name == FORWARDED_FOR.as_str()
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            outgoing.append(name, value);
        }
    }
    let client_ip = http
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    if let Some(state) = http.app_data::<web::Data<AppState>>() {
        let target = http.uri().path_and_query().map_or("/", |p| p.as_str());
        let proof = proof_at(
            state,
            state.clock.now().unix_seconds(),
            http.method().as_str(),
            target,
            &client_ip,
        );
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&proof) {
            outgoing.insert("x-authlog-replica", value);
        }
    }
    if let Ok(value) = reqwest::header::HeaderValue::from_str(&client_ip) {
        outgoing.insert("x-authlog-forwarded-for", value);
    }
    let sent = client()
        .request(method, target)
        .headers(outgoing)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            // Without the URL: its query may hold a hint or a code.
            tracing::warn!(error = %e.without_url(), %leader, "the leader did not answer a forwarded request");
            let res = unavailable(&path, "the leader cannot be reached; retry shortly");
            return ServiceResponse::new(http, res);
        }
    };
    let status = actix_web::http::StatusCode::from_u16(answer.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut res = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name) || name == "x-request-id" {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            res.append_header((name, value));
        }
    }
    let res = match answer.bytes().await {
        Ok(bytes) => res.body(bytes),
        Err(e) => {
            tracing::warn!(error = %e.without_url(), %leader, "the leader's answer broke off");
            unavailable(&path, "the leader's answer broke off; retry shortly")
        }
    };
    ServiceResponse::new(http, res)
}

/// The middleware (see the module documentation).
pub struct Replicated;

impl<S> Transform<S, ServiceRequest> for Replicated
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
        + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = ReplicatedService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ReplicatedService {
            service: Rc::new(service),
        }))
    }
}

/// `Replicated` around the routes.
pub struct ReplicatedService<S> {
    service: Rc<S>,
}

impl<S> Service<ServiceRequest> for ReplicatedService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
        + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        match plan(&req) {
            Plan::Serve => Box::pin(service.call(req)),
            Plan::CatchUpThenServe(replica) => Box::pin(async move {
                if replica.catch_up_to_head().await {
                    service.call(req).await
                } else {
                    let res =
                        unavailable(req.path(), "this replica is behind the log; retry shortly");
                    Ok(req.into_response(res))
                }
            }),
            Plan::Forward(replica) => Box::pin(async move { Ok(forward(req, replica).await) }),
            Plan::Refuse => Box::pin(async move {
                let res = unavailable(req.path(), "this replica no longer leads; retry shortly");
                Ok(req.into_response(res))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_serves_reads_and_sends_every_possible_write_to_the_leader() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(served_here(&get, "/healthz"), Some(Local::AsIs));
        assert_eq!(served_here(&get, "/console/clients"), Some(Local::AsIs));
        assert_eq!(
            served_here(&get, "/api/admin/oauth-clients"),
            Some(Local::AfterCatchingUp)
        );
        assert_eq!(
            served_here(&get, "/oauth/jwks"),
            Some(Local::AfterCatchingUp)
        );
        assert_eq!(
            served_here(&post, "/oauth/introspect"),
            Some(Local::AfterCatchingUp)
        );
        // Pages that may record a grant or end a session, and writes.
        for (method, path) in [
            (&get, "/oauth/authorize"),
            (&get, "/oauth/logout"),
            (&get, "/oauth/device"),
            (&post, "/oauth/token"),
            (&post, "/oauth/revoke"),
            (&post, "/api/admin/oauth-clients"),
            (&Method::PATCH, "/api/admin/users/x"),
            (&Method::DELETE, "/api/admin/tokens/x"),
        ] {
            assert_eq!(served_here(method, path), None, "{method} {path}");
        }
        // Decided on the path as routing decodes it.
        assert_eq!(served_here(&get, "/oauth/%61uthorize"), None);
        assert_eq!(
            served_here(&post, "/oauth/introspec%74"),
            Some(Local::AfterCatchingUp)
        );
    }
}
