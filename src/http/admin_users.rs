//! `/api/admin/users`: create, list, read, edit (with `If-Match`),
//! disable and delete users. Passwords are accepted here and stored only as argon2id
//! digests; no response ever carries one.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use authlog_events::{Role, Timestamp};
use authlog_projections::{Projections, UserRecord};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bearer::authorize;
use super::error::ApiError;
use super::json_body::{parse_query, present, read_json};
use crate::commands::users::{CreateUser, DisableUser, Profile, UpdateUser};
use crate::commands::DomainError;
use crate::passwords;
use crate::scopes::{role_name, USERS_READ, USERS_WRITE};
use crate::state::AppState;

/// Create/edit input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserInput {
    username: Option<String>,
    display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    password: Option<String>,
    roles: Option<Vec<String>>,
    teams: Option<Vec<String>>,
}

fn invalid(field: &str, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn parse_role(s: &str) -> Option<Role> {
    match s {
        "admin" => Some(Role::Admin),
        "auditor" => Some(Role::Auditor),
        "member" => Some(Role::Member),
        _ => None,
    }
}

fn validate_username(u: &str) -> Result<(), DomainError> {
    let ok = (1..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "username",
            "must be 1-64 characters of A-Z a-z 0-9 . _ - @",
        ))
    }
}

impl UserInput {
    /// Applies the given fields to a profile (password hashing happens before, in the handler).
    fn apply(
        &self,
        profile: &mut Profile,
        password_digest: Option<String>,
    ) -> Result<(), DomainError> {
        if let Some(name) = &self.display_name {
            if name.trim().is_empty() || name.chars().count() > 200 {
                return Err(invalid("display_name", "must be 1-200 characters"));
            }
            profile.display_name = name.clone();
        }
        if let Some(email) = &self.email {
            if let Some(e) = email {
                if e.len() > 254 || !e.contains('@') || e.chars().any(char::is_whitespace) {
                    return Err(invalid("email", "is not an email address"));
                }
            }
            profile.email = email.clone().filter(|e| !e.is_empty());
        }
        if let Some(roles) = &self.roles {
            let mut parsed = Vec::new();
            for r in roles {
                let role = parse_role(r).ok_or_else(|| {
                    invalid("roles", format!("{r:?} is not admin, auditor or member"))
                })?;
                if !parsed.contains(&role) {
                    parsed.push(role);
                }
            }
            if parsed.is_empty() {
                return Err(invalid("roles", "at least one role is required"));
            }
            profile.roles = parsed;
        }
        if let Some(teams) = &self.teams {
            if teams.len() > 50
                || teams
                    .iter()
                    .any(|t| t.trim().is_empty() || t.chars().count() > 100)
            {
                return Err(invalid("teams", "at most 50 teams of 1-100 characters"));
            }
            let mut unique: Vec<String> = Vec::new();
            for t in teams {
                if !unique.contains(t) {
                    unique.push(t.clone());
                }
            }
            profile.teams = unique;
        }
        if password_digest.is_some() {
            profile.password_digest = password_digest;
        }
        Ok(())
    }
}

/// A user as the API shows it (never the password digest).
fn user_view(p: &Projections, u: &UserRecord, now: Timestamp) -> Value {
    json!({
        "user_id": u.user_id.to_string(),
        "username": u.username,
        "display_name": u.display_name,
        "email": u.email,
        "roles": u.roles.iter().map(|r| role_name(*r)).collect::<Vec<_>>(),
        "teams": u.teams,
        "disabled": u.disabled,
        "created_at": u.created_at.to_rfc3339(),
        "updated_at": u.updated_at.to_rfc3339(),
        "version": u.version,
        "active_token_count": p.tokens.active_for_subject(&u.user_id, now).count(),
    })
}

fn writer(state: &AppState) -> Result<&crate::writer::WriterHandle, ApiError> {
    state.ready_writer().ok_or_else(ApiError::starting)
}

fn respond(
    state: &AppState,
    id: &Uuid,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let p = state.read()?;
    let user = p
        .users
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("user {id}")))?;
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", user.version)))
        .json(user_view(&p, user, now)))
}

/// Hashes a password off the request workers, after checking the policy.
async fn digest_of(state: &AppState, password: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(password) = password else {
        return Ok(None);
    };
    passwords::check_policy(&password).map_err(|message| ApiError::Validation {
        field: "password".into(),
        message,
    })?;
    let entropy = state.entropy.clone();
    state
        .password_slots
        .run(move || passwords::hash(entropy.as_ref(), &password))
        .await
        .map(Some)
        .map_err(|busy| ApiError::Unavailable(busy.to_string()))
}

fn user_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("user {text}")))
}

