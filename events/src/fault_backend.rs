//! A redb storage backend that fails on demand, for tests of what the log
//! and the server do when storage breaks: `write`, `sync_data` (fsync) and
//! growing the file (`set_len`, or a write past its end, as on a full disk)
//! can each be switched to return an I/O error while everything else passes through to redb's
//! `FileBackend`. Nothing in the server uses it.

use std::fs::File;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use redb::{BackendError, StorageBackend};

/// Which operations fail; shared between the test and its backend.
#[derive(Debug, Default)]
pub struct Faults {
    /// `write` fails.
    pub writes: AtomicBool,
    /// `sync_data` (fsync) fails.
    pub syncs: AtomicBool,
    /// The file cannot grow: `set_len` and writes past its end fail with
    /// "no space left on device".
    pub grow: AtomicBool,
    /// How many operations were failed.
    pub injected: AtomicU64,
}

impl Faults {
    /// Turns every fault on or off at once.
    pub fn set_all(&self, on: bool) {
        self.writes.store(on, Ordering::SeqCst);
        self.syncs.store(on, Ordering::SeqCst);
        self.grow.store(on, Ordering::SeqCst);
    }

    fn check(&self, switch: &AtomicBool, what: &str) -> std::io::Result<()> {
        if switch.load(Ordering::SeqCst) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            let kind = if what == "set_len" {
                std::io::ErrorKind::StorageFull
            } else {
                std::io::ErrorKind::Other
            };
            return Err(std::io::Error::new(
                kind,
                format!("injected {what} failure"),
            ));
        }
        Ok(())
    }
}

/// redb's file backend behind switchable faults.
#[derive(Debug)]
pub struct FaultBackend {
    inner: redb::backends::FileBackend,
    faults: Arc<Faults>,
}

impl FaultBackend {
    /// Wraps `file` (opened read + write); `faults` decides what fails.
    pub fn new(file: File, faults: Arc<Faults>) -> Result<Self, redb::DatabaseError> {
        Ok(FaultBackend {
            inner: redb::backends::FileBackend::new(file)?,
            faults,
        })
    }

    /// Opens (creating if needed) the file at `path` behind `faults`.
    pub fn open(path: &std::path::Path, faults: Arc<Faults>) -> std::io::Result<Self> {
        let file = crate::log_file::open_read_write(path)?;
        Self::new(file, faults).map_err(std::io::Error::other)
    }
}

impl StorageBackend for FaultBackend {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.faults.check(&self.faults.grow, "set_len")?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.faults.check(&self.faults.syncs, "fsync")?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.faults.check(&self.faults.writes, "write")?;
        if offset + data.len() as u64 > self.inner.len()? {
            self.faults.check(&self.faults.grow, "set_len")?;
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> std::io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
