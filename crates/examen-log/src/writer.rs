//! The streaming log writer (synchronous; the engine calls it off its async threads).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{LogError, Result};
use crate::schema::{EvalLog, EvalSample, EvalSampleReductions, LogFinish, LogStart, SampleId};
use crate::zip::ZipAppender;
use crate::PreparedSample;
use crate::Snapshot;
use crate::{
    pyjson, sample_member_name, HEADER_JSON, JOURNAL_START_JSON, JOURNAL_SUMMARIES_DIR,
    REDUCTIONS_JSON, SUMMARIES_JSON,
};

/// On-disk format of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `.eval`: a zip archive (the default).
    #[default]
    Eval,
    /// `.json`: one JSON object.
    Json,
}

impl LogFormat {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            LogFormat::Eval => "eval",
            LogFormat::Json => "json",
        }
    }

    /// The format a path's extension names, if any.
    pub fn from_path(path: &Path) -> Option<LogFormat> {
        match path.extension()?.to_str()? {
            "eval" => Some(LogFormat::Eval),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// When the writer flushes, and how hard.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Flush after this many samples are buffered (Inspect's `log_buffer`). An
    /// `.eval` flush appends to the central directory rather than rewriting it, so
    /// total bytes written stay linear in the log size however often it flushes.
    pub buffer_samples: usize,
    /// Flush buffered samples at least this often (checked on every
    /// [`LogWriter::write_sample`] and [`LogWriter::flush_if_due`]).
    pub flush_interval: Duration,
    /// Deflate level (0-9) for `.eval` members. The default, 1, takes 0.3× the
    /// time of level 6 for members ~25% larger (zlib-rs on 5,000 samples of the
    /// benchmark task): the log is written once per sample on the eval's critical
    /// path, and read rarely.
    pub compression_level: u32,
    /// fsync after every flush (the final write is always fsynced).
    pub sync_on_flush: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            buffer_samples: 10,
            flush_interval: Duration::from_secs(10),
            compression_level: 1,
            sync_on_flush: false,
        }
    }
}

/// Counters for the write-amplification and memory figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Samples written.
    pub samples: u64,
    /// Flushes performed (each leaves a complete log on disk).
    pub flushes: u64,
    /// Bytes written to the log and its side files.
    pub bytes_written: u64,
    /// Current size of the log file.
    pub file_len: u64,
}

/// Writes one eval log, streaming samples to disk as the run goes.
///
/// After [`create`](LogWriter::create) and after every flush the file is a complete
/// log with status `started` that Inspect's reader opens; [`finish`](LogWriter::finish)
/// writes the final header. See the crate docs for the format and crash guarantees.
pub struct LogWriter {
    path: PathBuf,
    inner: Inner,
    /// Held (an exclusive `flock`) while the log is written, so that other processes can
    /// tell a log in progress from one whose writer died ([`is_being_written`]). Released
    /// when the writer is dropped, and by the kernel when its process dies.
    _lock: Option<File>,
    opts: WriterOptions,
    start: LogStart,
    last_flush: Instant,
    stats: WriterStats,
}

enum Inner {
    // Boxed: the zip appender (with its deflate state) is several times larger
    // than the `.json` writer.
    Eval(Box<EvalFile>),
    Json(JsonFile),
}

struct EvalFile {
    zip: ZipAppender,
    /// A second handle on the log, opened with the log so that finishing it needs no new file
    /// descriptor (a run that used them all, on connections, must still close its log): the
    /// journal members are read back through it while the appender writes at the end.
    reader: File,
    /// Summaries of the samples staged since the last flush, as a JSON array body.
    pending_summaries: Vec<u8>,
    pending_samples: usize,
    journal_count: u64,
}

struct JsonFile {
    /// Side file holding one sample JSON per line, appended at every flush.
    samples_path: PathBuf,
    samples_file: File,
    samples_len: u64,
    /// Sample bytes in the main file as of its last rewrite.
    rewritten_len: u64,
    /// Rewrites of the main file so far.
    rewrites: u64,
    pending: Vec<u8>,
    pending_samples: usize,
    bytes_written: u64,
    /// (epoch, id sort key, offset in the side file, length) of every sample, so
    /// rewrites list samples in Inspect's order (epoch, then id).
    index: Vec<(u32, String, u64, u64)>,
}

