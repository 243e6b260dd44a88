//! The authlog server: configuration, CLI, the single writer, commands, and
//! the HTTP surface over the `authlog-events` log and
//! `authlog-projections` read models.

pub mod admin_cli;
pub mod anonymous_writes;
pub mod audit;
pub mod backchannel;
pub mod bootstrap;
pub mod cimd;
pub mod cli;
pub mod client_document;
pub mod client_policy;
pub mod clock;
pub mod commands;
pub mod config;
pub mod consent;
pub mod entropy;
pub mod error_report;
pub mod failure_tally;
#[cfg(test)]
mod faulty_store;
pub mod http;
pub mod huge_pages;
pub mod passwords;
pub mod registry_at;
pub mod replay;
pub mod replication;
pub mod scopes;
pub mod sealed;
pub mod secrets;
pub mod server;
pub mod signing;
pub mod snapshot;
pub mod state;
pub mod store_copy;
pub mod telemetry;
pub mod throttle;
#[cfg(test)]
mod tidy;
pub mod upstream;
pub mod usage;
pub mod vault;
pub mod writer;
