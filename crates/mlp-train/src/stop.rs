//! The stop signal of Ctrl-C (and SIGTERM): long jobs end early, cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C (or anything else that wants a long job to end early); the
/// training loops check it between steps and stop with
/// [`TrainError::Stopped`](crate::TrainError::Stopped); a job then saves
/// every finished run and returns
/// [`TrainError::Interrupted`](crate::TrainError::Interrupted).
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal nothing has raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
