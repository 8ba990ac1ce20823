//! The command line's shape: clap derive structs for every verb and option, and the parsers of
//! option values (`KEY=VALUE`, `--limit 10-20`, `--fail-on-error 0.1`, ...).
//!
//! Environment variables are not declared here: `env_vars.rs` holds the one list of them and
//! layers their values under the flags before these structs are filled.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use examen::task::FailOnError;
use examen_rt::Backend;

/// examen: LLM evaluations in the spirit of Inspect AI, writing Inspect-compatible logs.
#[derive(Debug, Parser)]
#[command(
    name = "examen",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How a command that runs an eval or scores shows it, and on which runtime (the commands
/// that only read logs or print have neither).
#[derive(Debug, Args, Default)]
pub(crate) struct RunArgs {
    /// How to show progress: `rich` (live bars; the default on a terminal), `plain` (a line
    /// every few seconds; the default when stdout is not a terminal or CI is set) or `none`
    /// (errors only).
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Display")]
    pub(crate) display: Option<DisplayMode>,

    /// The async runtime that runs the work.
    #[arg(long, value_name = "BACKEND", value_parser = backend_parser(), help_heading = "Display")]
    pub(crate) async_backend: Option<Backend>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run task files against models and write eval logs.
    Eval(Box<EvalArgs>),
    /// Continue evals from their logs: samples that finished are kept, errored and missing
    /// ones run (after a crash, Ctrl-C or a failed eval). Run it from the directory the eval
    /// ran in: a log names its task file relative to that directory.
    EvalRetry(EvalRetryArgs),
    /// Re-score an existing eval log (examen's or Inspect's).
    Score(ScoreArgs),
    /// Read, list and convert eval logs.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// List the solvers, scorers, metrics, reducers, tools or model providers, one line each.
    List(ListArgs),
    /// Print the reference of the EXAMEN_* environment variables (Markdown).
    Env,
    /// Sandboxes: remove what evals left behind.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Print a generated page of the user guide (docs/src/cli.md, the task-file tables).
    #[command(hide = true)]
    Reference(crate::reference::ReferenceArgs),
}

/// `examen sandbox ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Remove sandboxes evals left behind (run with --no-sandbox-cleanup, or killed), found
    /// by their labels: all of them, those of one type, or one by its id.
    ///
    /// Sandboxes of evals still running are removed too.
    Cleanup(SandboxCleanupArgs),
}

/// `examen sandbox cleanup`.
#[derive(Debug, Args)]
pub(crate) struct SandboxCleanupArgs {
    /// The sandbox type (local, bwrap, docker) [default: every type].
    #[arg(value_name = "TYPE")]
    pub(crate) provider: Option<String>,

    /// The one sandbox to remove (as the eval's report or `--dry-run` names it) [default: all].
    #[arg(value_name = "ID", requires = "provider")]
    pub(crate) id: Option<String>,

    /// List what would be removed, and remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `examen eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Task files (YAML) to run; every task runs against every model.
    #[arg(value_name = "TASK_FILE", required = true)]
    pub(crate) tasks: Vec<PathBuf>,

    #[command(flatten)]
    pub(crate) run: RunArgs,

