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

use super::log::{EvalLogger, LogSink, LogSinkError};
use crate::context::BoxFuture;
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

/// The eval spec's field holding the samples' digests (see
/// [`DatasetInfo::sample_digests`](super::log::DatasetInfo::sample_digests)).
pub(crate) const SAMPLE_DIGESTS: &str = "examen_sample_digests";

/// The eval spec's field holding the task file's text as it was read, so that a retry can
/// rebuild the task when the file is gone (see `retry.rs`).
pub(crate) const TASK_FILE_TEXT: &str = "examen_task_file_text";

/// Task files longer than this are not copied into the log (a retry then needs the file).
pub(crate) const TASK_FILE_TEXT_MAX: usize = 1 << 20;

/// A finished sample ready for the log writer: serialized and summarized here, on the
/// sample's own task, so the one writer only compresses and appends.
fn prepare(sample: EvalSample) -> Result<PreparedSample, LogSinkError> {
    let (id, epoch) = (sample.id.clone(), sample.epoch);
    PreparedSample::from_owned(sample)
        .map_err(|e| LogSinkError::new(format!("sample {id} (epoch {epoch}): {e}")))
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
pub(crate) struct WriterSink {
    /// Taken by `finish`: the writer ends once every sender is gone, so a
    /// sample being handed over when the run finishes is still written.
    queue: Mutex<Option<examen_rt::Sender<PreparedSample>>>,
    writer: Mutex<Option<examen_rt::JoinHandle<Option<LogWriter>>>>,
    /// The first write error; the writer stops at it.
    failure: Arc<Mutex<Option<String>>>,
}

/// What a write error says the log still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFailure {
    /// The log stays (status `started`): say how many samples it keeps and
    /// that `eval-retry` runs the others.
    KeepLog,
    /// The log is thrown away (`examen score`'s temporary file): just the error.
    Discard,
}

impl WriterSink {
    /// Starts the writer task over `writer`.
    pub(crate) fn start(
        writer: LogWriter,
        flush_interval: Duration,
        on_failure: OnFailure,
    ) -> Self {
        let (queue, receiver) = examen_rt::channel(QUEUE);
        let failure = Arc::new(Mutex::new(None));
        let task = examen_rt::spawn(write_loop(
            writer,
            receiver,
            flush_interval,
            failure.clone(),
            on_failure,
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

    /// Queues a sample for the writer, serialized here on the caller's task.
    pub(crate) async fn write(&self, sample: EvalSample) -> Result<(), LogSinkError> {
        self.send(prepare(sample)?).await
    }

    /// Closes the queue, waits for the writer to write what it holds, and
    /// hands the writer back (to be finished).
    pub(crate) async fn close(&self) -> Result<LogWriter, LogSinkError> {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        let task = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(task) = task else {
            return Err(LogSinkError::new("the log is already finished"));
        };
        match task.await {
            Ok(Some(writer)) => Ok(writer),
            Ok(None) => Err(self.failed()),
            Err(e) if e.is_panic() => e.resume(),
            Err(_) => Err(LogSinkError::new("the log writer was cancelled")),
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
    on_failure: OnFailure,
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
            Err(e) if on_failure == OnFailure::Discard => {
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.message);
                queue.close();
                return None;
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
        start: &'a LogStart,
    ) -> BoxFuture<'a, Result<Arc<dyn LogSink>, LogSinkError>> {
        Box::pin(async move {
            let header = start.clone();
            let (dir, format, options) = (self.dir.clone(), self.format, self.options.clone());
            let flush_interval = options.flush_interval;
            let writer =
                examen_rt::to_thread(move || LogWriter::create(&dir, format, header, options))
                    .await
                    .map_err(|e| LogSinkError::new(e.to_string()))?;
            let sink = WriterSink::start(writer, flush_interval, OnFailure::KeepLog);
            Ok(Arc::new(sink) as Arc<dyn LogSink>)
        })
    }
}

impl LogSink for WriterSink {
    fn write_sample<'a>(&'a self, sample: EvalSample) -> BoxFuture<'a, Result<(), LogSinkError>> {
        // Converted here, on the sample's own task, so the work spreads over
        // every worker instead of queueing on the one writer.
        Box::pin(async move { self.write(sample).await })
    }

    fn carry_over<'a>(
        &'a self,
        sample: examen_log::EvalSample,
    ) -> BoxFuture<'a, Result<(), LogSinkError>> {
        Box::pin(async move {
            let prepared =
                PreparedSample::from_owned(sample).map_err(|e| LogSinkError::new(e.to_string()))?;
            self.send(prepared).await
        })
    }

    fn finish<'a>(
        &'a self,
        finish: Arc<LogFinish>,
    ) -> BoxFuture<'a, Result<Option<String>, LogSinkError>> {
        Box::pin(async move {
            // The writer drains what is queued, then hands itself back.
            let writer = self.close().await?;
            examen_rt::to_thread(move || {
                writer
                    .finish(&finish)
                    .map(|path| Some(path.display().to_string()))
                    .map_err(|e| LogSinkError::new(e.to_string()))
            })
            .await
        })
    }
}
