//! `examen log dump|list|convert`: reading eval logs (examen's and Inspect's) with examen-log.
//!
//! Logs are read synchronously: these commands do nothing else at the same time.

use std::io::Write;
use std::path::{Path, PathBuf};

use examen_log::{convert_log, EvalLog, LogFormat, LogReader, Recovered};
use serde_json::json;

use crate::args::{LogCommand, LogConvertArgs, LogDumpArgs, LogListArgs};
use crate::commands::eval::DEFAULT_LOG_DIR;
use crate::error::{CliError, Exit};

pub(crate) fn run(command: LogCommand) -> Result<Exit, CliError> {
    match command {
        LogCommand::Dump(args) => dump(&args),
        LogCommand::List(args) => list(&args),
        LogCommand::Convert(args) => convert(&args),
    }
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

fn dump(args: &LogDumpArgs) -> Result<Exit, CliError> {
    let opened = open(&args.log)?;
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

/// Every `.eval` and `.json` file under `dir`, recursively.
fn log_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            log_files(&path, out)?;
        } else if LogFormat::from_path(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

fn list(args: &LogListArgs) -> Result<Exit, CliError> {
    let dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOG_DIR));
    let mut files = Vec::new();
    // The same answer whether the directory was named or is the default `./logs`.
    if dir.is_dir() {
        log_files(&dir, &mut files)
            .map_err(|err| CliError::usage(format!("{}: {err}", dir.display())))?;
    } else if dir.exists() {
        return Err(CliError::usage(format!(
            "{}: is a file, not a directory of logs",
            dir.display()
        )));
    } else {
        return Err(CliError::usage(format!(
            "{}: no such directory (no eval has written logs there; pass --log-dir DIR)",
            dir.display()
        )));
    }
    // Names start with the creation time: newest first.
    files.sort_by(|a, b| b.file_name().cmp(&a.file_name()).then_with(|| b.cmp(a)));
    let mut rows = Vec::new();
    let mut stderr = anstream::stderr();
    for path in files {
        let opened = match open(&path) {
            Ok(opened) => opened,
            Err(err) => {
                // A stray JSON file is not a reason to stop listing.
                let _ = writeln!(stderr, "warning: skipping {err}");
                continue;
            }
        };
        let header = opened.header();
        if args.status.is_some_and(|s| !s.matches(header.status)) {
            continue;
        }
        rows.push(json!({
            "name": path.display().to_string(),
            "status": header.status.as_str(),
            "task": header.eval.task,
            "task_id": header.eval.task_id,
            "model": header.eval.model,
            "created": header.eval.created,
            "samples": opened.sample_count(),
            "size": std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        }));
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &rows).map_err(|err| CliError::io(err.into()))?;
        stdout.write_all(b"\n")?;
    } else {
        let columns = ["status", "task", "model", "samples", "name"];
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

fn convert(args: &LogConvertArgs) -> Result<Exit, CliError> {
    let format = args.to.format();
    std::fs::create_dir_all(&args.output_dir)
        .map_err(|err| CliError::usage(format!("{}: {err}", args.output_dir.display())))?;
    let mut stdout = std::io::stdout().lock();
    for log in &args.logs {
        if !log.exists() {
            return Err(CliError::usage(format!("{}: no such file", log.display())));
        }
        let stem = log
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into());
        let dest = args
            .output_dir
            .join(format!("{stem}.{}", format.extension()));
        if same_file(log, &dest) {
            return Err(CliError::usage(format!(
                "{}: the output would overwrite the input; choose another --output-dir",
                log.display()
            )));
        }
        let written = convert_log(log, &dest, format).map_err(CliError::usage)?;
        writeln!(stdout, "{}", written.display())?;
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
