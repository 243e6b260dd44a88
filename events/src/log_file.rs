//! The append-only record file: the log itself. Every sealed record
//! (`codec`) is stored once, in position order, as a frame:
//!
//! ```text
//! magic "ALG1" (4) ‖ record length (u32 LE) ‖ commit's first position (u64 LE) ‖ record
//! ```
//!
//! One commit is one `write` of all its frames followed by one `fdatasync`,
//! so a token costs a few hundred bytes of sequential I/O. redb (`tables`)
//! holds only indexes over this file and can be rebuilt from it.
//!
//! The writer keeps up to `PREALLOCATE` bytes of zeros written ahead of the
//! last record, so most commits overwrite space the file already has and
//! their `fdatasync` need not also update the file's size (on ext4 that
//! halves the cost of a commit); a commit that reaches past them writes the
//! next `PREALLOCATE` zeros too (a second `write`, before its `fdatasync`).
//! Zeros are never a frame: they read as the end of the records, and
//! closing the store cuts them off.
//!
//! Every frame names the first position of its commit. That is what tells a
//! torn final commit (a crash mid-write; never acknowledged, so discarded)
//! from damage to acknowledged records (refused): a bad frame is a torn tail
//! only if no valid frame of a *later* commit follows it.

use redb::StorageBackend;

use crate::chain::link_hash;
use crate::codec::{self, decode};
use crate::envelope::RecordedEvent;

/// First bytes of every frame.
pub const MAGIC: [u8; 4] = *b"ALG1";
/// Bytes before the record in a frame.
pub const FRAME_HEADER: usize = 16;
/// Largest record accepted in a frame (matches the codec's decode limit).
pub const MAX_RECORD: usize = 16 * 1024 * 1024;
/// Zeros written ahead of the records when an append reaches the end of
/// what is already written.
const PREALLOCATE: u64 = 1 << 20;
/// The zeros themselves: static (the zero page), so writing them ahead
/// allocates and clears nothing.
static ZEROS: [u8; PREALLOCATE as usize] = [0; PREALLOCATE as usize];

/// Bytes read at a time when scanning: the first read, doubled on each
/// refill up to `MAX_CHUNK` (short reads stay cheap, long scans go fast).
const FIRST_CHUNK: usize = 64 << 10;
const MAX_CHUNK: usize = 1 << 20;

/// Opens (creating if needed, never truncating) a file to read and write.
pub fn open_read_write(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Encodes one frame.
pub fn frame(commit_start: u64, record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    out.extend_from_slice(&commit_start.to_le_bytes());
    out.extend_from_slice(record);
}

/// A frame read from the file: its bytes borrowed from the read buffer
/// while scanning (`Frame<&[u8]>`), or owned (`rewrite`).
#[derive(Debug, Clone)]
pub struct Frame<B = Vec<u8>> {
    /// Offset of the frame in the file.
    pub offset: u64,
    /// First position of the commit that wrote it.
    pub commit_start: u64,
    /// The sealed record bytes.
    pub bytes: B,
}

impl<B: AsRef<[u8]>> Frame<B> {
    /// Offset just past this frame.
    pub fn end(&self) -> u64 {
        self.offset + (FRAME_HEADER + self.bytes.as_ref().len()) as u64
    }

    /// The record, if its bytes decode and its stored hash covers its own
    /// `prev_hash` and body (a frame that is whole, though not necessarily
    /// linked to its predecessor).
    pub fn whole_record(&self) -> Option<RecordedEvent> {
        let bytes = self.bytes.as_ref();
        let (body, stored) = codec::split(bytes).ok()?;
        let record = decode(bytes).ok()?;
        (link_hash(&record.prev_hash, body) == stored).then_some(record)
    }
}

/// What is at an offset.
#[derive(Debug)]
pub enum Next<'a> {
    /// A complete frame (its record not yet checked).
    Frame(Frame<&'a [u8]>),
    /// The end of the file, exactly at a frame boundary.
    End,
    /// Bytes that are not a complete frame.
    Bad,
}

/// Parses the frame at the start of `buf` (`offset` is where `buf` starts).
/// `None` means `buf` is too short to tell.
fn parse(offset: u64, buf: &[u8]) -> Option<Next<'_>> {
    if buf.len() < FRAME_HEADER {
        return None;
    }
    if buf[..4] != MAGIC {
        return Some(Next::Bad);
    }
    let len = u32::from_le_bytes(buf[4..8].try_into().ok()?) as usize;
    if len > MAX_RECORD {
        return Some(Next::Bad);
    }
    if buf.len() < FRAME_HEADER + len {
        return None;
    }
    let commit_start = u64::from_le_bytes(buf[8..16].try_into().ok()?);
    Some(Next::Frame(Frame {
        offset,
        commit_start,
        bytes: &buf[FRAME_HEADER..FRAME_HEADER + len],
    }))
}

