//! `examen score LOG [--scorer NAME]... [--action append|overwrite] [--overwrite]
//! [--model-role ROLE=MODEL]... [--model-base-url URL] [-M KEY=VALUE]... [--max-samples N]
//! [--max-connections N]`: re-scores an
//! existing log (examen's or Inspect's) with the engine's [`examen::score_log`] and writes
//! `<log>-scored.<ext>` beside it (`-scored-1`, `-scored-2`, ... when taken, as Inspect
//! suggests), or LOG itself with `--overwrite`.
//!
//! Scorers are the ones named, else the log's own. `--action append` (the default) keeps the
//! log's scores and adds the new ones; `overwrite` replaces them. Model-graded scorers call the
//! log's model (rebuilt from its name, base URL and arguments; `--model-base-url` and `-M`
//! override those) and its model roles (`--model-role` rebinds one, e.g. the `grader`).
//!
//! The output is the eval summary (panel, text, or with `--json` one record whose `status` is
//! the log's, kept as it was). A log whose eval has not finished (status `started`) is refused:
//! rewriting one that a running eval is writing (its writer holds the log's lock) would destroy
//! the samples it writes next, and one left by a killed eval is completed, and scored, by
//! `examen eval-retry`; the message says which it is. Exit codes: 0 scored; 2 the log cannot be
//! read, has not finished, or a scorer cannot be built; 1 a scorer failed on a sample or the new log cannot be written; 130 interrupted.
//! On any failure no new file is left behind.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use examen::{DynScorer, ScoreError, ScoreOptions, ScoreOutcome};
use examen_rt::CancelToken;

use crate::args::{ScoreAction, ScoreArgs};
use crate::display::summary::{render_plain, render_rich, RunSummary};
use crate::display::{self, plain::Plain, rich::Rich, Display, Mode, Silent};
use crate::error::{CliError, Exit};

/// A validated `examen score` request.
#[derive(Debug)]
pub(crate) struct ScoreRequest {
    pub(crate) src: PathBuf,
    pub(crate) dest: PathBuf,
    pub(crate) scorers: Option<Vec<Arc<dyn DynScorer>>>,
    pub(crate) action: ScoreAction,
}

/// `dir/name.eval` → `dir/name-scored.eval`, or the first of `name-scored-1.eval`,
/// `name-scored-2.eval`, ... that does not exist yet (Inspect's suggestion).
pub(crate) fn scored_path(log: &Path) -> PathBuf {
    let stem = log
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = log
        .extension()
        .map(|ext| format!(".{}", ext.to_string_lossy()))
        .unwrap_or_default();
    let mut path = log.with_file_name(format!("{stem}-scored{ext}"));
    let mut count = 0;
    while path.exists() {
        count += 1;
        path = log.with_file_name(format!("{stem}-scored-{count}{ext}"));
    }
    path
}

pub(crate) fn request(args: &ScoreArgs) -> Result<ScoreRequest, CliError> {
    let dest = if args.overwrite {
        args.log.clone()
    } else {
        scored_path(&args.log)
    };
    request_at(args, &args.log, dest)
}

