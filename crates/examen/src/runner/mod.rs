//! The runner: runs tasks × models × samples × epochs under structured
//! concurrency from `examen-rt`, and reports progress as [`EvalEvent`]s and
//! finished samples to a [`LogSink`]. It never prints.
//!
//! Concurrency: task × model runs go `max_tasks` at a time; within a run,
//! sample × epoch units go `max_samples` at a time (default: the model's
//! `max_connections`, else 10); model calls are further bounded by the
//! model layer's `max_connections`. Each unit runs in its own task of the
//! run's group; dropping the [`eval`] future cancels everything. When
//! `fail_on_error` trips, no unit starts or retries any more, and those in
//! flight get [`FAIL_ON_ERROR_GRACE`] to finish and be logged: their model
//! calls are paid for.
//!
//! Results keep only the small part of each score (value, answer and
//! reason; the sample's id and metadata come back from its position), so a
//! long run stays nearly flat in memory: messages and events go to the log
//! sink and are dropped.
//!
//! Stopping: cancelling [`EvalOptions::cancel`] stops starting samples,
//! cancels those in flight, and still completes every log (shielded) with
//! status `cancelled`. A sample that finished is handed to the log even if
//! the cancel comes while it is being handed over. Continuing: [`eval_retry`]
//! (in `retry.rs`) runs a task again from a previous log, carrying over the
//! samples it holds.

pub(crate) mod finished;
pub mod log;
pub(crate) mod log_dir;
pub mod results;
mod retry;
mod sample;
pub(crate) mod sandboxes;
pub(crate) mod score_step;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use examen_model::{Model, ModelOptions};
use examen_types::{GenerateConfig, JsonObject, JsonValue, ModelUsage, Value};
use indexmap::IndexMap;

use crate::context::ModelSet;
use crate::sample::{Sample, SampleId};
use crate::task::{Epochs, FailOnError, Limits, Task};
use crate::transcript::{utc_timestamp, EvalError};
use examen_types::log::{
    EvalConfig, EvalDataset, EvalPlan, EvalPlanStep, EvalScorer, EvalSpec, LogFinish, LogStart,
};
use log::{EvalLogger, EvalStats, EvalStatus, LogSink};
use results::{compute_results, EvalResults, EvalSampleReductions, ScorerSlot};

pub use log::MemoryLog;
pub use log_dir::LogDir;
pub use retry::{eval_retry, PreviousEval, RetryError, TaskSource};
pub use sandboxes::{KeptSandbox, SETUP_TIMEOUT};

/// Options for one [`eval`] call (Inspect's `eval()` arguments).
#[derive(Clone, Default)]
pub struct EvalOptions {
    /// Task × model runs at once (default: the number of models).
    pub max_tasks: Option<usize>,
    /// Sample × epoch units at once per run (default: `max_connections`).
    pub max_samples: Option<usize>,
    /// Concurrent connections per model API (passed to the model layer).
    pub max_connections: Option<u32>,
    /// Run only the first `n` samples.
    pub limit: Option<usize>,
    /// Run only these sample ids.
    pub sample_id: Option<Vec<String>>,
    /// Override the tasks' epochs.
    pub epochs: Option<Epochs>,
    /// Override the tasks' error policy.
    pub fail_on_error: Option<FailOnError>,
    /// Keep going after `fail_on_error` trips; fail at the end.
    pub continue_on_fail: Option<bool>,
    /// Retry a failing sample up to this many times (earlier errors are kept).
    pub retry_on_error: u32,
    /// Override the tasks' limits.
    pub limits: Limits,
    /// Generation options layered over the tasks' config.
    pub config: GenerateConfig,
    /// Model roles (e.g. `grader`).
    pub model_roles: HashMap<String, Model>,
    /// How models named by solvers and scorers are built.
    pub model_options: ModelOptions,
    /// Where logs go (none: results only).
    pub logger: Option<Arc<dyn EvalLogger>>,
    /// Run the scorers (default true).
    pub no_score: bool,
    /// Tags recorded in every log (`eval.tags`).
    pub tags: Vec<String>,
    /// Metadata recorded in every log, merged over each task's metadata.
    pub metadata: JsonObject,
    /// Provider arguments the models were built with (`-M key=value`), recorded
    /// in every log (`eval.model_args`) so that a retry builds the same model.
    pub model_args: JsonObject,
    /// Stops the eval when cancelled: no new sample starts, samples in flight
    /// are cancelled, the samples that finished are flushed and every log is
    /// completed with status `cancelled` (runs not yet started are skipped).
    pub cancel: Option<examen_rt::CancelToken>,
    /// The sandbox every task runs in, replacing the tasks' own (`--sandbox TYPE[:CONFIG]`);
    /// samples' configurations still apply as Inspect resolves them.
    pub sandbox: Option<examen_sandbox::SandboxSpec>,
    /// Samples holding sandboxes at once, per sandbox type (default: the type's own, e.g.
    /// docker's 2 × CPUs; none for local).
    pub max_sandboxes: Option<usize>,
    /// Take the samples' sandboxes down when they end (default true; `false` is
    /// `--no-sandbox-cleanup`, which reports what was kept in [`EvalOutcome::kept_sandboxes`]).
    pub sandbox_cleanup: Option<bool>,
}

