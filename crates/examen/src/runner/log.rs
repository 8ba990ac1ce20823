//! Where finished samples go: the [`EvalLogger`]/[`LogSink`] traits the
//! runner writes through, the records it hands them, and [`MemoryLog`], an
//! in-memory implementation for tests and embedding.

use std::sync::{Arc, Mutex};

use examen_types::{GenerateConfig, JsonObject, JsonValue};
use indexmap::IndexMap;
use serde::Serialize;

use crate::generate::BoxFuture;
use crate::runner::results::{EvalResults, EvalSampleReductions};
use crate::sample::SampleId;
use crate::transcript::EvalError;
use examen_types::EvalSample;

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

/// One solver of the plan, as recorded in the log (Inspect's `EvalPlanStep`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    /// The solver's name.
    pub solver: String,
    /// Its arguments.
    pub params: JsonObject,
}

/// A scorer as recorded in the log (Inspect's `EvalScorer`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScorerInfo {
    /// The score's name (unique within the task).
    pub name: String,
    /// The scorer's arguments.
    pub options: JsonObject,
    /// The metrics' names.
    pub metrics: Vec<String>,
    /// The metrics' arguments, in the order of `metrics` (Inspect records them as each
    /// metric's `options`).
    pub metric_options: Vec<JsonObject>,
}

/// The dataset as recorded in the log (Inspect's `EvalDataset`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetInfo {
    /// Name.
    pub name: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Number of samples run.
    pub samples: usize,
    /// Their ids.
    pub sample_ids: Vec<SampleId>,
    /// Their [`Sample::digest`](crate::sample::Sample::digest)s, concatenated in the order of
    /// `sample_ids` (recorded as `eval.examen_sample_digests`, which Inspect ignores), so that
    /// a retry can tell a changed sample from the one the log holds.
    pub sample_digests: String,
    /// Whether it was shuffled.
    pub shuffled: bool,
}

/// What is known when a task starts running against a model (the log
/// header: Inspect's `EvalSpec` and `EvalPlan`).
#[derive(Debug, Clone, Serialize)]
pub struct TaskStart {
    /// Id of this `eval()` call.
    pub run_id: String,
    /// Id of this task × model run.
    pub eval_id: String,
    /// Id of the task.
    pub task_id: String,
    /// Task name.
    pub task: String,
    /// Task version.
    pub task_version: u32,
    /// Task file, if any.
    pub task_file: Option<String>,
    /// Arguments the task was loaded with (`-T key=value`, see
    /// [`Task::args`](crate::Task::args)), recorded as Inspect's `task_args`.
    pub task_args: JsonObject,
    /// Model name.
    pub model: String,
    /// Model base URL, if any.
    pub model_base_url: Option<String>,
    /// Provider arguments the model was built with (`-M key=value`).
    pub model_args: JsonObject,
    /// Model roles bound for the run (role → model name).
    pub model_roles: IndexMap<String, String>,
    /// The dataset.
    pub dataset: DatasetInfo,
    /// Generation options: the task's config with the eval's over it (Inspect's
    /// `plan.config`).
    pub config: GenerateConfig,
    /// The eval's own generation options (`-G`, `--temperature`, `--max-connections`, ...),
    /// without the task's (Inspect's `eval.model_generate_config`).
    pub model_config: GenerateConfig,
    /// The solvers.
    pub plan: Vec<PlanStep>,
    /// The scorers.
    pub scorers: Vec<ScorerInfo>,
    /// Epochs.
    pub epochs: usize,
    /// Reducer names.
    pub epochs_reducer: Vec<String>,
    /// Run options as Inspect records them in `EvalConfig`
    /// (`limit`, `epochs`, `fail_on_error`, `message_limit`, ...).
    pub eval_config: JsonObject,
    /// Task metadata, with the eval's metadata merged over it.
    pub metadata: JsonObject,
    /// Tags of the eval.
    pub tags: Vec<String>,
    /// When the run was created (ISO 8601).
    pub created: String,
}

pub use examen_types::{EvalStats, EvalStatus};

/// What is known when a task run ends (the log footer).
#[derive(Debug, Clone, Serialize)]
pub struct TaskFinish {
    /// How it ended.
    pub status: EvalStatus,
    /// Scores and metrics.
    pub results: Option<EvalResults>,
    /// Per-sample reduced scores, shared with the run's
    /// [`EvalOutcome`](crate::runner::EvalOutcome) rather than copied: one
    /// per sample, they are the largest part of a long run's footer.
    pub reductions: Arc<Vec<EvalSampleReductions>>,
    /// Statistics.
    pub stats: EvalStats,
    /// The error that ended it, if any.
    pub error: Option<EvalError>,
}

/// Opens one log per task × model run.
pub trait EvalLogger: Send + Sync {
    /// Opens the log for a run about to start.
    fn open<'a>(
        &'a self,
        start: &'a TaskStart,
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

    /// Completes the log; returns where it was written, if anywhere.
    fn finish<'a>(
        &'a self,
        finish: TaskFinish,
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
    pub start: TaskStart,
    /// Samples in the order they finished.
    pub samples: Mutex<Vec<EvalSample>>,
    /// Samples carried over from a previous log, in the order they came.
    pub carried: Mutex<Vec<EvalSample>>,
    /// The footer, once finished.
    pub finish: Mutex<Option<TaskFinish>>,
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
    pub fn finished(&self) -> Option<TaskFinish> {
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
        start: &'a TaskStart,
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
        finish: TaskFinish,
    ) -> BoxFuture<'a, Result<Option<String>, LogSinkError>> {
        Box::pin(async move {
            *self.0.finish.lock().unwrap_or_else(|e| e.into_inner()) = Some(finish);
            Ok(None)
        })
    }
}

/// Serializes a record to JSON (for sinks that store JSON).
pub fn to_json<T: Serialize>(value: &T) -> JsonValue {
    serde_json::to_value(value).unwrap_or(JsonValue::Null)
}
