//! `examen eval-retry LOG...`: continues evals from their logs, whatever state they were left
//! in (`started` after a crash or a kill, `cancelled` after Ctrl-C, `error` after a failure).
//!
//! Each log's task is loaded again from the task file and `-T` arguments it records, its model
//! is built again (name, base URL, `-M` arguments; the key comes from the environment as for
//! `eval`), and its options are the eval's own unless given here. The samples that finished
//! without error are copied into a new log as they are, never sent to the model again; the
//! errored and missing ones run. The new log keeps the eval's task id and holds every sample ×
//! epoch once; the old log is left as it was.
//!
//! Every log is read, and its task and model resolved, before anything runs: one that cannot
//! be continued stops the command (exit 2) with no new log written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use examen::runner::{eval_retry, PreviousEval, TaskSource};
use examen::{EvalOptions, Task};
use examen_log::LogFormat;
use examen_model::{get_model, Env, Model, ModelOptions};
use examen_rt::CancelToken;
use examen_types::GenerateConfig;

use crate::args::EvalRetryArgs;
use crate::commands::eval::{log_dir, logger, resume_hint, show};
use crate::display::Mode;
use crate::error::{CliError, Exit};

/// One log, ready to continue.
struct Retry {
    previous: PreviousEval,
    task: Task,
    model: Model,
    options: EvalOptions,
    format: LogFormat,
}

pub(crate) async fn run(
    args: EvalRetryArgs,
    mode: Mode,
    cancel: CancelToken,
) -> Result<Exit, CliError> {
    let mut retries = Vec::with_capacity(args.logs.len());
    for path in &args.logs {
        retries.push(prepare(&args, path, &cancel).await?);
    }
    let dir = log_dir(args.log_dir.as_deref())?;
    let mut exit = Exit::Success;
    let mut retries = retries.into_iter();
    while let Some(retry) = retries.next() {
        if cancel.is_cancelled() {
            let mut left = vec![retry.previous.path().to_path_buf()];
            left.extend(retries.map(|r| r.previous.path().to_path_buf()));
            return Err(resume_hint(&left));
        }
        let Retry {
            previous,
            task,
            model,
            mut options,
            format,
        } = retry;
        options.logger = Some(logger(dir.clone(), format, args.log_buffer));
        // If this one is interrupted, the logs after it still need their retry.
        let not_started: Vec<PathBuf> = retries
            .as_slice()
            .iter()
            .map(|r| r.previous.path().to_path_buf())
            .collect();
        let shown = vec![model.clone()];
        let this = show(
            mode,
            args.json,
            shown,
            &not_started,
            move |events| async move {
                eval_retry(previous, task, model, options, Some(events))
                    .await
                    .map(|outcome| vec![outcome])
            },
        )
        .await?;
        if this == Exit::Failed {
            exit = Exit::Failed;
        }
    }
    Ok(exit)
}

/// Reads `path`, loads its task and builds its model, with this command's overrides.
async fn prepare(
    args: &EvalRetryArgs,
    path: &Path,
    cancel: &CancelToken,
) -> Result<Retry, CliError> {
    let owned = path.to_path_buf();
    let previous = examen_rt::to_thread(move || PreviousEval::open(owned))
        .await
        .map_err(CliError::usage)?;
    if let Ok(TaskSource::Recorded { file, .. }) = previous.task_source() {
        eprintln!(
            "warning: {}: task file `{}` not found; rebuilding the task from the copy of it \
             recorded in the log",
            path.display(),
            file.display()
        );
    }
    let task = previous.load_task().map_err(CliError::usage)?;

    let recorded = previous.generate_config();
    let connection = GenerateConfig {
        max_connections: args.max_connections.or(recorded.max_connections),
        max_retries: args.max_retries.or(recorded.max_retries),
        timeout: args.timeout.or(recorded.timeout),
        attempt_timeout: args.attempt_timeout.or(recorded.attempt_timeout),
        ..GenerateConfig::default()
    };
    let model_error = |name: &str, err: examen_model::ModelError| {
        CliError::usage(format!("{}: model `{name}`: {err}", path.display()))
    };
    let name = previous.model().to_string();
    let model = get_model(
        &name,
        ModelOptions {
            base_url: args
                .model_base_url
                .clone()
                .or_else(|| previous.model_base_url().map(str::to_string)),
            args: previous.model_args(),
            config: connection.clone(),
            env: Env::process(),
            ..ModelOptions::default()
        },
    )
    .map_err(|err| model_error(&name, err))?;
    let role_options = ModelOptions {
        config: connection.clone(),
        env: Env::process(),
        ..ModelOptions::default()
    };
    let mut model_roles = HashMap::new();
    for (role, name) in previous.model_roles() {
        let bound =
            get_model(&name, role_options.clone()).map_err(|err| model_error(&name, err))?;
        model_roles.insert(role, bound);
    }

    let mut options = previous.eval_options().map_err(CliError::usage)?;
    options.config = recorded.merge(&connection);
    if args.max_connections.is_some() {
        options.max_connections = args.max_connections;
    }
    if args.max_samples.is_some() {
        options.max_samples = args.max_samples;
    }
    if args.fail_on_error.is_some() {
        options.fail_on_error = args.fail_on_error;
    }
    if let Some(retries) = args.retry_on_error {
        options.retry_on_error = retries;
    }
    options.no_score |= args.no_score;
    options.model_roles = model_roles;
    options.model_options = role_options;
    options.cancel = Some(cancel.clone());
    let format = match args.log_format {
        Some(format) => format.format(),
        None => LogFormat::from_path(path).unwrap_or_default(),
    };
    Ok(Retry {
        previous,
        task,
        model,
        options,
        format,
    })
}
