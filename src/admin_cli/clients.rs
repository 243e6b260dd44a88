//! `authlog clients list|get|create|pause|resume|rotate|delete`: the admin
//! client API (`/api/admin/oauth-clients`) from the command line.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::api::Api;
use super::args::{ClientsArgs, ClientsCommand, CreateArgs, ListArgs};
use super::error::AdminCliError;
use super::output::{cell, sanitize, Printer};
use super::paging::all_pages;
use crate::scopes::{CLIENTS_READ, CLIENTS_WRITE};

/// The collection's path.
const CLIENTS: [&str; 3] = ["api", "admin", "oauth-clients"];

/// Fields shown first when one client is printed.
const LEADING: [&str; 4] = ["client_id", "client_name", "client_secret", "status"];

/// Runs a `clients` subcommand.
pub async fn run<W: Write>(args: ClientsArgs, out: &mut Printer<W>) -> Result<(), AdminCliError> {
    let scope = match args.command {
        ClientsCommand::List(_) | ClientsCommand::Get { .. } => CLIENTS_READ,
        _ => CLIENTS_WRITE,
    };
    // A bad `--from-json` fails before any token is asked for.
    let create_body = match &args.command {
        ClientsCommand::Create(create) => Some(create_body(create)?),
        _ => None,
    };
    let api = Api::open(&args.connection, scope).await?;
    match args.command {
        ClientsCommand::List(filters) => list(&api, &filters, out).await,
        ClientsCommand::Get { id } => {
            let client = api.get(&at(&id, None), &[]).await?;
            show(out, &client)
        }
        ClientsCommand::Create(_) => {
            let body = create_body.unwrap_or_default();
            let created = api.post(&CLIENTS, Some(&body)).await?;
            let created = created.unwrap_or(Value::Null);
            if out.json {
                return out.json(&created);
            }
            warn(&created);
            show(out, &created)?;
            secret_notice(&created);
            Ok(())
        }
        ClientsCommand::Pause { id } => status(&api, &id, "pause", out).await,
        ClientsCommand::Resume { id } => status(&api, &id, "resume", out).await,
        ClientsCommand::Rotate { id, grace_seconds } => {
            let body = grace_seconds.map(|s| json!({ "previous_secret_valid_for_seconds": s }));
            let rotated = api
                .post(&at(&id, Some("rotate-secret")), body.as_ref())
                .await?
                .unwrap_or(Value::Null);
            if out.json {
                return out.json(&rotated);
            }
            show(out, &rotated)?;
            secret_notice(&rotated);
            Ok(())
        }
        ClientsCommand::Delete { id } => {
            let answer = api.delete(&at(&id, None)).await?;
            match answer {
                Some(body) if out.json => out.json(&body),
                _ if out.json => Ok(()),
                _ => out.line(&format!("deleted client {}", sanitize(&id))),
            }
        }
    }
}

/// The path of client `id`, or of its `action`.
fn at<'a>(id: &'a str, action: Option<&'a str>) -> Vec<&'a str> {
    let mut path = CLIENTS.to_vec();
    path.push(id);
    path.extend(action);
    path
}

async fn list<W: Write>(
    api: &Api,
    filters: &ListArgs,
    out: &mut Printer<W>,
) -> Result<(), AdminCliError> {
    let mut query = Vec::new();
    if let Some(status) = &filters.status {
        query.push(("status", status.as_str()));
    }
    if let Some(text) = &filters.search {
        query.push(("q", text.as_str()));
    }
    let items = all_pages(api, &CLIENTS, &query).await?;
    if out.json {
        return out.json(&json!({ "items": items, "next_cursor": null }));
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|c| {
            [
                "client_id",
                "client_name",
                "status",
                "registration_type",
                "token_endpoint_auth_method",
                "grant_types",
                "active_token_count",
                "created_at",
            ]
            .iter()
            .map(|field| cell(c.get(field)))
            .collect()
        })
        .collect();
    out.table(
        &[
            "CLIENT_ID",
            "NAME",
            "STATUS",
            "REGISTRATION",
            "AUTH",
            "GRANT_TYPES",
            "TOKENS",
            "CREATED",
        ],
        &rows,
    )
}

