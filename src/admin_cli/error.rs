//! `AdminCliError`: everything that can stop an admin command, each with
//! its cause kept as `source`, and the exit status it maps to.

use std::path::PathBuf;

/// Why an admin command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AdminCliError {
    /// The command line is incomplete or contradictory in a way clap cannot
    /// express (credentials, mostly).
    #[error("{0}")]
    Usage(String),
    /// `--url` / `AUTHLOG_URL` is not an http(s) URL.
    #[error("--url {url:?} is not an http or https URL")]
    BadUrl {
        /// The text given.
        url: String,
        /// Why it did not parse, when it did not.
        #[source]
        source: Option<url::ParseError>,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The server could not be reached (refused, DNS, TLS, timeout).
    #[error("cannot reach authlog at {url}")]
    Unreachable {
        /// The URL of the request.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status; `message` is its
    /// problem `title`/`detail` or OAuth `error`/description.
    #[error("{message} (HTTP {status})")]
    Refused {
        /// The HTTP status code.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// The token endpoint refused the client credentials.
    #[error("the token endpoint refused client {client_id:?}: {message} (HTTP {status})")]
    TokenRefused {
        /// The client that asked.
        client_id: String,
        /// The HTTP status code.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// The server's answer was not what the API promises.
    #[error("unexpected answer from {url}: {what}")]
    BadAnswer {
        /// The URL of the request.
        url: String,
        /// What was wrong with it.
        what: String,
    },
    /// The server's answer was not JSON.
    #[error("unexpected answer from {url}: not JSON")]
    NotJson {
        /// The URL of the request.
        url: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A `--from-json` file could not be read.
    #[error("cannot read {}", path.display())]
    ReadInput {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `--from-json` file is not a JSON object.
    #[error("{} is not a JSON object", path.display())]
    InputJson {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// The parse error, when it did not parse at all.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// Standard output could not be written (a closed pipe, a full disk).
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
}

impl AdminCliError {
    /// The process exit status: 2 for usage errors, 1 for everything else.
    pub fn exit_status(&self) -> u8 {
        match self {
            AdminCliError::Usage(_) | AdminCliError::BadUrl { .. } => 2,
            _ => 1,
        }
    }
}
