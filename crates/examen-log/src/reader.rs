//! Reading logs: examen's and Inspect's, `.eval` (deflate or zstd members) and
//! `.json`, header-only, whole, or one sample at a time; and recovering the samples
//! of a log whose writer died.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{LogError, Result};
use crate::schema::{
    EvalLog, EvalSample, EvalSampleReductions, EvalSampleSummary, EvalStatus, LogStart, SampleId,
};
use crate::writer::{is_journal_summary, json_samples_path};
use crate::zip::{self, Entry};
use crate::{
    jsonscan, pyjson, HEADER_JSON, JOURNAL_START_JSON, REDUCTIONS_JSON, SAMPLES_DIR, SUMMARIES_JSON,
};

/// Options for [`read_log`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Read only the header (no samples).
    pub header_only: bool,
}

/// Reads a whole log (or its header). Samples are sorted as Inspect sorts them:
/// by epoch, then id.
pub fn read_log(path: &Path, opts: ReadOptions) -> Result<EvalLog> {
    let reader = LogReader::open(path)?;
    let mut log = reader.header().clone();
    if !opts.header_only {
        let samples = reader.samples().collect::<Result<Vec<_>>>()?;
        log.samples = Some(samples);
    }
    Ok(log)
}

/// Reads the sample summaries of a log (`summaries.json`, or the journal of a log
/// in progress; for `.json` logs, computed from the samples).
pub fn read_summaries(path: &Path) -> Result<Vec<EvalSampleSummary>> {
    LogReader::open(path)?.summaries()
}

enum Source {
    Zip {
        file: File,
        len: u64,
        entries: Vec<Entry>,
        /// Indices of sample members (last entry per name), in Inspect's order.
        samples: Vec<usize>,
    },
    Json {
        file: File,
        samples: Vec<(u64, u64)>,
    },
}

/// An open log: its header, and its samples read on demand one at a time.
pub struct LogReader {
    path: PathBuf,
    header: EvalLog,
    source: Source,
    stopped: Option<String>,
}

