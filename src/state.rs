//! `AppState`: what every request handler can reach: configuration, clock,
//! the log (read side), the projections and the writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLockReadGuard};
use std::thread::JoinHandle;

use authlog_events::EventStore;
use authlog_projections::Projections;

use crate::clock::Clock;
use crate::config::Config;
use crate::writer::{SharedProjections, WriterHandle};

/// Shared state of a running server.
pub struct AppState {
    /// Validated configuration.
    pub config: Config,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The log, for reads (writes go through the writer).
    pub store: Arc<dyn EventStore>,
    /// Read models, updated after each commit.
    pub projections: SharedProjections,
    /// Set once replay is done.
    writer: OnceLock<WriterHandle>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    ready: AtomicBool,
}

impl AppState {
    /// State for a server whose replay has not finished yet.
    pub fn new(config: Config, clock: Arc<dyn Clock>, store: Arc<dyn EventStore>) -> Self {
        AppState {
            config,
            clock,
            store,
            projections: SharedProjections::default(),
            writer: OnceLock::new(),
            writer_thread: Mutex::new(None),
            ready: AtomicBool::new(false),
        }
    }

    /// Marks replay done and the writer running.
    pub fn set_ready(&self, writer: WriterHandle, thread: JoinHandle<()>) {
        let _ = self.writer.set(writer);
        *self.writer_thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        self.ready.store(true, Ordering::Release);
    }

    /// The writer, once replay is done.
    pub fn writer(&self) -> Option<&WriterHandle> {
        if self.ready.load(Ordering::Acquire) {
            self.writer.get()
        } else {
            None
        }
    }

    /// Stops the writer after what is queued and waits for it (clean close).
    pub fn stop_writer(&self) {
        self.ready.store(false, Ordering::Release);
        if let Some(writer) = self.writer.get() {
            writer.stop();
        }
        if let Some(thread) = self
            .writer_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = thread.join();
        }
    }

    /// Read access to the projections.
    pub fn read(&self) -> RwLockReadGuard<'_, Projections> {
        self.projections.read().unwrap_or_else(|e| e.into_inner())
    }
}
