//! `GET /healthz` (the process is up) and `GET /readyz` (replay is done,
//! the writer is healthy and the read models can be trusted).

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Liveness: answers as soon as the server listens.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: 200 once the log is replayed and the writer can commit; 503
/// while starting, after a storage failure, or after a fold failed (the
/// read models may be half-applied until a restart replays the log).
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_follower() && state.is_ready() {
        // A follower has no writer: it is ready once it has replayed, and
        // says how far behind the log it is.
        return match state.read() {
            Ok(projections) => HttpResponse::Ok().json(json!({
                "status": "ready",
                "position": projections.applied_position,
                "events": projections.stats.events,
                "replication": replication(&state, projections.applied_position),
            })),
            Err(e) => HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "error": e.to_string() })),
        };
    }
    let Some(writer) = state.ready_writer() else {
        // While the log replays: how far it has got.
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "starting",
            "replay": state.replay_progress.view(),
        }));
    };
    let failure = writer.status().failure().map(|f| f.to_string());
    let projections = match (failure, state.read()) {
        (None, Ok(projections)) => projections,
        (failure, read) => {
            let reason = failure.or_else(|| read.err().map(|e| e.to_string()));
            return HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "error": reason }));
        }
    };
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "position": projections.applied_position,
        "events": projections.stats.events,
        "replication": replication(&state, projections.applied_position),
    }))
}

/// Role, leader, applied position and lag; null on the embedded store.
fn replication(state: &AppState, applied: u64) -> serde_json::Value {
    state
        .replica
        .as_ref()
        .map_or(serde_json::Value::Null, |r| json!(r.view(applied)))
}

#[cfg(test)]
mod tests {
    //! A fold that panics part-way must not leave a server that looks
    //! ready and serves half-applied read models.

    use std::sync::Arc;

    use actix_web::{test, App};
    use authlog_events::{
        Actor, AppendBatch, Event, EventStore, NewEvent, RecordedEvent, RedbStore, Timestamp,
    };
    use authlog_projections::Projections;

    use crate::commands::RawAppend;
    use crate::config::{Config, RawConfig};
    use crate::entropy::SequentialEntropy;
    use crate::state::AppState;
    use crate::writer::{spawn_with_fold, Failure, WriteError, WriterConfig};

    fn resumed(client_id: &str, n: u128) -> RawAppend {
        RawAppend(AppendBatch::new(vec![NewEvent {
            event_id: uuid::Uuid::from_u128(n),
            stream: format!("client/{client_id}"),
            recorded_at: Timestamp(0),
            actor: Actor::system(),
            client_id: Some(client_id.into()),
            correlation_id: None,
            payload: Event::ClientResumed {
                client_id: client_id.into(),
            },
        }]))
    }

    /// `Projections::apply`, except that it panics right after folding
    /// the event about client "boom".
    fn fold(state: &mut Projections, event: &RecordedEvent) -> bool {
        let applied = state.apply(event);
        if event.client_id.as_deref() == Some("boom") {
            panic!("injected fold failure");
        }
        applied
    }

    /// A server's state over a fresh store in `dir`, not ready yet.
    fn starting(dir: &std::path::Path) -> (actix_web::web::Data<AppState>, Arc<dyn EventStore>) {
        let raw = RawConfig {
            data: Some(dir.to_owned()),
            ..RawConfig::default()
        };
        let config = Config::validate(raw).unwrap();
        let store: Arc<dyn EventStore> =
            Arc::new(RedbStore::open(dir.join("authlog.redb")).unwrap());
        let state = actix_web::web::Data::new(AppState::new(
            config,
            Arc::new(crate::clock::ManualClock::new(Timestamp(0))),
            Arc::new(SequentialEntropy::default()),
            crate::state::Keys {
                server: crate::secrets::ServerKey::from_bytes([1; 32]),
                audit: crate::audit::AuditKey::from_bytes([2; 32]),
                vault: crate::vault::Vault::with_key(
                    &[3; 32],
                    Arc::new(crate::vault::key_store::MemoryKeyStore::default()),
                ),
            },
            store.clone(),
            crate::cimd::DocumentFetcher::new(vec![], None).unwrap(),
        ));
        (state, store)
    }

    #[actix_web::test]
    async fn while_the_log_replays_readyz_says_how_far_it_has_got() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _store) = starting(dir.path());
        let app = test::init_service(
            App::new()
                .app_data(state.clone())
                .configure(crate::http::routes),
        )
        .await;
        let readyz = || test::TestRequest::get().uri("/readyz").to_request();
        let body: serde_json::Value = test::call_and_read_body_json(&app, readyz()).await;
        assert_eq!(
            body,
            serde_json::json!({"status": "starting", "replay": null})
        );
        state.replay_progress.begin(4000);
        state.replay_progress.add(1000);
        let response = test::call_service(&app, readyz()).await;
        assert_eq!(response.status().as_u16(), 503);
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["status"], "starting");
        assert_eq!(body["replay"]["events"], 1000);
        assert_eq!(body["replay"]["total"], 4000);
        assert_eq!(body["replay"]["percent"], 25.0);
        assert!(body["replay"]["events_per_second"].as_u64().unwrap() > 0);
        assert!(body["replay"]["eta_seconds"].as_u64().is_some(), "{body}");
    }

    #[actix_web::test]
    async fn a_panicking_fold_makes_the_server_unready_and_refuses_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (state, store) = starting(dir.path());
        let (writer, thread) = spawn_with_fold(
            store.clone(),
            state.projections.clone(),
            state.sources(),
            WriterConfig {
                max_batch: 8,
                queue: 8,
            },
            fold,
        );
        state.set_writer(writer.clone(), thread);
        state.set_ready();
        let app = test::init_service(
            App::new()
                .app_data(state.clone())
                .configure(crate::http::routes),
        )
        .await;
        let readyz = || test::TestRequest::get().uri("/readyz").to_request();

        writer.submit(resumed("fine", 1)).await.unwrap();
        assert_eq!(
            test::call_service(&app, readyz()).await.status().as_u16(),
            200
        );

        let failed = writer.submit(resumed("boom", 2)).await;
        assert!(
            matches!(&failed, Err(WriteError::Unavailable(f)) if matches!(**f, Failure::FoldPanicked(_))),
            "{failed:?}"
        );
        assert_eq!(
            test::call_service(&app, readyz()).await.status().as_u16(),
            503
        );
        assert!(
            state.read().is_err(),
            "half-applied read models are not served"
        );
        // Reads through the API are refused, not answered from the poisoned state.
        let req = test::TestRequest::get()
            .uri("/api/admin/oauth-clients")
            .insert_header(("Authorization", "Bearer alat_x"))
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status().as_u16(), 503);
        // Every later write is refused as temporarily unavailable.
        let req = test::TestRequest::post()
            .uri("/oauth/token")
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload("grant_type=client_credentials&client_id=c&client_secret=s")
            .to_request();
        let response = test::call_service(&app, req).await;
        assert_eq!(response.status().as_u16(), 503);
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "temporarily_unavailable");
        let later = writer.submit(resumed("later", 3)).await;
        assert!(
            matches!(&later, Err(WriteError::Unavailable(f)) if matches!(**f, Failure::FoldPanicked(_))),
            "{later:?}"
        );

        // The events were durable: a restart replays them all.
        let stopping = state.clone();
        actix_web::web::block(move || stopping.stop_writer())
            .await
            .unwrap();
        let mut replayed = Projections::default();
        crate::replay::replay(store.as_ref(), &mut replayed).unwrap();
        assert_eq!(replayed.applied_position, 2);
        assert!(replayed.registry.get("boom").is_none());
    }
}