    /// Model to evaluate, as provider/model (repeat, or separate with commas, for several).
    #[arg(
        long,
        value_name = "MODEL",
        value_delimiter = ',',
        help_heading = "Model"
    )]
    pub(crate) model: Vec<String>,

    /// Base URL of the model API (overrides `<PROVIDER>_BASE_URL`).
    #[arg(long, value_name = "URL", help_heading = "Model")]
    pub(crate) model_base_url: Option<String>,

    /// Model argument for the provider (e.g. -M http2=false); repeatable.
    #[arg(short = 'M', long = "model-args", value_name = "KEY=VALUE", value_parser = key_value, help_heading = "Model")]
    pub(crate) model_args: Vec<(String, String)>,

    /// Bind a model to a role used by solvers and scorers (e.g. grader=openai/gpt-4o).
    #[arg(long, value_name = "ROLE=MODEL", value_parser = key_value, help_heading = "Model")]
    pub(crate) model_role: Vec<(String, String)>,

    /// Override a task-file field (e.g. -T epochs=3, -T config.temperature=0.5); the value is
    /// YAML; repeatable.
    #[arg(short = 'T', long = "task-args", value_name = "KEY=VALUE", value_parser = key_value, help_heading = "Task")]
    pub(crate) task_args: Vec<(String, String)>,

    /// Run only the first N samples, or samples A to B (1-based, inclusive), e.g. 10 or 10-20.
    #[arg(long, value_name = "N|A-B", value_parser = parse_limit, help_heading = "Task")]
    pub(crate) limit: Option<SampleLimit>,

    /// Run only these sample ids (comma separated).
    #[arg(
        long,
        value_name = "ID,...",
        value_delimiter = ',',
        help_heading = "Task"
    )]
    pub(crate) sample_id: Vec<String>,

    /// Run every task's samples in this sandbox, TYPE or TYPE:CONFIG (e.g. `docker`,
    /// `docker:compose.yaml`, `bwrap`), instead of the tasks' own; samples' configurations
    /// still apply.
    #[arg(long, value_name = "TYPE[:CONFIG]", value_parser = parse_sandbox, help_heading = "Sandbox")]
    pub(crate) sandbox: Option<examen_sandbox::SandboxSpec>,

    /// Keep the samples' sandboxes when they end, and print how to get into each and how to
    /// remove them (`examen sandbox cleanup`).
    #[arg(long, help_heading = "Sandbox")]
    pub(crate) no_sandbox_cleanup: bool,

    /// Times to run each sample [default: the task's, else 1].
    #[arg(long, value_name = "N", value_parser = positive_u32, help_heading = "Task")]
    pub(crate) epochs: Option<u32>,

    /// How to combine the epochs' scores per sample (e.g. mean, mode, pass_at_2; comma separated).
    #[arg(
        long,
        value_name = "REDUCER,...",
        value_delimiter = ',',
        help_heading = "Task"
    )]
    pub(crate) epochs_reducer: Vec<String>,

    /// Fail the eval when sample errors reach this: true (any error; the default), false, a
    /// fraction below 1, or a count.
    #[arg(long, value_name = "WHEN", num_args = 0..=1, default_missing_value = "true", value_parser = parse_fail_on_error, help_heading = "Errors")]
    pub(crate) fail_on_error: Option<FailOnError>,

    /// Retry a failing sample up to N times (N defaults to 1 when the flag has no value).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1", help_heading = "Errors")]
    pub(crate) retry_on_error: Option<u32>,

    /// Maximum messages in a sample's conversation.
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) message_limit: Option<usize>,

    /// Maximum tokens a sample's model calls may use.
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) token_limit: Option<u64>,

    /// Maximum seconds a sample may run.
    #[arg(long, value_name = "SECONDS", help_heading = "Limits")]
    pub(crate) time_limit: Option<f64>,

    /// Maximum working seconds of a sample (time waiting for a connection excluded).
    #[arg(long, value_name = "SECONDS", help_heading = "Limits")]
    pub(crate) working_limit: Option<f64>,

    /// Concurrent connections per model API [default: 10].
    #[arg(long, value_name = "N", value_parser = positive_u32, help_heading = "Concurrency")]
    pub(crate) max_connections: Option<u32>,

    /// Samples run at once per task and model [default: max-connections].
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Concurrency")]
    pub(crate) max_samples: Option<usize>,

    /// Task × model runs at once [default: the number of models].
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Concurrency")]
    pub(crate) max_tasks: Option<usize>,

    /// Samples holding sandboxes at once, per sandbox type [default: the type's: docker
    /// 2 × CPUs, bwrap and local unlimited].
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Concurrency")]
    pub(crate) max_sandboxes: Option<usize>,

    /// Retries of a failed model call [default: unlimited within --timeout].
    #[arg(long, value_name = "N", help_heading = "Concurrency")]
    pub(crate) max_retries: Option<u32>,

    /// Seconds a model call may take, retries included (fractions allowed) [default: none].
    #[arg(long, value_name = "SECONDS", value_parser = timeout_seconds, help_heading = "Concurrency")]
    pub(crate) timeout: Option<f64>,

    /// Seconds one attempt of a model call may take before it is retried (fractions allowed)
    /// [default: 600].
    #[arg(long, value_name = "SECONDS", value_parser = timeout_seconds, help_heading = "Concurrency")]
    pub(crate) attempt_timeout: Option<f64>,

    /// Maximum tokens to generate per model call.
    #[arg(long, value_name = "N", help_heading = "Generation")]
    pub(crate) max_tokens: Option<u64>,

    /// Sampling temperature.
    #[arg(long, value_name = "T", value_parser = finite, help_heading = "Generation")]
    pub(crate) temperature: Option<f64>,

    /// Random seed for the model, where the provider supports one.
    #[arg(long, value_name = "N", help_heading = "Generation")]
    pub(crate) seed: Option<i64>,

    /// Directory the logs are written to: a local path or s3://BUCKET/PREFIX [default: ./logs].
    #[arg(long, value_name = "DIR", help_heading = "Logging")]
    pub(crate) log_dir: Option<PathBuf>,

    /// Log file format [default: eval].
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Logging")]
    pub(crate) log_format: Option<LogFormatArg>,

    /// Samples buffered before the log is flushed to disk.
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Logging")]
    pub(crate) log_buffer: Option<usize>,

    /// Tags recorded in the log (comma separated).
    #[arg(
        long,
        value_name = "TAG,...",
        value_delimiter = ',',
        help_heading = "Logging"
    )]
    pub(crate) tags: Vec<String>,

    /// Metadata recorded in the log (value parsed as YAML); repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value, help_heading = "Logging")]
    pub(crate) metadata: Vec<(String, String)>,

    /// Run the solvers only; score later with `examen score`.
    #[arg(long, help_heading = "Logging")]
    pub(crate) no_score: bool,

    /// Print one JSON record per finished task on stdout (status, log path, metrics).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `examen eval-retry`. Every option defaults to what the eval itself used, as its log