impl std::fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalOptions")
            .field("max_tasks", &self.max_tasks)
            .field("max_samples", &self.max_samples)
            .field("max_connections", &self.max_connections)
            .field("limit", &self.limit)
            .field("sample_id", &self.sample_id)
            .field("epochs", &self.epochs)
            .field("fail_on_error", &self.fail_on_error)
            .field("continue_on_fail", &self.continue_on_fail)
            .field("retry_on_error", &self.retry_on_error)
            .field("limits", &self.limits)
            .field("config", &self.config)
            .field("model_roles", &self.model_roles.keys().collect::<Vec<_>>())
            .field("tags", &self.tags)
            .field("metadata", &self.metadata)
            .field("model_args", &self.model_args)
            .field("cancel", &self.cancel)
            .field("sandbox", &self.sandbox)
            .field("max_sandboxes", &self.max_sandboxes)
            .field("sandbox_cleanup", &self.sandbox_cleanup)
            .finish()
    }
}

/// Progress reported while [`eval`] runs. `run` numbers the task × model
/// runs from 0 in the order of [`EvalEvent::TaskStarted`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EvalEvent {
    /// A task × model run started.
    TaskStarted {
        /// Run number.
        run: usize,
        /// Task name.
        task: String,
        /// Model name.
        model: String,
        /// Sample × epoch units to run.
        total: usize,
        /// Samples.
        samples: usize,
        /// Epochs.
        epochs: usize,
    },
    /// A sample × epoch unit finished (scored, limited or errored).
    SampleFinished {
        /// Run number.
        run: usize,
        /// Sample id.
        sample_id: SampleId,
        /// Epoch.
        epoch: usize,
        /// Score values by scorer.
        scores: IndexMap<String, Value>,
        /// Token usage of the sample.
        usage: ModelUsage,
        /// The error, if it failed.
        error: Option<String>,
        /// The limit it hit, if any.
        limit: Option<String>,
        /// Units finished so far in this run.
        completed: usize,
        /// Running mean of the first scorer's values, as floats.
        running: Option<(String, f64)>,
    },
    /// A sample attempt failed and will be retried.
    SampleRetry {
        /// Run number.
        run: usize,
        /// Sample id.
        sample_id: SampleId,
        /// Epoch.
        epoch: usize,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// Its error.
        error: String,
    },
    /// Connections the model has in flight, and its limit.
    Connections {
        /// Run number.
        run: usize,
        /// Model name.
        model: String,
        /// In flight.
        in_use: usize,
        /// The limit.
        limit: usize,
    },
    /// Something the user should know that does not stop the run (a sample's sandbox
    /// configuration its task's sandbox does not use...).
    Warning {
        /// Run number.
        run: usize,
        /// What to tell the user.
        message: String,
    },
    /// A run finished.
    TaskFinished {
        /// Run number.
        run: usize,
        /// How it ended.
        status: EvalStatus,
        /// Scores and metrics.
        results: Option<EvalResults>,
        /// The error that failed it.
        error: Option<String>,
        /// Where the log was written.
        log_location: Option<String>,
    },
}

