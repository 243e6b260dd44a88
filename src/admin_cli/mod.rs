//! The admin CLI: `authlog clients …` and `authlog tokens …` call a
//! running server's admin API over HTTP (URL and credentials from flags or
//! `AUTHLOG_*` variables) and print tables or, with `--json`, the server's
//! JSON. Exit status 0 on success, 1 when the server refuses or cannot be
//! reached, 2 for usage errors.

pub mod api;
pub mod args;
pub mod clients;
pub mod error;
pub mod output;
pub mod paging;
pub mod tokens;

use std::io::Write;
use std::process::ExitCode;

use args::{ClientsArgs, TokensArgs};
use error::AdminCliError;
use output::Printer;

use crate::error_report::Report;

/// Runs `authlog clients …`.
pub fn clients(args: ClientsArgs) -> ExitCode {
    let mut out = Printer::new(std::io::stdout().lock(), args.connection.json);
    finish(runtime().and_then(|rt| rt.block_on(clients::run(args, &mut out))))
}

/// Runs `authlog tokens …`.
pub fn tokens(args: TokensArgs) -> ExitCode {
    let mut out = Printer::new(std::io::stdout().lock(), args.connection.json);
    finish(runtime().and_then(|rt| rt.block_on(tokens::run(args, &mut out))))
}

/// A single-threaded runtime: one request at a time needs no more.
fn runtime() -> Result<tokio::runtime::Runtime, AdminCliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AdminCliError::Runtime)
}

/// The exit status of `result`; an error is reported (with its causes)
/// on stderr.
fn finish(result: Result<(), AdminCliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "authlog: {}", Report(&e));
            ExitCode::from(e.exit_status())
        }
    }
}
