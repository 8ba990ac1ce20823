//! Re-scoring an existing eval log, examen's or Inspect's (Inspect's
//! `inspect score` and `score_async`): [`score_log`] streams the log's samples
//! one at a time from its reader, runs scorers over them (samples
//! concurrently, at most `max_samples` at once), writes every sample with its
//! new scores to a new log, and recomputes metrics and epoch reductions for
//! the scorers it ran.
//!
//! The semantics are Inspect's:
//!
//! - the scorers are the ones given, else the log's own, rebuilt through the
//!   [`registry`](crate::registry) with the arguments and metrics the log records;
//! - [`ScoreAction::Append`] keeps the log's scores, results and reductions
//!   and adds the new ones, a new score whose name is taken getting the next
//!   free one (`includes`, `includes1`, ...); [`ScoreAction::Overwrite`]
//!   replaces them;
//! - every sample is scored, errored ones included; `completed_samples`
//!   counts the samples without error; reductions use the log's epoch
//!   reducers;
//! - the new scores' events (spans, model calls, `score` events) go into the
//!   sample's `scorers` span (append) or replace it (overwrite);
//! - everything else is kept: ids, status, stats, error, plan, config.
//!
//! The new log is written to a hidden temporary file beside `dest` and
//! renamed over `dest` only once it is complete: on any failure (an
//! unreadable sample, a failing scorer, cancellation) nothing is left behind
//! and `dest`, which may be the source log itself, is untouched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use examen_log::events::{EventBase, SpanBeginEvent, SpanEndEvent};
use examen_log::{
    EvalLog, EvalSample, EvalSampleReductions, EvalScorer, EvalStatus, Event, LogFinish, LogFormat,
    LogReader, LogStart, LogWriter, WriterOptions,
};
use examen_model::{MockLlm, Model};
use examen_types::{GenerateConfig, JsonObject, JsonValue, ModelUsage, Score};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::{ModelSet, SampleContext};
use crate::metric::Metric;
use crate::registry::Registry;
use crate::runner::finished::FinishedEvents;
use crate::runner::log_dir::{OnFailure, WriterSink};
use crate::runner::results::{compute_results, metadata_subset, EvalResults, ScorerSlot};
use crate::runner::score_step::{
    max_samples, run_scorers, unique_scorer_name, usage_by_model, ScoreTally, ScorerFailure,
};
use crate::runner::EvalEvent;
use crate::sample::{Sample, SampleInput, Target};
use crate::scorer::DynScorer;
use crate::state::{Choices, TaskState};
use crate::transcript::Transcript;

/// What happens to the scores a log already has (Inspect's `--action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreAction {
    /// Keep them, and the log's results and reductions, and add the new ones.
    #[default]
    Append,
    /// Replace them with the new ones.
    Overwrite,
}

/// How to re-score a log.
#[derive(Debug, Clone, Default)]
pub struct ScoreOptions {
    /// The scorers to run; `None` runs the log's own again (rebuilt through
    /// the registry from what the log records).
    pub scorers: Option<Vec<Arc<dyn DynScorer>>>,
    /// Append to or overwrite the log's scores.
    pub action: ScoreAction,
    /// The new log's format (default: `dest`'s extension, else `.eval`).
    pub format: Option<LogFormat>,
    /// Samples scored at once (default: the model's `max_connections`, else 10).
    pub max_samples: Option<usize>,
    /// The model scorers call as the evaluated model (default: the log's
    /// model, built from its name, base URL and model arguments).
    pub model: Option<Model>,
    /// Model roles (e.g. `grader`), bound over the log's roles.
    pub model_roles: HashMap<String, Model>,
    /// How the log's models, and models named by scorers, are built. Its
    /// `base_url`, `api_key` and `args` apply to the log's model only.
    pub model_options: examen_model::ModelOptions,
    /// Stops the scoring when cancelled: nothing is written
    /// ([`ScoreError::Cancelled`]).
    pub cancel: Option<examen_rt::CancelToken>,
    /// Where the log's own scorers, metrics and reducers are rebuilt from
    /// (`None`: the built-in registry). A custom scorer registered in it
    /// can re-score a log it wrote.
    pub registry: Option<Arc<Registry>>,
}

/// A scored log.
#[derive(Debug, Clone)]
pub struct ScoreOutcome {
    /// Where the new log was written (`dest`).
    pub log_location: PathBuf,
    /// The task's name.
    pub task: String,
    /// The evaluated model's name, as the log records it.
    pub model: String,
    /// The log's status, kept as it was.
    pub status: EvalStatus,
    /// Samples (sample × epoch) scored.
    pub samples: usize,
    /// The names of the scores this pass added to each sample.
    pub scorers: Vec<String>,
    /// The metrics of the scorers run in this pass.
    pub results: EvalResults,
    /// Their reduced scores per sample.
    pub reductions: Vec<EvalSampleReductions>,
    /// The new log's results: the log's and this pass's (append), or this
    /// pass's (overwrite).
    pub log_results: EvalResults,
}

/// Why a log could not be scored. Messages name the log file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreError {
    /// The log, or one of its samples, cannot be read.
    #[error("{0}")]
    Read(String),
    /// The scoring cannot start: no scorer, or one the log records cannot be
    /// rebuilt, or an unknown reducer.
    #[error("{0}")]
    Setup(String),
    /// A scorer failed on a sample, or the metrics cannot be computed.
    #[error("{0}")]
    Scorer(String),
    /// The new log cannot be written.
    #[error("{0}")]
    Write(String),
    /// The log's eval has not finished (status `started`): it is still being
    /// written, or its eval was killed. Nothing is read further or written.
    #[error("{0}")]
    Unfinished(String),
    /// [`ScoreOptions::cancel`] was cancelled.
    #[error("scoring cancelled")]
    Cancelled,
}

/// Why a log with status `started` is not scored: rewriting a log that a running
/// eval is writing would destroy the samples it writes next, and a crashed log's
/// eval is completed by `eval-retry` (which scores it), not here.
fn unfinished(src: &Path, samples: usize) -> String {
    let path = src.display();
    if examen_log::is_being_written(src) {
        format!(
            "{path}: the log is still being written by a running eval (status `started`, \
             {samples} samples so far); score it once that eval has finished"
        )
    } else {
        format!(
            "{path}: the log's eval did not finish (status `started`, and no eval is writing \
             it: it was killed or crashed) and holds {samples} samples; complete it with \
             `examen eval-retry {path}`, which scores it, then score the new log"
        )
    }
}

/// A scorer to run, with the name its scores get and its metrics.
struct Planned {
    scorer: Arc<dyn DynScorer>,
    name: String,
    metrics: Vec<Arc<dyn Metric>>,
}

/// What every sample's scoring shares.
struct Scoring {
    src: PathBuf,
    planned: Vec<Planned>,
    action: ScoreAction,
    models: Arc<ModelSet>,
    config: GenerateConfig,
    model_name: String,
}

/// A sample scored, on its way to the writer.
struct Scored {
    position: usize,
    sample: EvalSample,
    new_scores: IndexMap<String, Score>,
    usage: ModelUsage,
}

