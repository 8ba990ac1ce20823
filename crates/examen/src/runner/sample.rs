//! One sample × epoch unit: build the state, run the solvers under the
//! limits, score, retry on error, and hand the record to the log.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use examen_types::{ModelUsage, Score};
use indexmap::IndexMap;

use super::log::LogSinkError;
use super::sandboxes::SampleSandboxes;
use super::score_step::{run_scorers, usage_by_model, ScorerFailure};
use super::{EvalEvent, RunAbort, RunShared};
use crate::context::{check_message_limit, LimitExceeded, SampleContext, SampleError};
use crate::sample::Sample;
use crate::state::{Choices, TaskState};
use crate::transcript::{
    utc_timestamp, ErrorEvent, EvalError, Event, SampleInitEvent, SampleLimit, SampleLimitEvent,
    Transcript,
};
use examen_types::log::{EvalRetryError, EvalSample};

struct Attempt {
    state: TaskState,
    events: Vec<Event>,
    scores: Option<IndexMap<String, Score>>,
    error: Option<EvalError>,
    limit: Option<SampleLimit>,
    started_at: String,
    total_time: Duration,
    working_time: Duration,
}

/// Runs one unit, retrying failed attempts as `retry_on_error` allows.
pub(super) async fn run_sample(
    shared: Arc<RunShared>,
    position: usize,
    epoch: usize,
) -> Result<(), RunAbort> {
    let sample = &shared.samples[position];
    if shared.stopping.is_cancelled() {
        // `fail_on_error` tripped before this unit started: it is left for a retry.
        return Ok(());
    }
    let mut error_retries = Vec::new();
    let mut attempt_number = 1;
    loop {
        let attempt = run_attempt(&shared, position, epoch).await;
        match &attempt.error {
            Some(error)
                if attempt_number <= shared.retry_on_error && !shared.stopping.is_cancelled() =>
            {
                shared
                    .emit(EvalEvent::SampleRetry {
                        run: shared.run,
                        sample_id: sample.id.clone().unwrap_or(crate::sample::SampleId::Int(0)),
                        epoch,
                        attempt: attempt_number,
                        error: error.message.clone(),
                    })
                    .await;
                error_retries.push(error.clone());
                attempt_number += 1;
            }
            _ => return finish(&shared, sample, position, epoch, attempt, error_retries).await,
        }
    }
}

fn initial_state(shared: &RunShared, sample: &Sample, epoch: usize) -> TaskState {
    TaskState {
        model: shared.models.model.name().to_string(),
        sample_id: sample.id.clone().unwrap_or(crate::sample::SampleId::Int(0)),
        epoch,
        input: sample.input.clone(),
        messages: sample.input.to_messages(),
        output: examen_types::ModelOutput {
            model: shared.models.model.name().to_string(),
            ..Default::default()
        },
        target: sample.target.clone(),
        choices: sample
            .choices
            .as_ref()
            .map(Choices::new)
            .unwrap_or_default(),
        metadata: sample.metadata.clone().unwrap_or_default(),
        store: examen_types::JsonObject::new(),
        completed: false,
        message_limit: shared.limits.message_limit,
        token_limit: shared.limits.token_limit,
        token_usage: ModelUsage::default(),
        tools: Vec::new(),
        tool_choice: examen_types::ToolChoice::Auto,
    }
}

fn seconds(limit: f64) -> String {
    if limit.fract() == 0.0 && limit.abs() < 1e15 {
        format!("{}", limit as i64)
    } else {
        format!("{limit}")
    }
}

