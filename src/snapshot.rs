//! Projection snapshots: a cache of a replay, so that a large log starts
//! in seconds. The log stays the only source of truth.
//!
//! `DATA/projections.snapshot` holds every read model as folded up to one
//! position of the log, with that record's hash:
//!
//! ```text
//! magic "ALSNAP01" ‖ bincode(Header) ‖ bincode(Projections) ‖ SHA-256 of all before it
//! ```
//!
//! The server writes one when it stops, after its writer has stopped (so
//! nothing is folded that is not durable), to a temporary file that is
//! synced and then renamed over the old one; the file is owner-only, as it
//! holds the same digests as the log. A crash leaves the previous
//! snapshot, which is still good: the log only grows after it.
//!
//! At start a snapshot is used only when its format and build match this
//! server's, its checksum matches, and the log's record at its position
//! has the hash it names; the log after that position is then replayed as
//! usual. Anything else (no file, another build, a log that does not extend
//! the snapshot) means a full replay.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use authlog_events::EventStore;
use authlog_projections::Projections;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// First bytes of a snapshot file.
const MAGIC: [u8; 8] = *b"ALSNAP01";
/// Bumped whenever the stored form of any read model changes, or a fold
/// changes what it derives from the same events.
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
    /// The server version that wrote it.
    build: String,
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

/// Writes a snapshot of `projections` at `path`; returns its size in bytes.
/// Empty projections are not written.
pub fn save(path: &Path, projections: &Projections) -> Result<u64, SnapshotError> {
    if projections.applied_position == 0 {
        return Ok(0);
    }
    let header = Header {
        format: FORMAT,
        build: env!("CARGO_PKG_VERSION").to_owned(),
        position: projections.applied_position,
        hash: projections.stats.head_hash,
    };
    let temporary = path.with_extension("snapshot.tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&temporary)?;
    let mut out = BufWriter::with_capacity(
        BUFFER,
        Hashing {
            inner: file,
            hasher: Sha256::new(),
        },
    );
    out.write_all(&MAGIC)?;
    bincode::serde::encode_into_std_write(&header, &mut out, config()).map_err(unusable)?;
    bincode::serde::encode_into_std_write(projections, &mut out, config()).map_err(unusable)?;
    let Hashing {
        inner: mut file,
        hasher,
    } = out.into_inner().map_err(|e| e.into_error())?;
    file.write_all(&hasher.finalize())?;
    file.sync_all()?;
    let bytes = file.metadata()?.len();
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(bytes)
}

/// Reads the snapshot at `path` if the log in `store` extends it.
pub fn load(path: &Path, store: &dyn EventStore) -> Result<Projections, SnapshotError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SnapshotError::Missing),
        Err(e) => return Err(e.into()),
    };
    let covered = file
        .metadata()?
        .len()
        .checked_sub(32)
        .ok_or_else(|| unusable("shorter than its checksum"))?;
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
    if header.format != FORMAT || header.build != env!("CARGO_PKG_VERSION") {
        return Err(unusable(format!(
            "written by {} (format {}), this is {} (format {FORMAT})",
            header.build,
            header.format,
            env!("CARGO_PKG_VERSION")
        )));
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

    // Then the checksum, before anything is decoded from the body.
    (&file).seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    std::io::copy(
        &mut BufReader::with_capacity(BUFFER, (&file).take(covered)),
        &mut hasher,
    )?;
    let mut stored = [0u8; 32];
    (&file).read_exact(&mut stored)?;
    if hasher.finalize().as_slice() != stored {
        return Err(unusable("checksum mismatch"));
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

/// A writer that hashes what passes through it.
struct Hashing {
    inner: File,
    hasher: Sha256,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