/// Scores the samples of the log at `src` and writes the log with their new
/// scores to `dest` (which may be `src`: it is replaced once the new log is
/// complete). Reports progress on `events` as one run (`run` 0):
/// `TaskStarted`, a `SampleFinished` per sample written (with its new
/// scores), and `TaskFinished` with the new log's results.
///
/// Samples are read one at a time and at most about `4 × max_samples` are
/// held at once (read ahead, being scored, queued for the writer, being
/// written), so memory does not grow with the log: besides them only each
/// sample's id, new score values and the metadata its metrics read are kept.
///
/// # Cancel safety
///
/// Cancel [`ScoreOptions::cancel`] to stop: the temporary file is removed and
/// `dest` is untouched. Dropping the future also removes the temporary file,
/// but a write already handed to a blocking thread may finish after it.
///
/// # Panics
///
/// Outside an `examen_rt` runtime.
#[allow(clippy::too_many_lines)]
pub async fn score_log(
    src: &Path,
    dest: &Path,
    options: ScoreOptions,
    events: Option<examen_rt::Sender<EvalEvent>>,
) -> Result<ScoreOutcome, ScoreError> {
    let cancel = options.cancel.clone().unwrap_or_default();
    let path = src.to_path_buf();
    let reader = examen_rt::to_thread(move || {
        LogReader::open(&path).map_err(|e| {
            // A writer killed mid-flush leaves an `.eval` without its directory: still
            // a log that did not finish, which is the thing to say.
            match examen_log::recover(&path) {
                Ok(recovered) if !recovered.finished => ScoreError::Unfinished(format!(
                    "{} (reading it as it is: {e})",
                    unfinished(&path, recovered.sample_count())
                )),
                // examen-log's errors name the file and what was expected.
                _ => ScoreError::Read(e.to_string()),
            }
        })
    })
    .await?;
    let header = reader.header().clone();
    let count = reader.sample_count();
    if header.status == EvalStatus::Started {
        return Err(ScoreError::Unfinished(unfinished(src, count)));
    }
    if count == 0 {
        return Err(ScoreError::Read(format!(
            "{}: the log holds no samples to score",
            src.display()
        )));
    }
    let registry = options
        .registry
        .clone()
        .unwrap_or_else(|| Arc::new(Registry::builtin()));
    let planned = plan_scorers(
        src,
        &header,
        options.scorers.clone(),
        options.action,
        &registry,
    )?;
    let mut reducers = Vec::new();
    for name in header.eval.config.epochs_reducer.iter().flatten() {
        reducers.push(
            registry.build_reducer(bare_name(name)).map_err(|e| {
                ScoreError::Setup(format!("{}: epochs_reducer: {e}", src.display()))
            })?,
        );
    }
    let (models, config) = model_set(&header, &options);
    let max_samples = max_samples(options.max_samples, &config, &models.model);
    let format = options
        .format
        .or_else(|| LogFormat::from_path(dest))
        .unwrap_or_default();

    let mut eval = header.eval.clone();
    let applied = planned.iter().map(eval_scorer);
    let keep_old = options.action == ScoreAction::Append && header.results.is_some();
    eval.scorers = Some(if keep_old {
        eval.scorers
            .take()
            .unwrap_or_default()
            .into_iter()
            .chain(applied)
            .collect()
    } else {
        applied.collect()
    });
    let start = LogStart {
        version: header.version,
        eval,
        plan: header.plan.clone(),
    };
    let temp = TempLog::beside(dest, format);
    let temp_path = temp.path.clone();
    let writer = examen_rt::to_thread(move || {
        LogWriter::create_at(&temp_path, format, start, WriterOptions::default())
    })
    .await
    .map_err(|e| ScoreError::Write(temp.rename_in(&e.to_string())))?;

    let mut metadata_keys: Vec<String> = planned
        .iter()
        .flat_map(|p| p.metrics.iter().flat_map(|m| m.metadata_keys()))
        .collect();
    metadata_keys.sort();
    metadata_keys.dedup();
    let slots: Vec<ScorerSlot> = planned
        .iter()
        .map(|p| ScorerSlot {
            name: p.name.clone(),
            scorer: p.scorer.name().to_string(),
            params: p.scorer.params(),
            metrics: p.metrics.clone(),
        })
        .collect();
    let first_score = planned.first().map(|p| p.name.clone());
    let new_names: Vec<String> = planned.iter().map(|p| p.name.clone()).collect();
    let epochs = header.eval.config.epochs.map_or(1, |e| e.max(1) as usize);
    emit(
        events.as_ref(),
        EvalEvent::TaskStarted {
            run: 0,
            task: header.eval.task.clone(),
            model: header.eval.model.clone(),
            total: count,
            samples: header
                .eval
                .dataset
                .samples
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(count / epochs),
            epochs,
        },
    )
    .await;

    let scoring = Arc::new(Scoring {
        src: src.to_path_buf(),
        planned,
        action: options.action,
        models: Arc::new(models),
        config,
        model_name: header.eval.model.clone(),
    });
    let (sample_tx, sample_rx) = examen_rt::channel::<(usize, EvalSample)>(max_samples);
    // The eval's writer task: samples are serialized on their own tasks and
    // written in batches by one writer. It is not a child of the group: a write
    // must not be abandoned half-way on a blocking thread.
    let sink = Arc::new(WriterSink::start(
        writer,
        WriterOptions::default().flush_interval,
        OnFailure::Discard,
    ));
    let written = Arc::new(Mutex::new(Written {
        tally: ScoreTally::new(count, first_score),
        samples: Vec::new(),
    }));
    let context = Arc::new(WriterContext {
        metadata_keys: metadata_keys.clone(),
        finished: FinishedEvents::new(events.clone()),
        temp: temp.path.clone(),
        dest: dest.to_path_buf(),
    });

    let mut group = examen_rt::TaskGroup::new();
    let reader_cancel = cancel.clone();
    group.spawn(move || async move {
        examen_rt::to_thread(move || read_samples(&reader, &sample_tx, &reader_cancel)).await
    });
    let scorer_cancel = cancel.clone();
    let (scorer_sink, scorer_written) = (sink.clone(), written.clone());
    group.spawn(move || async move {
        let funcs = (0..count).map(move |_| {
            let (samples, scoring, cancel) =
                (sample_rx.clone(), scoring.clone(), scorer_cancel.clone());
            let (sink, written, context) =
                (scorer_sink.clone(), scorer_written.clone(), context.clone());
            move || async move {
                if cancel.is_cancelled() {
                    return Err(ScoreError::Cancelled);
                }
                let work = async {
                    let Some((position, sample)) = samples.recv().await else {
                        // The reader stopped early; it reports why.
                        return Ok(());
                    };
                    let done = score_sample(&scoring, position, sample).await?;
                    write_scored(&sink, &written, &context, done).await
                };
                cancel
                    .run_until_cancelled(work)
                    .await
                    .unwrap_or(Err(ScoreError::Cancelled))
            }
        });
        examen_rt::collect_limited(max_samples, funcs)
            .await
            .map(drop)
    });
    let scored = group.join().await;
    // Whatever happened, the writer finishes what it was given before the
    // temporary file is removed.
    let closed = sink.close().await;
    if let Err(errors) = scored {
        let first = errors.into_first();
        return Err(if cancel.is_cancelled() {
            ScoreError::Cancelled
        } else {
            first
        });
    }
    let writer = closed.map_err(|e| ScoreError::Write(temp.rename_in(&e.message)))?;
    let written = std::mem::take(&mut *written.lock().unwrap_or_else(|e| e.into_inner()));
    if cancel.is_cancelled() {
        return Err(ScoreError::Cancelled);
    }

    let samples: Vec<Sample> = written
        .samples
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Sample::new("", "")))
        .collect();
    let (results, reductions) = compute_results(
        written.tally.store,
        &slots,
        &reducers,
        count,
        &samples,
        &metadata_keys,
    )
    .map_err(|e| {
        ScoreError::Scorer(format!(
            "{}: cannot compute the metrics: {e}",
            src.display()
        ))
    })?;
    let mut new_results = results.clone();
    let new_reductions = reductions.clone();
    let (log_results, log_reductions) = match (options.action, header.results.clone()) {
        (ScoreAction::Append, Some(mut old)) => {
            old.scores.extend(new_results.scores);
            let mut all = header.reductions.clone().unwrap_or_default();
            all.extend(new_reductions);
            (old, all)
        }
        (_, old) => {
            // What describes the original run (early stopping, ...) stays.
            if let Some(old) = old {
                new_results.metadata = old.metadata;
                new_results.extra = old.extra;
            }
            (new_results, new_reductions)
        }
    };
    let new_log_results = log_results.clone();
    let finish = LogFinish {
        status: header.status,
        results: Some(log_results),
        stats: header.stats.clone(),
        error: header.error.clone(),
        reductions: (!log_reductions.is_empty()).then_some(log_reductions),
        invalidated: header.invalidated,
    };
    let (temp_path, dest_path) = (temp.path.clone(), dest.to_path_buf());
    examen_rt::to_thread(move || -> Result<(), String> {
        writer.finish(&finish).map_err(|e| e.to_string())?;
        std::fs::rename(&temp_path, &dest_path)
            .map_err(|e| format!("{}: cannot write the scored log: {e}", dest_path.display()))
    })
    .await
    .map_err(|e| ScoreError::Write(temp.rename_in(&e)))?;
    temp.keep();

    emit(
        events.as_ref(),
        EvalEvent::TaskFinished {
            run: 0,
            status: header.status,
            results: Some(new_log_results.clone()),
            error: None,
            log_location: Some(dest.display().to_string()),
        },
    )
    .await;
    Ok(ScoreOutcome {
        log_location: dest.to_path_buf(),
        task: header.eval.task.clone(),
        model: header.eval.model.clone(),
        status: header.status,
        samples: count,
        scorers: new_names,
        results,
        reductions,
        log_results: new_log_results,
    })
}