impl LogWriter {
    /// Creates `{dir}/{created}_{task}_{task_id}.{eval|json}` (Inspect's file name)
    /// and writes the start of the log.
    ///
    /// An existing log is never overwritten: when that name is taken (a retry of
    /// the same task within the same second), `created` moves forward a second at
    /// a time until the name is free, as Inspect does.
    ///
    /// The writer keeps `start` (taken by value: a long dataset's sample ids
    /// make it large, and a copy would be made only to free the original).
    pub fn create(
        dir: &Path,
        format: LogFormat,
        mut start: LogStart,
        opts: WriterOptions,
    ) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        for _ in 0..60 {
            let path = dir.join(crate::log_file_name(&start.eval, format));
            // Reserving the name with `create_new` is atomic: two runs starting
            // together cannot both take it.
            let reserved = !json_samples_path(&path).exists()
                && match File::options().write(true).create_new(true).open(&path) {
                    Ok(_) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                    Err(e) => return Err(LogError::io(&path, e)),
                };
            if reserved {
                return Self::create_at(&path, format, start, opts);
            }
            let next = crate::time::parse_iso(&start.eval.created)
                .map(|t| crate::time::format_iso(t + Duration::from_secs(1), false))
                .ok_or_else(|| {
                    LogError::format(
                        &path,
                        format!(
                            "the log exists, and `created` ({}) is not an ISO 8601 time to move on",
                            start.eval.created
                        ),
                    )
                })?;
            start.eval.created = next;
        }
        Err(LogError::format(
            dir,
            format!(
                "no free log file name for task `{}` (task id {}) within 60 seconds of its start",
                start.eval.task, start.eval.task_id
            ),
        ))
    }

    /// Creates the log at an explicit path (truncating an existing file).
    pub fn create_at(
        path: &Path,
        format: LogFormat,
        start: LogStart,
        opts: WriterOptions,
    ) -> Result<Self> {
        if is_being_written(path) {
            return Err(LogError::format(
                path,
                "another process is writing this log (it holds the log's lock); \
                 choose another path, or wait for its eval to finish",
            ));
        }
        let lock;
        let inner = match format {
            LogFormat::Eval => {
                let mut zip = ZipAppender::create(path, opts.compression_level.min(9))
                    .map_err(|e| LogError::io(path, e))?;
                // Locked before the start is written: a reader never sees a log in
                // progress without its writer's lock.
                lock = take_lock(path)?;
                zip.stage(JOURNAL_START_JSON, &to_json(path, "start.json", &start)?);
                zip.commit(opts.sync_on_flush)
                    .map_err(|e| LogError::io(path, e))?;
                let reader = zip.reader().map_err(|e| LogError::io(path, e))?;
                Inner::Eval(Box::new(EvalFile {
                    zip,
                    reader,
                    pending_summaries: Vec::new(),
                    pending_samples: 0,
                    journal_count: 0,
                }))
            }
            LogFormat::Json => {
                let samples_path = json_samples_path(path);
                // Read back through the same handle when the log is rewritten: no new file
                // descriptor is needed then but the temporary file's.
                let samples_file = File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&samples_path)
                    .map_err(|e| LogError::io(&samples_path, e))?;
                // The main file is replaced at every rewrite: the side file, which lives
                // exactly as long as the log is in progress, carries the lock.
                lock = take_lock(&samples_path)?;
                let mut f = JsonFile {
                    samples_path,
                    samples_file,
                    samples_len: 0,
                    rewritten_len: 0,
                    rewrites: 0,
                    pending: Vec::new(),
                    pending_samples: 0,
                    bytes_written: 0,
                    index: Vec::new(),
                };
                let header = EvalLog::from_start(&start);
                f.rewrite(path, &header, None)?;
                Inner::Json(f)
            }
        };
        let mut w = Self {
            path: path.to_owned(),
            inner,
            _lock: lock,
            opts,
            start,
            last_flush: Instant::now(),
            stats: WriterStats::default(),
        };
        w.refresh_stats();
        Ok(w)
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counters so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Buffers a finished sample (compressed, for `.eval`) and flushes when the
    /// buffer or the flush interval says so. The sample itself is not retained.
    pub fn write_sample(&mut self, sample: &EvalSample) -> Result<()> {
        let prepared = PreparedSample::from_sample(sample).map_err(|e| self.naming_file(e))?;
        self.write_prepared(prepared)
    }

    /// [`write_sample`](Self::write_sample) for a sample already serialized
    /// (see [`PreparedSample`]: prepare on the caller's threads, write here).
    pub fn write_prepared(&mut self, sample: PreparedSample) -> Result<()> {
        let PreparedSample {
            id,
            epoch,
            json,
            summary,
        } = sample;
        match &mut self.inner {
            Inner::Eval(f) => {
                let name = sample_member_name(&id, epoch);
                // A zip member's name has a 16-bit length: a longer one would corrupt the
                // archive, so it is refused before anything is staged.
                if name.len() > usize::from(u16::MAX) {
                    return Err(LogError::Sample {
                        what: format!("sample (epoch {epoch})"),
                        reason: format!(
                            "its id is {} bytes long, too long for an .eval log (a sample's \
                             member name `samples/{{id}}_epoch_{{epoch}}.json` is at most {} \
                             bytes); ids are at most {} bytes",
                            id.to_string().len(),
                            u16::MAX,
                            SampleId::MAX_LEN
                        ),
                    });
                }
                f.zip.stage(&name, &json);
                if !f.pending_summaries.is_empty() {
                    f.pending_summaries.push(b',');
                }
                f.pending_summaries.extend_from_slice(&summary);
                f.pending_samples += 1;
            }
            Inner::Json(f) => {
                let offset = f.samples_len + f.pending.len() as u64;
                f.index
                    .push((epoch, id.sort_key(), offset, json.len() as u64));
                f.pending.extend_from_slice(&json);
                f.pending.push(b'\n');
                f.pending_samples += 1;
            }
        }
        self.stats.samples += 1;
        if self.count_flush_due() || self.time_flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    /// A preparation error, given this log's file name.
    fn naming_file(&self, e: LogError) -> LogError {
        match e {
            LogError::Sample { what, reason } => LogError::Serialize {
                path: self.path.clone(),
                what,
                reason,
            },
            other => other,
        }
    }

    /// Samples written but not flushed yet (they reach the file at the next flush).
    pub fn pending_samples(&self) -> usize {
        match &self.inner {
            Inner::Eval(f) => f.pending_samples,
            Inner::Json(f) => f.pending_samples,
        }
    }

    fn count_flush_due(&self) -> bool {
        // A `.eval` flush writes the buffered members and appends their records to
        // the central directory, without rewriting it: its cost does not grow with the
        // log, so flushing as often as Inspect does keeps the buffer (and memory) small.
        self.pending_samples() >= self.opts.buffer_samples.max(1)
    }

    fn time_flush_due(&self) -> bool {
        self.pending_samples() > 0 && self.last_flush.elapsed() >= self.opts.flush_interval
    }

    /// Flushes if samples have waited longer than the flush interval. Call it on a
    /// timer when samples may arrive slowly.
    pub fn flush_if_due(&mut self) -> Result<()> {
        if self.time_flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every buffered sample now. Afterwards the file is a complete log
    /// (status `started`) holding every sample written so far.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.pending_samples() == 0 {
            return Ok(());
        }
        let path = self.path.clone();
        let sync = self.opts.sync_on_flush;
        match &mut self.inner {
            Inner::Eval(f) => f.flush(&path, sync)?,
            Inner::Json(f) => {
                f.append_pending(sync)?;
                // Rewriting the main file copies every sample, so do it on a doubling
                // schedule: total rewrite bytes stay within twice the final size.
                if f.samples_len >= 2 * f.rewritten_len.max(1) {
                    let header = EvalLog::from_start(&self.start);
                    f.rewrite(&path, &header, None)?;
                }
            }
        }
        self.stats.flushes += 1;
        self.refresh_stats();
        Ok(())
    }

    fn refresh_stats(&mut self) {
        match &self.inner {
            Inner::Eval(f) => {
                self.stats.bytes_written = f.zip.bytes_written();
                self.stats.file_len = f.zip.len();
            }
            Inner::Json(f) => {
                self.stats.file_len = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
                self.stats.bytes_written = f.bytes_written;
            }
        }
    }

    /// Writes the remaining samples, the summaries, reductions and final header, and
    /// fsyncs. Returns the log's path.
    pub fn finish(self, finish: &LogFinish) -> Result<PathBuf> {
        self.finish_with_stats(finish).map(|(path, _)| path)
    }

    /// [`finish`](Self::finish), also returning the final counters.
    pub fn finish_with_stats(self, finish: &LogFinish) -> Result<(PathBuf, WriterStats)> {
        self.finish_with_snapshot(finish)
            .map(|(path, stats, _)| (path, stats))
    }

    /// [`finish_with_stats`](Self::finish_with_stats), also returning the finished `.eval`
    /// file's [`Snapshot`] (for uploading it; `None` for `.json`).
    pub fn finish_with_snapshot(
        mut self,
        finish: &LogFinish,
    ) -> Result<(PathBuf, WriterStats, Option<Snapshot>)> {
        let (path, stats) = self.finish_in_place(finish)?;
        Ok((path, stats, self.snapshot()))
    }

    /// The file as a reader should see it after the last flush: for `.eval`, the members, then
    /// the central directory and end records, without the room the file keeps between them;
    /// `None` for `.json` (whose file is always contiguous).
    pub fn snapshot(&self) -> Option<Snapshot> {
        match &self.inner {
            Inner::Eval(f) => Some(f.zip.snapshot()),
            Inner::Json(_) => None,
        }
    }

    /// Counts the changes to the file readers see: every `.eval` flush, every `.json`
    /// rewrite. Uploads compare it to know when there is something new to send.
    pub fn revision(&self) -> u64 {
        match &self.inner {
            Inner::Eval(_) => self.stats.flushes + 1,
            Inner::Json(f) => f.rewrites,
        }
    }

    fn finish_in_place(&mut self, finish: &LogFinish) -> Result<(PathBuf, WriterStats)> {
        let mut header = EvalLog::from_start(&self.start);
        header.status = finish.status;
        header.results = finish.results.clone();
        header.stats = finish.stats.clone();
        header.error = finish.error.clone();
        header.invalidated = finish.invalidated;
        let path = self.path.clone();
        match &mut self.inner {
            Inner::Eval(f) => {
                f.flush(&path, false)?;
                let summaries = f
                    .zip
                    .entries_where(is_journal_summary)
                    .map_err(|e| LogError::io(&path, e))?;
                let zip = &mut f.zip;
                let reader = &f.reader;
                let mut failure = None;
                let streamed = {
                    let len_before = zip.len();
                    zip.stream_member(SUMMARIES_JSON, |w| {
                        w.write_all(b"[")?;
                        let mut first = true;
                        for e in &summaries {
                            let body = match crate::zip::read_entry(reader, e, len_before) {
                                Ok(b) => b,
                                Err(err) => {
                                    failure = Some(LogError::from_zip(&path, err));
                                    return Err(std::io::Error::other("journal read failed"));
                                }
                            };
                            let inner = array_body(&body);
                            if inner.is_empty() {
                                continue;
                            }
                            if !first {
                                w.write_all(b",")?;
                            }
                            first = false;
                            w.write_all(inner)?;
                        }
                        w.write_all(b"]")
                    })
                };
                if let Err(e) = streamed {
                    return Err(failure.unwrap_or_else(|| LogError::io(&path, e)));
                }
                if let Some(reductions) = &finish.reductions {
                    zip.stage(
                        REDUCTIONS_JSON,
                        &to_json(&path, REDUCTIONS_JSON, reductions)?,
                    );
                }
                zip.stage(HEADER_JSON, &to_json(&path, HEADER_JSON, &header)?);
                zip.finish().map_err(|e| LogError::io(&path, e))?;
            }
            Inner::Json(f) => {
                f.append_pending(false)?;
                f.rewrite(&path, &header, finish.reductions.as_deref())?;
                let _ = fs::remove_file(&f.samples_path);
            }
        }
        self.refresh_stats();
        Ok((path, self.stats))
    }
}

