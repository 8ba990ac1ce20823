//! Inspect-compatible eval logs: a streaming, crash-safe writer and a reader.
//!
//! examen writes logs that Inspect AI's tools (`inspect view`, `inspect log dump`,
//! `inspect_ai.log.read_eval_log`, the dataframe API) read as if Inspect had
//! written them, and reads Inspect's own logs. The schema is Inspect's log schema
//! version 2; the Rust types are in [`schema`] and [`events`], the message, output,
//! config and score types come from [`examen_types`].
//!
//! # Wire format
//!
//! All JSON is UTF-8, compact, with `None` fields omitted (Inspect writes with
//! `exclude_none=True`). Non-finite floats are written as Python's constants `NaN`,
//! `Infinity` and `-Infinity`, as Inspect writes them (a NaN score value is the
//! "unscored" sentinel; a metric such as the stderr of one sample is NaN); the
//! reader accepts them, and `null` in their place.
//!
//! ## `.eval` (the default)
//!
//! A zip archive. examen writes every member with deflate (method 8); Inspect 0.3.285
//! writes zstd (method 93), which the reader also accepts. Members, in the order
//! examen writes them:
//!
//! - **`_journal/start.json`**, written when the log is created: a [`LogStart`]
//!   object `{"version": 2, "eval": EvalSpec, "plan": EvalPlan}`.
//!   - `eval` ([`EvalSpec`]): `eval_id`, `run_id` and `task_id` are 22-character
//!     base57 ids ([`examen_types::short_uuid`]); `created` is ISO 8601 to the second
//!     with offset (`2025-01-31T12:34:56+00:00`); `task`, `task_version`,
//!     `task_args`, `dataset` (`name`, `location`, `samples`, `sample_ids`,
//!     `shuffled`), `model`, `model_base_url`, `model_generate_config`, `config`
//!     ([`EvalConfig`]: `epochs`, `fail_on_error`, limits, ...), `scorers`,
//!     `packages` (`{"examen": "<version>"}`), and `revision` (`{"type": "git",
//!     "origin", "commit", "dirty"}`) when run in a git checkout.
//!   - `plan` ([`EvalPlan`]): `name` (`"plan"`), `steps` (`[{"solver", "params",
//!     "params_passed"}]`), `finish`, `config`.
//! - **`samples/{id}_epoch_{epoch}.json`**, one per finished sample, written at
//!   the flush after it finished: an [`EvalSample`] object with `id`, `epoch`,
//!   `input` (string or message list), `target`, `choices`, `metadata`,
//!   `messages`, `output`, `scores` (`{scorer: Score}`), `model_usage`, `store`,
//!   `events`, timings (`started_at`, `completed_at`, `total_time`,
//!   `working_time`), `uuid`, `error` and `error_retries`, `limit`,
//!   `attachments`. `events` holds the types examen emits ([`Event`]):
//!   `span_begin`/`span_end`, `sample_init`, `model`, `score`, `error`,
//!   `sample_limit` and `logger`; other types in Inspect's logs are kept as raw
//!   JSON. A name written twice resolves to the later member, as in Inspect.
//! - **`_journal/summaries/{k}.json`**, one per flush (`k` = 1, 2, ...): a JSON array
//!   of the [`EvalSampleSummary`] of each sample that flush wrote. Inspect reads
//!   these to list the samples of a log still running.
//! - **`summaries.json`**, at the end: every journal summary, in order, as one
//!   array (streamed back from the journal members, never held in memory).
//! - **`reductions.json`**, at the end when there are reductions: a list of
//!   [`EvalSampleReductions`] `{"scorer", "reducer", "samples": [Score + "sample_id"]}`.
//! - **`header.json`**, last: the [`EvalLog`] without `samples` and `reductions`:
//!   `version`, `status` (`success`, `cancelled` or `error`), `eval`, `plan`,
//!   `results` ([`EvalResults`]: `total_samples`, `completed_samples`, `scores`
//!   with `metrics`), `stats` ([`EvalStats`]: `started_at`, `completed_at`,
//!   `model_usage`), `error`, `invalidated`, `tags`, `metadata`.
//!
//! A log without `header.json` is running (or its writer died): readers take the
//! header from `_journal/start.json` with status `started`.
//!
//! ### Layout and crash safety
//!
//! The writer appends. While a log runs the file is `[members][room][central
//! directory][end records]`: a flush writes the new members (finished samples plus
//! one journal summary) into the room, then appends their records to the central
//! directory and writes new end-of-central-directory records (zip64 records once
//! there are 65,535 members or 4 GiB). When the room runs out, the directory is
//! moved forward on disk to leave at least its own size of room again. What
//! follows the last member in the room starts with an end-record signature, where
//! a walk over local headers stops. [`LogWriter::finish`] closes the room, so a
//! finished log is contiguous. Members are compressed in memory first, so local
//! headers carry CRC and sizes (no data descriptors, except for the streamed
//! `summaries.json`). Consequences:
//!
//! - after every flush the file is a complete zip that Inspect opens, holding
//!   every sample flushed so far, with status `started` until the end;
//! - a member of a flush is never rewritten; a process killed at any instant
//!   (even mid-flush) leaves every member of every earlier flush intact, and
//!   [`recover`] finds them by walking local headers from offset 0 and checking
//!   CRCs, without needing the central directory;
//! - bytes written stay linear in the log size however often it flushes: a flush
//!   does not rewrite the directory, and each move of it is paid for by at least
//!   as many bytes of members written into the room it leaves;
//! - memory stays flat: finished samples are not kept, and neither is the central
//!   directory (it is only on disk).
//!
//! ## `.json`
//!
//! One JSON object with the header fields first, then `"samples": [...]` (after
//! `stats`), then `"reductions"`. While running, flushed samples are appended to a
//! side file `{name}.samples.partial` (one sample per line, crash-safe: a partial
//! last line is ignored by [`recover`]), and the `.json` itself is rewritten (to a
//! temporary file, then renamed) with status `started` and every flushed sample on
//! a doubling schedule, when the side file has doubled since the last rewrite, so
//! rewrites stay linear too. [`LogWriter::finish`] writes the final file and
//! removes the side file. Readers ([`LogReader`], [`read_log`], [`recover`],
//! [`convert_log`]) of a `.json` log with status `started` take its samples from the
//! side file when there is one, so they see every flushed sample, not only those of
//! the last rewrite.
//!
//! ## The writer's lock
//!
//! A [`LogWriter`] holds an exclusive `flock` from its creation until it finishes
//! or is dropped: on the `.eval` file, or on a `.json` log's side file (the main
//! file is replaced at every rewrite). The kernel releases it when the writing
//! process dies, so [`is_being_written`] tells a log in progress from a crashed
//! one, and a second writer (`examen score --overwrite`) can refuse a log that a
//! live eval is writing.
//!
//! ## File names
//!
//! `{created}_{task}_{task_id}.eval` (or `.json`) in the log directory, where
//! `created` is `EvalSpec.created` and every component has `_`, `/`, `:` and `+`
//! replaced by `-` (so `2025-01-31T12-34-56-00-00_my-task_<id>.eval`), and `task`
//! loses any `package/` prefix: exactly Inspect's `eval_log_name`.