async fn emit(events: Option<&examen_rt::Sender<EvalEvent>>, event: EvalEvent) {
    if let Some(events) = events {
        // A display that went away does not stop the scoring.
        let _ = events.send(event).await;
    }
}

/// Inspect records its built-ins with a package prefix (`inspect_ai/accuracy`).
fn bare_name(name: &str) -> &str {
    name.strip_prefix("inspect_ai/").unwrap_or(name)
}

fn plan_scorers(
    src: &Path,
    header: &EvalLog,
    explicit: Option<Vec<Arc<dyn DynScorer>>>,
    action: ScoreAction,
    registry: &Registry,
) -> Result<Vec<Planned>, ScoreError> {
    let chosen = match explicit {
        Some(scorers) => scorers
            .into_iter()
            .map(|scorer| {
                let metrics = scorer.metrics();
                (scorer, metrics)
            })
            .collect(),
        None => log_scorers(src, header, registry)?,
    };
    if chosen.is_empty() {
        return Err(ScoreError::Setup(format!(
            "{}: no scorer to run: the log records none, so name the scorers to run",
            src.display()
        )));
    }
    let mut used: Vec<String> = match action {
        ScoreAction::Append => header
            .results
            .iter()
            .flat_map(|r| r.scores.iter().map(|s| s.name.clone()))
            .chain(header.eval.scorers.iter().flatten().map(|s| s.name.clone()))
            .collect(),
        ScoreAction::Overwrite => Vec::new(),
    };
    Ok(chosen
        .into_iter()
        .map(|(scorer, metrics)| {
            let name = unique_scorer_name(scorer.name(), &used);
            used.push(name.clone());
            Planned {
                scorer,
                name,
                metrics,
            }
        })
        .collect())
}

/// A scorer and the metrics computed over its scores.
type WithMetrics = (Arc<dyn DynScorer>, Vec<Arc<dyn Metric>>);

/// A scorer as the log records it.
struct Recorded {
    /// The name its scores have.
    score_name: String,
    /// Names to try in the registry, in order.
    candidates: Vec<String>,
    options: JsonObject,
    metrics: Option<JsonValue>,
}

