//! Continuing an eval from its log (Inspect's `eval_retry`): [`PreviousEval`]
//! reads what a log holds, whatever state its run was left in (`started`
//! after a crash or a kill, `cancelled`, `error`, `success`), and
//! [`eval_retry`] runs the task again with every sample that finished
//! without error carried over into the new log instead of being sent to the
//! model again. Errored and missing (id, epoch) pairs run; the new log holds
//! every pair exactly once.
//!
//! A sample is carried over only if it is still the same sample: the log records a digest of
//! each sample's input, target, choices and metadata (`eval.examen_sample_digests`, which
//! Inspect ignores), and a retry whose dataset changed any of them is refused, naming the
//! changed ids, before anything runs (rather than re-running them: a retry is meant to finish
//! the eval that was started, not a different one). Logs written before the digests were
//! recorded have none to compare and are retried as before.
//!
//! The new log keeps the original `task_id`, task, task arguments, dataset
//! samples, model, generation config and eval options (unless the caller
//! overrides them); like Inspect it gets a new `eval_id`, `run_id` and
//! `created`, so it is a new file beside the original, which is kept.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use examen_log::{EvalLog, EvalSample, EvalSpec, Recovered};
use examen_model::Model;
use examen_types::{GenerateConfig, JsonValue, ModelUsage};

use super::sample::record_progress;
use super::{run_task, EvalEvent, EvalOptions, EvalOutcome, EvalSetupError, RunAbort, RunIds};
use super::{RunShared, Task};
use crate::registry;
use crate::sample::SampleId;
use crate::task::{Epochs, FailOnError, Limits};

/// A log that cannot be continued. The message names the log file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RetryError {
    /// What is wrong, naming the file.
    pub message: String,
}

impl RetryError {
    fn new(path: &Path, message: impl std::fmt::Display) -> Self {
        Self {
            message: format!("{}: {message}", path.display()),
        }
    }
}

/// Where a retry's task comes from (see [`PreviousEval::task_source`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSource<'a> {
    /// The task file, read again.
    File(PathBuf),
    /// The file is gone: its text as the log recorded it when the eval ran.
    Recorded {
        /// The task file as recorded (relative dataset paths are read from its directory).
        file: PathBuf,
        /// The file's text.
        text: &'a str,
    },
}

/// A previous run of one task against one model, read from its log.
///
/// [`open`](Self::open) reads the header and indexes the intact samples (of
/// a crashed `.eval`, every sample of every completed flush); the samples
/// themselves are read one batch at a time while [`eval_retry`] carries them
/// over, so memory does not grow with the log.
pub struct PreviousEval {
    path: PathBuf,
    recovered: Arc<Recovered>,
}

impl std::fmt::Debug for PreviousEval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousEval")
            .field("path", &self.path)
            .field("status", &self.recovered.log.status)
            .field("samples", &self.recovered.sample_count())
            .finish_non_exhaustive()
    }
}