async fn run_attempt(shared: &RunShared, position: usize, epoch: usize) -> Attempt {
    let sample = &shared.samples[position];
    let started = Instant::now();
    let started_at = utc_timestamp(SystemTime::now());
    let transcript = Arc::new(Mutex::new(Transcript::new()));
    let lock = || transcript.lock().unwrap_or_else(|e| e.into_inner());
    let mut state = initial_state(shared, sample, epoch);
    {
        let mut t = lock();
        // Inspect records the sample's start inside an `init` span.
        t.begin_span("init", "init");
        let base = t.base();
        let mut logged = sample.clone();
        // Inspect logs the files' names only.
        if let Some(files) = &mut logged.files {
            for contents in files.values_mut() {
                *contents = serde_json::Value::String(String::new());
            }
        }
        t.push(Event::SampleInit(Box::new(SampleInitEvent {
            base,
            sample: logged,
            state: serde_json::json!({
                "messages": state.messages,
                "metadata": state.metadata,
                "store": state.store,
            }),
        })));
        t.end_span();
    }
    // The sample's sandboxes, made before its solvers; a sample whose sandbox cannot be made
    // (or whose files or setup fail) fails without running.
    let mut init_error = None;
    let sandboxes = match shared.sandboxes.of_sample(position) {
        Some(task) => match SampleSandboxes::start(task, &shared.sandboxes, sample, epoch).await {
            Ok(sandboxes) => Some(sandboxes),
            Err(message) => {
                init_error = Some(EvalError::new(message.clone(), message));
                None
            }
        },
        None => None,
    };
    let envs = sandboxes.as_ref().and_then(SampleSandboxes::environments);
    let generate = SampleContext {
        models: shared.models.clone(),
        config: shared.config.clone(),
        transcript: transcript.clone(),
        limits: Some(shared.limits),
        scorers: Some(shared.scorers.clone()),
        tools: crate::tool::ToolContext::for_sample(transcript.clone(), envs),
    };

    lock().begin_span("solvers", "solvers");
    let solve = async {
        for solver in &shared.solvers {
            lock().begin_span(solver.name(), "solver");
            let result = solver.solve(&mut state, &generate).await;
            lock().end_span();
            result?;
            check_message_limit(&state, false)?;
            if state.completed {
                break;
            }
        }
        Ok(())
    };
    let solved = if init_error.is_none() {
        with_limits(solve, shared, &transcript).await
    } else {
        drop(solve);
        Ok(())
    };
    lock().close_spans();

    let mut error = init_error;
    let mut limit = None;
    match solved {
        Ok(()) => {}
        Err(SampleError::Limit(exceeded)) => {
            let mut t = lock();
            let base = t.base();
            t.push(Event::SampleLimit(SampleLimitEvent {
                base,
                kind: exceeded.kind.to_string(),
                message: exceeded.message.clone(),
                limit: Some(exceeded.limit),
            }));
            limit = Some(SampleLimit {
                kind: exceeded.kind.to_string(),
                limit: exceeded.limit,
                reason: None,
            });
        }
        Err(SampleError::Failed { message, traceback }) => {
            error = Some(EvalError::new(message, traceback));
        }
    }
    state.completed = true;

    let mut scores = None;
    if error.is_none() && shared.score && !shared.task.scorers.is_empty() {
        let scoring = SampleContext {
            limits: None,
            scorers: None,
            ..generate.clone()
        };
        lock().begin_span("scorers", "scorers");
        let named = shared
            .task
            .scorers
            .iter()
            .zip(shared.scorer_names.iter().map(String::as_str));
        let scored = run_scorers(named, &state, &scoring, None).await;
        lock().close_spans();
        match scored {
            Ok(map) => scores = Some(map),
            Err(ScorerFailure { name, error: e }) => {
                let (message, traceback) = match e {
                    SampleError::Failed { message, traceback } => (message, traceback),
                    SampleError::Limit(l) => (l.message.clone(), l.message),
                };
                error = Some(EvalError::new(
                    format!("scorer `{name}`: {message}"),
                    traceback,
                ));
            }
        }
    }
    if let Some(e) = &error {
        let mut t = lock();
        let base = t.base();
        t.push(Event::Error(ErrorEvent {
            base,
            error: e.clone(),
        }));
    }
    if let Some(sandboxes) = sandboxes {
        let interrupted = error.is_some() || limit.is_some();
        if let Err(why) = sandboxes.finish(interrupted).await {
            // Recorded in the sample, as Inspect logs it: the sample's result stands.
            let mut t = lock();
            let base = t.base();
            t.push(Event::Logger(examen_types::event::LoggerEvent {
                base,
                message: examen_types::event::LoggingMessage {
                    name: Some("examen.sandbox".to_owned()),
                    level: "warning".to_owned(),
                    message: format!("the sample's sandbox cleanup failed: {why}"),
                    created: SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64()),
                    filename: "unknown".to_owned(),
                    module: "unknown".to_owned(),
                    lineno: 0,
                },
            }));
        }
    }
    let (events, working_time) = {
        let mut t = lock();
        (std::mem::take(&mut t.events), t.working_time())
    };
    Attempt {
        state,
        events,
        scores,
        error,
        limit,
        started_at,
        total_time: started.elapsed(),
        working_time,
    }
}

