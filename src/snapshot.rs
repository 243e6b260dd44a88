//! Projection snapshots: a cache of a replay, so that a large log starts
//! in seconds. The log stays the only source of truth.
//!
//! `DATA/projections.snapshot` holds every read model as folded up to one
//! position of the log, with that record's hash:
//!
//! ```text
//! magic "ALSNAP01" ‖ bincode(Header) ‖ bincode(Projections) ‖ HMAC-SHA256(server key, all before it)
//! ```
//!
//! The server writes one when it stops, after its writer has stopped (so
//! nothing is folded that is not durable), to a temporary file that is
//! synced and then renamed over the old one; the file is owner-only, as it
//! holds the same digests as the log. A crash leaves the previous
//! snapshot, which is still good: the log only grows after it.
//!
//! At start a snapshot is used only when it was written by this very
//! executable (its SHA-256 is the build id: any code change means a full
//! replay, so a fold that changed can never be fed an old result), its MAC
//! under the server key matches (checked before anything is decoded, so a
//! file nobody with the key wrote is never parsed), and the log's record at
//! its position has the hash it names (each hash covers the one before, so
//! this is the same log up to there); the log after that position is then
//! replayed as usual. Anything else means a full replay.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use authlog_events::EventLog;
use authlog_projections::Projections;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::secrets::ServerKey;

/// First bytes of a snapshot file.
const MAGIC: [u8; 8] = *b"ALSNAP01";
/// The file layout's version (the build id already changes with any code).
const FORMAT: u32 = 1;
/// Bytes of I/O buffering.
const BUFFER: usize = 1 << 20;

/// The snapshot file of a data directory.
pub fn snapshot_path(data_dir: &Path) -> PathBuf {
    data_dir.join("projections.snapshot")
}

/// Why a snapshot was not written or not used.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// There is none.
    #[error("no snapshot")]
    Missing,
    /// Reading or writing the file failed.
    #[error("snapshot file: {0}")]
    Io(#[from] std::io::Error),
    /// Not a snapshot this server can use.
    #[error("snapshot not usable: {0}")]
    Unusable(String),
    /// The log does not extend the snapshot.
    #[error("snapshot does not match the log: {0}")]
    Mismatch(String),
}

/// What precedes the projections.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Header {
    format: u32,
    /// SHA-256 of the executable that wrote it.
    build: [u8; 32],
    /// The last position folded in.
    position: u64,
    /// That record's hash.
    hash: [u8; 32],
}

fn unusable(e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Unusable(e.to_string())
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// SHA-256 of this process's executable, read once (`None`: unreadable, so
/// no snapshot is used or written).
fn build_id() -> Option<[u8; 32]> {
    static BUILD: std::sync::OnceLock<Option<[u8; 32]>> = std::sync::OnceLock::new();
    *BUILD.get_or_init(|| {
        let mut exe = File::open(std::env::current_exe().ok()?).ok()?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut exe, &mut hasher).ok()?;
        Some(hasher.finalize().into())
    })
}

/// The temporary file a snapshot is written to before its rename.
fn temporary_path(path: &Path) -> PathBuf {
    path.with_extension("snapshot.tmp")
}

