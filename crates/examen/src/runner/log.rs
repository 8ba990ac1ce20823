//! Where finished samples go: the [`EvalLogger`]/[`LogSink`] traits the
//! runner writes through, the records it hands them, and [`MemoryLog`], an
//! in-memory implementation for tests and embedding.

use std::sync::{Arc, Mutex};

use examen_types::{EvalSample, LogFinish, LogStart};

use crate::context::BoxFuture;

/// A log could not be opened or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log: {message}")]
pub struct LogSinkError {
    /// What failed (naming the file).
    pub message: String,
}

impl LogSinkError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

pub use examen_types::{EvalStats, EvalStatus};

/// Opens one log per task × model run.
pub trait EvalLogger: Send + Sync {
    /// Opens the log for a run about to start.
    fn open<'a>(
        &'a self,
        start: &'a LogStart,
    ) -> BoxFuture<'a, Result<Arc<dyn LogSink>, LogSinkError>>;
}

/// Receives a run's samples as they finish, then its results.
pub trait LogSink: Send + Sync {
    /// Stores a finished sample. Called concurrently from running samples.
    fn write_sample<'a>(&'a self, sample: EvalSample) -> BoxFuture<'a, Result<(), LogSinkError>>;

    /// Stores a sample carried over unchanged from a previous log of the
    /// same run ([`eval_retry`](crate::runner::eval_retry)). Sinks that cannot
    /// store log samples refuse, which fails the retry before any sample runs.
    fn carry_over<'a>(&'a self, sample: EvalSample) -> BoxFuture<'a, Result<(), LogSinkError>> {
        let _ = sample;
        Box::pin(async {
            Err(LogSinkError::new(
                "this log sink cannot carry samples over from a previous log",
            ))
        })
    }

    /// Completes the log; returns where it was written, if anywhere. The
    /// footer is shared, not copied: its per-sample reductions are the largest
    /// part of a long run's footer, and the run hands them on to its outcome.
    fn finish<'a>(
        &'a self,
        finish: Arc<LogFinish>,
    ) -> BoxFuture<'a, Result<Option<String>, LogSinkError>>;
}

/// A log kept in memory: every run's header, samples and footer.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    runs: Arc<Mutex<Vec<Arc<MemoryRun>>>>,
}

/// One run kept by [`MemoryLog`].
#[derive(Debug)]
pub struct MemoryRun {
    /// The header.
    pub start: LogStart,
    /// Samples in the order they finished.
    pub samples: Mutex<Vec<EvalSample>>,
    /// Samples carried over from a previous log, in the order they came.
    pub carried: Mutex<Vec<EvalSample>>,
    /// The footer, once finished.
    pub finish: Mutex<Option<Arc<LogFinish>>>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The runs logged so far, in the order they started.
    pub fn runs(&self) -> Vec<Arc<MemoryRun>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl MemoryRun {
    /// The samples, sorted by id then epoch.
    pub fn sorted_samples(&self) -> Vec<EvalSample> {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        samples.sort_by_key(|s| (s.id.clone(), s.epoch));
        samples
    }

    /// The footer, once finished.
    pub fn finished(&self) -> Option<Arc<LogFinish>> {
        self.finish
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

struct MemorySink(Arc<MemoryRun>);

impl EvalLogger for MemoryLog {
    fn open<'a>(
        &'a self,
        start: &'a LogStart,
    ) -> BoxFuture<'a, Result<Arc<dyn LogSink>, LogSinkError>> {
        Box::pin(async move {
            let run = Arc::new(MemoryRun {
                start: start.clone(),
                samples: Mutex::new(Vec::new()),
                carried: Mutex::new(Vec::new()),
                finish: Mutex::new(None),
            });
            self.runs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(run.clone());
            Ok(Arc::new(MemorySink(run)) as Arc<dyn LogSink>)
        })
    }
}

impl LogSink for MemorySink {
    fn write_sample<'a>(&'a self, sample: EvalSample) -> BoxFuture<'a, Result<(), LogSinkError>> {
        Box::pin(async move {
            self.0
                .samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sample);
            Ok(())
        })
    }

    fn carry_over<'a>(&'a self, sample: EvalSample) -> BoxFuture<'a, Result<(), LogSinkError>> {
        Box::pin(async move {
            self.0
                .carried
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sample);
            Ok(())
        })
    }

    fn finish<'a>(
        &'a self,
        finish: Arc<LogFinish>,
    ) -> BoxFuture<'a, Result<Option<String>, LogSinkError>> {
        Box::pin(async move {
            *self.0.finish.lock().unwrap_or_else(|e| e.into_inner()) = Some(finish);
            Ok(None)
        })
    }
}