/// The outcome of one task × model run.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// Task name.
    pub task: String,
    /// Model name.
    pub model: String,
    /// How it ended.
    pub status: EvalStatus,
    /// Scores and metrics (also on error, over the samples that finished).
    pub results: Option<EvalResults>,
    /// Per-sample reduced scores.
    pub reductions: Vec<EvalSampleReductions>,
    /// The error that failed the run.
    pub error: Option<EvalError>,
    /// Sample × epoch units that errored.
    pub errored_samples: u64,
    /// Token usage by model.
    pub model_usage: IndexMap<String, ModelUsage>,
    /// Where the log was written.
    pub log_location: Option<String>,
    /// The samples' sandboxes left running under `--no-sandbox-cleanup`.
    pub kept_sandboxes: Vec<KeptSandbox>,
}

/// An `eval()` call that cannot start (nothing ran).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalSetupError {
    /// What is wrong.
    pub message: String,
}

/// Runs every task against every model.
///
/// Returns one [`EvalOutcome`] per task × model, in task-major order. A
/// failing sample is data: it is logged, counted, and fails the run only as
/// `fail_on_error` says.
///
/// # Cancel safety
///
/// To stop an eval and keep its logs complete, cancel
/// [`EvalOptions::cancel`]: runs end with status `cancelled` and their logs
/// are finished. Dropping the future instead cancels every running sample
/// and leaves the logs of unfinished runs with status `started`, holding
/// every sample flushed so far (which [`eval_retry`] continues from).
///
/// # Panics
///
/// Outside an `examen_rt` runtime.
pub async fn eval(
    mut tasks: Vec<Task>,
    models: Vec<Model>,
    options: EvalOptions,
    events: Option<examen_rt::Sender<EvalEvent>>,
) -> Result<Vec<EvalOutcome>, EvalSetupError> {
    if models.is_empty() {
        return Err(EvalSetupError {
            message: "no model to evaluate".into(),
        });
    }
    for task in &mut tasks {
        // Validated with the eval's epochs in place of the task's, swapped in and
        // back rather than on a clone: a clone would copy the dataset, and freeing
        // a copy that large (glibc mmaps it) raises glibc's mmap and trim
        // thresholds for the rest of the process, which then keeps far more freed
        // memory resident as the run goes.
        let validated = match &options.epochs {
            Some(epochs) => {
                let own = std::mem::replace(&mut task.epochs, epochs.clone());
                let validated = task.validate();
                task.epochs = own;
                validated
            }
            None => task.validate(),
        };
        validated
            .and_then(|()| {
                let ids = options.sample_id.as_deref();
                task.dataset
                    .empty_selection(options.limit, ids)
                    .map_or(Ok(()), Err)
            })
            .map_err(|message| EvalSetupError {
                message: format!("task `{}`: {message}", task.name),
            })?;
    }
    let run_id = examen_types::short_uuid();
    let max_tasks = options.max_tasks.unwrap_or(models.len()).max(1);
    let options = Arc::new(options);
    let mut runs = Vec::new();
    for task in tasks {
        let task = Arc::new(task);
        for model in &models {
            // One id per task × model run, as Inspect resolves a task per
            // model: log names are `{created}_{task}_{task_id}`.
            runs.push((task.clone(), examen_types::short_uuid(), model.clone()));
        }
    }
    let run_counter = Arc::new(AtomicU64::new(0));
    let funcs = runs.into_iter().map(|(task, task_id, model)| {
        let options = options.clone();
        let events = events.clone();
        let run_id = run_id.clone();
        let run_counter = run_counter.clone();
        move || async move {
            let run = usize::try_from(run_counter.fetch_add(1, Ordering::SeqCst)).unwrap_or(0);
            let ids = RunIds {
                run,
                run_id: &run_id,
                task_id: &task_id,
            };
            Ok::<_, std::convert::Infallible>(
                run_task(ids, task, model, &options, events, None).await,
            )
        }
    });
    match examen_rt::collect_limited(max_tasks, funcs).await {
        Ok(outcomes) => Ok(outcomes),
        Err(never) => match never {},
    }
}

