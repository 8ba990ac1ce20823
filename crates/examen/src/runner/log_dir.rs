//! [`LogDir`]: the [`EvalLogger`] that writes Inspect-compatible `.eval`
//! (or `.json`) logs with examen-log's `LogWriter`, one file per task ×
//! model run. File I/O runs on `examen_rt::to_thread`, never on the async
//! workers.
//!
//! The engine's records serialize to Inspect's JSON shape; they are read
//! into examen-log's schema types through that JSON, so the two crates
//! agree on field names by construction (a mismatch fails loudly, naming the
//! record).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen_log::{LogFinish, LogFormat, LogStart, LogWriter, PreparedSample, WriterOptions};
use examen_types::{JsonObject, JsonValue};
use serde::de::DeserializeOwned;

use super::log::{EvalLogger, LogSink, LogSinkError, TaskFinish, TaskStart};
use crate::generate::BoxFuture;
use examen_types::EvalSample;

/// Writes one log file per run into a directory.
#[derive(Debug, Clone)]
pub struct LogDir {
    dir: PathBuf,
    format: LogFormat,
    options: WriterOptions,
}

impl LogDir {
    /// Logs in `dir` (created when missing), in `format`.
    pub fn new(dir: impl Into<PathBuf>, format: LogFormat) -> Self {
        Self {
            dir: dir.into(),
            format,
            options: WriterOptions::default(),
        }
    }