#![warn(missing_docs, missing_debug_implementations)]
// Libraries never print: progress and warnings reach the user through the caller.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod error;
mod jsonscan;
mod prepared;
mod pyjson;
mod reader;
mod revision;
mod writer;
mod zip;

pub use error::{LogError, Result};
/// The records a log holds, defined once in examen-types (re-exported here so a reader needs
/// one import).
pub use examen_types::event as events;
pub use examen_types::log as schema;
pub use examen_types::log::{
    EvalConfig, EvalDataset, EvalError, EvalLog, EvalMetric, EvalPlan, EvalPlanStep, EvalResults,
    EvalRevision, EvalSample, EvalSampleLimit, EvalSampleReductions, EvalSampleScore,
    EvalSampleSummary, EvalScore, EvalScorer, EvalSpec, EvalStats, EvalStatus, LogFinish, LogStart,
    SampleInput, Target, LOG_SCHEMA_VERSION,
};
pub use examen_types::time;
pub use examen_types::Event;
pub use examen_types::SampleId;
pub use prepared::PreparedSample;
pub use reader::{
    read_log, read_summaries, recover, HeaderRead, LogReader, PartialFile, ReadOptions, Recovered,
};
pub use revision::git_revision;
pub use writer::{is_being_written, LogFormat, LogWriter, WriterOptions, WriterStats};

/// A `.eval` file as readers should see it, for copying it elsewhere (an S3 upload): the
/// file's bytes `0..members_end`, then its bytes `directory` (the central directory's records),
/// then `end_records` (which place that directory right after the members). The writer keeps
/// room between its members and directory while the log runs; the copy leaves it out.
/// Members below `members_end` never change once written, so a copy made at one flush is a
/// prefix of the copy made at the next, up to its old `members_end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// End of the last member.
    pub members_end: u64,
    /// Where the central directory's records are in the file.
    pub directory: std::ops::Range<u64>,
    /// End records for the directory placed at `members_end`.
    pub end_records: Vec<u8>,
}

impl Snapshot {
    /// The copy's size in bytes.
    pub fn len(&self) -> u64 {
        self.members_end
            + (self.directory.end - self.directory.start)
            + self.end_records.len() as u64
    }