/// What every sample of a run shares.
pub(crate) struct RunShared {
    pub(crate) run: usize,
    pub(crate) task: Arc<Task>,
    pub(crate) solvers: Vec<Arc<dyn crate::solver::DynSolver>>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) models: Arc<ModelSet>,
    pub(crate) config: GenerateConfig,
    pub(crate) limits: Limits,
    pub(crate) fail_on_error: FailOnError,
    pub(crate) continue_on_fail: bool,
    pub(crate) retry_on_error: u32,
    pub(crate) score: bool,
    pub(crate) total: usize,
    pub(crate) scorer_names: Vec<String>,
    /// The task's scorers with those names, for solvers that score as they go.
    pub(crate) scorers: Arc<crate::context::TaskScorers>,
    pub(crate) metadata_keys: Vec<String>,
    pub(crate) sink: Option<Arc<dyn LogSink>>,
    pub(crate) events: Option<examen_rt::Sender<EvalEvent>>,
    pub(crate) errors: AtomicU64,
    pub(crate) progress: Mutex<Progress>,
    /// Cancelled when `fail_on_error` trips: no unit starts (or retries) any more, and those in
    /// flight get [`FAIL_ON_ERROR_GRACE`] to finish, since their model calls are paid for.
    pub(crate) stopping: examen_rt::CancelToken,
    /// The error that tripped `fail_on_error`.
    pub(crate) tripped: Mutex<Option<EvalError>>,
    /// `SampleFinished` events, sent in the order of their progress counts.
    pub(crate) finished: finished::FinishedEvents,
    /// The samples' sandboxes (none for a sample: an implicit local working directory).
    pub(crate) sandboxes: sandboxes::TaskSandboxes,
}

/// How long samples already running may take to finish after `fail_on_error` trips, before they
/// are cancelled. Their requests are on their way or answered: throwing them away would pay
/// for them again on retry. Long enough for a model call in flight, short enough that a failing
/// eval still stops soon.
pub const FAIL_ON_ERROR_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) tally: score_step::ScoreTally,
    pub(crate) usage: IndexMap<String, ModelUsage>,
    pub(crate) first_error: Option<EvalError>,
}

impl RunShared {
    pub(crate) async fn emit(&self, event: EvalEvent) {
        if let Some(events) = &self.events {
            // A display that went away does not stop the eval.
            let _ = events.send(event).await;
        }
    }
}

/// A run stopped before its samples finished.
#[derive(Debug)]
pub(crate) enum RunAbort {
    /// The log could not be written.
    Log(String),
}

/// Which run this is, and the ids its log records.
#[derive(Clone, Copy)]
struct RunIds<'a> {
    run: usize,
    run_id: &'a str,
    task_id: &'a str,
}

