//! The HTTP surface. Only this module knows actix-web: handlers parse and
//! authenticate, hand commands to the writer or queries to the projections,
//! and map errors to responses.

pub mod health;

use actix_web::web;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}