impl LogReader {
    /// Opens a log, reading its header (`header.json`, or `_journal/start.json` for
    /// a log still running, whose status is then `started`).
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| LogError::io(path, e))?;
        let mut magic = [0u8; 4];
        let n = read_prefix(&mut file, &mut magic).map_err(|e| LogError::io(path, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| LogError::io(path, e))?;
        if n == 4 && magic == *b"PK\x03\x04" {
            return Self::open_zip(path, file);
        }
        if first_non_ws_byte(&mut file).map_err(|e| LogError::io(path, e))? == Some(b'{') {
            file.seek(SeekFrom::Start(0))
                .map_err(|e| LogError::io(path, e))?;
            let reader = Self::open_json(path, file)?;
            // The writer finishing between our opening the (then `started`) log and looking
            // for its side file: its final file has replaced the one read; read that one.
            if reader.header.status == EvalStatus::Started
                && !json_samples_path(path).exists()
                && replaced_since(path, &reader)
            {
                let file = File::open(path).map_err(|e| LogError::io(path, e))?;
                return Self::open_json(path, file);
            }
            return Ok(reader);
        }
        Err(LogError::format(
            path,
            "not an eval log: expected a zip archive (.eval) or a JSON object (.json)",
        ))
    }

    fn open_zip(path: &Path, file: File) -> Result<Self> {
        let len = file.metadata().map_err(|e| LogError::io(path, e))?.len();
        let entries = zip::read_central_directory(&file).map_err(|e| match e {
            zip::ZipError::Format(reason) => LogError::NotZip {
                path: path.to_owned(),
                reason: format!("{reason} (a crashed log can be read with `recover`)"),
            },
            other => LogError::from_zip(path, other),
        })?;
        let header = zip_header(path, &file, len, &entries)?;
        let samples = sample_indices(&entries);
        Ok(Self {
            path: path.to_owned(),
            header,
            source: Source::Zip {
                file,
                len,
                entries,
                samples,
            },
            stopped: None,
        })
    }

    fn open_json(path: &Path, file: File) -> Result<Self> {
        let layout = jsonscan::scan(&file)
            .map_err(|e| LogError::io(path, e))?
            .map_err(|reason| LogError::format(path, format!("invalid JSON log: {reason}")))?;
        // Rebuild an object from every member but the samples and parse it as the header.
        let mut obj = Vec::from(&b"{"[..]);
        for (key, start, end) in &layout.members {
            if key == "samples" {
                continue;
            }
            if obj.len() > 1 {
                obj.push(b',');
            }
            obj.extend_from_slice(&serde_json::to_vec(key).unwrap_or_default());
            obj.push(b':');
            obj.extend_from_slice(&read_span(path, &file, *start, *end)?);
        }
        obj.push(b'}');
        let header: EvalLog =
            pyjson::from_slice(&obj).map_err(|e| LogError::json(path, "log header", &e))?;
        let mut reader = Self {
            path: path.to_owned(),
            header,
            source: Source::Json {
                file,
                samples: layout.samples,
            },
            stopped: None,
        };
        if reader.header.status == EvalStatus::Started {
            // A log in progress (or whose writer died): the side file holds every flushed
            // sample, the main file only those of its last rewrite.
            let side = json_samples_path(path);
            match File::open(&side) {
                Ok(side_file) => {
                    let (samples, stopped) = side_file_samples(&side, &side_file)?;
                    reader.source = Source::Json {
                        file: side_file,
                        samples,
                    };
                    reader.stopped = stopped;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&side, e)),
            }
        }
        Ok(reader)
    }

    /// Why the samples of a log in progress stop where they do, when they stop short of the
    /// end of its `.json` side file (a partial last line: the writer died mid-flush), or
    /// which lines of it were skipped.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header: everything but samples (reductions included when present).
    pub fn header(&self) -> &EvalLog {
        &self.header
    }

    /// Number of samples in the log.
    pub fn sample_count(&self) -> usize {
        match &self.source {
            Source::Zip { samples, .. } => samples.len(),
            Source::Json { samples, .. } => samples.len(),
        }
    }

    /// The samples, read and parsed one at a time (for `.eval` in Inspect's order).
    pub fn samples(&self) -> impl Iterator<Item = Result<EvalSample>> + '_ {
        (0..self.sample_count()).map(move |i| self.sample_at(i))
    }

    /// The sample at `index` of [`samples`](Self::samples). Reads use
    /// positioned I/O, so threads sharing a reader can read samples in parallel.
    pub fn sample_at(&self, index: usize) -> Result<EvalSample> {
        if index >= self.sample_count() {
            return Err(LogError::format(
                &self.path,
                format!(
                    "no sample at index {index}: the log has {}",
                    self.sample_count()
                ),
            ));
        }
        match &self.source {
            Source::Zip {
                file,
                len,
                entries,
                samples,
            } => {
                let e = &entries[samples[index]];
                let data = zip::read_entry(file, e, *len)
                    .map_err(|err| LogError::from_zip(&self.path, err))?;
                parse_sample(&data).map_err(|err| LogError::json(&self.path, &e.name, &err))
            }
            Source::Json { file, samples } => {
                let (start, end) = samples[index];
                let data = read_span(&self.path, file, start, end)?;
                parse_sample(&data)
                    .map_err(|err| LogError::json(&self.path, &format!("samples[{index}]"), &err))
            }
        }
    }

    /// Reads one sample by id and epoch.
    pub fn read_sample(&self, id: &SampleId, epoch: u32) -> Result<Option<EvalSample>> {
        match &self.source {
            Source::Zip {
                file,
                len,
                entries,
                samples,
            } => {
                let name = crate::sample_member_name(id, epoch);
                let Some(&i) = samples.iter().find(|&&i| entries[i].name == name) else {
                    return Ok(None);
                };
                let data = zip::read_entry(file, &entries[i], *len)
                    .map_err(|err| LogError::from_zip(&self.path, err))?;
                parse_sample(&data)
                    .map(Some)
                    .map_err(|err| LogError::json(&self.path, &name, &err))
            }
            Source::Json { .. } => {
                for s in self.samples() {
                    let s = s?;
                    if &s.id == id && s.epoch == epoch {
                        return Ok(Some(s));
                    }
                }
                Ok(None)
            }
        }
    }

    /// Names of an `.eval` log's zip members in file order (empty for `.json`).
    pub fn member_names(&self) -> Vec<&str> {
        match &self.source {
            Source::Zip { entries, .. } => entries.iter().map(|e| e.name.as_str()).collect(),
            Source::Json { .. } => Vec::new(),
        }
    }

    /// The raw (decompressed) bytes of an `.eval` member, the last one of that
    /// name; `Ok(None)` when there is no such member or the log is `.json`.
    pub fn member_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match &self.source {
            Source::Zip {
                file, len, entries, ..
            } => match last_entry(entries, name) {
                Some(e) => zip::read_entry(file, e, *len)
                    .map(Some)
                    .map_err(|err| LogError::from_zip(&self.path, err)),
                None => Ok(None),
            },
            Source::Json { .. } => Ok(None),
        }
    }

    /// Sample summaries: `summaries.json` when present, else the journal summaries
    /// (last one wins per sample); for `.json` logs, computed from the samples.
    pub fn summaries(&self) -> Result<Vec<EvalSampleSummary>> {
        match &self.source {
            Source::Zip {
                file, len, entries, ..
            } => {
                let member = |e: &Entry| -> Result<Vec<EvalSampleSummary>> {
                    let data = zip::read_entry(file, e, *len)
                        .map_err(|err| LogError::from_zip(&self.path, err))?;
                    pyjson::from_slice(&data)
                        .map_err(|err| LogError::json(&self.path, &e.name, &err))
                };
                let all = if let Some(e) = last_entry(entries, SUMMARIES_JSON) {
                    member(e)?
                } else {
                    let mut journal: Vec<(u64, &Entry)> = entries
                        .iter()
                        .filter(|e| is_journal_summary(&e.name))
                        .filter_map(|e| Some((journal_index(&e.name)?, e)))
                        .collect();
                    journal.sort_by_key(|(i, _)| *i);
                    let mut all = Vec::new();
                    for (_, e) in journal {
                        all.extend(member(e)?);
                    }
                    all
                };
                Ok(dedupe_summaries(all))
            }
            Source::Json { .. } => self.samples().map(|s| s.map(|s| s.summary())).collect(),
        }
    }
}