#[allow(clippy::too_many_lines)]
async fn run_task(
    ids: RunIds<'_>,
    task: Arc<Task>,
    model: Model,
    options: &EvalOptions,
    events: Option<examen_rt::Sender<EvalEvent>>,
    previous: Option<retry::Carry>,
) -> EvalOutcome {
    let RunIds {
        run,
        run_id,
        task_id,
    } = ids;
    let started_at = utc_timestamp(SystemTime::now());
    let mut dataset = task.dataset.clone();
    if let Some(ids) = &options.sample_id {
        dataset.select_ids(ids);
    }
    if let Some(limit) = options.limit {
        dataset.limit(limit);
    }
    let epochs = options
        .epochs
        .clone()
        .unwrap_or_else(|| task.epochs.clone());
    let mut config = task.config.merge(&options.config);
    if let Some(max_connections) = options.max_connections {
        config.max_connections = Some(max_connections);
    }
    let limits = task.limits.merge(&options.limits);
    let fail_on_error = options
        .fail_on_error
        .or(task.fail_on_error)
        .unwrap_or_default();
    let continue_on_fail = options
        .continue_on_fail
        .or(task.continue_on_fail)
        .unwrap_or(false);

    let failed_outcome = |message: String| EvalOutcome {
        task: task.name.clone(),
        model: model.name().to_string(),
        status: EvalStatus::Error,
        results: None,
        reductions: Vec::new(),
        error: Some(EvalError::new(message.clone(), message)),
        errored_samples: 0,
        model_usage: IndexMap::new(),
        log_location: None,
        kept_sandboxes: Vec::new(),
    };
    let cancel = options.cancel.clone().unwrap_or_default();
    if cancel.is_cancelled() {
        // Cancelled before this run started: nothing ran, nothing is logged.
        return EvalOutcome {
            status: EvalStatus::Cancelled,
            error: None,
            ..failed_outcome(String::new())
        };
    }

    // Every sample's sandbox is resolved, and its provider found, before anything runs: an
    // unknown type or a malformed sample `sandbox` fails the task now.
    let eval_id = examen_types::short_uuid();
    let (sandboxes, sandbox_warnings) = match sandboxes::TaskSandboxes::resolve(
        &task,
        &dataset.samples,
        options.sandbox.as_ref(),
        options.max_sandboxes,
        options.sandbox_cleanup.unwrap_or(true),
        &eval_id,
    ) {
        Ok(resolved) => resolved,
        Err(e) => return failed_outcome(format!("task `{}`: sandbox: {e}", task.name)),
    };
    // Roles: the eval's bindings win over the task's defaults.
    let mut roles = options.model_roles.clone();
    for (role, name) in &task.model_roles {
        if !roles.contains_key(role) {
            match examen_model::get_model(name, options.model_options.clone()) {
                Ok(m) => {
                    roles.insert(role.clone(), m);
                }
                Err(e) => {
                    return failed_outcome(format!(
                        "task `{}`: model role `{role}`: {e}",
                        task.name
                    ))
                }
            }
        }
    }
    let mut role_names: IndexMap<String, String> = roles
        .iter()
        .map(|(k, v)| (k.clone(), v.name().to_string()))
        .collect();
    role_names.sort_keys();

    let solvers = task.effective_solvers();
    let scorer_names = score_step::unique_scorer_names(task.scorers.iter().map(|s| s.name()));
    let slots: Vec<ScorerSlot> = task
        .scorers
        .iter()
        .zip(&scorer_names)
        .map(|(scorer, name)| ScorerSlot {
            name: name.clone(),
            scorer: scorer.name().to_string(),
            params: scorer.params(),
            metrics: task.metrics.clone().unwrap_or_else(|| scorer.metrics()),
        })
        .collect();
    let mut metadata_keys: Vec<String> = slots
        .iter()
        .flat_map(|s| s.metrics.iter().flat_map(|m| m.metadata_keys()))
        .collect();
    metadata_keys.dedup();

    let total = dataset.len() * epochs.epochs;
    let start = {
        let dataset_spec = EvalDataset {
            name: dataset.name.clone(),
            location: dataset.location.clone(),
            samples: Some(dataset.len() as u64),
            sample_ids: Some(
                dataset
                    .samples
                    .iter()
                    .filter_map(|s| s.id.clone())
                    .collect(),
            ),
            shuffled: Some(dataset.shuffled),
        };
        let mut eval = EvalSpec::new(task.name.clone(), model.name(), dataset_spec);
        eval.eval_id = eval_id.clone();
        eval.run_id = run_id.to_string();
        eval.task_id = task_id.to_string();
        eval.created = to_the_second(&started_at);
        eval.task_version = JsonValue::from(task.version);
        eval.task_file = task.source_file.as_ref().map(|p| p.display().to_string());
        eval.sandbox = sandboxes
            .shared_spec()
            .map(examen_sandbox::SandboxSpec::to_json);
        eval.task_args = task.args.clone();
        eval.task_args_passed = task.args.clone();
        eval.model_base_url = model.base_url().map(crate::context::redact_url);
        eval.model_args = options.model_args.clone();
        eval.model_generate_config = {
            // The eval's own options (`-G`, `--max-connections`, ...), without the task's.
            let mut own = options.config.clone();
            if let Some(max_connections) = options.max_connections {
                own.max_connections = Some(max_connections);
            }
            own
        };
        eval.model_roles = (!role_names.is_empty()).then(|| {
            role_names
                .iter()
                .map(|(role, model)| {
                    let binding = serde_json::json!({"model": model, "config": {}, "args": {}});
                    (role.clone(), binding)
                })
                .collect()
        });
        eval.config = eval_config(options, &epochs, &limits, fail_on_error, continue_on_fail);
        eval.packages = [("examen".to_owned(), env!("CARGO_PKG_VERSION").to_owned())].into();
        let mut metadata = task.metadata.clone();
        metadata.extend(options.metadata.clone());
        eval.metadata = (!metadata.is_empty()).then_some(metadata);
        eval.tags = (!options.tags.is_empty()).then(|| options.tags.clone());
        eval.scorers = Some(
            slots
                .iter()
                .map(|s| EvalScorer {
                    name: s.name.clone(),
                    options: Some(s.params.clone()),
                    metrics: Some(JsonValue::Array(
                        s.metrics
                            .iter()
                            .map(|m| serde_json::json!({"name": m.name(), "options": m.params()}))
                            .collect(),
                    )),
                    metadata: None,
                })
                .collect(),
        );
        // Inspect ignores it; a retry tells changed samples by it (see `retry.rs`).
        eval.extra.insert(
            log_dir::SAMPLE_DIGESTS.into(),
            JsonValue::String(dataset.samples.iter().map(crate::sample::digest).collect()),
        );
        if let Some(text) = task
            .source_text
            .as_deref()
            .filter(|text| text.len() <= log_dir::TASK_FILE_TEXT_MAX)
        {
            eval.extra.insert(
                log_dir::TASK_FILE_TEXT.into(),
                JsonValue::String(text.to_string()),
            );
        }
        let steps = solvers
            .iter()
            .map(|s| EvalPlanStep {
                solver: s.name().to_string(),
                params: s.params(),
                params_passed: s.params(),
            })
            .collect();
        LogStart {
            version: examen_types::LOG_SCHEMA_VERSION,
            eval,
            plan: EvalPlan {
                steps,
                config: config.clone(),
                ..EvalPlan::default()
            },
        }
    };

    let sink = match &options.logger {
        Some(logger) => match logger.open(&start).await {
            Ok(sink) => Some(sink),
            Err(e) => return failed_outcome(e.to_string()),
        },
        None => None,
    };

    let max_samples = score_step::max_samples(options.max_samples, &config, &model);

    let first_scorer = scorer_names.first().cloned();
    let events_for_finished = events.clone();
    let shared = Arc::new(RunShared {
        run,
        task: task.clone(),
        solvers,
        samples: dataset.samples,
        models: Arc::new(ModelSet::new(
            model.clone(),
            roles,
            options.model_options.clone(),
        )),
        config,
        limits,
        fail_on_error,
        continue_on_fail,
        retry_on_error: options.retry_on_error,
        score: !options.no_score,
        total,
        scorers: Arc::new(crate::context::TaskScorers {
            scorers: task.scorers.clone(),
            names: scorer_names.clone(),
        }),
        scorer_names,
        metadata_keys,
        sink: sink.clone(),
        events,
        errors: AtomicU64::new(0),
        progress: Mutex::new(Progress {
            tally: score_step::ScoreTally::new(total, first_scorer),
            ..Progress::default()
        }),
        stopping: examen_rt::CancelToken::new(),
        tripped: Mutex::new(None),
        finished: finished::FinishedEvents::new(events_for_finished),
        sandboxes,
    });
    shared
        .emit(EvalEvent::TaskStarted {
            run,
            task: task.name.clone(),
            model: model.name().to_string(),
            total,
            samples: shared.samples.len(),
            epochs: epochs.epochs,
        })
        .await;
    for message in sandbox_warnings {
        shared
            .emit(EvalEvent::Warning {
                run,
                message: format!("task `{}`: {message}", task.name),
            })
            .await;
    }

    let run_units = async {
        // Samples a previous log already holds are carried over, not run again.
        let carried = match previous {
            // Boxed: a carried sample and its event are large, and debug builds copy
            // futures on the stack as they are polled.
            Some(previous) => Box::pin(previous.carry_over(&shared, epochs.epochs)).await?,
            None => std::collections::HashSet::new(),
        };
        let samples = shared.samples.len();
        let funcs = (1..=epochs.epochs)
            .flat_map(move |epoch| (0..samples).map(move |position| (position, epoch)))
            .filter(move |unit| !carried.contains(unit))
            .map(|(position, epoch)| {
                let shared = shared.clone();
                move || async move { sample::run_sample(shared, position, epoch).await }
            });
        // Once `fail_on_error` trips, the units in flight have a grace period to finish.
        let grace = async {
            shared.stopping.cancelled().await;
            examen_rt::sleep(FAIL_ON_ERROR_GRACE).await;
        };
        let mut units = std::pin::pin!(examen_rt::collect_limited(max_samples, funcs));
        let mut grace = std::pin::pin!(grace);
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(done) = Future::poll(units.as_mut(), cx) {
                return std::task::Poll::Ready(done.map(drop));
            }
            // The grace period is over: the units still running are dropped (cancelled).
            Future::poll(grace.as_mut(), cx).map(Ok)
        })
        .await
    };
    // Cancelling drops the units: none starts any more, those in flight are
    // cancelled; what finished is already with the log sink.
    // Boxed: it holds the carry-over and the sample fan-out, which would
    // otherwise make every run's future (spawned, so moved on the stack in
    // debug builds) tens of kilobytes larger.
    let task_init = async {
        for sandbox in &shared.sandboxes.distinct {
            if let Err(e) = sandbox
                .provider
                .task_init(&shared.task.name, &sandbox.config)
                .await
            {
                return Err(format!(
                    "task `{}`: sandbox `{}`: {e}",
                    task.name,
                    sandbox.provider.name()
                ));
            }
        }
        Ok(())
    };
    // A task whose sandbox cannot start runs no sample: each would fail the same way.
    let task_init_error = task_init.await.err();
    let outcome = match &task_init_error {
        None => cancel.run_until_cancelled(Box::pin(run_units)).await,
        Some(_) => Some(Ok(())),
    };
    // What the task's sandboxes left is taken down even when the run was cancelled; a failure
    // is the run's error, since it may leave resources behind.
    let mut task_cleanup_error = None;
    let cleanup = shared.sandboxes.cleanup();
    for sandbox in shared.sandboxes.distinct.clone() {
        let name = shared.task.name.clone();
        let provider = sandbox.provider.name().to_owned();
        // After every sample's own cleanup (Inspect's order), cancelled ones included.
        let cleaned = examen_rt::shield(async move {
            sandbox.live.wait_idle().await;
            sandbox
                .provider
                .task_cleanup(&name, &sandbox.config, cleanup)
                .await
        })
        .await;
        if let Some(Err(e)) = cleaned {
            task_cleanup_error.get_or_insert(format!(
                "task `{}`: sandbox `{provider}` cleanup failed: {e}",
                task.name
            ));
        }
    }
    let kept_sandboxes = shared.sandboxes.take_kept();

    let errored = shared.errors.load(Ordering::SeqCst);
    let (mut status, mut error) = match outcome {
        None => (EvalStatus::Cancelled, None),
        Some(Ok(())) => match shared
            .tripped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(tripped) => (EvalStatus::Error, Some(tripped)),
            None => (EvalStatus::Success, None),
        },
        Some(Err(RunAbort::Log(message))) => (
            EvalStatus::Error,
            Some(EvalError::new(message.clone(), message)),
        ),
    };
    let (store, usage, first_error) = {
        let mut progress = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
        (
            std::mem::take(&mut progress.tally.store),
            progress.usage.clone(),
            progress.first_error.clone(),
        )
    };
    // As Inspect: no results at all when no sample finished (every one errored, or the
    // run was cancelled before any did), rather than metrics of nothing (NaN).
    let any_completed = store.completed > 0;
    let store_results = (shared.score && any_completed).then(|| {
        compute_results(
            store,
            &slots,
            &epochs.reducers,
            total,
            &shared.samples,
            &shared.metadata_keys,
        )
    });
    if status == EvalStatus::Success && fail_on_error.should_fail(errored, total as u64) {
        status = EvalStatus::Error;
        error = first_error;
    }
    let (results, reductions) = match store_results {
        Some(Ok((results, reductions))) => (Some(results), reductions),
        Some(Err(message)) => {
            status = EvalStatus::Error;
            error = Some(EvalError::new(message.clone(), message));
            (None, Vec::new())
        }
        None => (None, Vec::new()),
    };
    // The sandbox's own failures come first: nothing ran, or something may be left behind.
    if let Some(message) = task_init_error.or(task_cleanup_error) {
        status = EvalStatus::Error;
        error = Some(EvalError::new(message.clone(), message));
    }
    let finish = Arc::new(LogFinish {
        status,
        results,
        stats: EvalStats {
            started_at,
            completed_at: utc_timestamp(SystemTime::now()),
            model_usage: usage.clone(),
            ..EvalStats::default()
        },
        error: error.clone(),
        reductions: (!reductions.is_empty()).then_some(reductions),
        invalidated: false,
    });
    let mut log_location = None;
    if let Some(sink) = sink {
        // Shielded: the log is completed even if the caller gives up on the
        // eval now (a second interrupt), within the grace period.
        let footer = finish.clone();
        let finished = examen_rt::shield(async move { sink.finish(footer).await })
            .await
            .unwrap_or_else(|| {
                Err(log::LogSinkError::new(
                    "the log was not finished within the shutdown grace period",
                ))
            });
        match finished {
            Ok(location) => log_location = location,
            Err(e) => {
                status = EvalStatus::Error;
                error.get_or_insert_with(|| EvalError::new(e.to_string(), e.to_string()));
            }
        }
    }
    // The sink is done with its share (a sink that keeps the footer, like
    // `MemoryLog`, costs a copy here).
    let LogFinish {
        results,
        reductions,
        ..
    } = Arc::try_unwrap(finish).unwrap_or_else(|shared| (*shared).clone());
    let reductions = reductions.unwrap_or_default();
    shared
        .emit(EvalEvent::TaskFinished {
            run,
            status,
            results: results.clone(),
            error: error.as_ref().map(|e| e.message.clone()),
            log_location: log_location.clone(),
        })
        .await;
    EvalOutcome {
        task: task.name.clone(),
        model: model.name().to_string(),
        status,
        results,
        reductions,
        error,
        errored_samples: errored,
        model_usage: usage,
        log_location,
        kept_sandboxes,
    }
}

