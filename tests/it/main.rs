//! End-to-end tests: each starts the real `authlog` binary on a loopback
//! port with a fresh temporary data directory and talks HTTP to it.

mod admin_cli;
mod admin_clients;
mod audit;
mod browser;
mod client_export;
mod console;
mod crash;
mod disk_full;
mod doc_server;
mod hardening;
mod harness;
mod health;
mod hostile;
mod oauth_tokens;
mod oidc;
mod openapi;
mod operability;
#[path = "../../events/tests/common/pg.rs"]
mod pg;
mod registration;
mod registry_at;
mod replay_equality;
mod replicas;
mod secrets_at_rest;
mod shapes;
mod upstream;
mod user_flows;
mod verify_cli;
mod webdriver;