impl EvalFile {
    /// Stages the journal summary member for the pending samples.
    fn stage_journal(&mut self, path: &Path) -> Result<()> {
        if self.pending_samples == 0 {
            return Ok(());
        }
        self.journal_count += 1;
        let mut body = Vec::with_capacity(self.pending_summaries.len() + 2);
        body.push(b'[');
        body.extend_from_slice(&self.pending_summaries);
        body.push(b']');
        let name = format!("{JOURNAL_SUMMARIES_DIR}/{}.json", self.journal_count);
        self.zip.stage(&name, &body);
        self.pending_summaries.clear();
        self.pending_samples = 0;
        let _ = path;
        Ok(())
    }

    fn flush(&mut self, path: &Path, sync: bool) -> Result<()> {
        self.stage_journal(path)?;
        self.zip.commit(sync).map_err(|e| LogError::io(path, e))
    }
}

impl JsonFile {
    fn append_pending(&mut self, sync: bool) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.samples_file
            .write_all(&self.pending)
            .map_err(|e| LogError::io(&self.samples_path, e))?;
        if sync {
            self.samples_file
                .sync_data()
                .map_err(|e| LogError::io(&self.samples_path, e))?;
        }
        self.samples_len += self.pending.len() as u64;
        self.bytes_written += self.pending.len() as u64;
        self.pending.clear();
        self.pending_samples = 0;
        Ok(())
    }

    /// Writes the complete `.json` log (header fields, then every sample of the side
    /// file, then reductions) to a temporary file and renames it over `path`.
    fn rewrite(
        &mut self,
        path: &Path,
        header: &EvalLog,
        reductions: Option<&[EvalSampleReductions]>,
    ) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        let mut head = to_json(path, "log header", header)?;
        // Drop the closing brace: samples and reductions follow the header fields.
        head.pop();
        let mut out = std::io::BufWriter::with_capacity(
            256 * 1024,
            File::create(&tmp).map_err(|e| LogError::io(&tmp, e))?,
        );
        let io = |e| LogError::io(&tmp, e);
        out.write_all(&head).map_err(io)?;
        out.write_all(b",\"samples\":[").map_err(io)?;
        use std::os::unix::fs::FileExt;
        let mut order: Vec<&(u32, String, u64, u64)> = self
            .index
            .iter()
            .filter(|(_, _, offset, _)| *offset < self.samples_len)
            .collect();
        order.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        // A sample written twice (a retried sample) keeps its latest record, as the
        // `.eval` readers resolve a repeated member name to the last one.
        order.dedup_by(|later, earlier| {
            if (later.0, &later.1) == (earlier.0, &earlier.1) {
                *earlier = *later;
                true
            } else {
                false
            }
        });
        let mut buf = Vec::new();
        for (i, (_, _, offset, len)) in order.into_iter().enumerate() {
            if i > 0 {
                out.write_all(b",").map_err(io)?;
            }
            buf.resize(*len as usize, 0);
            self.samples_file
                .read_exact_at(&mut buf, *offset)
                .map_err(|e| LogError::io(&self.samples_path, e))?;
            out.write_all(&buf).map_err(io)?;
        }
        out.write_all(b"]").map_err(io)?;
        if let Some(reductions) = reductions {
            out.write_all(b",\"reductions\":").map_err(io)?;
            out.write_all(&to_json(path, "reductions", &reductions)?)
                .map_err(io)?;
        }
        out.write_all(b"}").map_err(io)?;
        let file = out
            .into_inner()
            .map_err(|e| LogError::io(&tmp, e.into_error()))?;
        self.bytes_written += file.metadata().map(|m| m.len()).unwrap_or(0);
        file.sync_data().map_err(|e| LogError::io(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| LogError::io(path, e))?;
        self.rewritten_len = self.samples_len;
        self.rewrites += 1;
        Ok(())
    }
}

