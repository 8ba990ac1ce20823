//! [`LogDir`]: the [`EvalLogger`] that writes Inspect-compatible `.eval`
//! (or `.json`) logs with examen-log's `LogWriter`, one file per task ×
//! model run, into a local directory or an S3 prefix. File I/O runs on
//! `examen_rt::to_thread`, never on the async workers.
//!
//! A log in S3 is written to a local spool file first, and each flush is then published as
//! one S3 object by examen-store's `LogObject` (composed server-side from the previous one:
//! only the new bytes are sent). Publishing is coalesced when it would send more than 1.5 times
//! its new bytes, but never held back longer than the flush interval; the end of the log is
//! always published. The spool is removed once the finished log is in S3, and kept (and
//! named in the error) when publishing fails, so no sample is lost.
//!
//! The engine's records serialize to Inspect's JSON shape; they are read
//! into examen-log's schema types through that JSON, so the two crates
//! agree on field names by construction (a mismatch fails loudly, naming the
//! record).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen_log::{LogFinish, LogFormat, LogStart, LogWriter, PreparedSample, WriterOptions};
use examen_store::{Location, Store};

use super::log::{EvalLogger, LogSink, LogSinkError};
use crate::context::BoxFuture;
use examen_types::EvalSample;

/// Writes one log file per run into a directory.
#[derive(Debug, Clone)]
pub struct LogDir {
    dir: PathBuf,
    location: Location,
    store: Store,
    format: LogFormat,
    options: WriterOptions,
}

impl LogDir {
    /// Logs in `dir` (created when missing), in `format`.
    pub fn new(dir: impl Into<PathBuf>, format: LogFormat) -> Self {
        let dir = dir.into();
        Self {
            location: Location::Local(dir.clone()),
            dir,
            store: Store::default(),
            format,
            options: WriterOptions::default(),
        }
    }

    /// Logs at `location` (a local directory, or `s3://bucket/prefix` through `store`'s S3
    /// client), in `format`.
    pub fn at(location: Location, store: Store, format: LogFormat) -> Self {
        let dir = location.as_local().map(Path::to_owned).unwrap_or_default();
        Self {
            dir,
            location,
            store,
            format,
            options: WriterOptions::default(),
        }
    }

    /// Where the logs go.
    pub fn location(&self) -> &Location {
        &self.location
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
    writer: Mutex<Option<examen_rt::JoinHandle<Option<Drained>>>>,
    /// The first write error; the writer stops at it.
    failure: Arc<Mutex<Option<String>>>,
}

/// The writer task's result: the writer, and the publisher of an S3 log.
type Drained = (LogWriter, Option<Publisher>);

/// Publishes a spooled log's flushes to its S3 object (see the module docs), one publish at a
/// time in a task of its own, so the writer goes on while S3 works.
pub(crate) struct Publisher {
    /// The object, when no publish is in flight.
    object: Option<examen_store::s3::LogObject>,
    /// The publish in flight: it hands the object back with the samples it published.
    inflight: Option<examen_rt::JoinHandle<Published>>,
    /// The `.eval` spool, read by publishes (`None` for `.json`: reopened at each publish).
    spool: Option<Arc<std::fs::File>>,
    url: String,
    /// The spool's directory, removed once the finished log is published.
    spool_dir: PathBuf,
    /// The writer's revision last sent to a publish.
    sent: u64,
    /// Samples in the object as of the last publish that completed.
    published_samples: u64,
    last_publish: std::time::Instant,
    interval: Duration,
}

type Published = (
    examen_store::s3::LogObject,
    Result<u64, examen_store::S3Error>,
);

impl Publisher {
    /// True when the writer has flushed something no publish has taken yet.
    fn behind(&self, writer: &LogWriter) -> bool {
        writer.revision() != self.sent
    }

    /// Freezes the writer's last flush (on a blocking thread: it reads the spool's directory).
    fn freeze(
        spool: Option<&Arc<std::fs::File>>,
        writer: &LogWriter,
    ) -> std::io::Result<examen_store::s3::Frozen> {
        match (spool, writer.snapshot()) {
            (Some(spool), Some(snapshot)) => {
                examen_store::s3::Frozen::capture(spool.clone(), &snapshot)
            }
            _ => examen_store::s3::Frozen::whole(std::fs::File::open(writer.path())?),
        }
    }

