//! Reading a request body, bounded in size and in time: a client that
//! trickles its body a byte at a time cannot hold a connection, a worker's
//! attention and a buffer for longer than `BODY_DEADLINE`.

use std::time::Duration;

use actix_web::web;
use futures_util::StreamExt;

/// Longest a body may take to arrive, from the end of its headers.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The connection failed while reading it.
    Unreadable,
    /// It is larger than the limit (in bytes).
    TooLarge(usize),
    /// It did not arrive within `BODY_DEADLINE`.
    TooSlow,
}

/// Reads the whole body, at most `limit` bytes, within `BODY_DEADLINE`.
pub async fn read(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, BodyError> {
    let whole = async move {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
            if body.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(BODY_DEADLINE, whole)
        .await
        .map_err(|_| BodyError::TooSlow)?
}
