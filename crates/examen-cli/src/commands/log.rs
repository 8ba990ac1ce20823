//! `examen log dump|list|convert`: reading eval logs (examen's and Inspect's) with examen-log,
//! local or in S3 (`s3://bucket/prefix`, through examen-store).
//!
//! Local logs are read synchronously: these commands do nothing else at the same time. A log
//! in S3 is downloaded to a temporary file first, except where its header is enough (`list`,
//! `dump --header-only`): then only the end of the file and the header member are fetched.

use std::io::Write;
use std::path::{Path, PathBuf};

use examen_log::{convert_log, EvalLog, LogFormat, LogReader, Recovered};
use examen_store::{Location, Store};
use serde_json::json;

use crate::args::{LogCommand, LogConvertArgs, LogDumpArgs, LogListArgs};
use crate::commands::eval::DEFAULT_LOG_DIR;
use crate::error::{CliError, Exit};

pub(crate) async fn run(command: LogCommand) -> Result<Exit, CliError> {
    let store = Store::from_env();
    match command {
        LogCommand::Dump(args) => dump(&store, &args).await,
        LogCommand::List(args) => list(&store, &args).await,
        LogCommand::Convert(args) => convert(&store, &args).await,
    }
}

/// What the user named, as a location.
fn location(path: &Path) -> Result<Location, CliError> {
    Location::from_path(path).map_err(CliError::usage)
}

/// A store error about a log: a missing one is bad input (exit 2), as for a local file.
fn store_error(err: examen_store::StoreError) -> CliError {
    CliError::usage(err)
}

/// A log opened for reading: a readable one, or what could be recovered from one whose writer
/// died (an `.eval` without its central directory, a `.json` still being written).
enum Opened {
    Reader(Box<LogReader>),
    Recovered(Box<Recovered>),
}

impl Opened {
    fn header(&self) -> &EvalLog {
        match self {
            Opened::Reader(reader) => reader.header(),
            Opened::Recovered(recovered) => &recovered.log,
        }
    }

    fn sample_count(&self) -> usize {
        match self {
            Opened::Reader(reader) => reader.sample_count(),
            Opened::Recovered(recovered) => recovered.sample_count(),
        }
    }
}

fn open(path: &Path) -> Result<Opened, CliError> {
    if !path.is_file() {
        return Err(CliError::usage(format!("{}: no such file", path.display())));
    }
    match LogReader::open(path) {
        Ok(reader) => Ok(Opened::Reader(Box::new(reader))),
        // Not a reason to give up yet: the samples of a crashed log are still there.
        Err(err) => match examen_log::recover(path) {
            Ok(recovered) => Ok(Opened::Recovered(Box::new(recovered))),
            Err(_) => Err(CliError::usage(err)),
        },
    }
}

async fn dump(store: &Store, args: &LogDumpArgs) -> Result<Exit, CliError> {
    let log = location(&args.log)?;
    if log.is_s3() && args.header_only && log.format() == Some(LogFormat::Eval) {
        let (header, _) = store.read_header(&log).await.map_err(store_error)?;
        let mut stdout = std::io::stdout().lock();
        let json = examen_log::to_python_json(&header)
            .map_err(|err| CliError::failed(format!("{log}: {err}")))?;
        stdout.write_all(&json)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
        return Ok(Exit::Success);
    }
    let copy = store.fetch_local(&log).await.map_err(store_error)?;
    let opened = open(copy.path())?;
    let to_json = |log: &EvalLog| {
        // Python-style JSON, so a NaN metric prints as `NaN` as in `inspect log dump`.
        examen_log::to_python_json(log)
            .map_err(|err| CliError::failed(format!("{}: {err}", args.log.display())))
    };
    let mut stdout = std::io::stdout().lock();
    match opened {
        _ if args.header_only => stdout.write_all(&to_json(opened.header())?)?,
        Opened::Reader(reader) => dump_streamed(&reader, &mut stdout, &args.log)?,
        Opened::Recovered(recovered) => {
            let mut log = recovered.log.clone();
            let samples = recovered
                .samples()
                .collect::<Result<Vec<_>, _>>()
                .map_err(CliError::usage)?;
            log.samples = Some(samples);
            stdout.write_all(&to_json(&log)?)?;
        }
    }
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(Exit::Success)
}

