//! Makes a metadata-document client (`client_id` is an https URL) known
//! before an OAuth endpoint looks it up: fetch (or cache) the document and
//! register or update the client in the log when it is new or changed.

use authlog_events::Principal;

use super::context::RequestFacts;
use crate::cimd::is_document_url;
use crate::commands::clients::UpsertDocumentClient;
use crate::state::AppState;

/// Ensures `client_id`, when it is a document URL, is registered with its
/// current document. `Err` explains why it cannot be used.
pub async fn ensure(state: &AppState, client_id: &str, facts: &RequestFacts) -> Result<(), String> {
    if !is_document_url(client_id) {
        return Ok(());
    }
    let now = state.clock.now();
    let metadata = state
        .documents
        .metadata(client_id, now)
        .await
        .map_err(|e| e.to_string())?;
    let current = {
        let p = state.read();
        if p.registry.is_deleted(client_id) {
            return Err("this client was deleted".into());
        }
        p.registry.get(client_id).map(|c| {
            crate::client_document::merge_client_owned(&c.metadata, &metadata) == c.metadata
        })
    };
    if current == Some(true) {
        return Ok(());
    }
    if current.is_none() {
        // A new document client is a registration: the same per-IP limit applies.
        let ip_key = super::context::ip_key(facts.ip);
        if state.registrations.check(&ip_key, now).is_err() {
            return Err("too many registrations from this address; try again in a minute".into());
        }
        state.registrations.fail(&ip_key, now);
    }
    let writer = state
        .writer()
        .filter(|_| state.is_ready())
        .ok_or_else(|| "authlog is starting".to_owned())?;
    writer
        .submit(UpsertDocumentClient {
            client_id: client_id.to_owned(),
            metadata,
            ctx: facts.context(Principal::Client(client_id.to_owned()), None),
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