    /// Takes the result of a publish that has finished; with `wait`, waits for one in flight.
    async fn settle(&mut self, wait: bool) -> Result<(), LogSinkError> {
        let Some(handle) = self.inflight.as_mut() else {
            return Ok(());
        };
        if !wait && !handle.is_finished() {
            return Ok(());
        }
        let (object, result) = match handle.await {
            Ok(done) => done,
            Err(e) if e.is_panic() => e.resume(),
            Err(_) => return Err(LogSinkError::new("the log's upload was cancelled")),
        };
        self.inflight = None;
        self.object = Some(object);
        let samples = result.map_err(|e| LogSinkError::new(e.to_string()))?;
        self.published_samples = samples;
        self.last_publish = std::time::Instant::now();
        Ok(())
    }

    /// Starts publishing the writer's last flush when none is in flight and it is worth it
    /// (or has waited an interval, or `force`). `waiting`: samples written but not flushed.
    async fn offer(
        &mut self,
        writer: LogWriter,
        waiting: usize,
        force: bool,
    ) -> Result<LogWriter, LogSinkError> {
        self.settle(false).await?;
        if self.inflight.is_some() || !self.behind(&writer) {
            return Ok(writer);
        }
        let spool = self.spool.clone();
        let (writer, frozen) = examen_rt::to_thread(move || {
            let frozen = Self::freeze(spool.as_ref(), &writer);
            (writer, frozen)
        })
        .await;
        let frozen =
            frozen.map_err(|e| LogSinkError::new(format!("{}: {e}", writer.path().display())))?;
        let Some(mut object) = self.object.take() else {
            return Ok(writer);
        };
        let due = self.last_publish.elapsed() >= self.interval;
        if !(force || due || object.worth_publishing(&frozen)) {
            self.object = Some(object);
            return Ok(writer);
        }
        self.sent = writer.revision();
        let samples = writer.stats().samples - waiting as u64;
        self.inflight = Some(examen_rt::spawn(async move {
            let result = object.publish(&frozen).await.map(|()| samples);
            (object, result)
        }));
        Ok(writer)
    }

    /// What a failure leaves: the S3 object's samples, and the spool with every sample.
    fn failure_message(&self, error: &str, spool: &Path) -> String {
        let kept = self.published_samples;
        format!(
            "{error}; the log in S3 ({}) keeps the {kept} sample{} of its last flush (status \
             started), and the local copy {} holds every sample written: `examen eval-retry {}` \
             runs the others",
            self.url,
            if kept == 1 { "" } else { "s" },
            spool.display(),
            spool.display(),
        )
    }
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
        Self::start_publishing(writer, None, flush_interval, on_failure)
    }