/// records it.
#[derive(Debug, Args)]
pub(crate) struct EvalRetryArgs {
    /// Logs of the evals to continue (.eval or .json, local or s3://...), whatever state they
    /// were left in (started, cancelled, error); each becomes a new log holding every sample once.
    #[arg(value_name = "LOG", required = true)]
    pub(crate) logs: Vec<PathBuf>,

    #[command(flatten)]
    pub(crate) run: RunArgs,

    /// Base URL of the model API [default: the one the eval used].
    #[arg(long, value_name = "URL", help_heading = "Model")]
    pub(crate) model_base_url: Option<String>,

    /// Fail the eval when sample errors reach this: true (any error), false, a fraction below
    /// 1, or a count [default: the eval's].
    #[arg(long, value_name = "WHEN", num_args = 0..=1, default_missing_value = "true", value_parser = parse_fail_on_error, help_heading = "Errors")]
    pub(crate) fail_on_error: Option<FailOnError>,

    /// Retry a failing sample up to N times (N defaults to 1 when the flag has no value)
    /// [default: the eval's].
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1", help_heading = "Errors")]
    pub(crate) retry_on_error: Option<u32>,

    /// Concurrent connections per model API [default: the eval's].
    #[arg(long, value_name = "N", value_parser = positive_u32, help_heading = "Concurrency")]
    pub(crate) max_connections: Option<u32>,

    /// Samples run at once [default: the eval's].
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Concurrency")]
    pub(crate) max_samples: Option<usize>,