/// Parses a sample member and resolves its condensed events
/// ([`EvalSample::resolve_events_data`]), as Inspect's readers do on every read:
/// what examen reads has every model event's full input, whoever wrote the log.
fn parse_sample(data: &[u8]) -> std::result::Result<EvalSample, serde_json::Error> {
    let mut sample: EvalSample = pyjson::from_slice(data)?;
    sample.resolve_events_data();
    Ok(sample)
}

fn read_prefix(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn first_non_ws_byte(file: &mut File) -> std::io::Result<Option<u8>> {
    let mut r = BufReader::new(file);
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(&b) = buf.iter().find(|b| !b.is_ascii_whitespace()) {
            return Ok(Some(b));
        }
        let n = buf.len();
        r.consume(n);
    }
}

/// A positioned read (pread): it does not move the file's shared cursor, so
/// threads sharing a reader can read spans at once.
fn read_span(path: &Path, file: &File, start: u64, end: u64) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut buf, start)
        .map_err(|e| LogError::io(path, e))?;
    Ok(buf)
}

/// Whether the file at `path` is no longer the one `reader` opened (renamed over since).
fn replaced_since(path: &Path, reader: &LogReader) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Source::Json { file, .. } = &reader.source else {
        return false;
    };
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(opened), Ok(now)) => (opened.dev(), opened.ino()) != (now.dev(), now.ino()),
        _ => false,
    }
}

/// A byte range `[start, end)` of a file.
type Span = (u64, u64);