/// [`request`] for the log at `src` (a local copy of an S3 log), written to `dest`.
fn request_at(args: &ScoreArgs, src: &Path, dest: PathBuf) -> Result<ScoreRequest, CliError> {
    if !src.is_file() {
        return Err(CliError::usage(format!("{}: no such file", src.display())));
    }
    let scorers = if args.scorer.is_empty() {
        None
    } else {
        let built = args
            .scorer
            .iter()
            .map(|name| {
                examen::registry::build_scorer(name.trim(), None)
                    .map_err(|err| CliError::usage(format!("--scorer {name}: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Some(built)
    };
    Ok(ScoreRequest {
        src: src.to_owned(),
        dest,
        scorers,
        action: args.action.unwrap_or(ScoreAction::Append),
    })
}

/// `s3://.../name.eval` → the first of `name-scored.eval`, `name-scored-1.eval`, ... that
/// does not exist in S3 yet.
async fn scored_location(
    store: &examen_store::Store,
    log: &examen_store::Location,
) -> Result<examen_store::Location, CliError> {
    let name = log.file_name().unwrap_or_default();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) => (stem.to_owned(), format!(".{ext}")),
        None => (name.clone(), String::new()),
    };
    let dir = log.parent();
    for count in 0.. {
        let candidate = if count == 0 {
            dir.join(&format!("{stem}-scored{ext}"))
        } else {
            dir.join(&format!("{stem}-scored-{count}{ext}"))
        };
        if store
            .version(&candidate)
            .await
            .map_err(CliError::usage)?
            .is_none()
        {
            return Ok(candidate);
        }
    }
    unreachable!("some name is free")
}

pub(crate) async fn run(
    args: ScoreArgs,
    mode: Mode,
    cancel: CancelToken,
) -> Result<Exit, CliError> {
    let store = examen_store::Store::from_env();
    let source = examen_store::Location::from_path(&args.log).map_err(CliError::usage)?;
    // An S3 log is scored from a local copy; the scored log is uploaded when it is complete,
    // next to the original (`-scored`, `-scored-1`, ... as locally) or over it only if it
    // is still the version read (`--overwrite`).
    let mut remote = None;
    let request = if source.is_s3() {
        let version = store
            .version(&source)
            .await
            .map_err(CliError::usage)?
            .ok_or_else(|| CliError::usage(format!("{source}: no such object")))?;
        let copy = store.fetch_local(&source).await.map_err(CliError::usage)?;
        let target = if args.overwrite {
            source.clone()
        } else {
            scored_location(&store, &source).await?
        };
        let dest = copy
            .path()
            .with_file_name(target.file_name().unwrap_or_default());
        let request = request_at(&args, copy.path(), dest)?;
        let condition = if args.overwrite {
            examen_store::Condition::Matches(version)
        } else {
            examen_store::Condition::Absent
        };
        remote = Some((copy, target, condition));
        request
    } else {
        request(&args)?
    };
    // Roles get the connection limit; the base URL and provider arguments are the log's
    // model's only.
    let role_options = examen_model::ModelOptions {
        config: examen_types::GenerateConfig {
            max_connections: args.max_connections,
            ..examen_types::GenerateConfig::default()
        },
        env: examen_model::Env::process(),
        ..examen_model::ModelOptions::default()
    };
    let mut model_roles = HashMap::new();
    for (role, name) in &args.model_role {
        let model = examen_model::get_model(name.trim(), role_options.clone())
            .map_err(|err| CliError::usage(format!("--model-role {role}={name}: {err}")))?;
        model_roles.insert(role.clone(), model);
    }
    let model_options = examen_model::ModelOptions {
        base_url: args.model_base_url.clone(),
        args: args.model_args.iter().cloned().collect(),
        ..role_options
    };
    let options = ScoreOptions {
        scorers: request.scorers,
        action: match request.action {
            ScoreAction::Append => examen::ScoreAction::Append,
            ScoreAction::Overwrite => examen::ScoreAction::Overwrite,
        },
        max_samples: args
            .max_samples
            .or(args.max_connections.map(|n| n as usize)),
        model_roles,
        model_options,
        cancel: Some(cancel),
        ..ScoreOptions::default()
    };
    let view: Box<dyn Display> = match mode {
        Mode::Rich => Box::new(Rich::new(display::stderr_color())),
        Mode::Plain => Box::new(Plain::new()),
        Mode::None => Box::new(Silent),
    };
    let (events, receiver) = examen_rt::channel(1024);
    let consumer = examen_rt::spawn(display::consume(receiver, view, Vec::new()));
    // Boxed: the scoring future is large, and this runs on the main thread's stack.
    let result = Box::pin(examen::score_log(
        &request.src,
        &request.dest,
        options,
        Some(events),
    ))
    .await;
    let progress = match consumer.await {
        Ok(progress) => progress,
        Err(err) if err.is_panic() => err.resume(),
        Err(_) => display::Progress::default(),
    };
    let mut outcome = result.map_err(|err| match err {
        ScoreError::Cancelled => CliError::interrupted(),
        ScoreError::Read(_) | ScoreError::Setup(_) | ScoreError::Unfinished(_) => {
            CliError::usage(err)
        }
        _ => CliError::failed(err),
    })?;
    if let Some((_copy, target, condition)) = &remote {
        store
            .upload_file(&outcome.log_location, target, condition)
            .await
            .map_err(|err| CliError::failed(format!("the scored log was not written: {err}")))?;
        outcome.log_location = PathBuf::from(target.to_string());
    }
    match report(&outcome, &progress, mode, args.json) {
        // A reader that went away (`| head`) does not change how the scoring went.
        Err(err) if err.is_silent() => {}
        Err(err) => return Err(err),
        Ok(()) => {}
    }
    Ok(Exit::Success)
}

/// The summary of the scored log: its results (the log's and the new scores, or the new ones
/// alone with `--action overwrite`), the scoring's time and grader tokens, and where it went.
fn summary(outcome: &ScoreOutcome, progress: &display::Progress) -> RunSummary {
    let run = progress.started().next().map(|(_, run)| run);
    let status = outcome.status;
    let log = Some(outcome.log_location.display().to_string());
    match run {
        Some(run) => RunSummary::from_progress(run, status, Some(&outcome.log_results), None, log),
        None => RunSummary {
            task: outcome.task.clone(),
            model: outcome.model.clone(),
            status,
            total: outcome.log_results.total_samples as usize,
            completed: outcome.log_results.completed_samples as usize,
            samples: None,
            errors: 0,
            retries: 0,
            elapsed: None,
            usage: examen_types::ModelUsage::default(),
            scores: Vec::new(),
            error: None,
            log,
        },
    }
}

fn report(
    outcome: &ScoreOutcome,
    progress: &display::Progress,
    mode: Mode,
    json: bool,
) -> Result<(), CliError> {
    let summary = summary(outcome, progress);
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut record = summary.to_json();
        record["status"] = serde_json::Value::from(outcome.status.as_str());
        record["scorers"] = serde_json::Value::from(outcome.scorers.clone());
        writeln!(stdout, "{record}")?;
    } else {
        let text = match mode {
            Mode::Rich => render_rich(&[summary], display::stdout_color()),
            Mode::Plain => render_plain(&[summary]),
            Mode::None => String::new(),
        };
        stdout.write_all(text.as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scored_logs_sit_beside_the_original() {
        assert_eq!(
            scored_path(Path::new("logs/a_b.eval")),
            PathBuf::from("logs/a_b-scored.eval")
        );
        assert_eq!(
            scored_path(Path::new("x.json")),
            PathBuf::from("x-scored.json")
        );
    }

    #[test]
    fn a_taken_name_gets_the_next_number() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.eval");
        std::fs::write(dir.path().join("run-scored.eval"), "").unwrap();
        std::fs::write(dir.path().join("run-scored-1.eval"), "").unwrap();
        assert_eq!(scored_path(&log), dir.path().join("run-scored-2.eval"));
    }
}