/// Runs the solvers under the time limit (a deadline on the whole chain)
/// and the working limit (a monitor that cancels the chain once working
/// time — wall clock less connection waits — passes the limit).
async fn with_limits(
    solve: impl std::future::Future<Output = Result<(), SampleError>> + Send,
    shared: &RunShared,
    transcript: &Arc<Mutex<Transcript>>,
) -> Result<(), SampleError> {
    let token = examen_rt::CancelToken::new();
    let _monitor = shared.limits.working_limit.map(|limit| {
        let token = token.clone();
        let transcript = transcript.clone();
        let limit = Duration::from_secs_f64(limit.max(0.0));
        examen_rt::spawn(async move {
            loop {
                let used = transcript
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .working_time();
                if used >= limit {
                    token.cancel();
                    return;
                }
                examen_rt::sleep(limit - used).await;
            }
        })
    });
    let guarded = token.run_until_cancelled(solve);
    let outcome = match shared.limits.time_limit {
        Some(limit) => {
            match examen_rt::timeout(Duration::from_secs_f64(limit.max(0.0)), guarded).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(SampleError::Limit(LimitExceeded {
                        kind: "time",
                        limit,
                        message: format!("Time limit exceeded. limit: {} seconds", seconds(limit)),
                    }))
                }
            }
        }
        None => guarded.await,
    };
    match outcome {
        Some(result) => result,
        None => {
            let limit = shared.limits.working_limit.unwrap_or(0.0);
            Err(SampleError::Limit(LimitExceeded {
                kind: "working",
                limit,
                message: format!(
                    "Working time limit exceeded. limit: {} seconds",
                    seconds(limit)
                ),
            }))
        }
    }
}