/// A sample's identity, read from its JSON without keeping the rest.
#[derive(serde::Deserialize)]
struct SampleKey {
    id: SampleId,
    epoch: u32,
}

/// The samples of a `.json` log's side file (one sample per line, appended at each
/// flush): the span of each complete line, in Inspect's order (epoch, then id), the
/// last line of a sample written twice winning, as the writer's rewrites order them.
/// A last line without its newline was being written when the writer died: it is left
/// out, and so is a line that is not a sample; both are reported in the second value.
fn side_file_samples(side: &Path, file: &File) -> Result<(Vec<Span>, Option<String>)> {
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut keyed: Vec<((u32, String), u64, u64)> = Vec::new();
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut notes = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| LogError::io(side, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let start = offset;
        offset += n as u64;
        if line.last() != Some(&b'\n') {
            notes.push(format!(
                "{}: partial sample line {number} at byte {start} (the writer stopped mid-flush)",
                side.display()
            ));
            break;
        }
        let body = &line[..n - 1];
        if body.trim_ascii().is_empty() {
            continue;
        }
        match pyjson::from_slice::<SampleKey>(body) {
            Ok(key) => keyed.push(((key.epoch, key.id.sort_key()), start, start + n as u64 - 1)),
            Err(e) => notes.push(format!(
                "{}: line {number} is not a sample ({e}); skipped",
                side.display()
            )),
        }
    }
    // Stable: a sample written twice keeps its lines in file order, the later last.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut spans: Vec<Span> = Vec::with_capacity(keyed.len());
    let mut last_key: Option<(u32, String)> = None;
    for (key, start, end) in keyed {
        if last_key.as_ref() == Some(&key) {
            if let Some(span) = spans.last_mut() {
                *span = (start, end);
            }
            continue;
        }
        spans.push((start, end));
        last_key = Some(key);
    }
    Ok((spans, (!notes.is_empty()).then(|| notes.join("; "))))
}

fn last_entry<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    entries.iter().rev().find(|e| e.name == name)
}

fn journal_index(name: &str) -> Option<u64> {
    name.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()
}

/// Keeps the last summary per (id, epoch), in first-seen order.
fn dedupe_summaries(all: Vec<EvalSampleSummary>) -> Vec<EvalSampleSummary> {
    let mut index: HashMap<(String, u32), usize> = HashMap::new();
    let mut out: Vec<EvalSampleSummary> = Vec::with_capacity(all.len());
    for s in all {
        let key = (s.id.to_string(), s.epoch);
        match index.get(&key) {
            Some(&i) => out[i] = s,
            None => {
                index.insert(key, out.len());
                out.push(s);
            }
        }
    }
    out
}

/// Parses `samples/{id}_epoch_{n}.json` into a sort key (epoch, Inspect's id key).
fn sample_sort_key(name: &str) -> Option<(u64, String)> {
    let stem = name
        .strip_prefix(SAMPLES_DIR)?
        .strip_prefix('/')?
        .strip_suffix(".json")?;
    let (id, epoch) = stem.rsplit_once("_epoch_")?;
    let epoch: u64 = epoch.parse().ok()?;
    let key = SampleId::parse_int(id).map_or_else(|| id.to_owned(), |id| id.sort_key());
    Some((epoch, key))
}

/// Sample members (last entry per name wins), sorted as Inspect sorts samples.
fn sample_indices(entries: &[Entry]) -> Vec<usize> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.name.starts_with("samples/") && e.name.ends_with(".json") {
            last.insert(&e.name, i);
        }
    }
    let mut keyed: Vec<((u64, String), usize)> = last
        .into_iter()
        .map(|(name, i)| (sample_sort_key(name).unwrap_or((0, name.to_owned())), i))
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| i).collect()
}