    /// Never true (a zip has end records); for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Journal member written when the log is created.
pub const JOURNAL_START_JSON: &str = "_journal/start.json";
/// Directory of per-flush journal summaries.
pub const JOURNAL_SUMMARIES_DIR: &str = "_journal/summaries";
/// Directory of sample members.
pub const SAMPLES_DIR: &str = "samples";
/// All sample summaries (written at the end).
pub const SUMMARIES_JSON: &str = "summaries.json";
/// Epoch reductions (written at the end).
pub const REDUCTIONS_JSON: &str = "reductions.json";
/// Final header (written last).
pub const HEADER_JSON: &str = "header.json";

/// Converts a log to `format`, writing it at `dest` (`examen log convert`): the
/// header and every sample, streamed one at a time. Returns `dest`.
///
/// A log whose writer died converts too: every sample it flushed (of an `.eval`
/// without its central directory, what [`recover`] finds; of a `.json`, its side
/// file's), with its status `started`, so `eval-retry` of the converted log runs only
/// what the original lacks.
pub fn convert_log(
    src: &std::path::Path,
    dest: &std::path::Path,
    format: LogFormat,
) -> Result<std::path::PathBuf> {
    match LogReader::open(src) {
        Ok(reader) => write_converted(dest, format, reader.header(), reader.samples()),
        Err(err) => match recover(src) {
            Ok(recovered) => write_converted(dest, format, &recovered.log, recovered.samples()),
            Err(_) => Err(err),
        },
    }
}

fn write_converted(
    dest: &std::path::Path,
    format: LogFormat,
    header: &EvalLog,
    samples: impl Iterator<Item = Result<EvalSample>>,
) -> Result<std::path::PathBuf> {
    let start = LogStart {
        version: header.version,
        eval: header.eval.clone(),
        plan: header.plan.clone(),
    };
    let opts = WriterOptions {
        buffer_samples: 100,
        flush_interval: std::time::Duration::from_secs(3600),
        ..WriterOptions::default()
    };
    let mut writer = LogWriter::create_at(dest, format, start, opts)?;
    for sample in samples {
        writer.write_sample(&sample?)?;
    }
    writer.finish(&LogFinish {
        status: header.status,
        results: header.results.clone(),
        stats: header.stats.clone(),
        error: header.error.clone(),
        reductions: header.reductions.clone(),
        invalidated: header.invalidated,
    })
}

/// The member name of a sample: `samples/{id}_epoch_{epoch}.json`.
pub fn sample_member_name(id: &SampleId, epoch: u32) -> String {
    format!("{SAMPLES_DIR}/{id}_epoch_{epoch}.json")
}

fn clean_filename_component(s: &str) -> String {
    s.replace(['_', '/', ':', '+'], "-")
}

/// Inspect's task display name: the task name without a `package/` prefix
/// (`hf/...` names are kept whole).
fn task_display_name(task: &str) -> &str {
    if task.starts_with("hf/") {
        return task;
    }
    match task.split_once('/') {
        Some((_, rest)) => rest,
        None => task,
    }
}

/// The log file name Inspect gives an eval: `{created}_{task}_{task_id}.{ext}`.
pub fn log_file_name(spec: &EvalSpec, format: LogFormat) -> String {
    format!(
        "{}_{}_{}.{}",
        clean_filename_component(&spec.created),
        clean_filename_component(task_display_name(&spec.task)),
        clean_filename_component(&spec.task_id),
        format.extension()
    )
}

/// Serializes `value` as compact JSON the way Inspect writes logs: non-finite floats become
/// Python's `NaN`, `Infinity` and `-Infinity` (the "unscored" sentinel survives), where
/// `serde_json` would write `null`. For `examen log dump`.
pub fn to_python_json<T: serde::Serialize + ?Sized>(value: &T) -> std::io::Result<Vec<u8>> {
    pyjson::to_vec(value).map_err(|err| std::io::Error::other(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_matches_inspect() {
        // Inspect: 2026-11-25T22:58:41+00:00 / demo / 9mvKqWJZAUgGBDUQJVvrX6 →
        // 2026-11-25T22-58-41-00-00_demo_9mvKqWJZAUgGBDUQJVvrX6.eval
        let mut spec = EvalSpec::new("pkg/my_task", "mockllm/model", EvalDataset::default());
        spec.created = "2026-11-25T22:58:41+00:00".into();
        spec.task_id = "9mvKqWJZAUgGBDUQJVvrX6".into();
        assert_eq!(
            log_file_name(&spec, LogFormat::Eval),
            "2026-11-25T22-58-41-00-00_my-task_9mvKqWJZAUgGBDUQJVvrX6.eval"
        );
        spec.task = "demo".into();
        assert_eq!(
            log_file_name(&spec, LogFormat::Json),
            "2026-11-25T22-58-41-00-00_demo_9mvKqWJZAUgGBDUQJVvrX6.json"
        );
    }

    #[test]
    fn sample_member_names() {
        assert_eq!(
            sample_member_name(&SampleId::Int(3), 2),
            "samples/3_epoch_2.json"
        );
        assert_eq!(sample_member_name(&"b".into(), 1), "samples/b_epoch_1.json");
    }
}