/// Writes the whole log as one JSON document, reading, parsing and printing one sample at a
/// time: the header is serialized with an empty `samples` list and the samples go inside it, so
/// the output is what serializing the full log would give, without holding every sample (or a
/// temporary copy of the log) at once.
fn dump_streamed(reader: &LogReader, out: &mut impl Write, path: &Path) -> Result<(), CliError> {
    let failed =
        |err: &dyn std::fmt::Display| CliError::failed(format!("{}: {err}", path.display()));
    let mut header = reader.header().clone();
    header.samples = None;
    let without = examen_log::to_python_json(&header).map_err(|e| failed(&e))?;
    header.samples = Some(Vec::new());
    let with = examen_log::to_python_json(&header).map_err(|e| failed(&e))?;
    // The two serializations differ only by the inserted `"samples":[]`: the split goes between
    // its brackets. (A search of the whole text could match a `samples` key in metadata.)
    let differ = without
        .iter()
        .zip(&with)
        .position(|(a, b)| a != b)
        .unwrap_or(without.len());
    let key = b"\"samples\":[]";
    let from = differ.saturating_sub(key.len());
    let split = with[from..]
        .windows(key.len())
        .position(|w| w == key)
        .map(|at| from + at + key.len() - 1)
        .ok_or_else(|| failed(&"cannot place the samples in the log header"))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    out.write_all(&with[..split])?;
    let mut first = true;
    for_each_sample_json(reader, |json| {
        if !std::mem::take(&mut first) {
            out.write_all(b",")?;
        }
        out.write_all(&json.map_err(|e| failed(&e))?)?;
        Ok(())
    })?;
    out.write_all(&with[split..])?;
    out.flush()?;
    Ok(())
}

/// Samples a dump worker may have serialized ahead of the printer.
const DUMP_AHEAD: usize = 64;

