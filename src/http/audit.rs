//! `/api/audit/*` (scope `audit:read`, read-only by construction: every
//! route is a GET that reads the log or the projections and submits no
//! command): the events query, a client's summary, streamed export, the
//! live Server-Sent Events feed, chain verification and signed checkpoints.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use authlog_events::{EventLog, RecordedEvent};
use serde_json::{json, Value};
use uuid::Uuid;

use super::bearer::authorize;
use super::error::ApiError;
use crate::audit::export::ExportFormat;
use crate::audit::filter::AuditFilter;
use crate::audit::item::ActorView;
use crate::audit::{AuditError, AuditItem, AuditQuery, Walker};
use crate::client_policy::registration_type_name;
use crate::scopes::{role_allows, AUDIT_READ};
use crate::state::AppState;

/// Records per export chunk.
const EXPORT_CHUNK: usize = 500;
/// How often the live feed looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// Idle polls between heartbeats (60 × 250 ms = 15 s).
const HEARTBEAT_POLLS: u32 = 60;
/// Most records the live feed reads per poll.
const FEED_CHUNK: usize = 500;

/// Registers the audit routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(events)
        .service(client_summary)
        .service(export)
        .service(stream)
        .service(verify)
        .service(checkpoint);
}

fn refuse(query: &AuditQuery, cursor_ok: bool, format_ok: bool) -> Result<(), ApiError> {
    if query.format.is_some() && !format_ok {
        return Err(
            AuditError::invalid("format", "is only a parameter of /api/audit/export").into(),
        );
    }
    if query.before.is_some() && !cursor_ok {
        return Err(
            AuditError::invalid("cursor", "is only a parameter of /api/audit/events").into(),
        );
    }
    Ok(())
}

#[utoipa::path(
    operation_id = "audit_events",
    tag = "audit",
    summary = "Query the event log, newest first",
    params(crate::http::openapi::schemas::AuditParams, crate::http::openapi::schemas::AuditCursor),
    responses((status = 200, description = "A page of events", body = crate::http::openapi::schemas::AuditPage), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/audit/events")]
pub(crate) async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, AUDIT_READ)?;
    let query = AuditQuery::parse(req.query_string())?;
    refuse(&query, true, false)?;
    let store = state.log.clone();
    let projections = state.projections.clone();
    let (records, next) = web::block(move || {
        Walker::new(
            store,
            Some(projections),
            query.filter,
            query.before,
            query.limit,
        )?
        .page(query.limit)
    })
    .await??;
    let items: Vec<AuditItem> = records.iter().map(AuditItem::of).collect();
    let next_cursor = next.map(crate::audit::filter::encode_cursor);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "items": items, "next_cursor": next_cursor })))
}

#[utoipa::path(
    operation_id = "audit_client_summary",
    tag = "audit",
    summary = "Everything a client did, summarised",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "The summary", body = crate::http::openapi::schemas::ClientAudit), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/audit/clients/{client_id}")]
pub(crate) async fn client_summary(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, AUDIT_READ)?;
    let id = path.into_inner();
    let now = state.clock.now();
    let projections = state.read()?;
    let summary = projections
        .audit
        .client(&id)
        .ok_or_else(|| ApiError::NotFound(format!("client {id}")))?;
    let live = projections.registry.get(&id);
    let status = match (summary.deleted, live) {
        (true, _) => "deleted",
        (false, Some(c)) => c.status.as_str(),
        (false, None) => "unregistered",
    };
    let client_name = live
        .map(|c| c.metadata.client_name.clone())
        .or_else(|| summary.registration.as_ref().map(|r| r.client_name.clone()));
    let registration = summary.registration.as_ref().map(|r| {
        json!({
            "registration_type": registration_type_name(r.registration_type),
            "client_name": r.client_name,
            "at": r.at.to_rfc3339(),
            "actor": ActorView::of(&r.actor),
            "position": r.position,
        })
    });
    let history: Vec<Value> = summary
        .history
        .iter()
        .map(|h| {
            json!({
                "change": h.change.as_str(),
                "at": h.at.to_rfc3339(),
                "actor": ActorView::of(&h.actor),
                "position": h.position,
            })
        })
        .collect();
    let body = json!({
        "client_id": id,
        "client_name": client_name,
        "status": status,
        "registration": registration,
        "status_history": history,
        "tokens": {
            "issued": summary.tokens_issued,
            "refreshed": summary.tokens_refreshed,
            "revoked": summary.tokens_revoked,
            "active_now": projections.tokens.active_count(&id, now),
        },
        "failed_authentications": summary.failed_authentications,
        "failed_logins": summary.failed_logins,
        "events": summary.events,
        "last_activity": summary.last_activity.map(|t| t.to_rfc3339()),
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// One export step: the next chunk of rendered items, and the walk to go on with.
type ExportStep = (Result<Bytes, std::io::Error>, Option<(Walker, bool)>);

async fn export_step(mut walker: Walker, first: bool, format: ExportFormat) -> ExportStep {
    let read = web::block(move || {
        let page = walker.page(EXPORT_CHUNK);
        (walker, page)
    })
    .await;
    match read {
        Ok((walker, Ok((records, next)))) => {
            let items: Vec<AuditItem> = records.iter().map(AuditItem::of).collect();
            let mut bytes = if first { format.header() } else { Vec::new() };
            bytes.extend(format.render(&items));
            let more = next.map(|_| (walker, false));
            (Ok(Bytes::from(bytes)), more)
        }
        Ok((_, Err(e))) => (Err(std::io::Error::other(e.to_string())), None),
        Err(e) => (Err(std::io::Error::other(e.to_string())), None),
    }
}

#[utoipa::path(
    operation_id = "audit_export",
    tag = "audit",
    summary = "Export matching events as NDJSON or CSV",
    params(crate::http::openapi::schemas::AuditParams, crate::http::openapi::schemas::AuditFormat),
    responses((status = 200, description = "The events, streamed", content((String = "application/x-ndjson"), (String = "text/csv"))), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/audit/export")]
pub(crate) async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, AUDIT_READ)?;
    let query = AuditQuery::parse(req.query_string())?;
    refuse(&query, false, true)?;
    let format = ExportFormat::parse(query.format.as_deref().unwrap_or("ndjson"), false)?;
    let walker = Walker::new(
        state.log.clone(),
        Some(state.projections.clone()),
        query.filter,
        None,
        EXPORT_CHUNK,
    )?;
    let body = futures_util::stream::unfold(Some((walker, true)), move |next| async move {
        let (walker, first) = next?;
        let (chunk, more) = export_step(walker, first, format).await;
        Some((chunk, more))
    });
    let extension = match format {
        ExportFormat::Csv => "csv",
        _ => "ndjson",
    };
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"authlog-audit.{extension}\""),
        ))
        .streaming(body))
}