    /// Retries of a failed model call [default: the eval's].
    #[arg(long, value_name = "N", help_heading = "Concurrency")]
    pub(crate) max_retries: Option<u32>,

    /// Seconds a model call may take, retries included [default: the eval's].
    #[arg(long, value_name = "SECONDS", value_parser = timeout_seconds, help_heading = "Concurrency")]
    pub(crate) timeout: Option<f64>,

    /// Seconds one attempt of a model call may take before it is retried [default: the eval's].
    #[arg(long, value_name = "SECONDS", value_parser = timeout_seconds, help_heading = "Concurrency")]
    pub(crate) attempt_timeout: Option<f64>,

    /// Directory the new logs are written to: a local path or s3://BUCKET/PREFIX [default: ./logs].
    #[arg(long, value_name = "DIR", help_heading = "Logging")]
    pub(crate) log_dir: Option<PathBuf>,

    /// Log file format [default: the format of each log retried].
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Logging")]
    pub(crate) log_format: Option<LogFormatArg>,

    /// Samples buffered before the log is flushed to disk.
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Logging")]
    pub(crate) log_buffer: Option<usize>,

    /// Run the solvers only; score later with `examen score` [default: the eval's].
    #[arg(long, help_heading = "Logging")]
    pub(crate) no_score: bool,

    /// Print one JSON record per finished task on stdout (status, log path, metrics).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `examen score`.
#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {
    /// The log to score (.eval or .json, local or s3://...), of a finished eval: a log with status `started` (still
    /// being written, or left by a killed eval: complete it with `examen eval-retry`) is refused.
    #[arg(value_name = "LOG")]
    pub(crate) log: PathBuf,

    #[command(flatten)]
    pub(crate) run: RunArgs,

    /// Scorers to run (registry names, see `examen list scorers`; comma separated or repeated)
    /// [default: the log's scorers].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub(crate) scorer: Vec<String>,

    /// Keep the log's existing scores and add the new ones (append), or replace them.
    #[arg(long, value_enum, value_name = "ACTION")]
    pub(crate) action: Option<ScoreAction>,

    /// Write the scores back into LOG instead of a new `-scored` log beside it.
    #[arg(long)]
    pub(crate) overwrite: bool,

    /// Bind a model to a role scorers use (e.g. grader=openai/gpt-4o), over the log's own
    /// binding; repeatable.
    #[arg(long, value_name = "ROLE=MODEL", value_parser = key_value, help_heading = "Model")]
    pub(crate) model_role: Vec<(String, String)>,

    /// Base URL of the log's model API, for scorers that call the evaluated model
    /// [default: the one the eval used].
    #[arg(long, value_name = "URL", help_heading = "Model")]
    pub(crate) model_base_url: Option<String>,

    /// Argument for the log's model's provider (e.g. -M http2=false), over the eval's;
    /// repeatable.
    #[arg(short = 'M', long = "model-args", value_name = "KEY=VALUE", value_parser = key_value, help_heading = "Model")]
    pub(crate) model_args: Vec<(String, String)>,

    /// Samples scored at once [default: --max-connections, else the eval's, else 10].
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Concurrency")]
    pub(crate) max_samples: Option<usize>,

    /// Concurrent connections per model API [default: the eval's, else 10].
    #[arg(long, value_name = "N", value_parser = positive_u32, help_heading = "Concurrency")]
    pub(crate) max_connections: Option<u32>,

    /// Print one JSON record for the scored log on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
    /// Print a log as JSON on stdout.
    Dump(LogDumpArgs),
    /// List the logs in a directory, newest first.
    List(LogListArgs),
    /// Convert logs between the .eval and .json formats.
    Convert(LogConvertArgs),
}

/// `examen log dump`.
#[derive(Debug, Args)]
pub(crate) struct LogDumpArgs {
    /// The log (.eval or .json, local or s3://BUCKET/KEY).
    #[arg(value_name = "LOG")]
    pub(crate) log: PathBuf,

