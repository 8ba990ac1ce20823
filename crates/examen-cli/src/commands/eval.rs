//! `examen eval TASK_FILE... --model M...`: loads the task files, resolves the models, runs every
//! task against every model in one engine call, shows progress, prints the results.
//!
//! Options become the engine's [`EvalOptions`], which override the task files' own values; an
//! option left unset keeps the task file's value, then the engine's default.

use examen_store::{Location, Store};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use examen::runner::log::EvalLogger;
use examen::runner::EvalSetupError;
use examen::runner::LogDir;
use examen::task::Limits;
use examen::{EvalEvent, EvalOptions, EvalOutcome, Task};
use examen_model::{get_model, Env, Model, ModelOptions};
use examen_rt::CancelToken;
use examen_types::{GenerateConfig, JsonObject, JsonValue};

use crate::args::{EvalArgs, LogFormatArg, SampleLimit};
use crate::display::json::{Both, JsonLines};
use crate::display::summary::{render_plain, render_rich, RunSummary};
use crate::display::{self, plain::Plain, rich::Rich, Display, Mode, Silent};
use crate::error::{CliError, Exit};

/// Where logs go when neither `--log-dir` nor `EXAMEN_LOG_DIR` says.
pub(crate) const DEFAULT_LOG_DIR: &str = "logs";

pub(crate) async fn run(args: EvalArgs, mode: Mode, cancel: CancelToken) -> Result<Exit, CliError> {
    let tasks = load_tasks(&args)?;
    let models = resolve_models(&args)?;
    let store = examen_store::Store::from_env();
    let options = eval_options(&args, &store, cancel)?;
    check_log_dir(&store, &log_dir(args.log_dir.as_deref())?).await?;
    let shown = models.clone();
    show(mode, args.json, shown, &[], move |events| {
        examen::eval(tasks, models, options, Some(events))
    })
    .await
}