fn zip_header<R: zip::Positioned + ?Sized>(
    path: &Path,
    file: &R,
    len: u64,
    entries: &[Entry],
) -> Result<EvalLog> {
    let read =
        |e: &Entry| zip::read_entry(file, e, len).map_err(|err| LogError::from_zip(path, err));
    let mut header = if let Some(e) = last_entry(entries, HEADER_JSON) {
        pyjson::from_slice::<EvalLog>(&read(e)?)
            .map_err(|err| LogError::json(path, HEADER_JSON, &err))?
    } else if let Some(e) = last_entry(entries, JOURNAL_START_JSON) {
        let start: LogStart = pyjson::from_slice(&read(e)?)
            .map_err(|err| LogError::json(path, JOURNAL_START_JSON, &err))?;
        EvalLog::from_start(&start)
    } else {
        return Err(LogError::format(
            path,
            format!("zip holds neither {HEADER_JSON} nor {JOURNAL_START_JSON}: not an eval log"),
        ));
    };
    if let Some(e) = last_entry(entries, REDUCTIONS_JSON) {
        let reductions: Vec<EvalSampleReductions> = pyjson::from_slice(&read(e)?)
            .map_err(|err| LogError::json(path, REDUCTIONS_JSON, &err))?;
        header.reductions = Some(reductions);
    }
    header.samples = None;
    Ok(header)
}

/// What [`recover`] salvaged from a log whose writer may have died.
pub struct Recovered {
    path: PathBuf,
    /// The header: `header.json` when the log finished, else built from the
    /// journal's `start.json` (status `started`).
    pub log: EvalLog,
    /// True when the log had finished (a `header.json` was intact).
    pub finished: bool,
    /// Why recovery stopped before the end of the file, if it did (e.g. the
    /// truncated member the writer was writing when it died).
    pub stopped: Option<String>,
    source: RecoveredSource,
}

enum RecoveredSource {
    Zip {
        file: File,
        len: u64,
        entries: Vec<Entry>,
        samples: Vec<usize>,
    },
    /// A `.json` log (its reader reads the side file of one in progress).
    Reader(Box<LogReader>),
}

impl Recovered {
    /// Number of intact samples.
    pub fn sample_count(&self) -> usize {
        match &self.source {
            RecoveredSource::Zip { samples, .. } => samples.len(),
            RecoveredSource::Reader(r) => r.sample_count(),
        }
    }

    /// The `i`-th intact sample (in the order of [`samples`](Self::samples)),
    /// or `None` past the end.
    pub fn sample(&self, i: usize) -> Option<Result<EvalSample>> {
        if i >= self.sample_count() {
            return None;
        }
        Some(match &self.source {
            RecoveredSource::Zip {
                file,
                len,
                entries,
                samples,
            } => {
                let e = &entries[samples[i]];
                zip::read_entry(file, e, *len)
                    .map_err(|err| LogError::from_zip(&self.path, err))
                    .and_then(|data| {
                        parse_sample(&data).map_err(|err| LogError::json(&self.path, &e.name, &err))
                    })
            }
            RecoveredSource::Reader(r) => r.sample_at(i),
        })
    }

    /// The intact samples, one at a time.
    pub fn samples(&self) -> Box<dyn Iterator<Item = Result<EvalSample>> + '_> {
        Box::new((0..self.sample_count()).filter_map(move |i| self.sample(i)))
    }
}

