//! The scopes authlog's own APIs understand, and what each user role may
//! hold. A token acting for a user never does more than the user: scopes
//! are narrowed to the user's roles when granted and checked again on use
//! (roles can change), and write scopes need `full` access.

use authlog_events::{AccessPreset, Role};

/// Read clients.
pub const CLIENTS_READ: &str = "clients:read";
/// Change clients.
pub const CLIENTS_WRITE: &str = "clients:write";
/// Revoke tokens.
pub const TOKENS_REVOKE: &str = "tokens:revoke";
/// Read the audit trail.
pub const AUDIT_READ: &str = "audit:read";
/// Read users.
pub const USERS_READ: &str = "users:read";
/// Change users.
pub const USERS_WRITE: &str = "users:write";

/// OpenID Connect: the grant signs the user in (ID tokens).
pub const OPENID: &str = "openid";
/// OpenID Connect: `name`, `preferred_username`.
pub const PROFILE: &str = "profile";
/// OpenID Connect: `email`.
pub const EMAIL: &str = "email";
/// The user's authlog roles (`roles` claim).
pub const ROLE: &str = "role";

/// Every admin/audit API scope.
pub const API_SCOPES: [&str; 6] = [
    CLIENTS_READ,
    CLIENTS_WRITE,
    TOKENS_REVOKE,
    AUDIT_READ,
    USERS_READ,
    USERS_WRITE,
];

/// Scopes that change state.
const WRITE_SCOPES: [&str; 3] = [CLIENTS_WRITE, TOKENS_REVOKE, USERS_WRITE];

/// Whether a user with `roles` may hold `scope`. Scopes that are not
/// authlog API scopes (`profile`, `email`, a resource server's own) are
/// the user's to grant.
pub fn role_allows(roles: &[Role], scope: &str) -> bool {
    if !API_SCOPES.contains(&scope) {
        return true;
    }
    roles.iter().any(|role| match role {
        Role::Admin => true,
        Role::Auditor => [AUDIT_READ, CLIENTS_READ, USERS_READ].contains(&scope),
        Role::Member => false,
    })
}

/// A role's name in the APIs and the `roles` claim.
pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Admin => "admin",
        Role::Auditor => "auditor",
        Role::Member => "member",
    }
}

/// Whether a token with `access` may use `scope`.
pub fn access_allows(access: AccessPreset, scope: &str) -> bool {
    access == AccessPreset::Full || !WRITE_SCOPES.contains(&scope)
}

/// The scopes of `requested` a user with `roles` may be granted.
pub fn narrow_to_roles(requested: &[String], roles: &[Role]) -> Vec<String> {
    requested
        .iter()
        .filter(|s| role_allows(roles, s))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_hold_no_api_scope_and_auditors_only_read_ones() {
        assert!(!role_allows(&[Role::Member], CLIENTS_READ));
        assert!(role_allows(&[Role::Member], "profile"));
        assert!(role_allows(&[Role::Auditor], AUDIT_READ));
        assert!(!role_allows(&[Role::Auditor], CLIENTS_WRITE));
        assert!(role_allows(&[Role::Member, Role::Admin], USERS_WRITE));
    }

    #[test]
    fn read_only_access_cannot_write() {
        assert!(!access_allows(AccessPreset::ReadOnly, CLIENTS_WRITE));
        assert!(access_allows(AccessPreset::ReadOnly, CLIENTS_READ));
        assert!(access_allows(AccessPreset::Full, TOKENS_REVOKE));
    }
}