/// The log's scorers, rebuilt: from `eval.scorers`, else (an older log) from
/// the scorers its results name.
fn log_scorers(
    src: &Path,
    header: &EvalLog,
    registry: &Registry,
) -> Result<Vec<WithMetrics>, ScoreError> {
    let result_scores = || header.results.iter().flat_map(|r| r.scores.iter());
    let recorded: Vec<Recorded> = match &header.eval.scorers {
        Some(scorers) if !scorers.is_empty() => scorers
            .iter()
            .map(|s| {
                // examen records each scorer under its score name (`match1`
                // for a second `match`); the results name the scorer.
                let mut candidates = vec![s.name.clone()];
                candidates.extend(
                    result_scores()
                        .find(|r| r.name == s.name)
                        .map(|r| r.scorer.clone()),
                );
                Recorded {
                    score_name: s.name.clone(),
                    candidates,
                    options: s.options.clone().unwrap_or_default(),
                    metrics: s.metrics.clone(),
                }
            })
            .collect(),
        _ => {
            let mut seen: Vec<&str> = Vec::new();
            result_scores()
                .filter(|r| {
                    let new = !seen.contains(&r.name.as_str());
                    seen.push(&r.name);
                    new
                })
                .map(|r| Recorded {
                    score_name: r.name.clone(),
                    candidates: vec![r.scorer.clone(), r.name.clone()],
                    options: r.params.clone(),
                    metrics: None,
                })
                .collect()
        }
    };
    recorded
        .into_iter()
        .map(|r| {
            let options = yaml_args(&r.options);
            let mut first_error = None;
            let mut built = None;
            for candidate in &r.candidates {
                match registry.build_scorer(bare_name(candidate), options.as_ref()) {
                    Ok(scorer) => {
                        built = Some(scorer);
                        break;
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            let scorer = built.ok_or_else(|| {
                ScoreError::Setup(format!(
                    "{}: cannot rebuild the log's scorer `{}`: {}",
                    src.display(),
                    r.score_name,
                    first_error.unwrap_or_default()
                ))
            })?;
            let metrics = match &r.metrics {
                Some(definitions) => {
                    log_metrics(src, header, &r.score_name, definitions, registry)?
                }
                None => scorer.metrics(),
            };
            Ok((scorer, metrics))
        })
        .collect()
}

/// A scorer's metrics from the log's definitions (`[{name, options}]`).
/// Where a log records no options (examen's before it recorded them), those
/// of a metric are taken from the values it produced (`grouped` records its
/// `metric` and `group_key`).
fn log_metrics(
    src: &Path,
    header: &EvalLog,
    score_name: &str,
    definitions: &JsonValue,
    registry: &Registry,
) -> Result<Vec<Arc<dyn Metric>>, ScoreError> {
    let invalid = |what: String| {
        ScoreError::Setup(format!(
            "{}: the metrics of scorer `{score_name}`: {what}",
            src.display()
        ))
    };
    let JsonValue::Array(items) = definitions else {
        return Err(invalid(format!(
            "expected a list of {{name, options}}, got {definitions}"
        )));
    };
    items
        .iter()
        .map(|item| {
            let name = item
                .get("name")
                .and_then(JsonValue::as_str)
                .ok_or_else(|| invalid(format!("expected {{name, options}}, got {item}")))?;
            let name = bare_name(name);
            let mut options = item
                .get("options")
                .and_then(JsonValue::as_object)
                .cloned()
                .unwrap_or_default();
            options.retain(|_, v| !v.is_null());
            if options.is_empty() {
                options = header
                    .results
                    .iter()
                    .flat_map(|r| r.scores.iter())
                    .filter(|s| s.name == score_name)
                    .flat_map(|s| s.metrics.values())
                    .find(|m| m.group.as_deref().unwrap_or(&m.name) == name)
                    .map(|m| m.params.clone())
                    .unwrap_or_default();
            }
            registry
                .build_metric(name, yaml_args(&options).as_ref())
                .map_err(invalid)
        })
        .collect()
}

/// Recorded arguments as the registry's YAML (absent ones dropped: Inspect
/// records defaults of `None` as `null`).
fn yaml_args(options: &JsonObject) -> Option<serde_norway::Value> {
    let present: JsonObject = options
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if present.is_empty() {
        return None;
    }
    serde_norway::to_value(JsonValue::Object(present)).ok()
}

/// A scorer as the new log's `eval.scorers` records it (under its score
/// name, as examen's runner does).
fn eval_scorer(planned: &Planned) -> EvalScorer {
    EvalScorer {
        name: planned.name.clone(),
        options: Some(planned.scorer.params()),
        metrics: Some(JsonValue::Array(
            planned
                .metrics
                .iter()
                .map(|m| serde_json::json!({"name": m.name(), "options": m.params()}))
                .collect(),
        )),
        metadata: None,
    }
}

/// The models scorers may call: the log's model and roles (or the ones
/// given). One that cannot be built (no API key here, say) fails only the
/// scorers that call it.
fn model_set(header: &EvalLog, options: &ScoreOptions) -> (ModelSet, GenerateConfig) {
    let spec = &header.eval;
    let config = header.plan.config.merge(&spec.model_generate_config);
    let mut unavailable = Vec::new();
    let model = match &options.model {
        Some(model) => model.clone(),
        None => {
            let mut model_options = options.model_options.clone();
            if model_options.base_url.is_none() {
                model_options.base_url.clone_from(&spec.model_base_url);
            }
            for (key, value) in &spec.model_args {
                model_options
                    .args
                    .entry(key.clone())
                    .or_insert_with(|| json_text(value));
            }
            model_options.config = config.merge(&model_options.config);
            match examen_model::get_model(&spec.model, model_options) {
                Ok(model) => model,
                Err(e) => {
                    unavailable.push((
                        None,
                        format!("cannot use the log's model `{}`: {e}", spec.model),
                    ));
                    // A stand-in, never called: calls fail with the reason.
                    Model::from_mock(MockLlm::new())
                }
            }
        }
    };
    // The base URL and provider arguments given are the log's model's: roles and
    // models named by scorers may be other providers.
    let other_models = examen_model::ModelOptions {
        base_url: None,
        api_key: None,
        args: Default::default(),
        ..options.model_options.clone()
    };
    let mut roles = HashMap::new();
    for (role, binding) in spec.model_roles.iter().flatten() {
        if options.model_roles.contains_key(role) {
            continue;
        }
        let name = match binding {
            JsonValue::String(name) => Some(name.as_str()),
            other => other.get("model").and_then(JsonValue::as_str),
        };
        let Some(name) = name else { continue };
        match examen_model::get_model(name, other_models.clone()) {
            Ok(model) => {
                roles.insert(role.clone(), model);
            }
            Err(e) => unavailable.push((
                Some(role.clone()),
                format!("cannot use the log's model `{name}` for role `{role}`: {e}"),
            )),
        }
    }
    roles.extend(options.model_roles.clone());
    let mut models = ModelSet::new(model, roles, other_models);
    for (role, reason) in unavailable {
        models.set_unavailable(role, reason);
    }
    (models, config)
}

fn json_text(value: &JsonValue) -> String {
    match value {
        JsonValue::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads the samples in the log's order (by epoch, then id), numbering each
/// distinct sample id by first appearance, and hands them to the scorers.
/// Runs on a blocking thread: the reader is synchronous.
fn read_samples(
    reader: &LogReader,
    samples: &examen_rt::Sender<(usize, EvalSample)>,
    cancel: &examen_rt::CancelToken,
) -> Result<(), ScoreError> {
    let mut positions: HashMap<examen_log::SampleId, usize> = HashMap::new();
    for sample in reader.samples() {
        if cancel.is_cancelled() {
            return Err(ScoreError::Cancelled);
        }
        let sample = sample.map_err(|e| ScoreError::Read(e.to_string()))?;
        let next = positions.len();
        let position = *positions.entry(sample.id.clone()).or_insert(next);
        if samples.send_blocking((position, sample)).is_err() {
            // The scorers stopped; they report why.
            return Ok(());
        }
    }
    Ok(())
}

/// The state a sample finished in, as its scorers see it (Inspect's
/// `task_state_from_sample`), with `attachment://` references resolved.
fn task_state(sample: &EvalSample, model: &str) -> TaskState {
    let mut state = TaskState {
        model: model.to_string(),
        sample_id: sample.id.clone(),
        epoch: sample.epoch as usize,
        input: sample.input.clone(),
        messages: sample.messages.clone(),
        output: sample.output.clone(),
        target: sample.target.clone(),
        choices: sample
            .choices
            .as_ref()
            .map(Choices::new)
            .unwrap_or_default(),
        metadata: sample.metadata.clone(),
        store: sample.store.clone(),
        completed: true,
        message_limit: None,
        token_limit: None,
        token_usage: sample.model_usage.values().cloned().sum(),
        tools: Vec::new(),
        tool_choice: examen_types::ToolChoice::Auto,
    };
    if !sample.attachments.is_empty() {
        let resolve = |value: &mut JsonValue| resolve_attachments(value, &sample.attachments);
        resolve_field(&mut state.input, resolve);
        resolve_field(&mut state.messages, resolve);
        resolve_field(&mut state.output, resolve);
        resolve_field(&mut state.metadata, resolve);
        resolve_field(&mut state.store, resolve);
    }
    state
}

fn resolve_field<T: Serialize + DeserializeOwned>(field: &mut T, resolve: impl Fn(&mut JsonValue)) {
    if let Ok(mut value) = serde_json::to_value(&*field) {
        resolve(&mut value);
        if let Ok(resolved) = serde_json::from_value(value) {
            *field = resolved;
        }
    }
}

fn resolve_attachments(value: &mut JsonValue, attachments: &IndexMap<String, String>) {
    match value {
        JsonValue::String(text) => {
            if let Some(content) = text
                .strip_prefix("attachment://")
                .and_then(|hash| attachments.get(hash))
            {
                *text = content.clone();
            }
        }
        JsonValue::Array(items) => items
            .iter_mut()
            .for_each(|v| resolve_attachments(v, attachments)),
        JsonValue::Object(map) => map
            .values_mut()
            .for_each(|v| resolve_attachments(v, attachments)),
        _ => {}
    }
}

/// Runs every scorer over one sample (in order, as Inspect does, so the
/// transcript reads in order) and updates the sample's scores and events.
async fn score_sample(
    scoring: &Scoring,
    position: usize,
    mut sample: EvalSample,
) -> Result<Scored, ScoreError> {
    let state = task_state(&sample, &scoring.model_name);
    let working_start = sample.working_time.unwrap_or(0.0);
    let transcript = Arc::new(Mutex::new(Transcript::resumed(
        std::time::Duration::try_from_secs_f64(working_start).unwrap_or_default(),
    )));
    let generate = SampleContext {
        models: scoring.models.clone(),
        config: scoring.config.clone(),
        transcript: transcript.clone(),
        limits: None,
        scorers: None,
        tools: crate::tool::ToolContext::default(),
    };
    let named: Vec<(&Arc<dyn DynScorer>, &str)> = scoring
        .planned
        .iter()
        .map(|p| (&p.scorer, p.name.as_str()))
        .collect();
    let recorded_usage = &sample.model_usage;
    let new_scores = run_scorers(named, &state, &generate, Some(recorded_usage))
        .await
        .map_err(|ScorerFailure { name, error }| {
            ScoreError::Scorer(format!(
                "{}: sample {} (epoch {}): scorer `{name}` failed: {error}",
                scoring.src.display(),
                sample.id,
                sample.epoch,
            ))
        })?;
    drop(generate);
    let events = std::mem::take(&mut transcript.lock().unwrap_or_else(|e| e.into_inner()).events);
    let usage: ModelUsage = usage_by_model(&events).into_values().sum();
    sample.scores = Some(match scoring.action {
        ScoreAction::Overwrite => new_scores.clone(),
        ScoreAction::Append => {
            let mut all = sample.scores.take().unwrap_or_default();
            for (name, score) in &new_scores {
                // Inspect's `_get_updated_scores`: a name this sample already
                // has (an older log's oddity) is made unique.
                let mut key = name.clone();
                let mut n = 0;
                while all.contains_key(&key) {
                    n += 1;
                    key = format!("{name}-{n}");
                }
                all.insert(key, score.clone());
            }
            all
        }
    });
    splice_events(&mut sample.events, events, scoring.action, working_start);
    Ok(Scored {
        position,
        sample,
        new_scores,
        usage,
    })
}

fn base_mut(event: &mut Event) -> Option<&mut EventBase> {
    Some(match event {
        Event::SpanBegin(e) => &mut e.base,
        Event::SpanEnd(e) => &mut e.base,
        Event::SampleInit(e) => &mut e.base,
        Event::Model(e) => &mut e.base,
        Event::Tool(e) => &mut e.base,
        Event::Score(e) => &mut e.base,
        Event::Error(e) => &mut e.base,
        Event::SampleLimit(e) => &mut e.base,
        Event::Logger(e) => &mut e.base,
        Event::Sandbox(e) => &mut e.base,
        Event::Other(_) => return None,
    })
}

/// Puts the new scorer spans (`new`, top-level) into the sample's events as
/// Inspect's `_get_updated_events` does: into the last `scorers` span
/// (append), in place of it (overwrite), or in a new `scorers` span at the
/// end when the sample has none (it errored before scoring).
fn splice_events(events: &mut Vec<Event>, mut new: Vec<Event>, action: ScoreAction, at: f64) {
    let found = events.iter().rposition(|e| {
        matches!(e, Event::SpanBegin(b) if b.kind.as_deref() == Some("scorers") && b.name == "scorers")
    });
    let Some(begin) = found else {
        events.extend(scorers_span(new, None, None, at));
        return;
    };
    let Event::SpanBegin(span) = &events[begin] else {
        return;
    };
    let (id, parent_id, parent_span) = (
        span.id.clone(),
        span.parent_id.clone(),
        span.base.span_id.clone(),
    );
    let end = events[begin + 1..]
        .iter()
        .position(|e| matches!(e, Event::SpanEnd(end) if end.id == id))
        .map(|offset| begin + 1 + offset);
    match action {
        ScoreAction::Append => {
            adopt(&mut new, &id);
            let at = end.unwrap_or(events.len());
            events.splice(at..at, new);
        }
        ScoreAction::Overwrite => {
            let stop = end.map_or(events.len(), |end| end + 1);
            events.splice(begin..stop, scorers_span(new, parent_id, parent_span, at));
        }
    }
}

/// Makes the top-level events of `new` children of span `id`.
fn adopt(new: &mut [Event], id: &str) {
    for event in new.iter_mut() {
        if let Event::SpanBegin(begin) = event {
            begin.parent_id.get_or_insert_with(|| id.to_string());
        }
        if let Some(base) = base_mut(event) {
            base.span_id.get_or_insert_with(|| id.to_string());
        }
    }
}

fn scorers_span(
    mut children: Vec<Event>,
    parent_id: Option<String>,
    parent_span: Option<String>,
    at: f64,
) -> Vec<Event> {
    let id = examen_types::short_uuid();
    adopt(&mut children, &id);
    let mut events = Vec::with_capacity(children.len() + 2);
    events.push(Event::SpanBegin(SpanBeginEvent {
        base: EventBase::new(parent_span, at),
        id: id.clone(),
        parent_id,
        kind: Some("scorers".into()),
        name: "scorers".into(),
    }));
    events.extend(children);
    events.push(Event::SpanEnd(SpanEndEvent {
        base: EventBase::new(Some(id.clone()), at),
        id,
    }));
    events
}

/// What the scored samples leave for the results.
#[derive(Default)]
struct Written {
    tally: ScoreTally,
    /// Per position: the sample's id and the metadata metrics read.
    samples: Vec<Option<Sample>>,
}

struct WriterContext {
    metadata_keys: Vec<String>,
    /// `SampleFinished` events, in the order of their progress counts.
    finished: FinishedEvents,
    temp: PathBuf,
    dest: PathBuf,
}

/// Counts a scored sample for the results and the progress, hands it to the
/// writer and reports it.
async fn write_scored(
    sink: &WriterSink,
    written: &Mutex<Written>,
    context: &WriterContext,
    item: Scored,
) -> Result<(), ScoreError> {
    let epoch = item.sample.epoch as usize;
    let (completed, running) = {
        let mut state = written.lock().unwrap_or_else(|e| e.into_inner());
        if state.samples.len() <= item.position {
            state.samples.resize(item.position + 1, None);
        }
        if state.samples[item.position].is_none() {
            let mut sample = Sample::new(SampleInput::Text(String::new()), Target::default());
            sample.id = Some(item.sample.id.clone());
            sample.metadata = metadata_subset(Some(&item.sample.metadata), &context.metadata_keys);
            state.samples[item.position] = Some(sample);
        }
        state.tally.record(
            item.position,
            epoch,
            Some(&item.new_scores),
            item.sample.error.is_none(),
        )
    };
    let sample_id = item.sample.id.clone();
    let slot = context.finished.slot(completed);
    sink.write(item.sample).await.map_err(|e| {
        ScoreError::Write(e.message.replace(
            &context.temp.display().to_string(),
            &context.dest.display().to_string(),
        ))
    })?;
    slot.send(EvalEvent::SampleFinished {
        run: 0,
        sample_id,
        epoch,
        scores: item
            .new_scores
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        usage: item.usage,
        error: None,
        limit: None,
        completed,
        running,
    })
    .await;
    Ok(())
}

/// The new log while it is written: a hidden file beside `dest`, removed
/// (with a `.json` writer's side files) unless [`keep`](Self::keep) is called.
struct TempLog {
    path: PathBuf,
    dest: PathBuf,
    armed: bool,
}

impl TempLog {
    fn beside(dest: &Path, format: LogFormat) -> TempLog {
        let stem = dest
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!(
            ".{stem}.{}.scoring.{}",
            &examen_types::short_uuid()[..8],
            format.extension()
        );
        TempLog {
            path: dest.with_file_name(name),
            dest: dest.to_path_buf(),
            armed: true,
        }
    }

    /// `message` naming `dest` rather than the temporary file.
    fn rename_in(&self, message: &str) -> String {
        message.replace(
            &self.path.display().to_string(),
            &self.dest.display().to_string(),
        )
    }

    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempLog {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut side = self.path.clone().into_os_string();
        side.push(".samples.partial");
        for path in [
            self.path.clone(),
            PathBuf::from(side),
            self.path.with_extension("json.tmp"),
        ] {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use examen_log::events::ScoreEvent;
    use examen_log::{read_log, ReadOptions};
    use examen_model::{Env, ModelOptions};
    use examen_types::{ChatMessage, ModelOutput, Value};

    use super::*;
    use crate::context::SampleError;
    use crate::dataset::Dataset;
    use crate::metric::{Accuracy, Grouped, Stderr};
    use crate::reducer::Reducer;
    use crate::runner::LogDir;
    use crate::Scorer;
    use crate::{scorer, solver, EvalOptions, Task};

    /// Four samples; mockllm answers `Default output from mockllm/model`, so
    /// `match` (at the end) scores them I C I I and `includes` C C I C.
    fn dataset() -> Dataset {
        let samples = [
            ("output", "a"),
            ("model", "a"),
            ("42", "b"),
            ("mockllm", "b"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (target, level))| {
            let mut metadata = JsonObject::new();
            metadata.insert("level".into(), JsonValue::from(*level));
            Sample::new(format!("question {}", i + 1), *target)
                .with_id(i as i64 + 1)
                .with_metadata(metadata)
        })
        .collect();
        Dataset::from_samples(samples).unwrap()
    }

    fn match_task() -> Task {
        Task::new("rescore", dataset())
            .solver(solver::generate())
            .scorer(scorer::match_())
            .epochs(2, Vec::new())
    }

    /// Runs `task` on `model`, logging into `dir`; returns the log's path.
    async fn eval_log(dir: &Path, task: Task, model: Model, format: LogFormat) -> PathBuf {
        let options = EvalOptions {
            logger: Some(Arc::new(LogDir::new(dir, format))),
            ..EvalOptions::default()
        };
        // Boxed: the eval's future is too large for a test thread's stack
        // in debug builds.
        let outcomes = Box::pin(crate::eval(vec![task], vec![model], options, None))
            .await
            .unwrap();
        PathBuf::from(outcomes[0].log_location.clone().unwrap())
    }

    /// [`score_log`], boxed (see `eval_log`).
    async fn rescore(
        src: &Path,
        dest: &Path,
        options: ScoreOptions,
        events: Option<examen_rt::Sender<EvalEvent>>,
    ) -> Result<ScoreOutcome, ScoreError> {
        Box::pin(score_log(src, dest, options, events)).await
    }

    fn mock() -> Model {
        Model::from_mock(MockLlm::new())
    }

    fn read(path: &Path) -> EvalLog {
        read_log(path, ReadOptions::default()).unwrap()
    }

    fn metric(log: &EvalLog, score: &str, reducer: Option<&str>, name: &str) -> f64 {
        let results = log.results.as_ref().unwrap();
        let score = results
            .scores
            .iter()
            .find(|s| s.name == score && s.reducer.as_deref() == reducer)
            .unwrap_or_else(|| panic!("no score {score} / {reducer:?}"));
        score.metrics[name].value
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn span_begin<'a>(events: &'a [Event], name: &str) -> Vec<(usize, &'a SpanBeginEvent)> {
        events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Event::SpanBegin(b) if b.name == name => Some((i, b)),
                _ => None,
            })
            .collect()
    }

    fn span_end(events: &[Event], id: &str) -> usize {
        events
            .iter()
            .position(|e| matches!(e, Event::SpanEnd(end) if end.id == id))
            .unwrap()
    }

    fn score_events<'a>(events: &'a [Event], scorer: &str) -> Vec<&'a ScoreEvent> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Score(s) if s.scorer.as_deref() == Some(scorer) => Some(s.as_ref()),
                _ => None,
            })
            .collect()
    }

    #[examen_rt::test]
    async fn append_keeps_the_logs_scores_and_adds_the_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let src = eval_log(dir.path(), match_task(), mock(), LogFormat::Eval).await;
        let dest = dir.path().join("scored.eval");
        let options = ScoreOptions {
            scorers: Some(vec![scorer::includes()]),
            ..ScoreOptions::default()
        };
        let outcome = rescore(&src, &dest, options, None).await.unwrap();
        assert_eq!(outcome.scorers, ["includes"]);
        assert_eq!(outcome.samples, 8);
        assert_eq!(outcome.log_location, dest);

        let before = read(&src);
        let after = read(&dest);
        // The source is untouched; the new log keeps its identity and status.
        assert_eq!(before.results.as_ref().unwrap().scores.len(), 1);
        assert_eq!(after.eval.eval_id, before.eval.eval_id);
        assert_eq!(after.status, EvalStatus::Success);
        let names: Vec<&str> = after
            .results
            .as_ref()
            .unwrap()
            .scores
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["match", "includes"]);
        let recorded: Vec<&str> = after
            .eval
            .scorers
            .iter()
            .flatten()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(recorded, ["match", "includes"]);
        // match: I C I I → 0.25; includes: C C I C → 0.75; both have a sample
        // variance of 0.25 over 4 samples, so stderr sqrt(0.25 / 4) = 0.25.
        assert_eq!(metric(&after, "match", None, "accuracy"), 0.25);
        assert_eq!(metric(&after, "includes", None, "accuracy"), 0.75);
        assert!((metric(&after, "includes", None, "stderr") - 0.25).abs() < 1e-12);
        let results = after.results.as_ref().unwrap();
        assert_eq!((results.total_samples, results.completed_samples), (8, 8));
        let includes = &results.scores[1];
        assert_eq!(
            (includes.scored_samples, includes.unscored_samples),
            (Some(4), Some(0))
        );

        let reductions = after.reductions.as_ref().unwrap();
        let reduced: Vec<&str> = reductions.iter().map(|r| r.scorer.as_str()).collect();
        assert_eq!(reduced, ["match", "includes"]);
        let values: Vec<f64> = reductions[1]
            .samples
            .iter()
            .map(|s| s.score.value.to_float())
            .collect();
        assert_eq!(values, [1.0, 1.0, 0.0, 1.0]);

        let samples = after.samples.as_ref().unwrap();
        assert_eq!(samples.len(), 8);
        for sample in samples {
            let scores = sample.scores.as_ref().unwrap();
            let keys: Vec<&str> = scores.keys().map(String::as_str).collect();
            assert_eq!(keys, ["match", "includes"]);
            let expected = if sample.id == examen_log::SampleId::Int(3) {
                "I"
            } else {
                "C"
            };
            assert_eq!(scores["includes"].value, Value::from(expected));
            // One `scorers` span, holding the old scorer's span and then the new one's.
            let scorers = span_begin(&sample.events, "scorers");
            assert_eq!(scorers.len(), 1);
            let (begin, span) = scorers[0];
            let (at, includes) = span_begin(&sample.events, "includes")[0];
            assert_eq!(includes.parent_id.as_deref(), Some(span.id.as_str()));
            assert_eq!(includes.kind.as_deref(), Some("scorer"));
            assert!(begin < span_begin(&sample.events, "match")[0].0);
            assert!(at < span_end(&sample.events, &span.id));
            let score = score_events(&sample.events, "includes");
            assert_eq!(score.len(), 1);
            assert_eq!(score[0].base.span_id.as_deref(), Some(includes.id.as_str()));
            assert_eq!(score_events(&sample.events, "match").len(), 1);
        }
    }

    #[examen_rt::test]
    async fn overwrite_replaces_the_scores_and_their_events() {
        let dir = tempfile::tempdir().unwrap();
        let src = eval_log(dir.path(), match_task(), mock(), LogFormat::Eval).await;
        let dest = dir.path().join("scored.json");
        let options = ScoreOptions {
            scorers: Some(vec![scorer::includes(), scorer::includes()]),
            action: ScoreAction::Overwrite,
            ..ScoreOptions::default()
        };
        let outcome = rescore(&src, &dest, options, None).await.unwrap();
        assert_eq!(outcome.scorers, ["includes", "includes1"]);
        // The format follows the destination's extension.
        assert!(std::fs::read(&dest).unwrap().starts_with(b"{"));
        let after = read(&dest);
        let names: Vec<&str> = after
            .results
            .as_ref()
            .unwrap()
            .scores
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["includes", "includes1"]);
        assert_eq!(metric(&after, "includes1", None, "accuracy"), 0.75);
        let recorded: Vec<&str> = after
            .eval
            .scorers
            .iter()
            .flatten()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(recorded, ["includes", "includes1"]);
        for sample in after.samples.as_ref().unwrap() {
            let keys: Vec<&str> = sample
                .scores
                .as_ref()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, ["includes", "includes1"]);
            assert!(span_begin(&sample.events, "match").is_empty());
            assert!(score_events(&sample.events, "match").is_empty());
            let scorers = span_begin(&sample.events, "scorers");
            assert_eq!(scorers.len(), 1);
            let end = span_end(&sample.events, &scorers[0].1.id);
            for name in ["includes", "includes1"] {
                let (at, span) = span_begin(&sample.events, name)[0];
                assert_eq!(span.parent_id.as_ref(), Some(&scorers[0].1.id));
                assert!(scorers[0].0 < at && at < end);
            }
        }
        // Only the new log was added beside the source.
        assert_eq!(files(dir.path()).len(), 2);
    }

    #[examen_rt::test]
    async fn rescoring_with_the_logs_own_scorers_reproduces_its_results() {
        let dir = tempfile::tempdir().unwrap();
        // Epochs that disagree: the model answers `model` the first time it
        // sees a question and `nope` the second, so sample 2 (target
        // `model`) scores C then I, and the others I twice.
        let seen = Mutex::new(HashMap::<String, usize>::new());
        let model = Model::from_mock(MockLlm::from_fn(move |messages: &[ChatMessage]| {
            let question = messages.last().map(ChatMessage::text).unwrap_or_default();
            let mut seen = seen.lock().unwrap();
            let count = seen.entry(question).or_insert(0);
            *count += 1;
            let answer = if *count == 1 { "model" } else { "nope" };
            ModelOutput::from_text("mockllm/model", answer)
        }));
        let task = Task::new("rescore", dataset())
            .solver(solver::generate())
            .scorer(scorer::match_())
            .metrics(vec![
                Arc::new(Accuracy::default()),
                Arc::new(Stderr::default()),
                Arc::new(Grouped::new(Arc::new(Accuracy::default()), "level")),
            ])
            .epochs(
                2,
                vec![
                    Reducer::parse("mean").unwrap(),
                    Reducer::parse("pass_at_2").unwrap(),
                ],
            );
        let src = eval_log(dir.path(), task, model, LogFormat::Eval).await;
        let dest = dir.path().join("again.eval");
        let options = ScoreOptions {
            action: ScoreAction::Overwrite,
            ..ScoreOptions::default()
        };
        let outcome = rescore(&src, &dest, options, None).await.unwrap();
        assert_eq!(outcome.scorers, ["match"]);
        let (before, after) = (read(&src), read(&dest));
        assert_eq!(after.results, before.results);
        assert_eq!(after.reductions, before.reductions);
        // Both reducers and the grouped metric were recomputed: sample 2
        // reduces to 0.5 (mean) and 1 (pass_at_2); group `a` holds samples 1
        // and 2.
        assert_eq!(metric(&after, "match", Some("mean"), "accuracy"), 0.125);
        assert_eq!(metric(&after, "match", Some("pass_at_2"), "accuracy"), 0.25);
        assert_eq!(metric(&after, "match", Some("pass_at_2"), "a"), 0.5);
        assert_eq!(metric(&after, "match", Some("pass_at_2"), "b"), 0.0);
    }

    /// A scorer that records how many of its calls run at once and waits at a
    /// gate until `open_at` of them are in flight.
    #[derive(Debug)]
    struct Gate {
        open_at: usize,
        arrived: AtomicUsize,
        in_flight: AtomicUsize,
        most: AtomicUsize,
        dropped: Arc<AtomicUsize>,
        open: examen_rt::CancelToken,
        /// Never let a call finish: cancel this when the gate opens instead.
        hold: Option<examen_rt::CancelToken>,
    }

    impl Gate {
        fn new(open_at: usize, hold: Option<examen_rt::CancelToken>) -> Arc<Gate> {
            Arc::new(Gate {
                open_at,
                arrived: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                dropped: Arc::new(AtomicUsize::new(0)),
                open: examen_rt::CancelToken::new(),
                hold,
            })
        }
    }

    struct Dropped(Arc<AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Scorer for Gate {
        fn name(&self) -> &str {
            "gate"
        }

        async fn score(
            &self,
            _state: &TaskState,
            _target: &Target,
            _generate: &SampleContext,
        ) -> Result<Option<Score>, SampleError> {
            let _dropped = Dropped(self.dropped.clone());
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 >= self.open_at {
                match &self.hold {
                    Some(cancel) => cancel.cancel(),
                    None => self.open.cancel(),
                }
            }
            self.open.cancelled().await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(Some(Score::new(1)))
        }
    }

    #[examen_rt::test]
    async fn samples_are_scored_concurrently_up_to_max_samples() {
        let dir = tempfile::tempdir().unwrap();
        let src = eval_log(dir.path(), match_task(), mock(), LogFormat::Eval).await;
        let gate = Gate::new(3, None);
        let options = ScoreOptions {
            scorers: Some(vec![gate.clone() as Arc<dyn DynScorer>]),
            max_samples: Some(3),
            ..ScoreOptions::default()
        };
        // Scored one at a time, the first call would wait at the gate for
        // ever: the guard turns that into a failure.
        let scored = examen_rt::timeout(
            Duration::from_secs(120),
            rescore(&src, &dir.path().join("gate.eval"), options, None),
        )
        .await
        .expect("three samples are scored at once");
        assert_eq!(scored.unwrap().samples, 8);
        assert_eq!(gate.most.load(Ordering::SeqCst), 3);
        assert_eq!(gate.arrived.load(Ordering::SeqCst), 8);
    }

    #[examen_rt::test]
    async fn cancelling_stops_the_scorers_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let src = eval_log(dir.path(), match_task(), mock(), LogFormat::Json).await;
        let before = files(dir.path());
        let cancel = examen_rt::CancelToken::new();
        let gate = Gate::new(3, Some(cancel.clone()));
        let options = ScoreOptions {
            scorers: Some(vec![gate.clone() as Arc<dyn DynScorer>]),
            max_samples: Some(3),
            cancel: Some(cancel),
            ..ScoreOptions::default()
        };
        let err = rescore(&src, &dir.path().join("cancelled.json"), options, None)
            .await
            .unwrap_err();
        assert_eq!(err, ScoreError::Cancelled);
        // The three scorer calls in flight were dropped, none finished.
        assert_eq!(gate.arrived.load(Ordering::SeqCst), 3);
        assert_eq!(gate.dropped.load(Ordering::SeqCst), 3);
        assert_eq!(gate.in_flight.load(Ordering::SeqCst), 3);
        assert_eq!(files(dir.path()), before);
    }

    #[examen_rt::test]
    async fn an_unreadable_sample_fails_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let src = eval_log(dir.path(), match_task(), mock(), LogFormat::Eval).await;
        let mut bytes = std::fs::read(&src).unwrap();
        let member = b"samples/3_epoch_2.json";
        let at = bytes
            .windows(member.len())
            .position(|w| w == member)
            .unwrap()
            + member.len();
        bytes[at..at + 64].fill(0xff);
        std::fs::write(&src, bytes).unwrap();
        let before = files(dir.path());
        let options = ScoreOptions {
            scorers: Some(vec![scorer::includes()]),
            ..ScoreOptions::default()
        };
        let err = rescore(&src, &dir.path().join("scored.eval"), options, None)
            .await
            .unwrap_err();
        let ScoreError::Read(message) = &err else {
            panic!("{err:?}");
        };
        assert!(message.contains("samples/3_epoch_2.json"), "{message}");
        assert!(message.contains(&src.display().to_string()), "{message}");
        assert_eq!(files(dir.path()), before);

        let not_a_log = dir.path().join("notes.eval");
        std::fs::write(&not_a_log, "hello").unwrap();
        let err = rescore(
            &not_a_log,
            &dir.path().join("x.eval"),
            ScoreOptions::default(),
            None,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ScoreError::Read(ref m) if m.contains("not an eval log")),
            "{err:?}"
        );
    }

    /// The log at `src` with its model renamed to `model` (written to `dest`).
    fn relabel(src: &Path, dest: &Path, model: &str) {
        let reader = LogReader::open(src).unwrap();
        let header = reader.header().clone();
        let mut eval = header.eval.clone();
        eval.model = model.into();
        let start = LogStart {
            version: header.version,
            eval,
            plan: header.plan.clone(),
        };
        let mut writer =
            LogWriter::create_at(dest, LogFormat::Eval, start, WriterOptions::default()).unwrap();
        for sample in reader.samples() {
            writer.write_sample(&sample.unwrap()).unwrap();
        }
        writer
            .finish(&LogFinish {
                status: header.status,
                results: header.results.clone(),
                stats: header.stats.clone(),
                error: header.error.clone(),
                reductions: header.reductions.clone(),
                invalidated: false,
            })
            .unwrap();
    }

    #[examen_rt::test]
    async fn model_graded_scorers_call_the_grader_and_need_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let eval = eval_log(dir.path(), match_task(), mock(), LogFormat::Eval).await;
        let src = dir.path().join("openai.eval");
        relabel(&eval, &src, "openai/gpt-4o-mini");
        let no_keys = ModelOptions {
            env: Env::from_pairs(Vec::<(String, String)>::new()),
            ..ModelOptions::default()
        };

        // Scorers that call no model do not need the log's model.
        let options = ScoreOptions {
            scorers: Some(vec![scorer::includes()]),
            model_options: no_keys.clone(),
            ..ScoreOptions::default()
        };
        let dest = dir.path().join("includes.eval");
        rescore(&src, &dest, options, None).await.unwrap();
        std::fs::remove_file(&dest).unwrap();

        // A grader that cannot be built fails the scoring, naming why.
        let before = files(dir.path());
        let graded: Arc<dyn DynScorer> = Arc::new(scorer::ModelGraded::new(false));
        let options = ScoreOptions {
            scorers: Some(vec![graded.clone()]),
            model_options: no_keys.clone(),
            ..ScoreOptions::default()
        };
        let err = rescore(&src, &dir.path().join("graded.eval"), options, None)
            .await
            .unwrap_err();
        let ScoreError::Scorer(message) = &err else {
            panic!("{err:?}");
        };
        assert!(
            message.contains("cannot use the log's model `openai/gpt-4o-mini`"),
            "{message}"
        );
        assert!(message.contains("OPENAI_API_KEY"), "{message}");
        assert_eq!(files(dir.path()), before);

        // With a grader bound, it grades: C for the samples whose target the
        // grader sees in the criterion `model`, I otherwise.
        let grader = Model::from_mock(MockLlm::from_fn(|messages: &[ChatMessage]| {
            let prompt = messages.last().map(ChatMessage::text).unwrap_or_default();
            let grade = if prompt.contains("[Criterion]: model") {
                "C"
            } else {
                "I"
            };
            ModelOutput::from_text("mockllm/model", format!("GRADE: {grade}"))
        }));
        let options = ScoreOptions {
            scorers: Some(vec![graded]),
            model_roles: HashMap::from([("grader".to_string(), grader)]),
            model_options: no_keys,
            ..ScoreOptions::default()
        };
        let dest = dir.path().join("graded.eval");
        rescore(&src, &dest, options, None).await.unwrap();
        let after = read(&dest);
        assert_eq!(metric(&after, "model_graded_qa", None, "accuracy"), 0.25);
        for sample in after.samples.as_ref().unwrap() {
            let (_, span) = span_begin(&sample.events, "model_graded_qa")[0];
            let calls: Vec<&examen_log::events::ModelEvent> = sample
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::Model(m) if m.role.as_deref() == Some("grader") => Some(m.as_ref()),
                    _ => None,
                })
                .collect();
            assert_eq!(calls.len(), 1);
            assert_eq!(calls[0].base.span_id.as_ref(), Some(&span.id));
        }
    }
}