/// Recovers every intact sample of a log, finished or not: for `.eval`, walks the
/// local headers from the start of the file (ignoring a missing or damaged central
/// directory) and keeps each member whose CRC checks out; for `.json`, reads the
/// samples side file of a log in progress.
pub fn recover(path: &Path) -> Result<Recovered> {
    let mut file = File::open(path).map_err(|e| LogError::io(path, e))?;
    let mut magic = [0u8; 4];
    let n = read_prefix(&mut file, &mut magic).map_err(|e| LogError::io(path, e))?;
    if n == 4 && magic == *b"PK\x03\x04" {
        let len = file.metadata().map_err(|e| LogError::io(path, e))?.len();
        let scan = zip::scan_local_headers(&file).map_err(|e| LogError::io(path, e))?;
        let entries = scan.entries;
        let finished = last_entry(&entries, HEADER_JSON).is_some();
        let log = zip_header(path, &file, len, &entries)?;
        let samples = sample_indices(&entries);
        return Ok(Recovered {
            path: path.to_owned(),
            log,
            finished,
            stopped: scan.stopped,
            source: RecoveredSource::Zip {
                file,
                len,
                entries,
                samples,
            },
        });
    }
    // A `.json` log's reader already reads the side file of one in progress.
    let reader = LogReader::open(path)?;
    let finished = reader.header().status != EvalStatus::Started;
    let stopped = reader.stopped().map(str::to_owned);
    Ok(Recovered {
        path: path.to_owned(),
        log: reader.header().clone(),
        finished,
        stopped,
        source: RecoveredSource::Reader(Box::new(reader)),
    })
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovered")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A log known only by the byte ranges fetched from it so far (a remote `.eval`), for reading
/// its header without downloading it: [`read_header`](PartialFile::read_header) says which
/// bytes it needs next until it has what it needs. Typically the last 64 KiB (end records and
/// central directory) and the header member.
pub struct PartialFile {
    name: PathBuf,
    len: u64,
    pieces: Vec<(u64, Vec<u8>)>,
    /// The first read that found its bytes missing, as (start, end).
    missing: std::cell::Cell<Option<(u64, u64)>>,
}

/// What [`PartialFile::read_header`] found.
#[derive(Debug)]
pub enum HeaderRead {
    /// The header (status `started` for a log still running) and how many samples it holds.
    Header {
        /// The header, without samples.
        log: Box<EvalLog>,
        /// Sample members.
        samples: usize,
    },
    /// These bytes are needed first.
    Need(std::ops::Range<u64>),
}

impl PartialFile {
    /// A file of `len` bytes, called `name` in messages.
    pub fn new(name: impl Into<PathBuf>, len: u64) -> Self {
        Self {
            name: name.into(),
            len,
            pieces: Vec::new(),
            missing: std::cell::Cell::new(None),
        }
    }

    /// Adds bytes fetched at `offset`.
    pub fn add(&mut self, offset: u64, bytes: Vec<u8>) {
        self.pieces.push((offset, bytes));
    }

    /// Reads the header of the `.eval` log, or says which bytes to fetch first.
    pub fn read_header(&self) -> Result<HeaderRead> {
        self.missing.set(None);
        let attempt = (|| {
            let entries =
                zip::read_central_directory(self).map_err(|e| LogError::from_zip(&self.name, e))?;
            let log = zip_header(&self.name, self, self.len, &entries)?;
            Ok((log, sample_indices(&entries).len()))
        })();
        match (attempt, self.missing.take()) {
            (_, Some((start, end))) => Ok(HeaderRead::Need(start..end)),
            (Ok((log, samples)), None) => Ok(HeaderRead::Header {
                log: Box::new(log),
                samples,
            }),
            (Err(e), None) => Err(e),
        }
    }
}

impl zip::Positioned for PartialFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let end = offset + buf.len() as u64;
        for (at, bytes) in &self.pieces {
            if *at <= offset && end <= at + bytes.len() as u64 {
                let from = (offset - at) as usize;
                buf.copy_from_slice(&bytes[from..from + buf.len()]);
                return Ok(());
            }
        }
        if self.missing.get().is_none() {
            self.missing.set(Some((offset, end.min(self.len))));
        }
        Err(std::io::Error::other("not fetched yet"))
    }

    fn byte_len(&self) -> std::io::Result<u64> {
        Ok(self.len)
    }

    fn will_read(&self, range: std::ops::Range<u64>) {
        let covered = self
            .pieces
            .iter()
            .any(|(at, bytes)| *at <= range.start && range.end <= at + bytes.len() as u64);
        if !covered && self.missing.get().is_none() {
            self.missing
                .set(Some((range.start, range.end.min(self.len))));
        }
    }
}

impl std::fmt::Debug for PartialFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartialFile")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("pieces", &self.pieces.len())
            .finish()
    }
}