/// The record file behind any storage backend (redb's `FileBackend` in the
/// server; tests wrap it in `fault_backend::FaultBackend`).
#[derive(Debug)]
pub struct LogFile {
    io: Box<dyn StorageBackend>,
    /// How far the file is written (records, then zeros), as far as this
    /// handle knows; 0 until the first append asks the file.
    written: std::sync::atomic::AtomicU64,
}

impl LogFile {
    /// Uses `io` as the file.
    pub fn new(io: impl StorageBackend) -> Self {
        LogFile {
            io: Box::new(io),
            written: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Opens (creating if needed) the file at `path` for appending.
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::new(file_backend(open_read_write(path)?)?))
    }

    /// Opens an existing file for reading only.
    pub fn open_read_only(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        Ok(Self::new(file_backend(file)?))
    }

    /// Current length in bytes.
    pub fn len(&self) -> std::io::Result<u64> {
        self.io.len()
    }

    /// Whether the file holds nothing.
    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes `frames` (already encoded) at `at` in one write, then makes
    /// them durable with one `fdatasync`.
    /// When the frames reach past what the file has, `PREALLOCATE` bytes
    /// of zeros are written after them before the `fdatasync`.
    pub fn append(&self, at: u64, frames: &[u8]) -> std::io::Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let end = at + frames.len() as u64;
        let mut written = self.written.load(Relaxed);
        if written < end {
            written = self.io.len()?;
        }
        self.io.write(at, frames)?;
        if written < end {
            self.io.write(end, &ZEROS)?;
            written = end + PREALLOCATE;
        }
        self.io.sync_data()?;
        self.written.store(written, Relaxed);
        Ok(())
    }

    /// Cuts the file to `len` bytes, durably.
    pub fn truncate(&self, len: u64) -> std::io::Result<()> {
        self.io.set_len(len)?;
        self.io.sync_data()?;
        self.written
            .store(len, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Whether everything from `offset` to the end of the file is zeros
    /// (space written ahead of the records).
    pub fn zeros_from(&self, offset: u64) -> std::io::Result<bool> {
        let len = self.len()?;
        let mut at = offset;
        let mut buf = vec![0u8; MAX_CHUNK];
        while at < len {
            let n = (len - at).min(MAX_CHUNK as u64) as usize;
            self.io.read(at, &mut buf[..n])?;
            if buf[..n].iter().any(|b| *b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// `what` of the frame at `offset`, reading only that frame.
    pub fn read_at<T>(&self, offset: u64, what: impl FnOnce(Next<'_>) -> T) -> std::io::Result<T> {
        let len = self.len()?;
        if offset == len {
            return Ok(what(Next::End));
        }
        if offset + FRAME_HEADER as u64 > len {
            return Ok(what(Next::Bad));
        }
        let mut header = [0u8; FRAME_HEADER];
        self.io.read(offset, &mut header)?;
        let record_len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if header[..4] != MAGIC || record_len > MAX_RECORD {
            return Ok(what(Next::Bad));
        }
        let total = (FRAME_HEADER + record_len) as u64;
        if offset + total > len {
            return Ok(what(Next::Bad));
        }
        let mut buf = vec![0u8; total as usize];
        self.io.read(offset, &mut buf)?;
        Ok(what(parse(offset, &buf).unwrap_or(Next::Bad)))
    }

    /// Reads frames in order from `offset` (a frame boundary).
    pub fn scan(&self, offset: u64) -> std::io::Result<Scan<'_>> {
        Ok(Scan {
            file: self,
            len: self.len()?,
            buf: Vec::new(),
            buf_start: offset,
            pos: offset,
            chunk: FIRST_CHUNK,
        })
    }

    /// Whether a whole frame of a commit that started after `position`
    /// exists anywhere at or after `from`: if so, the bad bytes at `from`
    /// damaged acknowledged records; if not, they are a torn final commit.
    /// Reads in windows, so a long rest of the file costs no more memory.
    pub fn later_commit_after(&self, from: u64, position: u64) -> std::io::Result<bool> {
        const STEP: u64 = 8 << 20;
        // A window also holds the longest frame that starts in its step.
        const OVERLAP: u64 = (FRAME_HEADER + MAX_RECORD) as u64;
        let len = self.len()?;
        let mut start = from;
        let mut window = Vec::new();
        while start < len {
            window.resize((len - start).min(STEP + OVERLAP) as usize, 0);
            self.io.read(start, &mut window)?;
            // Frames starting in this step; a magic may end up to 3 bytes past it.
            let starts = (len - start).min(STEP) as usize;
            let search_end = (starts + 3).min(window.len());
            let mut i = 0;
            while let Some(found) = window
                .get(i..search_end)
                .and_then(|w| w.windows(4).position(|w| w == MAGIC))
            {
                let at = i + found;
                if let Some(Next::Frame(frame)) = parse(start + at as u64, &window[at..]) {
                    if frame.commit_start > position && frame.whole_record().is_some() {
                        return Ok(true);
                    }
                }
                i = at + 1;
            }
            start += STEP;
        }
        Ok(false)
    }
}

fn file_backend(file: std::fs::File) -> std::io::Result<redb::backends::FileBackend> {
    redb::backends::FileBackend::new(file).map_err(std::io::Error::other)
}

/// Sequential reader over frames, reading the file in large chunks.
pub struct Scan<'a> {
    file: &'a LogFile,
    len: u64,
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
    chunk: usize,
}

impl Scan<'_> {
    /// Offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// The next frame, the end, or bad bytes (after which it stays put).
    pub fn next_frame(&mut self) -> std::io::Result<Next<'_>> {
        // Refill until the buffer tells what is at `pos`: at least one
        // whole frame if the header says how long it is.
        while self.pos < self.len && parse(self.pos, self.rest()).is_none() {
            let remaining = self.len - self.pos;
            if remaining < FRAME_HEADER as u64 || !self.refill(remaining)? {
                return Ok(Next::Bad);
            }
        }
        if self.pos == self.len {
            return Ok(Next::End);
        }
        let at = (self.pos - self.buf_start) as usize;
        let next = parse(self.pos, &self.buf[at..]).unwrap_or(Next::Bad);
        if let Next::Frame(frame) = &next {
            self.pos = frame.end();
        }
        Ok(next)
    }

    /// The buffered bytes from `pos` on.
    fn rest(&self) -> &[u8] {
        let at = (self.pos - self.buf_start) as usize;
        &self.buf[at.min(self.buf.len())..]
    }

    /// Reads the next chunk; false when nothing more can be read.
    fn refill(&mut self, remaining: u64) -> std::io::Result<bool> {
        let mut header = [0u8; FRAME_HEADER];
        self.file.io.read(self.pos, &mut header)?;
        let frame_len = FRAME_HEADER
            + u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let want = self.chunk.max(frame_len.min(FRAME_HEADER + MAX_RECORD)) as u64;
        self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        let take = want.min(remaining) as usize;
        let already = self.buf.len() - (self.pos - self.buf_start) as usize;
        if take <= already {
            return Ok(false);
        }
        self.buf.resize(take, 0);
        self.file.io.read(self.pos, &mut self.buf)?;
        self.buf_start = self.pos;
        Ok(true)
    }
}

/// Rewrites the record file at `path` with `edit` applied to its frames
/// (whole frames only; a torn tail is dropped), as someone with write
/// access to the file could. The index is left as it was. Tests use this to
/// forge damage that `verify` must find.
pub fn rewrite(path: &std::path::Path, edit: impl FnOnce(&mut Vec<Frame>)) -> std::io::Result<()> {
    let mut frames = Vec::new();
    {
        let log = LogFile::open_read_only(path)?;
        let mut scan = log.scan(0)?;
        while let Next::Frame(frame) = scan.next_frame()? {
            frames.push(Frame {
                offset: frame.offset,
                commit_start: frame.commit_start,
                bytes: frame.bytes.to_vec(),
            });
        }
    }
    edit(&mut frames);
    let mut out = Vec::new();
    for f in &frames {
        frame(f.commit_start, &f.bytes, &mut out);
    }
    std::fs::write(path, out)
}
