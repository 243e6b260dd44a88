//! The one place that turns records into bytes and back.
//!
//! A stored record is `format version (1 byte) ‖ body ‖ hash (32 bytes)`,
//! where body is the bincode (serde, standard config) encoding of
//! `RecordedEvent` without its hash. Version 1 is the only format so far;
//! a future format adds a new version byte and keeps decoding this one.

use thiserror::Error;

use crate::chain::link_hash;
use crate::envelope::RecordedEvent;

/// The record format written today.
pub const FORMAT_V1: u8 = 1;

/// Largest record body decoded (guards allocation on corrupt input).
const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// Why stored bytes could not be read as a record.
#[derive(Debug, Error)]
pub enum CodecError {
    /// Fewer bytes than a version byte plus a hash.
    #[error("record is truncated ({0} bytes)")]
    Truncated(usize),
    /// A format version this build does not know.
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    /// The body did not decode.
    #[error("record body does not decode")]
    Body(#[source] bincode::error::DecodeError),
    /// The body decoded but did not use every byte before the hash.
    #[error("record body has {0} trailing bytes")]
    TrailingBytes(usize),
}

/// Encodes the hashed part of a record: version byte and body.
pub fn encode_body(record: &RecordedEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(FORMAT_V1);
    // Encoding a plain data struct into a Vec cannot fail; the limit only
    // applies to decoding.
    bincode::serde::encode_into_std_write(record, &mut out, bincode::config::standard())
        .expect("encoding a record into memory cannot fail");
    out
}

/// Builds the stored bytes: body followed by the record's hash. Also fills in
/// `record.hash` from `record.prev_hash`.
pub fn seal(record: &mut RecordedEvent) -> Vec<u8> {
    let mut bytes = encode_body(record);
    record.hash = link_hash(&record.prev_hash, &bytes);
    bytes.extend_from_slice(&record.hash);
    bytes
}

/// Splits stored bytes into (hashed body, stored hash).
pub fn split(bytes: &[u8]) -> Result<(&[u8], [u8; 32]), CodecError> {
    if bytes.len() < 33 {
        return Err(CodecError::Truncated(bytes.len()));
    }
    let (body, hash) = bytes.split_at(bytes.len() - 32);
    let mut out = [0u8; 32];
    out.copy_from_slice(hash);
    Ok((body, out))
}

/// Decodes stored bytes into a record (hash taken from the trailer, not checked).
pub fn decode(bytes: &[u8]) -> Result<RecordedEvent, CodecError> {
    let (body, hash) = split(bytes)?;
    match body[0] {
        FORMAT_V1 => {
            let (mut record, used): (RecordedEvent, usize) =
                bincode::serde::decode_from_slice(&body[1..], config())
                    .map_err(CodecError::Body)?;
            if used != body.len() - 1 {
                return Err(CodecError::TrailingBytes(body.len() - 1 - used));
            }
            record.hash = hash;
            Ok(record)
        }
        other => Err(CodecError::UnknownVersion(other)),
    }
}
