//! One sample × epoch unit: build the state, run the solvers under the
//! limits, score, retry on error, and hand the record to the log.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use examen_types::{ModelUsage, Score};
use indexmap::IndexMap;

use super::log::{LogSinkError, SampleRecord};
use super::{EvalEvent, RunAbort, RunShared};
use crate::generate::{check_message_limit, Generate, LimitExceeded, SampleError};
use crate::sample::{Sample, SampleInput};
use crate::state::{Choices, TaskState};
use crate::transcript::{utc_timestamp, EvalError, Event, SampleLimit, Transcript};

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
        let attempt = run_attempt(&shared, sample, epoch).await;
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

async fn run_attempt(shared: &RunShared, sample: &Sample, epoch: usize) -> Attempt {
    let started = Instant::now();
    let started_at = utc_timestamp(SystemTime::now());
    let transcript = Arc::new(Mutex::new(Transcript::new()));
    let lock = || transcript.lock().unwrap_or_else(|e| e.into_inner());
    let mut state = initial_state(shared, sample, epoch);
    {
        let mut t = lock();
        let base = t.base();
        t.push(Event::SampleInit {
            base,
            sample: Box::new(sample.clone()),
            state: serde_json::json!({
                "messages": state.messages,
                "metadata": state.metadata,
                "store": state.store,
            }),
        });
    }
    let generate = Generate {
        models: shared.models.clone(),
        config: shared.config.clone(),
        transcript: transcript.clone(),
        limits_active: true,
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
    let solved = with_limits(solve, shared, &transcript).await;
    lock().close_spans();

    let mut error = None;
    let mut limit = None;
    match solved {
        Ok(()) => {}
        Err(SampleError::Limit(exceeded)) => {
            let mut t = lock();
            let base = t.base();
            t.push(Event::SampleLimit {
                base,
                kind: exceeded.kind.to_string(),
                message: exceeded.message.clone(),
                limit: Some(exceeded.limit),
            });
            limit = Some(SampleLimit {
                kind: exceeded.kind.to_string(),
                limit: exceeded.limit,
            });
        }
        Err(SampleError::Failed { message, traceback }) => {
            error = Some(EvalError::new(message, traceback));
        }
    }
    state.completed = true;

    let mut scores = None;
    if error.is_none() && shared.score && !shared.task.scorers.is_empty() {
        let scoring = Generate {
            limits_active: false,
            ..generate.clone()
        };
        let mut map = IndexMap::new();
        lock().begin_span("scorers", "scorers");
        for (scorer, name) in shared.task.scorers.iter().zip(&shared.scorer_names) {
            lock().begin_span(name, "scorer");
            let result = scorer.score(&state, &state.target, &scoring).await;
            match result {
                Ok(Some(score)) => {
                    let mut t = lock();
                    let base = t.base();
                    t.push(Event::Score {
                        base,
                        score: score.clone(),
                        target: serde_json::to_value(&state.target).ok(),
                        intermediate: false,
                        scorer: name.clone(),
                    });
                    t.end_span();
                    map.insert(name.clone(), score);
                }
                Ok(None) => lock().end_span(),
                Err(e) => {
                    lock().end_span();
                    let (message, traceback) = match e {
                        SampleError::Failed { message, traceback } => (message, traceback),
                        SampleError::Limit(l) => (l.message.clone(), l.message),
                    };
                    error = Some(EvalError::new(
                        format!("scorer `{name}`: {message}"),
                        traceback,
                    ));
                    break;
                }
            }
        }
        lock().close_spans();
        if error.is_none() {
            scores = Some(map);
        }
    }
    if let Some(e) = &error {
        let mut t = lock();
        let base = t.base();
        t.push(Event::Error {
            base,
            error: e.clone(),
        });
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

fn usage_by_model(events: &[Event]) -> IndexMap<String, ModelUsage> {
    let mut usage: IndexMap<String, ModelUsage> = IndexMap::new();
    for event in events {
        if let Event::Model { model, output, .. } = event {
            if let Some(u) = &output.usage {
                *usage.entry(model.clone()).or_default() += u;
            }
        }
    }
    usage
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

    if let Some(sink) = &shared.sink {
        let record = SampleRecord {
            id: sample_id.clone(),
            epoch,
            input: match &sample.input {
                SampleInput::Text(t) => SampleInput::Text(t.clone()),
                SampleInput::Messages(m) => SampleInput::Messages(m.clone()),
            },
            choices: sample.choices.clone(),
            target: sample.target.clone(),
            metadata: attempt.state.metadata,
            messages: attempt.state.messages,
            output: attempt.state.output,
            scores: attempt.scores,
            store: attempt.state.store,
            events: attempt.events,
            model_usage,
            role_usage: IndexMap::new(),
            started_at: attempt.started_at,
            completed_at: utc_timestamp(SystemTime::now()),
            total_time: round3(attempt.total_time.as_secs_f64()),
            working_time: round3(attempt.working_time.as_secs_f64()),
            uuid: examen_types::short_uuid(),
            error: attempt.error,
            error_retries,
            limit: attempt.limit,
            message_limit: shared.limits.message_limit,
            token_limit: shared.limits.token_limit,
            attachments: IndexMap::new(),
            time_limit: shared.limits.time_limit,
        };
        // Shielded: a sample that finished reaches the log even when the run
        // is cancelled while it is being handed over.
        let sink = sink.clone();
        examen_rt::shield(async move { sink.write_sample(record).await })
            .await
            .unwrap_or_else(|| Err(LogSinkError::new("the log writer did not keep up")))
            .map_err(|e| RunAbort::Log(e.to_string()))?;
    }

    shared
        .emit(EvalEvent::SampleFinished {
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
    progress.finished += 1;
    for (model, u) in model_usage {
        *progress.usage.entry(model.clone()).or_default() += u;
    }
    if let Some(scores) = scores {
        progress.scores.completed += 1;
        for (name, score) in scores {
            progress.scores.add(name, position, epoch, score);
        }
        if let Some(first) = shared.scorer_names.first().and_then(|n| scores.get(n)) {
            if !first.value.is_nan() {
                progress.running_sum += first.value.to_float();
                progress.running_count += 1;
            }
        }
    } else if error.is_none() {
        // Solved without scorers (or with --no-score): still completed.
        progress.scores.completed += 1;
    }
    if error.is_some() && progress.first_error.is_none() {
        progress.first_error = error.cloned();
    }
    let running = shared.scorer_names.first().and_then(|name| {
        (progress.running_count > 0).then(|| {
            (
                name.clone(),
                progress.running_sum / progress.running_count as f64,
            )
        })
    });
    (progress.finished, running)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