    /// Sets the writer's flush options.
    #[must_use]
    pub fn with_options(mut self, options: WriterOptions) -> Self {
        self.options = options;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn convert<T: DeserializeOwned>(what: &str, value: JsonValue) -> Result<T, LogSinkError> {
    serde_json::from_value(value)
        .map_err(|e| LogSinkError::new(format!("cannot convert the {what} to the log schema: {e}")))
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

/// The log header for a run starting.
pub fn log_start(start: &TaskStart) -> Result<LogStart, LogSinkError> {
    let mut config = start.eval_config.clone();
    // Inspect's EvalConfig holds whole seconds.
    for key in ["time_limit", "working_limit"] {
        if let Some(seconds) = config.get(key).and_then(JsonValue::as_f64) {
            config.insert(key.into(), JsonValue::from(seconds.ceil() as u64));
        }
    }
    let model_roles: JsonObject = start
        .model_roles
        .iter()
        .map(|(role, model)| {
            (
                role.clone(),
                serde_json::json!({"model": model, "config": {}, "args": {}}),
            )
        })
        .collect();
    let scorers: Vec<JsonValue> = start
        .scorers
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "options": s.options,
                "metrics": s.metrics.iter().enumerate().map(|(i, m)| serde_json::json!({
                    "name": m,
                    "options": s.metric_options.get(i).cloned().unwrap_or_default(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut eval = serde_json::json!({
        "eval_id": start.eval_id,
        "run_id": start.run_id,
        "created": to_the_second(&start.created),
        "task": start.task,
        "task_id": start.task_id,
        "task_version": start.task_version,
        "task_attribs": {},
        "task_args": start.task_args,
        "task_args_passed": start.task_args,
        // The sample ids are set on the typed header below: through a JSON tree,
        // a long dataset's ids make large short-lived blocks, and freeing those
        // raises glibc's mmap threshold, which then keeps freed memory resident
        // for the rest of the run.
        "dataset": {
            "name": start.dataset.name,
            "location": start.dataset.location,
            "samples": start.dataset.samples,
            "shuffled": start.dataset.shuffled,
        },
        "model": start.model,
        "model_generate_config": start.model_config,
        "model_args": start.model_args,
        "config": config,
        "packages": {"examen": env!("CARGO_PKG_VERSION")},
        "scorers": scorers,
    });
    if let JsonValue::Object(map) = &mut eval {
        if let Some(file) = &start.task_file {
            map.insert("task_file".into(), JsonValue::from(file.as_str()));
        }
        if let Some(url) = &start.model_base_url {
            map.insert("model_base_url".into(), JsonValue::from(url.as_str()));
        }
        if !model_roles.is_empty() {
            map.insert("model_roles".into(), JsonValue::Object(model_roles));
        }
        if !start.metadata.is_empty() {
            map.insert("metadata".into(), JsonValue::Object(start.metadata.clone()));
        }
        if !start.tags.is_empty() {
            map.insert("tags".into(), JsonValue::from(start.tags.clone()));
        }
    }
    let steps: Vec<JsonValue> = start
        .plan
        .iter()
        .map(|step| serde_json::json!({"solver": step.solver, "params": step.params, "params_passed": step.params}))
        .collect();
    let mut header: LogStart = convert(
        "log header",
        serde_json::json!({
            "version": examen_log::LOG_SCHEMA_VERSION,
            "eval": eval,
            "plan": {"name": "plan", "steps": steps, "config": start.config},
        }),
    )?;
    header.eval.dataset.sample_ids = Some(start.dataset.sample_ids.clone());
    header.eval.extra.insert(
        SAMPLE_DIGESTS.into(),
        JsonValue::String(start.dataset.sample_digests.clone()),
    );
    Ok(header)
}

/// The eval spec's field holding the samples' digests (see
/// [`DatasetInfo::sample_digests`](super::log::DatasetInfo::sample_digests)).
pub(crate) const SAMPLE_DIGESTS: &str = "examen_sample_digests";

/// A finished sample ready for the log writer: serialized and summarized here, on the
/// sample's own task, so the one writer only compresses and appends.
fn prepare(sample: &EvalSample) -> Result<PreparedSample, LogSinkError> {
    PreparedSample::from_sample(sample).map_err(|e| {
        LogSinkError::new(format!(
            "sample {} (epoch {}): {e}",
            sample.id, sample.epoch
        ))
    })
}

/// The log footer for a finished run.
pub fn log_finish(finish: &TaskFinish) -> Result<LogFinish, LogSinkError> {
    Ok(LogFinish {
        status: finish.status,
        results: finish.results.clone(),
        stats: finish.stats.clone(),
        error: finish.error.clone(),
        reductions: (!finish.reductions.is_empty()).then(|| finish.reductions.to_vec()),
        invalidated: false,
    })
}

/// Samples queued for the writer task at most; a run whose samples finish
/// faster than they are written waits here, so memory stays bounded.
const QUEUE: usize = 64;

/// A log being written: samples go through a bounded queue to one writer
/// task, which writes them in batches on `to_thread`.
///
/// One writer means one blocking call at a time. Handing each sample to
/// its own `to_thread` call instead (the first design) had every finished
/// sample wait on the writer's lock in a blocking thread of its own: the
/// blocking pool grew to ~500 threads, each with its own malloc arena, and
/// a 100,000-sample run peaked at 318 MB instead of 177 MB.
struct WriterSink {
    /// Taken by `finish`: the writer ends once every sender is gone, so a
    /// sample being handed over when the run finishes is still written.
    queue: Mutex<Option<examen_rt::Sender<PreparedSample>>>,
    writer: Mutex<Option<examen_rt::JoinHandle<Option<LogWriter>>>>,
    /// The first write error; the writer stops at it.
    failure: Arc<Mutex<Option<String>>>,
}

impl WriterSink {
    fn start(writer: LogWriter, flush_interval: Duration) -> Self {
        let (queue, receiver) = examen_rt::channel(QUEUE);
        let failure = Arc::new(Mutex::new(None));
        let task = examen_rt::spawn(write_loop(
            writer,
            receiver,
            flush_interval,
            failure.clone(),
        ));
        Self {
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(task)),
            failure,
        }
    }

    fn failed(&self) -> LogSinkError {
        let failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        LogSinkError::new(
            failure
                .clone()
                .unwrap_or_else(|| "the log is already finished".into()),
        )
    }

    async fn send(&self, item: PreparedSample) -> Result<(), LogSinkError> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match queue {
            Some(queue) => queue.send(item).await.map_err(|_| self.failed()),
            None => Err(self.failed()),
        }
    }
}

/// Writes what arrives until the queue is closed and drained; flushes when
/// samples have waited longer than the flush interval, even if no more come.
/// Returns the writer, or `None` after a write error (recorded in `failure`;
/// the file keeps every earlier flush).
async fn write_loop(
    mut writer: LogWriter,
    queue: examen_rt::Receiver<PreparedSample>,
    flush_interval: Duration,
    failure: Arc<Mutex<Option<String>>>,
) -> Option<LogWriter> {
    let mut pending = false;
    // Samples in the file as of the last flush that succeeded.
    let mut durable = 0;
    loop {
        let mut batch = Vec::new();
        // With nothing waiting to be flushed there is no deadline: just wait.
        let next = if pending {
            examen_rt::timeout(flush_interval, queue.recv()).await
        } else {
            Ok(queue.recv().await)
        };
        match next {
            Ok(Some(item)) => batch.push(item),
            Ok(None) => return Some(writer),
            Err(_) => {}
        }
        while batch.len() < QUEUE {
            match queue.try_recv() {
                Some(item) => batch.push(item),
                None => break,
            }
        }
        let (back, written) = examen_rt::to_thread(move || {
            let written = write_batch(&mut writer, batch).map(|()| writer.pending_samples());
            (writer, written)
        })
        .await;
        writer = back;
        match written {
            Ok(waiting) => {
                pending = waiting > 0;
                durable = writer.stats().samples - waiting as u64;
            }
            Err(e) => {
                // Say what the file holds, read back from it (a flush that failed part way
                // may have left more than the last one that succeeded), so that the counts
                // shown for the run and the log's own agree.
                let path = writer.path().to_owned();
                let kept = examen_rt::to_thread(move || {
                    examen_log::LogReader::open(&path)
                        .map(|log| log.sample_count())
                        .or_else(|_| examen_log::recover(&path).map(|log| log.sample_count()))
                })
                .await
                .map_or(durable, |count| count as u64);
                let message = format!(
                    "{}; the log keeps the {kept} sample{} written before (status started), and \
                     `examen eval-retry {}` runs the others",
                    e.message,
                    if kept == 1 { "" } else { "s" },
                    writer.path().display()
                );
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
                queue.close();
                return None;
            }
        }
    }
}

fn write_batch(writer: &mut LogWriter, batch: Vec<PreparedSample>) -> Result<(), LogSinkError> {
    let io = |e: examen_log::LogError| LogSinkError::new(e.to_string());
    for sample in batch {
        writer.write_prepared(sample).map_err(io)?;
    }
    writer.flush_if_due().map_err(io)
}

impl EvalLogger for LogDir {
    fn open<'a>(
        &'a self,
        start: &'a TaskStart,
    ) -> BoxFuture<'a, Result<Arc<dyn LogSink>, LogSinkError>> {
        Box::pin(async move {
            let header = log_start(start)?;
            let (dir, format, options) = (self.dir.clone(), self.format, self.options.clone());
            let flush_interval = options.flush_interval;
            let writer =
                examen_rt::to_thread(move || LogWriter::create(&dir, format, header, options))
                    .await
                    .map_err(|e| LogSinkError::new(e.to_string()))?;
            Ok(Arc::new(WriterSink::start(writer, flush_interval)) as Arc<dyn LogSink>)
        })
    }
}

impl LogSink for WriterSink {
    fn write_sample<'a>(&'a self, sample: EvalSample) -> BoxFuture<'a, Result<(), LogSinkError>> {
        // Converted here, on the sample's own task, so the work spreads over
        // every worker instead of queueing on the one writer.
        Box::pin(async move { self.send(prepare(&sample)?).await })
    }

    fn carry_over<'a>(
        &'a self,
        sample: examen_log::EvalSample,
    ) -> BoxFuture<'a, Result<(), LogSinkError>> {
        Box::pin(async move {
            let prepared = PreparedSample::from_sample(&sample)
                .map_err(|e| LogSinkError::new(e.to_string()))?;
            self.send(prepared).await
        })
    }

    fn finish<'a>(
        &'a self,
        finish: TaskFinish,
    ) -> BoxFuture<'a, Result<Option<String>, LogSinkError>> {
        Box::pin(async move {
            let finish = log_finish(&finish)?;
            // The writer drains what is queued, then hands itself back.
            drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
            let task = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
            let Some(task) = task else {
                return Err(LogSinkError::new("the log is already finished"));
            };
            let writer = match task.await {
                Ok(Some(writer)) => writer,
                Ok(None) => return Err(self.failed()),
                Err(e) if e.is_panic() => e.resume(),
                Err(_) => return Err(LogSinkError::new("the log writer was cancelled")),
            };
            examen_rt::to_thread(move || {
                writer
                    .finish(finish)
                    .map(|path| Some(path.display().to_string()))
                    .map_err(|e| LogSinkError::new(e.to_string()))
            })
            .await
        })
    }
}