    /// Print the header only (no samples).
    #[arg(long)]
    pub(crate) header_only: bool,
}

/// `examen log list`.
#[derive(Debug, Args)]
pub(crate) struct LogListArgs {
    /// Directory to list (searched recursively): a local path or s3://BUCKET/PREFIX
    /// [default: ./logs].
    #[arg(long, value_name = "DIR")]
    pub(crate) log_dir: Option<PathBuf>,

    /// Only logs with this status.
    #[arg(long, value_enum, value_name = "STATUS")]
    pub(crate) status: Option<StatusArg>,

    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `examen log convert`.
#[derive(Debug, Args)]
pub(crate) struct LogConvertArgs {
    /// Logs to convert (local or s3://...).
    #[arg(value_name = "LOG", required = true)]
    pub(crate) logs: Vec<PathBuf>,

    /// Target format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) to: LogFormatArg,

    /// Directory the converted logs are written to: a local path or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "DIR")]
    pub(crate) output_dir: PathBuf,
}

/// `examen list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// What to list.
    #[arg(value_enum, value_name = "WHAT")]
    pub(crate) what: ListKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DisplayMode {
    /// Live progress bars and a results panel.
    Rich,
    /// A progress line every few seconds and a text summary.
    Plain,
    /// Nothing but errors.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormatArg {
    /// Inspect's zip-based `.eval` format.
    Eval,
    /// One `.json` document.
    Json,
}

impl LogFormatArg {
    pub(crate) fn format(self) -> examen_log::LogFormat {
        match self {
            LogFormatArg::Eval => examen_log::LogFormat::Eval,
            LogFormatArg::Json => examen_log::LogFormat::Json,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScoreAction {
    /// Add the new scores to the existing ones.
    Append,
    /// Replace the existing scores.
    Overwrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    /// Still running, or its writer died.
    Started,
    /// Finished normally.
    Success,
    /// Interrupted.
    Cancelled,
    /// Failed.
    Error,
}

impl StatusArg {
    pub(crate) fn matches(self, status: examen_log::EvalStatus) -> bool {
        use examen_log::EvalStatus as S;
        matches!(
            (self, status),
            (StatusArg::Started, S::Started)
                | (StatusArg::Success, S::Success)
                | (StatusArg::Cancelled, S::Cancelled)
                | (StatusArg::Error, S::Error)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ListKind {
    /// Solvers a task file can chain.
    Solvers,
    /// Scorers.
    Scorers,
    /// Metrics.
    Metrics,
    /// Epoch reducers.
    Reducers,
    /// Tools `use_tools` and `react` can offer the model.
    Tools,
    /// Model providers (`--model provider/model`).
    Providers,
}

/// `--limit`: the first N samples, or a 1-based inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleLimit {
    First(usize),
    Range { start: usize, end: usize },
}

fn backend_parser() -> impl TypedValueParser<Value = Backend> {
    PossibleValuesParser::new(Backend::ALL.map(Backend::name))
        .try_map(|name| name.parse::<Backend>())
}

pub(crate) fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected KEY=VALUE, found `{text}`")),
    }
}

fn positive_u32(text: &str) -> Result<u32, String> {
    let n = positive(text)?;
    u32::try_from(n).map_err(|_| format!("must be at most {}", u32::MAX))
}

/// A timeout in seconds: a positive number, fractions allowed (`0.5`). Zero is refused: it
/// would fail every call (`--timeout`) or retry forever (`--attempt-timeout`).
fn timeout_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 1e9 => Ok(secs),
        Ok(secs) if secs.is_finite() && secs > 0.0 => Err(format!("`{text}` seconds is too long")),
        Ok(_) => Err(format!(
            "expected a number of seconds greater than 0 (like 30 or 0.5), found `{text}`"
        )),
        Err(_) => Err(format!(
            "expected a number of seconds (like 30 or 0.5), found `{text}`"
        )),
    }
}

/// A finite number (`nan` and `inf` parse as floats, and a NaN is sent as `null`).
fn finite(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(format!("expected a finite number, found `{text}`")),
        Err(_) => Err(format!("expected a number, found `{text}`")),
    }
}

fn positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number, found `{text}`")),
    }
}