/// Pause or resume; prints the client's new status.
async fn status<W: Write>(
    api: &Api,
    id: &str,
    action: &str,
    out: &mut Printer<W>,
) -> Result<(), AdminCliError> {
    let client = api
        .post(&at(id, Some(action)), None)
        .await?
        .unwrap_or(Value::Null);
    if out.json {
        return out.json(&client);
    }
    out.line(&format!(
        "client {}: {}",
        sanitize(id),
        cell(client.get("status"))
    ))
}

/// One client (or a rotation's answer) as `field  value` lines.
fn show<W: Write>(out: &mut Printer<W>, client: &Value) -> Result<(), AdminCliError> {
    if out.json {
        return out.json(client);
    }
    out.fields(client, &LEADING, &["warnings"])
}

/// The server's warnings about a new client, on stderr.
fn warn(created: &Value) {
    let Some(warnings) = created.get("warnings").and_then(Value::as_array) else {
        return;
    };
    for w in warnings {
        let _ = writeln!(
            std::io::stderr(),
            "authlog: warning: {}: {}",
            cell(w.get("field")),
            cell(w.get("message"))
        );
    }
}

/// Reminds on stderr that a secret just printed is not shown again.
fn secret_notice(answer: &Value) {
    if answer.get("client_secret").is_some_and(Value::is_string) {
        let _ = writeln!(
            std::io::stderr(),
            "authlog: client_secret is shown only this once; store it now"
        );
    }
}

/// The create body: `--from-json`'s object with the flags' fields set over it.
fn create_body(args: &CreateArgs) -> Result<Value, AdminCliError> {
    let mut body = match &args.from_json {
        Some(path) => read_object(path)?,
        None => Map::new(),
    };
    let mut set = |field: &str, value: Value| {
        body.insert(field.to_owned(), value);
    };
    if let Some(id) = &args.id {
        set("client_id", json!(id));
    }
    if let Some(name) = &args.name {
        set("client_name", json!(name));
    }
    if let Some(description) = &args.description {
        set("description", json!(description));
    }
    if !args.grant_types.is_empty() {
        set("grant_types", json!(args.grant_types));
    }
    if !args.redirect_uris.is_empty() {
        set("redirect_uris", json!(args.redirect_uris));
    }
    if let Some(scope) = &args.scope {
        set("scope", json!(scope));
    }
    if args.public {
        set("token_endpoint_auth_method", json!("none"));
    }
    if args.confirm_high_risk {
        set("confirm_high_risk", json!(true));
    }
    Ok(Value::Object(body))
}

/// A JSON object from `path` (`-`: standard input).
fn read_object(path: &Path) -> Result<Map<String, Value>, AdminCliError> {
    let read_error = |source| AdminCliError::ReadInput {
        path: path.to_owned(),
        source,
    };
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(read_error)?;
        text
    } else {
        std::fs::read_to_string(path).map_err(read_error)?
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AdminCliError::InputJson {
            path: path.to_owned(),
            source: None,
        }),
        Err(e) => Err(AdminCliError::InputJson {
            path: path.to_owned(),
            source: Some(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn args(from_json: Option<&Path>) -> CreateArgs {
        CreateArgs {
            from_json: from_json.map(Path::to_owned),
            id: None,
            name: None,
            description: None,
            grant_types: vec![],
            redirect_uris: vec![],
            scope: None,
            public: false,
            confirm_high_risk: false,
        }
    }

    #[test]
    fn flags_override_the_json_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(
            file,
            r#"{{"client_name": "From file", "scope": "a", "require_consent": true}}"#
        )
        .unwrap();
        let mut create = args(Some(file.path()));
        create.name = Some("From flag".into());
        create.grant_types = vec!["client_credentials".into()];
        create.public = true;
        assert_eq!(
            create_body(&create).unwrap(),
            json!({
                "client_name": "From flag",
                "scope": "a",
                "require_consent": true,
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "none",
            })
        );
    }

    #[test]
    fn a_json_file_that_is_not_an_object_is_refused() {
        for text in ["[1, 2]", "{not json", ""] {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(text.as_bytes()).unwrap();
            assert!(
                matches!(
                    create_body(&args(Some(file.path()))),
                    Err(AdminCliError::InputJson { .. })
                ),
                "{text}"
            );
        }
        assert!(matches!(
            create_body(&args(Some(Path::new("/nonexistent/x.json")))),
            Err(AdminCliError::ReadInput { .. })
        ));
    }
}