    /// [`start`](Self::start), publishing the log's flushes through `publisher`.
    pub(crate) fn start_publishing(
        writer: LogWriter,
        publisher: Option<Publisher>,
        flush_interval: Duration,
        on_failure: OnFailure,
    ) -> Self {
        let (queue, receiver) = examen_rt::channel(QUEUE);
        let failure = Arc::new(Mutex::new(None));
        let task = examen_rt::spawn(write_loop(
            writer,
            publisher,
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
        self.close_publishing().await.map(|(writer, _)| writer)
    }

    /// [`close`](Self::close), also handing back the publisher.
    async fn close_publishing(&self) -> Result<Drained, LogSinkError> {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        let task = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(task) = task else {
            return Err(LogSinkError::new("the log is already finished"));
        };
        match task.await {
            Ok(Some(done)) => Ok(done),
            Ok(None) => Err(self.failed()),
            Err(e) if e.is_panic() => e.resume(),
            Err(_) => Err(LogSinkError::new("the log writer was cancelled")),
        }
    }
}

/// Writes what arrives until the queue is closed and drained; flushes when
/// samples have waited longer than the flush interval, even if no more come, and
/// publishes flushes through `publisher` (an S3 log). Returns the writer, or `None`
/// after a write error (recorded in `failure`; the file keeps every earlier flush).
async fn write_loop(
    mut writer: LogWriter,
    mut publisher: Option<Publisher>,
    queue: examen_rt::Receiver<PreparedSample>,
    flush_interval: Duration,
    failure: Arc<Mutex<Option<String>>>,
    on_failure: OnFailure,
) -> Option<Drained> {
    let mut pending = false;
    // Samples in the file as of the last flush that succeeded.
    let mut durable = 0;
    loop {
        let mut batch = Vec::new();
        let unpublished = publisher
            .as_ref()
            .is_some_and(|p| p.behind(&writer) || p.inflight.is_some());
        // With nothing waiting to be flushed or published there is no deadline: just wait.
        let next = if pending || unpublished {
            examen_rt::timeout(flush_interval, queue.recv()).await
        } else {
            Ok(queue.recv().await)
        };
        match next {
            Ok(Some(item)) => batch.push(item),
            Ok(None) => return Some((writer, publisher)),
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
        let written = match (written, publisher.as_mut()) {
            (Ok(waiting), Some(publisher)) => {
                let spool = writer.path().to_owned();
                match publisher.offer(writer, waiting, false).await {
                    Ok(back) => {
                        writer = back;
                        Ok(waiting)
                    }
                    Err(e) => {
                        let message = publisher.failure_message(&e.message, &spool);
                        *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
                        queue.close();
                        return None;
                    }
                }
            }
            (written, _) => written,
        };
        match written {
            Ok(waiting) => {
                pending = waiting > 0;
                durable = writer.stats().samples - waiting as u64;
            }
            Err(e) if on_failure == OnFailure::Discard || publisher.is_some() => {
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
            let (format, options) = (self.format, self.options.clone());
            let flush_interval = options.flush_interval;
            let Location::S3 { bucket, key } = &self.location else {
                let dir = self.dir.clone();
                let writer =
                    examen_rt::to_thread(move || LogWriter::create(&dir, format, header, options))
                        .await
                        .map_err(|e| LogSinkError::new(e.to_string()))?;
                let sink = WriterSink::start(writer, flush_interval, OnFailure::KeepLog);
                return Ok(Arc::new(sink) as Arc<dyn LogSink>);
            };
            let client = self
                .store
                .s3()
                .map_err(|e| LogSinkError::new(e.to_string()))?
                .clone();
            // The spool: a directory of this log's own, so the writer's name is the object's.
            let (writer, spool_dir) = examen_rt::to_thread(move || {
                let spool_dir = std::env::temp_dir()
                    .join("examen-s3-spool")
                    .join(examen_types::short_uuid());
                let writer = LogWriter::create(&spool_dir, format, header, options)
                    .map_err(|e| LogSinkError::new(e.to_string()))?;
                Ok::<_, LogSinkError>((writer, spool_dir))
            })
            .await?;
            let name = writer
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let object_key = Location::S3 {
                bucket: bucket.clone(),
                key: key.clone(),
            }
            .join(&name);
            let Location::S3 {
                key: object_key, ..
            } = object_key
            else {
                unreachable!("an S3 location joins to an S3 location")
            };
            let spool = match format {
                LogFormat::Eval => Some(Arc::new(std::fs::File::open(writer.path()).map_err(
                    |e| LogSinkError::new(format!("{}: {e}", writer.path().display())),
                )?)),
                LogFormat::Json => None,
            };
            let object = examen_store::s3::LogObject::new(client, bucket, object_key);
            let mut publisher = Publisher {
                url: object.url(),
                object: Some(object),
                inflight: None,
                spool,
                spool_dir,
                sent: 0,
                published_samples: 0,
                last_publish: std::time::Instant::now(),
                interval: flush_interval,
            };
            // The log appears in S3 at once, with status `started`, as a local one does.
            let writer = publisher.offer(writer, 0, true).await?;
            publisher.settle(true).await.map_err(|e| {
                LogSinkError::new(format!("{} (the log could not be created)", e.message))
            })?;
            let sink = WriterSink::start_publishing(
                writer,
                Some(publisher),
                flush_interval,
                OnFailure::KeepLog,
            );
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
            let (writer, publisher) = self.close_publishing().await?;
            let spool_path = writer.path().to_owned();
            let (path, snapshot) = examen_rt::to_thread(move || {
                writer
                    .finish_with_snapshot(&finish)
                    .map(|(path, _, snapshot)| (path, snapshot))
                    .map_err(|e| LogSinkError::new(e.to_string()))
            })
            .await?;
            let Some(mut publisher) = publisher else {
                return Ok(Some(path.display().to_string()));
            };
            let fail = |publisher: &Publisher, e: LogSinkError| {
                LogSinkError::new(publisher.failure_message(&e.message, &spool_path))
            };
            if let Err(e) = publisher.settle(true).await {
                return Err(fail(&publisher, e));
            }
            let spool = publisher.spool.clone();
            let frozen = examen_rt::to_thread(move || match (spool, snapshot) {
                (Some(spool), Some(snapshot)) => {
                    examen_store::s3::Frozen::capture(spool, &snapshot)
                }
                _ => examen_store::s3::Frozen::whole(std::fs::File::open(&path)?),
            })
            .await
            .map_err(|e| LogSinkError::new(format!("{}: {e}", spool_path.display())))?;
            let Some(mut object) = publisher.object.take() else {
                return Err(LogSinkError::new("the log's upload was lost"));
            };
            if let Err(e) = object.publish(&frozen).await {
                return Err(fail(&publisher, LogSinkError::new(e.to_string())));
            }
            let spool_dir = publisher.spool_dir.clone();
            let _ = examen_rt::to_thread(move || std::fs::remove_dir_all(spool_dir)).await;
            Ok(Some(publisher.url.clone()))
        })
    }
}