/// Calls `print` with the JSON of every sample of `reader`, in the log's order.
///
/// Reading, inflating, parsing and re-serializing a sample is the whole cost
/// of a dump and each sample is independent, so one worker per core does it
/// (the reader uses positioned reads; threads share it). A worker takes a
/// permit before claiming the next index and the printer hands the permit back
/// once that sample is printed, so at most `DUMP_AHEAD` samples are held while
/// the printer re-sequences them. The first error (in the log's order) ends
/// the dump and the workers.
fn for_each_sample_json(
    reader: &LogReader,
    mut print: impl FnMut(Result<Vec<u8>, String>) -> Result<(), CliError>,
) -> Result<(), CliError> {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Mutex};

    let count = reader.sample_count();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1))
        .min(DUMP_AHEAD); // Each worker's last claim takes a permit that never returns.
    let next = AtomicUsize::new(0);
    let (permit_sender, permits) = mpsc::sync_channel::<()>(DUMP_AHEAD);
    for _ in 0..DUMP_AHEAD {
        let _ = permit_sender.send(());
    }
    let permits = Mutex::new(permits);
    std::thread::scope(|scope| {
        // Owned here, so returning early drops it and wakes workers waiting for a permit.
        let permit_sender = permit_sender;
        let (sender, samples) = mpsc::sync_channel(DUMP_AHEAD);
        for _ in 0..workers {
            let sender = sender.clone();
            let (next, permits) = (&next, &permits);
            scope.spawn(move || loop {
                let permit = permits.lock().map(|p| p.recv());
                if !matches!(permit, Ok(Ok(()))) {
                    return; // The printer is gone.
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return;
                }
                let json = reader
                    .sample_at(index)
                    .map_err(|e| e.to_string())
                    .and_then(|sample| {
                        examen_log::to_python_json(&sample).map_err(|e| e.to_string())
                    });
                if sender.send((index, json)).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        // Samples arrive in the order they were finished: re-sequence them.
        let mut waiting = BTreeMap::new();
        let mut expected = 0;
        for (index, json) in samples {
            waiting.insert(index, json);
            while let Some(json) = waiting.remove(&expected) {
                // On error, dropping the permit sender and the receiver (by
                // returning) ends every worker.
                print(json)?;
                expected += 1;
                let _ = permit_sender.send(());
            }
        }
        Ok(())
    })
}

async fn list(store: &Store, args: &LogListArgs) -> Result<Exit, CliError> {
    let dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOG_DIR));
    let dir = location(&dir)?;
    // The same answer whether the directory was named or is the default `./logs`.
    if let Some(path) = dir.as_local() {
        if path.exists() && !path.is_dir() {
            return Err(CliError::usage(format!(
                "{}: is a file, not a directory of logs",
                path.display()
            )));
        } else if !path.exists() {
            return Err(CliError::usage(format!(
                "{}: no such directory (no eval has written logs there; pass --log-dir DIR)",
                path.display()
            )));
        }
    }
    let mut files = store
        .list(&dir)
        .await
        .map_err(|err| CliError::usage(format!("--log-dir {err}")))?;
    // Names start with the creation time: newest first.
    files.sort_by(|a, b| {
        b.location
            .file_name()
            .cmp(&a.location.file_name())
            .then_with(|| b.location.to_string().cmp(&a.location.to_string()))
    });
    // Headers of remote logs are fetched a few at a time (each a couple of range reads).
    let headers = examen_rt::collect_limited(
        16,
        files.iter().cloned().map(|file| {
            let store = store.clone();
            move || async move {
                let header = match file.location.as_local() {
                    Some(path) => {
                        let path = path.to_owned();
                        examen_rt::to_thread(move || {
                            open(&path).map(|o| (o.header().clone(), o.sample_count()))
                        })
                        .await
                    }
                    None => store
                        .read_header(&file.location)
                        .await
                        .map_err(|err| CliError::usage(err.to_string())),
                };
                Ok::<_, CliError>(header)
            }
        }),
    )
    .await?;
    let mut rows = Vec::new();
    let mut stderr = anstream::stderr();
    for (file, header) in files.iter().zip(headers) {
        let (header, samples) = match header {
            Ok(opened) => opened,
            Err(err) => {
                // A stray JSON file is not a reason to stop listing.
                let _ = writeln!(stderr, "warning: skipping {err}");
                continue;
            }
        };
        if args.status.is_some_and(|s| !s.matches(header.status)) {
            continue;
        }
        rows.push(json!({
            "name": file.location.to_string(),
            "status": header.status.as_str(),
            "task": header.eval.task,
            "task_id": header.eval.task_id,
            "model": header.eval.model,
            "created": header.eval.created,
            "samples": samples,
            "size": file.size,
            "modified": examen_types::time::format_iso(file.modified, false),
        }));
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &rows).map_err(|err| CliError::io(err.into()))?;
        stdout.write_all(b"\n")?;
    } else {
        let columns = [
            "status", "task", "model", "samples", "size", "modified", "name",
        ];
        let cell = |row: &serde_json::Value, column: &str| match &row[column] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let widths: Vec<usize> = columns
            .iter()
            .map(|c| {
                rows.iter()
                    .map(|r| cell(r, c).chars().count())
                    .chain(std::iter::once(c.len()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        if !rows.is_empty() {
            let header: Vec<String> = columns
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{:<w$}", c.to_uppercase()))
                .collect();
            writeln!(stdout, "{}", header.join("  ").trim_end())?;
        }
        for row in &rows {
            let cells: Vec<String> = columns
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{:<w$}", cell(row, c)))
                .collect();
            writeln!(stdout, "{}", cells.join("  ").trim_end())?;
        }
    }
    stdout.flush()?;
    Ok(Exit::Success)
}

async fn convert(store: &Store, args: &LogConvertArgs) -> Result<Exit, CliError> {
    let format = args.to.format();
    let output = location(&args.output_dir)?;
    // An S3 destination: converted into a temporary directory, then uploaded.
    let staging = match &output {
        Location::Local(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|err| CliError::usage(format!("{}: {err}", dir.display())))?;
            None
        }
        Location::S3 { .. } => Some(tempfile::tempdir().map_err(CliError::io)?),
    };
    let out_dir = staging
        .as_ref()
        .map_or_else(|| args.output_dir.clone(), |dir| dir.path().to_owned());
    let mut stdout = std::io::stdout().lock();
    for log in &args.logs {
        let source = location(log)?;
        if let Some(path) = source.as_local() {
            if !path.exists() {
                return Err(CliError::usage(format!("{}: no such file", path.display())));
            }
        }
        let copy = store.fetch_local(&source).await.map_err(store_error)?;
        let stem = Path::new(&source.file_name().unwrap_or_else(|| "log".into()))
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into());
        let name = format!("{stem}.{}", format.extension());
        let dest = out_dir.join(&name);
        if source == output.join(&name) || same_file(copy.path(), &dest) {
            return Err(CliError::usage(format!(
                "{}: the output would overwrite the input; choose another --output-dir",
                log.display()
            )));
        }
        let written = convert_log(copy.path(), &dest, format).map_err(CliError::usage)?;
        if output.is_s3() {
            let target = output.join(&name);
            store
                .upload_file(&written, &target, &examen_store::Condition::Absent)
                .await
                .map_err(|err| CliError::failed(err.to_string()))?;
            writeln!(stdout, "{target}")?;
        } else {
            writeln!(stdout, "{}", written.display())?;
        }
    }
    stdout.flush()?;
    Ok(Exit::Success)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