impl PreviousEval {
    /// Reads the log at `path` (`.eval` or `.json`, finished or not). Blocking:
    /// call it through `examen_rt::to_thread` from async code.
    pub fn open(path: impl AsRef<Path>) -> Result<PreviousEval, RetryError> {
        let path = path.as_ref();
        // examen-log's errors already name the file.
        let recovered = examen_log::recover(path).map_err(|e| RetryError {
            message: format!("{e} (expected an eval log written by `examen eval`)"),
        })?;
        Ok(PreviousEval {
            path: path.to_path_buf(),
            recovered: Arc::new(recovered),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log's header (status `started` for a log whose writer died).
    pub fn log(&self) -> &EvalLog {
        &self.recovered.log
    }

    /// The eval spec the run was started with.
    pub fn spec(&self) -> &EvalSpec {
        &self.recovered.log.eval
    }

    /// Intact samples in the log (errored ones included).
    pub fn samples_in_log(&self) -> usize {
        self.recovered.sample_count()
    }

    /// The task file the run was loaded from, as recorded.
    pub fn task_file(&self) -> Result<PathBuf, RetryError> {
        let spec = self.spec();
        let file = spec.task_file.as_deref().ok_or_else(|| {
            RetryError::new(
                &self.path,
                format!(
                    "the log records no task file for task `{}`; expected a log of a task file \
                     run with `examen eval`",
                    spec.task
                ),
            )
        })?;
        let file = PathBuf::from(file);
        if !file.is_file() {
            return Err(RetryError::new(
                &self.path,
                format!(
                    "task file `{}` not found (run the retry from the directory the eval ran in)",
                    file.display()
                ),
            ));
        }
        Ok(file)
    }

    /// The task-file overrides the run was loaded with (`-T key=value`), as
    /// `(key, YAML value)` pairs.
    pub fn task_args(&self) -> Vec<(String, String)> {
        let spec = self.spec();
        let args = if spec.task_args_passed.is_empty() {
            &spec.task_args
        } else {
            &spec.task_args_passed
        };
        args.iter()
            .map(|(key, value)| (key.clone(), yaml_text(value)))
            .collect()
    }

    /// Loads the task again: its task file with its recorded overrides, built with the
    /// built-in components.
    pub fn load_task(&self) -> Result<Task, RetryError> {
        self.load_task_with(crate::Registry::builtin_ref())
    }

    /// [`load_task`](Self::load_task) with `registry`'s components, so that a task using
    /// custom solvers, scorers or metrics can be retried by the program that registered them.
    ///
    /// The task file is read again when it is still there (as Inspect re-imports a task's
    /// file). When it is gone, the task is rebuilt from the copy of its text the log records
    /// (see [`task_source`](Self::task_source)); its relative dataset paths are still read
    /// from the file's directory, and the samples' digests still refuse a changed dataset.
    pub fn load_task_with(&self, registry: &crate::Registry) -> Result<Task, RetryError> {
        let cannot = |e: crate::taskfile::TaskFileError| RetryError {
            message: format!("{}: cannot load the task again: {e}", self.path.display()),
        };
        match self.task_source()? {
            TaskSource::File(file) => {
                crate::taskfile::load_task_file_with(&file, &self.task_args(), registry)
                    .map_err(cannot)
            }
            TaskSource::Recorded { file, text } => {
                crate::taskfile::parse_task_with(text, &file, &self.task_args(), registry).map_err(
                    |e| RetryError {
                        message: format!(
                            "{}: cannot rebuild the task from the copy of `{}` in the log: {e} \
                             (run the retry from the directory the eval ran in)",
                            self.path.display(),
                            file.display()
                        ),
                    },
                )
            }
        }
    }

    /// Where [`load_task`](Self::load_task) takes the task from: the task file when it is
    /// still there, else the copy of its text recorded in the log. Fails when the file is gone
    /// and the log has no copy (a log from before copies were recorded, or a task file over
    /// 1 MiB).
    pub fn task_source(&self) -> Result<TaskSource<'_>, RetryError> {
        let recorded = self
            .spec()
            .extra
            .get(super::log_dir::TASK_FILE_TEXT)
            .and_then(JsonValue::as_str);
        match (self.task_file(), recorded) {
            (Ok(file), _) => Ok(TaskSource::File(file)),
            (Err(_), Some(text)) if self.spec().task_file.is_some() => Ok(TaskSource::Recorded {
                file: PathBuf::from(self.spec().task_file.as_deref().unwrap_or_default()),
                text,
            }),
            (Err(e), _) => Err(e),
        }
    }

    /// The model's name (`provider/model`).
    pub fn model(&self) -> &str {
        &self.spec().model
    }

    /// The base URL the model was called at, if recorded.
    pub fn model_base_url(&self) -> Option<&str> {
        self.spec().model_base_url.as_deref()
    }

    /// The provider arguments the model was built with (`-M key=value`).
    pub fn model_args(&self) -> BTreeMap<String, String> {
        self.spec()
            .model_args
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    JsonValue::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }

    /// Model roles bound for the run, as (role, model name).
    pub fn model_roles(&self) -> Vec<(String, String)> {
        self.spec()
            .model_roles
            .iter()
            .flatten()
            .filter_map(|(role, binding)| {
                let model = binding.get("model").and_then(JsonValue::as_str)?;
                Some((role.clone(), model.to_string()))
            })
            .collect()
    }

    /// The generation config the run used.
    pub fn generate_config(&self) -> GenerateConfig {
        self.spec().model_generate_config.clone()
    }

    /// The eval options the run was started with (epochs, error policy,
    /// limits, concurrency, scoring, tags, metadata, model arguments), to
    /// override from the command line. No logger, model roles or cancel token:
    /// the caller supplies those.
    pub fn eval_options(&self) -> Result<EvalOptions, RetryError> {
        let spec = self.spec();
        let config = &spec.config;
        let mut reducers = Vec::new();
        for name in config.epochs_reducer.iter().flatten() {
            reducers.push(
                registry::build_reducer(name)
                    .map_err(|e| RetryError::new(&self.path, format!("epochs_reducer: {e}")))?,
            );
        }
        let fail_on_error = config
            .fail_on_error
            .as_ref()
            .map(|value| {
                serde_json::from_value::<FailOnError>(value.clone()).map_err(|e| {
                    RetryError::new(
                        &self.path,
                        format!("config.fail_on_error: {e}, got {value}"),
                    )
                })
            })
            .transpose()?;
        let to_usize = |v: Option<u64>| v.and_then(|v| usize::try_from(v).ok());
        // The sandbox every sample ran in (`--sandbox`, or the task's), so that a retry runs
        // where the first run did; none when samples ran in several.
        let sandbox = match &spec.sandbox {
            None => None,
            Some(value) => examen_sandbox::SandboxSpec::from_json(value)
                .map_err(|e| RetryError::new(&self.path, format!("eval.sandbox: {e}")))?,
        };
        Ok(EvalOptions {
            sandbox,
            max_tasks: to_usize(config.max_tasks),
            max_samples: to_usize(config.max_samples),
            max_sandboxes: to_usize(config.max_sandboxes),
            sandbox_cleanup: config.sandbox_cleanup,
            max_connections: spec.model_generate_config.max_connections,
            limit: config
                .limit
                .as_ref()
                .and_then(JsonValue::as_u64)
                .and_then(|v| usize::try_from(v).ok()),
            sample_id: config.sample_id.as_ref().map(|ids| match ids {
                JsonValue::Array(items) => items.iter().map(id_text).collect(),
                one => vec![id_text(one)],
            }),
            epochs: Some(Epochs {
                epochs: config.epochs.map_or(1, |e| e.max(1) as usize),
                reducers,
            }),
            fail_on_error,
            continue_on_fail: config.continue_on_fail,
            retry_on_error: config.retry_on_error.unwrap_or(0),
            limits: Limits {
                message_limit: to_usize(config.message_limit),
                token_limit: config.token_limit,
                time_limit: config.time_limit.map(|s| s as f64),
                working_limit: config.working_limit.map(|s| s as f64),
            },
            config: spec.model_generate_config.clone(),
            no_score: config.extra.get("score") == Some(&JsonValue::Bool(false)),
            tags: spec.tags.clone().unwrap_or_default(),
            metadata: spec.metadata.clone().unwrap_or_default(),
            model_args: spec.model_args.clone(),
            ..EvalOptions::default()
        })
    }
}

/// A JSON value as YAML text (JSON is YAML's flow syntax).
fn yaml_text(value: &JsonValue) -> String {
    value.to_string()
}

fn id_text(value: &JsonValue) -> String {
    match value {
        JsonValue::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Continues the eval of `previous` with `task` (normally
/// [`PreviousEval::load_task`]) on `model`: the samples of the previous log
/// that finished without error are written to the new log as they are
/// (never sent to the model again), and only the errored and missing ones
/// run. `options` normally starts from [`PreviousEval::eval_options`].
///
/// The run covers exactly the samples the previous run covered (the log's
/// `dataset.sample_ids`); it is an error if the task's dataset no longer has
/// one of them.
///
/// # Cancel safety
///
/// As [`eval`](super::eval): cancel [`EvalOptions::cancel`] to end with a
/// finished `cancelled` log, which can itself be retried.
pub async fn eval_retry(
    previous: PreviousEval,
    mut task: Task,
    model: Model,
    options: EvalOptions,
    events: Option<examen_rt::Sender<EvalEvent>>,
) -> Result<EvalOutcome, EvalSetupError> {
    let setup = |message: String| EvalSetupError {
        message: format!("{}: {message}", previous.path.display()),
    };
    if let Some(epochs) = &options.epochs {
        task.epochs = epochs.clone();
    }
    task.validate()
        .map_err(|message| setup(format!("task `{}`: {message}", task.name)))?;
    let spec = previous.spec();
    if let Some(ids) = &spec.dataset.sample_ids {
        let mut by_id: HashMap<SampleId, crate::sample::Sample> =
            std::mem::take(&mut task.dataset.samples)
                .into_iter()
                .filter_map(|s| Some((s.id.clone()?, s)))
                .collect();
        let mut samples = Vec::with_capacity(ids.len());
        for id in ids {
            let sample = by_id.remove(id).ok_or_else(|| {
                setup(format!(
                    "sample `{id}` of the eval is not in the dataset of task `{}` any more; \
                     expected the task file and dataset the eval ran with",
                    task.name
                ))
            })?;
            samples.push(sample);
        }
        let changed = changed_samples(spec, ids, &samples);
        if !changed.is_empty() {
            return Err(setup(changed_message(&changed, ids.len(), &task.name)));
        }
        task.dataset.samples = samples;
    } else if let Some(JsonValue::Array(range)) = &spec.config.limit {
        // Inspect records `--limit 10-20` as a range; a count is in `options.limit`.
        let bound = |i: usize| {
            range
                .get(i)
                .and_then(JsonValue::as_u64)
                .and_then(|v| usize::try_from(v).ok())
        };
        if let (Some(start), Some(end)) = (bound(0), bound(1)) {
            task.dataset.slice(start, end);
        }
    }
    let run_id = examen_types::short_uuid();
    let task_id = spec.task_id.clone();
    let ids = RunIds {
        run: 0,
        run_id: &run_id,
        task_id: &task_id,
    };
    let carry = Carry {
        recovered: previous.recovered.clone(),
    };
    // Boxed: the run's state machine is large, and callers often await this
    // directly on a thread's stack (`examen_rt::run`).
    Ok(Box::pin(run_task(
        ids,
        Arc::new(task),
        model,
        &options,
        events,
        Some(carry),
    ))
    .await)
}

/// The ids of `samples` (the log's samples, in the order of its `sample_ids`) whose digest is
/// not the one the log recorded. A log without digests (written before examen recorded them)
/// has nothing to compare: none.
fn changed_samples<'a>(
    spec: &EvalSpec,
    ids: &'a [SampleId],
    samples: &[crate::sample::Sample],
) -> Vec<&'a SampleId> {
    const DIGEST: usize = 16;
    let Some(recorded) = spec
        .extra
        .get(super::log_dir::SAMPLE_DIGESTS)
        .and_then(JsonValue::as_str)
        .filter(|d| d.len() == ids.len() * DIGEST && d.is_ascii())
    else {
        return Vec::new();
    };
    ids.iter()
        .zip(samples)
        .enumerate()
        .filter(|(i, (_, sample))| {
            recorded.get(i * DIGEST..(i + 1) * DIGEST)
                != Some(crate::sample::digest(sample).as_str())
        })
        .map(|(_, (id, _))| id)
        .collect()
}

fn changed_message(changed: &[&SampleId], total: usize, task: &str) -> String {
    const SHOWN: usize = 10;
    let mut named: Vec<String> = changed
        .iter()
        .take(SHOWN)
        .map(|id| format!("`{id}`"))
        .collect();
    if changed.len() > SHOWN {
        named.push(format!("and {} more", changed.len() - SHOWN));
    }
    let (noun, verb) = if changed.len() == 1 {
        ("sample", "has")
    } else {
        ("samples", "have")
    };
    format!(
        "the dataset of task `{task}` changed since the eval ran: {noun} {} ({} of {total}) \
         {verb} a different input, target, choices or metadata, so a retry would mix answers to \
         the old samples with the new ones; expected the dataset the eval ran with (restore it, \
         or run `examen eval` afresh)",
        named.join(", "),
        changed.len()
    )
}

/// The samples of a previous log, to carry over into a run's new log.
pub(super) struct Carry {
    recovered: Arc<Recovered>,
}

/// Samples read from the previous log per blocking call.
const BATCH: usize = 64;

impl Carry {
    /// Writes every sample of the previous log that finished without error
    /// (and belongs to this run) to the run's log, counting it in the run's
    /// progress and results as if it had run. Returns the (position, epoch)
    /// units carried over. A sample that cannot be read runs again.
    pub(super) async fn carry_over(
        self,
        shared: &Arc<RunShared>,
        epochs: usize,
    ) -> Result<HashSet<(usize, usize)>, RunAbort> {
        let positions: HashMap<SampleId, usize> = shared
            .samples
            .iter()
            .enumerate()
            .filter_map(|(position, s)| Some((s.id.clone()?, position)))
            .collect();
        let mut carried = HashSet::new();
        let count = self.recovered.sample_count();
        let mut next = 0;
        while next < count {
            let (start, end) = (next, (next + BATCH).min(count));
            next = end;
            let recovered = self.recovered.clone();
            let batch: Vec<EvalSample> = examen_rt::to_thread(move || {
                (start..end)
                    .filter_map(|i| recovered.sample(i)?.ok())
                    .collect()
            })
            .await;
            for sample in batch {
                if sample.error.is_some() || sample.invalidation.is_some() {
                    continue;
                }
                let epoch = sample.epoch as usize;
                let Some(&position) = positions.get(&sample.id) else {
                    continue;
                };
                if epoch == 0 || epoch > epochs || !carried.insert((position, epoch)) {
                    continue;
                }
                let (completed, running) = record_progress(
                    shared,
                    position,
                    epoch,
                    sample.scores.as_ref(),
                    &sample.model_usage,
                    None,
                );
                let event = EvalEvent::SampleFinished {
                    run: shared.run,
                    sample_id: sample.id.clone(),
                    epoch,
                    scores: sample
                        .scores
                        .iter()
                        .flatten()
                        .map(|(name, score)| (name.clone(), score.value.clone()))
                        .collect(),
                    usage: sample.model_usage.values().cloned().sum::<ModelUsage>(),
                    error: None,
                    limit: sample.limit.as_ref().map(|l| l.kind.clone()),
                    completed,
                    running,
                };
                let slot = shared.finished.slot(completed);
                if let Some(sink) = &shared.sink {
                    sink.carry_over(sample)
                        .await
                        .map_err(|e| RunAbort::Log(e.to_string()))?;
                }
                slot.send(event).await;
            }
        }
        Ok(carried)
    }
}