/// Writes a snapshot of `projections` at `path`; returns its size in bytes.
/// Empty projections are not written.
pub fn save(path: &Path, projections: &Projections, key: &ServerKey) -> Result<u64, SnapshotError> {
    if projections.applied_position == 0 {
        return Ok(0);
    }
    let header = Header {
        format: FORMAT,
        build: build_id().ok_or_else(|| unusable("this executable could not be read"))?,
        position: projections.applied_position,
        hash: projections.stats.head_hash,
    };
    let temporary = temporary_path(path);
    let _ = std::fs::remove_file(&temporary);
    let written = write_to(&temporary, &header, projections, key.mac());
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    let bytes = written?;
    std::fs::rename(&temporary, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()?;
    Ok(bytes)
}

/// Writes the whole snapshot file at `temporary`, durably; returns its size.
fn write_to(
    temporary: &Path,
    header: &Header,
    projections: &Projections,
    mac: Hmac<Sha256>,
) -> Result<u64, SnapshotError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(temporary)?;
    let mut out = BufWriter::with_capacity(BUFFER, Signing { inner: file, mac });
    out.write_all(&MAGIC)?;
    bincode::serde::encode_into_std_write(header, &mut out, config()).map_err(unusable)?;
    bincode::serde::encode_into_std_write(projections, &mut out, config()).map_err(unusable)?;
    let Signing {
        inner: mut file,
        mac,
    } = out.into_inner().map_err(|e| e.into_error())?;
    file.write_all(&mac.finalize().into_bytes())?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// Reads the snapshot at `path` if the log in `store` extends it (and
/// removes a temporary file a stopped save left behind).
pub fn load(
    path: &Path,
    store: &dyn EventLog,
    key: &ServerKey,
) -> Result<Projections, SnapshotError> {
    let _ = std::fs::remove_file(temporary_path(path));
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SnapshotError::Missing),
        Err(e) => return Err(e.into()),
    };
    let covered = file
        .metadata()?
        .len()
        .checked_sub(32)
        .ok_or_else(|| unusable("shorter than its MAC"))?;
    let body = || -> Result<_, SnapshotError> {
        (&file).seek(SeekFrom::Start(0))?;
        let mut reader = BufReader::with_capacity(BUFFER, (&file).take(covered));
        let mut magic = [0u8; 8];
        reader.read_exact(&mut magic)?;
        if magic != MAGIC {
            return Err(unusable("not a snapshot file"));
        }
        let header: Header = bincode::serde::decode_from_std_read(
            &mut reader,
            bincode::config::standard().with_limit::<4096>(),
        )
        .map_err(unusable)?;
        Ok((header, reader))
    };

    // The header first: a snapshot of another build, or of another log,
    // is passed over without reading it all.
    let (header, _) = body()?;
    if header.format != FORMAT {
        return Err(unusable(format!(
            "format {}, this server writes {FORMAT}",
            header.format
        )));
    }
    if Some(header.build) != build_id() {
        return Err(unusable("written by another build of authlog"));
    }
    let record = store
        .read_all(header.position, 1)
        .map_err(|e| SnapshotError::Mismatch(e.to_string()))?;
    match record.first() {
        Some(r) if r.position == header.position && r.hash == header.hash => {}
        Some(r) if r.position == header.position => {
            return Err(SnapshotError::Mismatch(format!(
                "the log's record {} has another hash",
                header.position
            )))
        }
        _ => {
            return Err(SnapshotError::Mismatch(format!(
                "the log has no record {}",
                header.position
            )))
        }
    }

    // Then the MAC, before anything is decoded from the body.
    (&file).seek(SeekFrom::Start(0))?;
    let mut mac = key.mac();
    let mut whole = BufReader::with_capacity(BUFFER, (&file).take(covered));
    loop {
        let chunk = whole.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        mac.update(chunk);
        let n = chunk.len();
        whole.consume(n);
    }
    let mut stored = [0u8; 32];
    (&file).read_exact(&mut stored)?;
    if mac.verify_slice(&stored).is_err() {
        return Err(unusable(
            "MAC mismatch: damaged, or not written with this server key",
        ));
    }

    let (_, mut reader) = body()?;
    let projections: Projections =
        bincode::serde::decode_from_std_read(&mut reader, config()).map_err(unusable)?;
    if projections.applied_position != header.position || projections.stats.head_hash != header.hash
    {
        return Err(unusable("its projections are not at its header's position"));
    }
    Ok(projections)
}

/// A writer that MACs what passes through it.
struct Signing {
    inner: File,
    mac: Hmac<Sha256>,
}

impl Write for Signing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.mac.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use authlog_events::{Actor, AppendBatch, Event, EventStore, NewEvent, RedbStore, Timestamp};

    use super::*;
    use crate::replay::replay;

    /// A two-event log and its projections.
    fn log(dir: &Path) -> (RedbStore, Projections) {
        let store = RedbStore::open(dir.join("log.redb")).unwrap();
        let events = (0..2)
            .map(|n| NewEvent {
                event_id: crate::entropy::Entropy::id(&crate::entropy::SystemEntropy),
                stream: format!("client/c{n}"),
                recorded_at: Timestamp(1_700_000_000_000_000),
                actor: Actor::system(),
                client_id: Some(format!("c{n}")),
                correlation_id: None,
                payload: Event::ClientPaused {
                    client_id: format!("c{n}"),
                    tokens_revoked: 0,
                },
            })
            .collect();
        store.append(vec![AppendBatch::new(events)]).unwrap();
        let mut projections = Projections::default();
        replay(&store, &mut projections).unwrap();
        (store, projections)
    }

    #[test]
    fn a_snapshot_is_used_only_with_its_key_its_build_and_intact() {
        let dir = tempfile::tempdir().unwrap();
        let (store, projections) = log(dir.path());
        let key = ServerKey::from_bytes([1; 32]);
        let path = snapshot_path(dir.path());
        save(&path, &projections, &key).unwrap();
        assert_eq!(load(&path, &store, &key).unwrap(), projections);

        let other = ServerKey::from_bytes([2; 32]);
        let error = load(&path, &store, &other).unwrap_err().to_string();
        assert!(error.contains("MAC mismatch"), "{error}");

        let bytes = std::fs::read(&path).unwrap();
        // magic (8), format (1-byte varint), then the build id.
        let mut other_build = bytes.clone();
        other_build[9] ^= 1;
        std::fs::write(&path, &other_build).unwrap();
        let error = load(&path, &store, &key).unwrap_err().to_string();
        assert!(error.contains("another build"), "{error}");

        for cut in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(load(&path, &store, &key).is_err(), "cut at {cut}");
        }
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            load(&path, &store, &key),
            Err(SnapshotError::Missing)
        ));
    }
}