#[utoipa::path(
    operation_id = "users_create",
    tag = "users",
    summary = "Create a user",
    request_body = crate::http::openapi::schemas::UserInput,
    responses((status = 201, description = "The user", body = crate::http::openapi::schemas::UserView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/users")]
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, USERS_WRITE)?;
    let input: UserInput = read_json(&req, body).await?.unwrap_or_default();
    let username = input
        .username
        .clone()
        .ok_or_else(|| ApiError::invalid("username", "is required"))?;
    validate_username(&username)?;
    if input.password.is_none() {
        return Err(ApiError::invalid("password", "is required"));
    }
    let mut profile = Profile {
        display_name: username.clone(),
        email: None,
        roles: vec![Role::Member],
        teams: vec![],
        password_digest: None,
    };
    // Validate everything but the password first, so a bad field costs no hashing.
    input.apply(&mut profile, None)?;
    let digest = digest_of(&state, input.password.clone())
        .await?
        .unwrap_or_default();
    let id = writer(&state)?
        .submit(CreateUser {
            username,
            display_name: profile.display_name,
            email: profile.email,
            password_digest: digest,
            roles: profile.roles,
            teams: profile.teams,
            ctx: caller.context(),
        })
        .await?;
    let mut response = respond(&state, &id, actix_web::http::StatusCode::CREATED)?;
    if let Ok(v) = header::HeaderValue::from_str(&format!("/api/admin/users/{id}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Text in the username or display name (case-insensitive).
    q: Option<String>,
    /// `admin`, `auditor` or `member`.
    role: Option<String>,
    /// Members of this team.
    team: Option<String>,
}

#[utoipa::path(
    operation_id = "users_list",
    tag = "users",
    summary = "List users",
    params(ListQuery),
    responses((status = 200, description = "The users", body = crate::http::openapi::schemas::UserList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/users")]
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, USERS_READ)?;
    let query: ListQuery = parse_query(&req)?;
    let role = match &query.role {
        Some(r) => Some(
            parse_role(r)
                .ok_or_else(|| ApiError::invalid("role", "must be admin, auditor or member"))?,
        ),
        None => None,
    };
    let now = state.clock.now();
    let p = state.read()?;
    let items: Vec<Value> = p
        .users
        .all()
        .into_iter()
        .filter(|u| {
            query.q.as_ref().is_none_or(|q| {
                let q = q.to_lowercase();
                u.username.to_lowercase().contains(&q) || u.display_name.to_lowercase().contains(&q)
            }) && role.is_none_or(|r| u.roles.contains(&r))
                && query.team.as_ref().is_none_or(|t| u.teams.contains(t))
        })
        .map(|u| user_view(&p, u, now))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[utoipa::path(
    operation_id = "users_read",
    tag = "users",
    summary = "Read a user",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses((status = 200, description = "The user", body = crate::http::openapi::schemas::UserView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/users/{id}")]
pub(crate) async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, USERS_READ)?;
    respond(&state, &user_id(&id)?, actix_web::http::StatusCode::OK)
}

#[utoipa::path(
    operation_id = "users_edit",
    tag = "users",
    summary = "Edit a user (If-Match: its version)",
    params(("id" = String, Path, description = "User id (UUID)"), ("If-Match" = String, Header, description = "The version read, quoted")), request_body = crate::http::openapi::schemas::UserInput,
    responses((status = 200, description = "The user", body = crate::http::openapi::schemas::UserView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[patch("/api/admin/users/{id}")]
pub(crate) async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (caller, expected_version, input): (_, _, UserInput) =
        super::edit::edit_request(&req, &state, USERS_WRITE, body).await?;
    let id = user_id(&id)?;
    if let Some(name) = &input.username {
        let current = state.read()?.users.get(&id).map(|u| u.username.clone());
        if current.as_deref() != Some(name.as_str()) {
            return Err(ApiError::invalid("username", "is immutable"));
        }
    }
    let digest = digest_of(&state, input.password.clone()).await?;
    writer(&state)?
        .submit(UpdateUser {
            user_id: id,
            edit: Box::new(move |current| {
                let mut next = current.clone();
                input.apply(&mut next, digest.clone())?;
                Ok(next)
            }),
            expected_version,
            ctx: caller.context(),
        })
        .await?;
    respond(&state, &id, actix_web::http::StatusCode::OK)
}

#[utoipa::path(
    operation_id = "users_disable",
    tag = "users",
    summary = "Disable a user and revoke their tokens",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses((status = 200, description = "The user", body = crate::http::openapi::schemas::UserView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/users/{id}/disable")]
pub(crate) async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, USERS_WRITE)?;
    let id = user_id(&id)?;
    writer(&state)?
        .submit(DisableUser {
            user_id: id,
            ctx: caller.context(),
        })
        .await?;
    respond(&state, &id, actix_web::http::StatusCode::OK)
}

#[utoipa::path(
    operation_id = "users_delete",
    tag = "users",
    summary = "Delete a user: their tokens are revoked, their upstream connections end (revoked at the providers) and the data keys of their vault are destroyed",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses((status = 204, description = "Deleted"), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[delete("/api/admin/users/{id}")]
pub(crate) async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, USERS_WRITE)?;
    let id = user_id(&id)?;
    if state.read()?.users.get(&id).is_none() {
        return Err(ApiError::NotFound(format!("user {id}")));
    }
    crate::upstream::disconnect::delete_user(&state, id, caller.context()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(read)
        .service(edit)
        .service(disable)
        .service(remove);
}
