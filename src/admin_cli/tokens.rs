//! `authlog tokens revoke|list`: revoking one token
//! (`DELETE /api/admin/tokens/{id}`) or all of a client's
//! (`POST /api/admin/oauth-clients/{id}/tokens/revoke-all`), and listing a
//! client's active tokens to find their ids.

use std::io::Write;

use serde_json::Value;

use super::api::Api;
use super::args::{RevokeArgs, TokensArgs, TokensCommand};
use super::error::AdminCliError;
use super::output::{cell, sanitize, Printer};
use super::paging::all_pages;
use crate::scopes::{CLIENTS_READ, TOKENS_REVOKE};

/// Runs a `tokens` subcommand.
pub async fn run<W: Write>(args: TokensArgs, out: &mut Printer<W>) -> Result<(), AdminCliError> {
    match args.command {
        TokensCommand::Revoke(revoke) => {
            let api = Api::open(&args.connection, TOKENS_REVOKE).await?;
            match revoke {
                RevokeArgs {
                    token_id: Some(id), ..
                } => {
                    let answer = api.delete(&["api", "admin", "tokens", &id]).await?;
                    match answer {
                        Some(body) if out.json => out.json(&body),
                        _ if out.json => Ok(()),
                        _ => out.line(&format!("revoked token {}", sanitize(&id))),
                    }
                }
                RevokeArgs {
                    client: Some(client),
                    all: true,
                    ..
                } => {
                    let path = [
                        "api",
                        "admin",
                        "oauth-clients",
                        &client,
                        "tokens",
                        "revoke-all",
                    ];
                    let answer = api.post(&path, None).await?.unwrap_or(Value::Null);
                    if out.json {
                        return out.json(&answer);
                    }
                    out.line(&format!(
                        "revoked {} tokens of client {}",
                        cell(answer.get("revoked")),
                        sanitize(&client)
                    ))
                }
                // clap requires TOKEN_ID or both --client and --all.
                RevokeArgs { .. } => Err(AdminCliError::Usage(
                    "give a TOKEN_ID, or --client ID --all".into(),
                )),
            }
        }
        TokensCommand::List { client } => {
            let api = Api::open(&args.connection, CLIENTS_READ).await?;
            let path = ["api", "admin", "oauth-clients", &client, "tokens"];
            let items = all_pages(&api, &path, &[]).await?;
            if out.json {
                return out.json(&serde_json::json!({ "items": items, "next_cursor": null }));
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|t| {
                    [
                        "token_id",
                        "kind",
                        "subject",
                        "scope",
                        "issued_at",
                        "expires_at",
                        "last_used_at",
                    ]
                    .iter()
                    .map(|field| cell(t.get(field)))
                    .collect()
                })
                .collect();
            out.table(
                &[
                    "TOKEN_ID",
                    "KIND",
                    "SUBJECT",
                    "SCOPE",
                    "ISSUED",
                    "EXPIRES",
                    "LAST_USED",
                ],
                &rows,
            )
        }
    }
}
