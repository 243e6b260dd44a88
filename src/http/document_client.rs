//! Makes a metadata-document client (`client_id` is an https URL) known
//! before an OAuth endpoint looks it up: fetch (or cache) the document and
//! submit `UpsertDocumentClient` when the client is new or its document
//! changed. A new one counts as a registration against the per-address limit.

use authlog_events::Principal;

use super::context::RequestFacts;
use super::error::OAuthError;
use super::request_id;
use crate::cimd::{is_document_url, CimdError};
use crate::commands::clients::UpsertDocumentClient;
use crate::state::AppState;

/// Registers `client_id`, when it is a document URL, with its current
/// document. `Err` explains why it cannot be used (`invalid_client`).
pub async fn ensure(
    state: &AppState,
    client_id: &str,
    facts: &RequestFacts,
) -> Result<(), OAuthError> {
    if !is_document_url(client_id) {
        return Ok(());
    }
    let now = state.clock.now();
    let metadata = state
        .documents
        .metadata(client_id, now)
        .await
        .map_err(|e| match e {
            // A fixed description stands in for the fetch's cause: cite
            // the request id the log files it under.
            CimdError::Fetch(_) => OAuthError::invalid_client(request_id::cite(&e.to_string())),
            _ => OAuthError::invalid_client(e.to_string()),
        })?;
    let current = {
        let p = state.read()?;
        if p.registry.is_deleted(client_id) {
            return Err(OAuthError::invalid_client("this client was deleted"));
        }
        UpsertDocumentClient::is_current(&p, client_id, &metadata)
    };
    if current == Some(true) {
        return Ok(());
    }
    if current.is_none() {
        // A new document client is a registration: the same per-IP limit applies.
        let ip_key = super::context::ip_key(facts.ip);
        if state.registrations.check(&ip_key, now).is_err() {
            return Err(OAuthError::invalid_client(
                "too many registrations from this address; try again in a minute",
            ));
        }
        state.registrations.fail(&ip_key, now);
    }
    // New or changed, it is an append no credential paid for.
    if state.anonymous_writes.take().is_err() {
        return Err(OAuthError::invalid_client(
            "too many client registrations right now; try again in a minute",
        ));
    }
    let writer = state.ready_writer().ok_or_else(OAuthError::starting)?;
    writer
        .submit(UpsertDocumentClient {
            client_id: client_id.to_owned(),
            metadata,
            ctx: facts.context(Principal::Client(client_id.to_owned()), None),
        })
        .await
        .map_err(|e| OAuthError::invalid_client(e.to_string()))
}
