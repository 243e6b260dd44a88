//! HTTP Strict Transport Security (RFC 6797): when the issuer is https,
//! every response tells browsers to use https only for this host for a
//! year, so a network attacker cannot downgrade a later visit to plain
//! http and read or plant cookies there. Not `includeSubDomains`: other
//! hosts under the same domain are not ours to decide for. A plain-http
//! issuer (local development) sends nothing: browsers ignore the header
//! over http anyway.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};

/// The header's value.
pub const POLICY: &str = "max-age=31536000";

/// Adds `Strict-Transport-Security` when `issuer` is https.
pub fn finish<B: MessageBody>(
    issuer_https: bool,
    mut res: ServiceResponse<B>,
) -> ServiceResponse<B> {
    if issuer_https {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(POLICY),
        );
    }
    res
}
