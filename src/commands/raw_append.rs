//! `RawAppend`: appends events decided by the caller, as they are. Used by
//! tests and benchmarks only; domain commands decide their own events.

use authlog_events::AppendBatch;
use authlog_projections::Projections;

use super::{Access, Command, Decided, DomainError, Env};

/// Appends a prepared unit as is.
#[derive(Debug, Clone)]
pub struct RawAppend(pub AppendBatch);

impl Command for RawAppend {
    type Outcome = ();

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

    fn decide(&self, _: &Projections, _: &Env) -> Result<Decided<()>, DomainError> {
        Ok(Decided::unit(self.0.clone(), ()))
    }
}