/// Runs an engine call with the display fed by its events, then prints the results and the
/// failures and returns the exit code. An interrupted run says how to resume it, together with
/// the logs in `not_started` (runs an interrupted `eval-retry` did not reach).
///
/// Shared by `eval` and `eval-retry`.
pub(crate) async fn show<F, Fut>(
    mode: Mode,
    json: bool,
    models: Vec<Model>,
    not_started: &[PathBuf],
    engine: F,
) -> Result<Exit, CliError>
where
    F: FnOnce(examen_rt::Sender<EvalEvent>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<EvalOutcome>, EvalSetupError>>,
{
    let mut view: Box<dyn Display> = match mode {
        Mode::Rich => Box::new(Rich::new(display::stderr_color())),
        Mode::Plain => Box::new(Plain::new()),
        Mode::None => Box::new(Silent),
    };
    if json {
        view = Box::new(Both(view, Box::new(JsonLines)));
    }
    let (events, receiver) = examen_rt::channel(1024);
    let consumer = examen_rt::spawn(display::consume(receiver, view, models));
    // Cancelling (Ctrl-C) stops the runs and completes their logs as `cancelled`.
    let result = engine(events).await;
    let progress = match consumer.await {
        Ok(progress) => progress,
        Err(err) if err.is_panic() => err.resume(),
        Err(_) => display::Progress::default(),
    };
    let outcomes = result.map_err(CliError::usage)?;

    let summaries = RunSummary::collect(&outcomes, &progress);
    match report(&outcomes, &summaries, &progress, mode, json) {
        // A reader that went away (`| head`) does not change how the eval went.
        Err(err) if err.is_silent() => {}
        Err(err) => return Err(err),
        Ok(()) => {}
    }
    report_failures(&summaries);
    report_kept_sandboxes(&outcomes);
    match exit_for(&outcomes) {
        Exit::Interrupted => Err(interrupted(&outcomes, not_started)),
        exit => Ok(exit),
    }
}

/// Exit 130, with the command that continues the interrupted runs from their logs.
fn interrupted(outcomes: &[EvalOutcome], not_started: &[PathBuf]) -> CliError {
    use examen::runner::log::EvalStatus;
    let logs: Vec<PathBuf> = outcomes
        .iter()
        .filter(|o| o.status != EvalStatus::Success)
        .filter_map(|o| o.log_location.as_deref().map(PathBuf::from))
        .chain(not_started.iter().cloned())
        .collect();
    resume_hint(&logs)
}

/// Exit 130; with logs, the `eval-retry` command that continues them.
pub(crate) fn resume_hint(logs: &[PathBuf]) -> CliError {
    let error = CliError::interrupted();
    if logs.is_empty() {
        return error;
    }
    let words: Vec<String> = logs
        .iter()
        .map(|log| shell_word(&log.display().to_string()))
        .collect();
    // From here: a log names its task file as the eval was given it, relative to this
    // directory, and `eval-retry` loads the task again from there.
    error.with_hint(format!(
        "resume with `examen eval-retry {}` (from this directory)",
        words.join(" ")
    ))
}

/// `text`, quoted for a POSIX shell when it needs to be.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Where logs go: `--log-dir` (or `EXAMEN_LOG_DIR`), else `./logs`; `s3://bucket/prefix`
/// for S3 ([`check_log_dir`] asks S3). A local directory is created and checked now, so that
/// a log directory that cannot be written is bad input (exit 2) rather than a run that fails
/// after it started.
pub(crate) fn log_dir(dir: Option<&Path>) -> Result<Location, CliError> {
    let dir = dir.map_or_else(|| PathBuf::from(DEFAULT_LOG_DIR), Path::to_path_buf);
    let location =
        Location::from_path(&dir).map_err(|err| CliError::usage(format!("--log-dir {err}")))?;
    if location.is_s3() {
        return Ok(location);
    }
    let unwritable = |err: std::io::Error| {
        CliError::usage(format!(
            "--log-dir {}: cannot write logs there: {err}",
            dir.display()
        ))
    };
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::usage(format!(
            "--log-dir {}: is a file, not a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(unwritable)?;
    let probe = dir.join(format!(".examen-write-check-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(unwritable)?;
    let _ = std::fs::remove_file(&probe);
    Ok(location)
}

/// For an S3 log directory: that its bucket exists and can be listed with these credentials,
/// so a wrong bucket, region or key is bad input (exit 2) before anything runs.
pub(crate) async fn check_log_dir(store: &Store, dir: &Location) -> Result<(), CliError> {
    let Location::S3 { bucket, key } = dir else {
        return Ok(());
    };
    let client = store
        .s3()
        .map_err(|err| CliError::usage(format!("--log-dir {dir}: {err}")))?;
    client
        .probe(bucket, key)
        .await
        .map_err(|err| CliError::usage(format!("--log-dir {dir}: {err}")))
}

/// Prints the results on stdout: the summary (panel or text), or with `--json` the records of
/// the runs that never started (the others printed theirs as they finished).
fn report(
    outcomes: &[EvalOutcome],
    summaries: &[RunSummary],
    progress: &display::Progress,
    mode: Mode,
    json: bool,
) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut taken = Vec::new();
        for (outcome, summary) in outcomes.iter().zip(summaries) {
            let printed = progress
                .claim(&outcome.task, &outcome.model, &mut taken, |r| r.finished)
                .is_some();
            if !printed {
                writeln!(stdout, "{}", summary.to_json())?;
            }
        }
    } else {
        let text = match mode {
            Mode::Rich => render_rich(summaries, display::stdout_color()),
            Mode::Plain => render_plain(summaries),
            Mode::None => String::new(),
        };
        stdout.write_all(text.as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

/// Under `--no-sandbox-cleanup`: what was kept, how to get into it and how to remove it (on
/// stderr, beside the results).
fn report_kept_sandboxes(outcomes: &[EvalOutcome]) {
    let kept: Vec<_> = outcomes.iter().flat_map(|o| &o.kept_sandboxes).collect();
    if kept.is_empty() {
        return;
    }
    let mut stderr = anstream::stderr().lock();
    let _ = writeln!(stderr, "Sandboxes kept (--no-sandbox-cleanup):");
    let mut providers: Vec<&str> = Vec::new();
    for sandbox in &kept {
        if !providers.contains(&sandbox.provider.as_str()) {
            providers.push(&sandbox.provider);
        }
        for (name, connection) in &sandbox.environments {
            let _ = writeln!(
                stderr,
                "  sample {} epoch {} {name} ({}): {}",
                sandbox.sample_id, sandbox.epoch, sandbox.provider, connection.command
            );
        }
    }
    for provider in providers {
        let _ = writeln!(
            stderr,
            "Remove them with `examen sandbox cleanup {provider}` (or one with `examen sandbox cleanup {provider} ID`; `--dry-run` lists the ids)."
        );
    }
}

/// One line on stderr per failed run.
fn report_failures(summaries: &[RunSummary]) {
    let mut stderr = anstream::stderr().lock();
    for summary in summaries.iter().filter(|s| s.error.is_some()) {
        let _ = writeln!(
            stderr,
            "error: {} ({}) failed: {}",
            summary.task,
            summary.model,
            summary.error.as_deref().unwrap_or_default()
        );
    }
}

fn exit_for(outcomes: &[EvalOutcome]) -> Exit {
    use examen::runner::log::EvalStatus;
    if outcomes.iter().any(|o| o.status == EvalStatus::Cancelled) {
        Exit::Interrupted
    } else if outcomes.iter().any(|o| o.status == EvalStatus::Error) {
        Exit::Failed
    } else {
        Exit::Success
    }
}

fn load_tasks(args: &EvalArgs) -> Result<Vec<Task>, CliError> {
    let mut tasks = Vec::with_capacity(args.tasks.len());
    for path in &args.tasks {
        let mut task = examen::taskfile::load_task_file_with_args(path, &args.task_args)
            .map_err(CliError::usage)?;
        if let Some(SampleLimit::Range { start, end }) = args.limit {
            let samples = task.dataset.len();
            task.dataset.slice(start - 1, end);
            if task.dataset.is_empty() {
                return Err(CliError::usage(format!(
                    "--limit {start}-{end}: selects no samples of task `{}` ({}), which has \
                     {samples} sample{}",
                    task.name,
                    path.display(),
                    if samples == 1 { "" } else { "s" }
                )));
            }
        }
        check_sample_ids(&task, path, &args.sample_id)?;
        // As in Inspect: `--epochs` replaces the count and keeps the task's reducers,
        // `--epochs-reducer` replaces the reducers; the engine then checks they fit.
        if let Some(epochs) = args.epochs {
            task.epochs.epochs = epochs as usize;
        }
        if !args.epochs_reducer.is_empty() {
            task.epochs.reducers = args
                .epochs_reducer
                .iter()
                .map(|name| examen::registry::build_reducer(name.trim()))
                .collect::<Result<_, _>>()
                .map_err(|err| CliError::usage(format!("--epochs-reducer: {err}")))?;
        }
        if let (Some(epochs), true) = (args.epochs, args.epochs_reducer.is_empty()) {
            // The task's own reducers may not fit the new count (`pass_at_2` on one epoch):
            // say which flag fixes it.
            task.validate().map_err(|message| {
                CliError::usage(format!(
                    "--epochs {epochs}: task `{}`: {message}",
                    task.name
                ))
                .with_hint(format!(
                    "choose reducers that fit {epochs} epoch{}, e.g. --epochs-reducer mean",
                    if epochs == 1 { "" } else { "s" }
                ))
            })?;
        }
        tasks.push(task);
    }
    Ok(tasks)
}

/// `--sample-id` must select at least one sample of each task.
fn check_sample_ids(task: &Task, path: &Path, ids: &[String]) -> Result<(), CliError> {
    let ids: Vec<&str> = ids.iter().map(|id| id.trim()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let selected = task.dataset.samples.iter().any(|s| {
        s.id.as_ref()
            .is_some_and(|id| ids.iter().any(|sel| id.matches(sel)))
    });
    if selected {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "--sample-id {}: no sample of task `{}` ({}) has that id; its ids are {}",
        ids.join(","),
        task.name,
        path.display(),
        task.dataset.describe_ids()
    )))
}

fn model_config(args: &EvalArgs) -> GenerateConfig {
    GenerateConfig {
        max_connections: args.max_connections,
        max_retries: args.max_retries,
        timeout: args.timeout,
        attempt_timeout: args.attempt_timeout,
        ..GenerateConfig::default()
    }
}

fn resolve_models(args: &EvalArgs) -> Result<Vec<Model>, CliError> {
    let names: Vec<&str> = args
        .model
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    if names.is_empty() {
        return Err(CliError::usage(
            "no model to evaluate: pass --model provider/model (for example --model mockllm/model) \
             or set EXAMEN_MODEL",
        ));
    }
    let options = ModelOptions {
        base_url: args.model_base_url.clone(),
        args: args.model_args.iter().cloned().collect::<BTreeMap<_, _>>(),
        config: model_config(args),
        env: Env::process(),
        ..ModelOptions::default()
    };
    names
        .into_iter()
        .map(|name| {
            get_model(name, options.clone())
                .map_err(|err| CliError::usage(format!("--model {name}: {err}")))
        })
        .collect()
}

fn eval_options(
    args: &EvalArgs,
    store: &Store,
    cancel: CancelToken,
) -> Result<EvalOptions, CliError> {
    let role_options = ModelOptions {
        config: model_config(args),
        env: Env::process(),
        ..ModelOptions::default()
    };
    let mut model_roles = HashMap::new();
    for (role, name) in &args.model_role {
        let model = get_model(name.trim(), role_options.clone())
            .map_err(|err| CliError::usage(format!("--model-role {role}={name}: {err}")))?;
        model_roles.insert(role.clone(), model);
    }
    let config = GenerateConfig {
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
        ..model_config(args)
    };
    let metadata = parse_metadata(&args.metadata)?;
    let dir = log_dir(args.log_dir.as_deref())?;
    let format = args.log_format.unwrap_or(LogFormatArg::Eval).format();
    let logger = logger(dir, store, format, args.log_buffer);
    Ok(EvalOptions {
        max_tasks: args.max_tasks,
        max_samples: args.max_samples,
        max_connections: args.max_connections,
        limit: match args.limit {
            Some(SampleLimit::First(n)) => Some(n),
            _ => None,
        },
        sample_id: (!args.sample_id.is_empty()).then(|| {
            args.sample_id
                .iter()
                .map(|id| id.trim().to_string())
                .collect()
        }),
        fail_on_error: args.fail_on_error,
        retry_on_error: args.retry_on_error.unwrap_or(0),
        limits: Limits {
            message_limit: args.message_limit,
            token_limit: args.token_limit,
            time_limit: args.time_limit,
            working_limit: args.working_limit,
        },
        config,
        model_roles,
        model_options: role_options,
        logger: Some(logger),
        no_score: args.no_score,
        tags: args
            .tags
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        metadata,
        model_args: args
            .model_args
            .iter()
            .map(|(k, v)| (k.clone(), JsonValue::from(v.as_str())))
            .collect(),
        cancel: Some(cancel),
        sandbox: args.sandbox.clone(),
        max_sandboxes: args.max_sandboxes,
        sandbox_cleanup: args.no_sandbox_cleanup.then_some(false),
        ..EvalOptions::default()
    })
}

/// The engine's log directory with the writer's buffer from `--log-buffer`.
pub(crate) fn logger(
    dir: Location,
    store: &Store,
    format: examen_log::LogFormat,
    buffer: Option<usize>,
) -> Arc<dyn EvalLogger> {
    let mut writer = examen_log::WriterOptions::default();
    if let Some(buffer) = buffer {
        writer.buffer_samples = buffer;
    }
    Arc::new(LogDir::at(dir, store.clone(), format).with_options(writer))
}

/// `--metadata k=v` pairs; each value is YAML (`3` is a number, `[a, b]` a list).
fn parse_metadata(pairs: &[(String, String)]) -> Result<JsonObject, CliError> {
    let mut metadata = JsonObject::new();
    for (key, value) in pairs {
        let yaml: serde_norway::Value = serde_norway::from_str(value).map_err(|err| {
            CliError::usage(format!("--metadata {key}={value}: not valid YAML: {err}"))
        })?;
        let json = serde_json::to_value(&yaml)
            .map_err(|err| CliError::usage(format!("--metadata {key}={value}: {err}")))?;
        metadata.insert(key.clone(), json);
    }
    Ok(metadata)
}
