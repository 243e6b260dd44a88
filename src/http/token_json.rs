//! The JSON view of a token in the admin APIs (never its value or digest).

use authlog_events::{Timestamp, TokenKind};
use authlog_projections::TokenRecord;
use serde_json::{json, Value};

/// `access` / `refresh`.
pub fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
    }
}

/// A token as the admin API shows it; `pending_use` is a use not yet flushed to the log.
pub fn token_view(t: &TokenRecord, pending_use: Option<Timestamp>) -> Value {
    let last_used = t.last_used().max(pending_use);
    json!({
        "token_id": t.token_id.to_string(),
        "kind": kind_name(t.kind),
        "client_id": t.client_id,
        "subject": t.subject().map(|s| s.to_string()),
        "scope": t.scopes.join(" "),
        "issued_at": t.issued_at.to_rfc3339(),
        "expires_at": t.expires_at.to_rfc3339(),
        "last_used_at": last_used.map(|l| l.to_rfc3339()),
        "access": super::client_json::preset_name(t.access),
        "teams": t.teams(),
        "status": if t.revoked().is_some() { "revoked" } else { "active" },
    })
}