/// Inspect records `created` to the second.
fn to_the_second(timestamp: &str) -> String {
    match (timestamp.find('.'), timestamp.find('+')) {
        (Some(dot), Some(plus)) if dot < plus => {
            format!("{}{}", &timestamp[..dot], &timestamp[plus..])
        }
        _ => timestamp.to_string(),
    }
}

/// The run's options as Inspect records them (`EvalConfig`; limits in whole seconds).
fn eval_config(
    options: &EvalOptions,
    epochs: &Epochs,
    limits: &Limits,
    fail_on_error: FailOnError,
    continue_on_fail: bool,
) -> EvalConfig {
    let mut config = EvalConfig {
        limit: options.limit.map(JsonValue::from),
        sample_id: options.sample_id.clone().map(JsonValue::from),
        epochs: Some(u32::try_from(epochs.epochs).unwrap_or(u32::MAX)),
        epochs_reducer: (!epochs.reducers.is_empty())
            .then(|| epochs.reducers.iter().map(|r| r.name()).collect()),
        fail_on_error: serde_json::to_value(fail_on_error).ok(),
        continue_on_fail: Some(continue_on_fail),
        retry_on_error: (options.retry_on_error > 0).then_some(options.retry_on_error),
        message_limit: limits.message_limit.map(|v| v as u64),
        token_limit: limits.token_limit,
        time_limit: limits.time_limit.map(|s| s.ceil() as u64),
        working_limit: limits.working_limit.map(|s| s.ceil() as u64),
        max_samples: options.max_samples.map(|v| v as u64),
        max_tasks: options.max_tasks.map(|v| v as u64),
        max_sandboxes: options.max_sandboxes.map(|v| v as u64),
        sandbox_cleanup: options.sandbox_cleanup,
        ..EvalConfig::default()
    };
    // Inspect's `EvalConfig` has no `score`: only a run without scoring says so (for
    // `eval-retry`, which keeps it).
    if options.no_score {
        config.extra.insert("score".into(), JsonValue::from(false));
    }
    config
}