/// The state of one live feed.
struct Feed {
    state: web::Data<AppState>,
    store: Arc<dyn EventLog>,
    filter: AuditFilter,
    token_id: Uuid,
    /// The next position to read.
    next: u64,
    ticker: tokio::time::Interval,
    idle_polls: u32,
    started: bool,
}

impl Feed {
    /// Whether the token that opened the feed is still active and, for a
    /// user's token, the user is still enabled and may read the audit.
    fn authorized(&self) -> bool {
        let now = self.state.clock.now();
        let Ok(projections) = self.state.read() else {
            return false;
        };
        let Some(token) = projections
            .tokens
            .get(&self.token_id)
            .filter(|t| t.is_active(now))
        else {
            return false;
        };
        match token.subject() {
            None => true,
            Some(user) => projections
                .users
                .get(&user)
                .is_some_and(|u| !u.disabled && role_allows(&u.roles, AUDIT_READ)),
        }
    }

    /// The next bytes of the feed; `None` ends it.
    async fn step(&mut self) -> Option<Bytes> {
        if !self.started {
            self.started = true;
            return Some(Bytes::from_static(b"retry: 1000\n: authlog audit feed\n\n"));
        }
        loop {
            self.ticker.tick().await;
            if !self.authorized() {
                return None;
            }
            let store = self.store.clone();
            let from = self.next;
            let records: Vec<RecordedEvent> =
                match web::block(move || store.read_all(from, FEED_CHUNK)).await {
                    Ok(Ok(records)) => records,
                    _ => return None,
                };
            if let Some(last) = records.last() {
                self.next = last.position + 1;
            }
            let mut out = String::new();
            for record in records.iter().filter(|r| self.filter.matches(r)) {
                let data = serde_json::to_string(&AuditItem::of(record)).unwrap_or_default();
                out.push_str(&format!("id: {}\ndata: {data}\n\n", record.position));
            }
            if !out.is_empty() {
                self.idle_polls = 0;
                return Some(Bytes::from(out));
            }
            self.idle_polls += 1;
            if self.idle_polls >= HEARTBEAT_POLLS {
                self.idle_polls = 0;
                return Some(Bytes::from_static(b": heartbeat\n\n"));
            }
        }
    }
}

#[utoipa::path(
    operation_id = "audit_stream",
    tag = "audit",
    summary = "Follow new events live (Server-Sent Events)",
    params(crate::http::openapi::schemas::AuditParams, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this position")),
    responses((status = 200, description = "An event stream: one `data:` line of an audit item per event, its position as `id`", content_type = "text/event-stream", body = String), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/audit/stream")]
pub(crate) async fn stream(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, AUDIT_READ)?;
    let query = AuditQuery::parse(req.query_string())?;
    refuse(&query, false, false)?;
    let last_event_id = match req.headers().get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Last-Event-ID",
                        "must be the id (position) of an event this feed sent",
                    )
                })?,
        ),
    };
    let start = match last_event_id {
        Some(position) => position,
        None => state.read()?.applied_position,
    };
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        store: state.log.clone(),
        state: state.clone(),
        filter: query.filter,
        token_id: caller.token.token_id,
        next: start.saturating_add(1),
        ticker,
        idle_polls: 0,
        started: false,
    };
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        let bytes = feed.step().await?;
        Some((Ok::<_, std::io::Error>(bytes), feed))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

#[utoipa::path(
    operation_id = "audit_verify",
    tag = "audit",
    summary = "Walk the hash chain",
    responses((status = 200, description = "Whether every link holds", body = crate::http::openapi::schemas::VerifyView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/audit/verify")]
pub(crate) async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, AUDIT_READ)?;
    let store = state.log.clone();
    let report = web::block(move || store.verify())
        .await?
        .map_err(AuditError::from)?;
    let head = report
        .head
        .map(|h| json!({ "position": h.position, "hash": hex::encode(h.hash) }));
    let broken = report
        .broken
        .as_ref()
        .map(|b| json!({ "position": b.position, "reason": b.reason }));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "intact": report.broken.is_none(),
            "records": report.records,
            "head": head,
            "broken": broken,
        })))
}

#[utoipa::path(
    operation_id = "audit_checkpoint",
    tag = "audit",
    summary = "A checkpoint of the head signed with the audit key",
    responses((status = 200, description = "The checkpoint", body = crate::audit::checkpoint::Checkpoint), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/audit/checkpoint")]
pub(crate) async fn checkpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, AUDIT_READ)?;
    let (position, hash) = {
        let projections = state.read()?;
        (projections.applied_position, projections.stats.head_hash)
    };
    if position == 0 {
        return Err(ApiError::Conflict("the log is empty".into()));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(state.audit_key.sign(position, &hash)))
}
