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
use crate::commands::eval::{check_log_dir, log_dir, logger, resume_hint, show};
use crate::display::Mode;
use crate::error::{CliError, Exit};

/// One log, ready to continue.
struct Retry {
    previous: PreviousEval,
    task: Task,
    model: Model,
    options: EvalOptions,
    format: LogFormat,
    /// The log as the user named it (`s3://...` for S3), for resume hints.
    shown: PathBuf,
    /// The log's local copy when it is in S3 (removed when the retry is done).
    _copy: Option<examen_store::LocalCopy>,
}

pub(crate) async fn run(
    args: EvalRetryArgs,
    mode: Mode,
    cancel: CancelToken,
) -> Result<Exit, CliError> {
    let store = examen_store::Store::from_env();
    let dir = log_dir(args.log_dir.as_deref())?;
    check_log_dir(&store, &dir).await?;
    let mut retries = Vec::with_capacity(args.logs.len());
    for path in &args.logs {
        retries.push(prepare(&args, &store, path, &cancel).await?);
    }
    let mut exit = Exit::Success;
    let mut retries = retries.into_iter();
    while let Some(retry) = retries.next() {
        if cancel.is_cancelled() {
            let mut left = vec![retry.shown.clone()];
            left.extend(retries.map(|r| r.shown));
            return Err(resume_hint(&left));
        }
        let Retry {
            previous,
            task,
            model,
            mut options,
            format,
            shown: _,
            _copy,
        } = retry;
        options.logger = Some(logger(dir.clone(), &store, format, args.log_buffer));
        // If this one is interrupted, the logs after it still need their retry.
        let not_started: Vec<PathBuf> =
            retries.as_slice().iter().map(|r| r.shown.clone()).collect();
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
    store: &examen_store::Store,
    path: &Path,
    cancel: &CancelToken,
) -> Result<Retry, CliError> {
    let location = examen_store::Location::from_path(path).map_err(CliError::usage)?;
    let copy = match &location {
        examen_store::Location::S3 { bucket, key } => {
            let copy = store
                .fetch_local(&location)
                .await
                .map_err(CliError::usage)?;
            // A writer killed mid-flush leaves a multipart upload behind: its parts cost
            // storage until aborted, and nothing will complete it now.
            let client = store.s3().map_err(CliError::usage)?;
            examen_store::s3::abort_stale_uploads(client, bucket, key)
                .await
                .map_err(CliError::usage)?;
            Some(copy)
        }
        examen_store::Location::Local(_) => None,
    };
    let owned = copy
        .as_ref()
        .map_or_else(|| path.to_path_buf(), |copy| copy.path().to_path_buf());
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
        shown: path.to_path_buf(),
        _copy: copy,
    })
}