/// Takes the writer's lock on `path` (a new handle: `flock` locks belong to an open
/// file, so this conflicts with every other opening, in this process or another). A file
/// system without `flock` gives no lock, and the log is written all the same.
fn take_lock(path: &Path) -> Result<Option<File>> {
    let file = File::open(path).map_err(|e| LogError::io(path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Err(LogError::format(
            path,
            "another process is writing this log (it holds the log's lock)",
        )),
        Err(fs::TryLockError::Error(_)) => Ok(None),
    }
}

/// Whether a live [`LogWriter`] (in this process or another) is writing the log at
/// `path`: it holds an exclusive `flock` on the `.eval` file, or on a `.json` log's side
/// file, from its creation until it is finished or dropped; the kernel drops the lock of
/// a process that dies. `false` for a finished log, for one whose writer died (a log left
/// `started` with no writer is a crashed one), and where the lock cannot be checked.
///
/// Writers other than examen's (Inspect's) take no such lock: a log with status
/// `started` may still be in progress whatever this says.
pub fn is_being_written(path: &Path) -> bool {
    let locked = |p: &Path| match File::open(p) {
        Ok(file) => matches!(file.try_lock_shared(), Err(fs::TryLockError::WouldBlock)),
        Err(_) => false,
    };
    locked(&json_samples_path(path)) || locked(path)
}

/// The side file of a `.json` log in progress: one sample per line.
pub(crate) fn json_samples_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".samples.partial");
    path.with_file_name(name)
}

pub(crate) fn is_journal_summary(name: &str) -> bool {
    name.strip_prefix(JOURNAL_SUMMARIES_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.strip_suffix(".json"))
        .is_some_and(|n| n.parse::<u64>().is_ok())
}

/// The inside of a JSON array's brackets (`[a,b]` → `a,b`), whitespace trimmed.
pub(crate) fn array_body(bytes: &[u8]) -> &[u8] {
    let t = bytes.trim_ascii();
    let t = t.strip_prefix(b"[").unwrap_or(t);
    let t = t.strip_suffix(b"]").unwrap_or(t);
    t.trim_ascii()
}

fn to_json<T: serde::Serialize + ?Sized>(path: &Path, what: &str, value: &T) -> Result<Vec<u8>> {
    pyjson::to_vec(value).map_err(|e| LogError::Serialize {
        path: path.to_owned(),
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
