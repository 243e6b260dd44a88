//! `RawAppend`: appends events decided by the caller. Used by bootstrap,
//! tests and benchmarks; domain commands decide their own events.

use authlog_events::{AppendBatch, Timestamp};
use authlog_projections::Projections;

use super::{Access, Decide, DomainError};

/// Appends a prepared unit as is.
#[derive(Debug, Clone)]
pub struct RawAppend(pub AppendBatch);

impl Decide for RawAppend {
    fn access(&self) -> Access {
        let mut writes: Vec<String> = self.0.events.iter().map(|e| e.stream.clone()).collect();
        writes.extend(self.0.expected.iter().map(|(s, _)| s.clone()));
        writes.sort();
        writes.dedup();
        Access {
            reads: Vec::new(),
            writes,
        }
    }

    fn decide(&self, _: &Projections, _: Timestamp) -> Result<AppendBatch, DomainError> {
        Ok(self.0.clone())
    }
}