async fn finish(
    shared: &RunShared,
    sample: &Sample,
    position: usize,
    epoch: usize,
    attempt: Attempt,
    error_retries: Vec<EvalError>,
) -> Result<(), RunAbort> {
    let sample_id = attempt.state.sample_id.clone();
    let model_usage = usage_by_model(&attempt.events);
    let usage: ModelUsage = model_usage.values().cloned().sum();
    let score_values: IndexMap<String, examen_types::Value> = attempt
        .scores
        .iter()
        .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.value.clone())))
        .collect();
    let error = attempt.error.clone();
    let limit_text = attempt.limit.as_ref().map(|l| l.kind.clone());

    let (completed, running) = record_progress(
        shared,
        position,
        epoch,
        attempt.scores.as_ref(),
        &model_usage,
        error.as_ref(),
    );
    let slot = shared.finished.slot(completed);

    if let Some(sink) = &shared.sink {
        let mut record = EvalSample::new(
            sample_id.clone(),
            u32::try_from(epoch).unwrap_or(u32::MAX),
            sample.input.clone(),
            sample.target.clone(),
        );
        record.choices = sample.choices.clone();
        // As Inspect writes them: the sample's own sandbox, the names of its files (their
        // contents may be large or secret), its setup script.
        // In the log's one form (`{"type", "config"}`), whichever form the sample used.
        record.sandbox = shared.sandboxes.logged_spec(position);
        record.files = sample
            .files
            .as_ref()
            .map(|files| files.keys().cloned().collect());
        record.setup = sample.setup.clone();
        record.metadata = attempt.state.metadata;
        record.messages = attempt.state.messages;
        record.output = attempt.state.output;
        record.scores = attempt.scores;
        record.store = attempt.state.store;
        record.events = attempt.events;
        record.model_usage = model_usage;
        record.started_at = Some(attempt.started_at);
        record.completed_at = Some(utc_timestamp(SystemTime::now()));
        record.total_time = Some(round3(attempt.total_time.as_secs_f64()));
        record.working_time = Some(round3(attempt.working_time.as_secs_f64()));
        record.uuid = Some(examen_types::short_uuid());
        record.error = attempt.error;
        record.error_retries = (!error_retries.is_empty()).then(|| {
            error_retries
                .into_iter()
                .map(|e| EvalRetryError {
                    message: e.message,
                    traceback: e.traceback,
                    traceback_ansi: e.traceback_ansi,
                    events: None,
                })
                .collect()
        });
        record.limit = attempt.limit;
        record.message_limit = shared.limits.message_limit.map(|n| n as u64);
        record.token_limit = shared.limits.token_limit;
        // Inspect records the time limit in whole seconds.
        record.time_limit = shared.limits.time_limit.map(|s| s.ceil() as u64);
        // Shielded: a sample that finished reaches the log even when the run
        // is cancelled while it is being handed over.
        let sink = sink.clone();
        examen_rt::shield(async move { sink.write_sample(record).await })
            .await
            .unwrap_or_else(|| Err(LogSinkError::new("the log writer did not keep up")))
            .map_err(|e| RunAbort::Log(e.to_string()))?;
    }

    slot.send(EvalEvent::SampleFinished {
        run: shared.run,
        sample_id,
        epoch,
        scores: score_values,
        usage,
        error: error.as_ref().map(|e| e.message.clone()),
        limit: limit_text,
        completed,
        running,
    })
    .await;
    let (in_use, limit) = shared.models.model.connections();
    if limit > 0 {
        shared
            .emit(EvalEvent::Connections {
                run: shared.run,
                model: shared.models.model.name().to_string(),
                in_use,
                limit,
            })
            .await;
    }

    if let Some(error) = error {
        let errors = shared.errors.fetch_add(1, Ordering::SeqCst) + 1;
        if !shared.continue_on_fail
            && shared
                .fail_on_error
                .should_fail(errors, shared.total as u64)
        {
            // Not an error of this unit: the others in flight finish (within the grace period)
            // and are logged, and the run ends with this error.
            let mut tripped = shared.tripped.lock().unwrap_or_else(|e| e.into_inner());
            if tripped.is_none() {
                *tripped = Some(error);
                shared.stopping.cancel();
            }
        }
    }
    Ok(())
}

/// Counts a finished unit (run here, or carried over from a previous log)
/// in the run's progress: its scores for the results, its usage, the first
/// error. Returns the units finished so far and the running mean of the
/// first scorer.
pub(super) fn record_progress(
    shared: &RunShared,
    position: usize,
    epoch: usize,
    scores: Option<&IndexMap<String, Score>>,
    model_usage: &IndexMap<String, ModelUsage>,
    error: Option<&EvalError>,
) -> (usize, Option<(String, f64)>) {
    let mut progress = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
    for (model, u) in model_usage {
        *progress.usage.entry(model.clone()).or_default() += u;
    }
    if error.is_some() && progress.first_error.is_none() {
        progress.first_error = error.cloned();
    }
    // Solved without scorers (or with --no-score): still completed.
    let completed = scores.is_some() || error.is_none();
    progress.tally.record(position, epoch, scores, completed)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