pub(crate) fn parse_limit(text: &str) -> Result<SampleLimit, String> {
    let number = |part: &str| {
        part.trim()
            .parse::<usize>()
            .map_err(|_| format!("expected a number or a range like 10-20, found `{text}`"))
    };
    match text.split_once('-') {
        None => match number(text)? {
            0 => Err(format!(
                "`{text}` selects no samples; expected a limit of at least 1"
            )),
            n => Ok(SampleLimit::First(n)),
        },
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            if start == 0 || end < start {
                return Err(format!(
                    "range `{text}` must be A-B with 1 <= A <= B (samples are numbered from 1)"
                ));
            }
            Ok(SampleLimit::Range { start, end })
        }
    }
}

pub(crate) fn parse_fail_on_error(text: &str) -> Result<FailOnError, String> {
    let trimmed = text.trim();
    match trimmed.to_ascii_lowercase().as_str() {
        "true" | "yes" => return Ok(FailOnError::Bool(true)),
        "false" | "no" => return Ok(FailOnError::Bool(false)),
        _ => {}
    }
    let expected =
        || format!("expected true, false, a fraction below 1 or a count, found `{text}`");
    let value: f64 = trimmed.parse().map_err(|_| expected())?;
    if !value.is_finite() || value < 0.0 {
        Err(expected())
    } else if value < 1.0 {
        Ok(FailOnError::Fraction(value))
    } else if value.fract() == 0.0 {
        Ok(FailOnError::Count(value as u64))
    } else {
        Err(format!(
            "a value of 1 or more is a count of errors and must be whole, found `{text}`"
        ))
    }
}

impl Command {
    /// The display and runtime options of a command that has them.
    pub(crate) fn run_args(&self) -> Option<&RunArgs> {
        match self {
            Command::Eval(args) => Some(&args.run),
            Command::EvalRetry(args) => Some(&args.run),
            Command::Score(args) => Some(&args.run),
            Command::Log { .. }
            | Command::List(_)
            | Command::Env
            | Command::Sandbox { .. }
            | Command::Reference(_) => None,
        }
    }
}

/// `--sandbox TYPE[:CONFIG]`.
fn parse_sandbox(text: &str) -> Result<examen_sandbox::SandboxSpec, String> {
    examen_sandbox::SandboxSpec::parse_cli(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn limits_parse_like_inspect() {
        assert_eq!(parse_limit("10"), Ok(SampleLimit::First(10)));
        assert_eq!(
            parse_limit("10-20"),
            Ok(SampleLimit::Range { start: 10, end: 20 })
        );
        assert!(parse_limit("0-3").is_err());
        assert!(parse_limit("5-3").is_err());
        assert!(parse_limit("ten").unwrap_err().contains("10-20"));
    }

    #[test]
    fn fail_on_error_accepts_bools_fractions_and_counts() {
        assert_eq!(parse_fail_on_error("true"), Ok(FailOnError::Bool(true)));
        assert_eq!(parse_fail_on_error("false"), Ok(FailOnError::Bool(false)));
        assert_eq!(parse_fail_on_error("0.1"), Ok(FailOnError::Fraction(0.1)));
        assert_eq!(parse_fail_on_error("5"), Ok(FailOnError::Count(5)));
        assert!(parse_fail_on_error("1.5").is_err());
        assert!(parse_fail_on_error("-1").is_err());
    }

    #[test]
    fn key_values_need_a_key() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(key_value("=x").is_err());
        assert!(key_value("novalue").is_err());
    }
}
