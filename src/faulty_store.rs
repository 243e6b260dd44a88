//! A store for tests that fails on demand around a real one: every append
//! while `failing_appends` is set, and the one-pass read of the whole log
//! after `reads_before_failure` records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use authlog_events::{
    AppendBatch, EventLog, EventStore, Head, RecordedEvent, StoreError, UnitOutcome, VerifyReport,
};

/// See the module doc.
pub struct FaultyStore {
    /// The store that does the work.
    pub inner: Arc<dyn EventStore>,
    /// Appends fail while set.
    pub failing_appends: AtomicBool,
    /// `for_each_stored` fails after this many records, when set.
    pub reads_before_failure: Option<u64>,
}

impl FaultyStore {
    /// Passes everything through until told to fail.
    pub fn new(inner: Arc<dyn EventStore>) -> Self {
        FaultyStore {
            inner,
            failing_appends: AtomicBool::new(false),
            reads_before_failure: None,
        }
    }
}

impl EventStore for FaultyStore {
    fn append(&self, units: Vec<AppendBatch>) -> Result<Vec<UnitOutcome>, StoreError> {
        if self.failing_appends.load(Ordering::SeqCst) {
            return Err(StoreError::Storage("injected fsync failure".into()));
        }
        self.inner.append(units)
    }
}

impl EventLog for FaultyStore {
    fn head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.head()
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, limit)
    }

    fn for_each_stored(
        &self,
        from: u64,
        each: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let Some(records) = self.reads_before_failure else {
            return self.inner.for_each_stored(from, each);
        };
        let mut left = records;
        self.inner.for_each_stored(from, &mut |position, bytes| {
            left = left.saturating_sub(1);
            each(position, bytes) && left > 0
        })?;
        Err(StoreError::Storage("injected read failure".into()))
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from_version, limit)
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        self.inner.stream_version(stream)
    }

    fn read_client(
        &self,
        client_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_client(client_id, before, limit)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.inner.verify()
    }
}
