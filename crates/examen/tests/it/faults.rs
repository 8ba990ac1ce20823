//! Full evals against the fault-injecting loopback server (`fault_server.rs`), on both
//! backends: retryable faults end in successful samples with their retries recorded;
//! non-retryable ones leave errored samples that carry their error, as the error policy says,
//! and no other sample is lost or duplicated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use examen::dataset::Dataset;
use examen::runner::log::EvalStatus;
use examen::runner::{eval_retry, LogDir, PreviousEval};
use examen::sample::Sample;
use examen::task::FailOnError;
use examen::{scorer, solver, EvalOptions, Task};
use examen_log::{read_log, EvalLog, LogFormat, ReadOptions, SampleId};
use examen_model::{get_model, Backoff, Model, ModelOptions, Secret};
use examen_types::GenerateConfig;

use crate::fault_server::{Fault, FaultServer, ServerOptions};

fn prompt(i: i64) -> String {
    format!("What is {i} + 1?")
}

fn task(n: i64) -> Task {
    let samples = (1..=n)
        .map(|i| Sample::new(prompt(i), (i + 1).to_string()))
        .collect();
    Task::new(
        "faults",
        Dataset::from_samples(samples).unwrap_or_else(|e| panic!("{e}")),
    )
    .solver(solver::generate())
    .scorer(scorer::includes())
}

/// `openai-api/faults/m` at `server`, retrying fast: short backoff, one-second attempts.
fn model(server: &FaultServer) -> Model {
    get_model(
        "openai-api/faults/m",
        ModelOptions {
            base_url: Some(server.base_url()),
            api_key: Some(Secret::new("test-key")),
            backoff: Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
            config: GenerateConfig {
                attempt_timeout: Some(1.0),
                max_retries: Some(5),
                ..GenerateConfig::default()
            },
            ..ModelOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn id_of(i: &SampleId) -> i64 {
    match i {
        SampleId::Int(i) => *i,
        other => panic!("integer ids: {other}"),
    }
}

/// Each sample of the log by id (epoch 1); panics on a duplicate.
fn by_id(log: &EvalLog) -> BTreeMap<i64, &examen_log::EvalSample> {
    let mut out = BTreeMap::new();
    for s in log.samples.iter().flatten() {
        assert!(
            out.insert(id_of(&s.id), s).is_none(),
            "sample {} is in the log twice",
            s.id
        );
    }
    out
}

/// Retries the model call made for a sample, as recorded in its model event.
fn recorded_retries(sample: &examen_log::EvalSample) -> u64 {
    let events = serde_json::to_value(&sample.events).unwrap_or_default();
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"] == "model")
        .map(|e| e["retries"].as_u64().unwrap_or(0))
        .sum()
}

async fn run(
    dir: &Path,
    task: Task,
    model: Model,
    fail_on_error: Option<FailOnError>,
) -> (examen::EvalOutcome, PathBuf) {
    let options = EvalOptions {
        max_samples: Some(4),
        fail_on_error,
        logger: Some(Arc::new(LogDir::new(dir, LogFormat::Eval))),
        ..EvalOptions::default()
    };
    let mut outcomes = examen::eval(vec![task], vec![model], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = outcomes.remove(0);
    let location = PathBuf::from(
        outcome
            .log_location
            .clone()
            .unwrap_or_else(|| panic!("a log")),
    );
    (outcome, location)
}

fn read(path: &Path) -> EvalLog {
    read_log(path, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The faults injected for prompt `i`, one per attempt before it succeeds.
fn faults_for(i: i64) -> Vec<Fault> {
    match i % 6 {
        0 => vec![Fault::ServerError, Fault::ServerError],
        1 => vec![Fault::RateLimited(0.2)],
        2 => vec![Fault::Drop, Fault::Drop],
        3 => vec![Fault::Hang],
        4 => vec![Fault::Garbage],
        _ => Vec::new(),
    }
}

fn number(prompt: &str) -> i64 {
    prompt
        .trim_start_matches("What is ")
        .trim_end_matches(" + 1?")
        .parse()
        .unwrap_or(0)
}

#[examen_rt::test]
async fn retryable_faults_end_in_successful_samples_with_their_retries() {
    let server = FaultServer::start(
        |prompt, attempt| {
            faults_for(number(prompt))
                .get(attempt - 1)
                .copied()
                .unwrap_or(Fault::Answer)
        },
        ServerOptions::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (outcome, location) = run(dir.path(), task(12), model(&server), None).await;
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    assert_eq!(outcome.errored_samples, 0);
    let log = read(&location);
    let samples = by_id(&log);
    assert_eq!(
        samples.keys().copied().collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    for (i, sample) in samples {
        let faults = faults_for(i).len();
        assert!(sample.error.is_none(), "sample {i}: {:?}", sample.error);
        assert_eq!(recorded_retries(sample), faults as u64, "sample {i}");
        assert_eq!(server.requests(&prompt(i)), faults + 1, "sample {i}");
        assert_eq!(
            sample.scores.as_ref().map(|s| s["includes"].value.clone()),
            Some("C".into()),
            "sample {i}"
        );
    }
    assert_eq!(
        log.results.map(|r| r.scores[0].metrics["accuracy"].value),
        Some(1.0)
    );
}

fn rejected(i: i64) -> bool {
    i == 3 || i == 8
}

async fn rejecting_server() -> FaultServer {
    FaultServer::start(
        |prompt, _| {
            if rejected(number(prompt)) {
                Fault::BadRequest
            } else {
                Fault::Answer
            }
        },
        ServerOptions::default(),
    )
    .await
}

#[examen_rt::test]
async fn non_retryable_errors_are_sample_data_when_the_policy_allows() {
    let server = rejecting_server().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (outcome, location) = run(
        dir.path(),
        task(12),
        model(&server),
        Some(FailOnError::Bool(false)),
    )
    .await;
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    assert_eq!(outcome.errored_samples, 2);
    let log = read(&location);
    let samples = by_id(&log);
    assert_eq!(samples.len(), 12, "no sample lost");
    for (i, sample) in samples {
        assert_eq!(
            server.requests(&prompt(i)),
            1,
            "sample {i}: a 400 is not retried"
        );
        if rejected(i) {
            let error = sample
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            assert!(error.contains("400"), "sample {i}: {error}");
            assert!(sample.scores.is_none());
        } else {
            assert!(sample.error.is_none(), "sample {i}");
            assert!(sample.scores.is_some(), "sample {i}");
        }
    }
    let results = log.results.unwrap_or_else(|| panic!("results"));
    assert_eq!(results.completed_samples, 10);
}

#[examen_rt::test]
async fn a_tripped_policy_fails_the_eval_and_a_retry_completes_it() {
    let server = rejecting_server().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (outcome, location) = run(dir.path(), task(12), model(&server), None).await;
    assert_eq!(outcome.status, EvalStatus::Error);
    let error = outcome.error.map(|e| e.message).unwrap_or_default();
    assert!(error.contains("400"), "{error}");
    let log = read(&location);
    assert_eq!(log.status, examen_log::EvalStatus::Error);
    let samples = by_id(&log);
    assert!(
        samples.values().any(|s| s.error.is_some()),
        "the errored sample is logged"
    );
    for (i, sample) in &samples {
        assert_eq!(sample.error.is_some(), rejected(*i), "sample {i}");
    }

    // The prompts are accepted now: a retry runs only the errored and missing samples.
    let fixed = FaultServer::start(|_, _| Fault::Answer, ServerOptions::default()).await;
    let previous = examen_rt::to_thread(move || PreviousEval::open(location))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    options.logger = Some(Arc::new(LogDir::new(dir.path(), LogFormat::Eval)));
    let outcome = eval_retry(previous, task(12), model(&fixed), options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    let retried = read(Path::new(
        &outcome.log_location.unwrap_or_else(|| panic!("a log")),
    ));
    let all = by_id(&retried);
    assert_eq!(all.len(), 12);
    for i in 1..=12 {
        let carried = samples.get(&i).is_some_and(|s| s.error.is_none());
        assert_eq!(
            fixed.requests(&prompt(i)),
            usize::from(!carried),
            "sample {i} (carried over: {carried})"
        );
    }
}

#[test]
fn debug_output_never_shows_the_api_key() {
    let key = "sk-examen-SECRET-1234";
    let model_options = ModelOptions {
        api_key: Some(Secret::new(key)),
        base_url: Some("http://127.0.0.1:9/v1".into()),
        ..ModelOptions::default()
    };
    let model =
        get_model("openai-api/faults/m", model_options.clone()).unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        model_roles: [("grader".to_string(), model.clone())]
            .into_iter()
            .collect(),
        model_options: model_options.clone(),
        ..EvalOptions::default()
    };
    for text in [
        format!("{model_options:?}"),
        format!("{model:?}"),
        format!("{options:?}"),
        format!("{options:#?}"),
    ] {
        assert!(!text.contains("SECRET"), "{text}");
    }
}

/// When `fail_on_error` trips, the samples already in flight are paid for: they finish and are
/// logged (the server answered them), no new sample starts, and the run ends `error` with the
/// error that tripped it. It used to cancel them: the server answered 10, the log held 1.
#[examen_rt::test]
async fn samples_in_flight_when_fail_on_error_trips_are_finished_and_logged() {
    let server = FaultServer::start(
        |prompt, _| {
            if prompt == self::prompt(1) {
                Fault::SlowBadRequest(Duration::from_millis(200))
            } else {
                Fault::Slow(Duration::from_millis(600))
            }
        },
        ServerOptions::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        logger: Some(Arc::new(LogDir::new(dir.path(), LogFormat::Eval))),
        max_samples: Some(10),
        ..EvalOptions::default()
    };
    // 20 samples, 10 at a time: the first ten are in flight when sample 1's 400 arrives.
    let task = task(20).fail_on_error(FailOnError::Bool(true));
    let outcomes = examen::eval(vec![task], vec![model(&server)], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcomes[0].status, EvalStatus::Error);
    assert!(
        outcomes[0]
            .error
            .as_ref()
            .is_some_and(|e| e.message.contains("400")),
        "{:?}",
        outcomes[0].error
    );
    let log = read(Path::new(
        outcomes[0]
            .log_location
            .as_deref()
            .unwrap_or_else(|| panic!("a log")),
    ));
    let samples = by_id(&log);
    let answered: Vec<i64> = (1..=20)
        .filter(|i| server.requests(&prompt(*i)) > 0)
        .collect();
    assert_eq!(
        answered,
        (1..=10).collect::<Vec<_>>(),
        "no sample starts after the trip"
    );
    assert_eq!(
        samples.keys().copied().collect::<Vec<_>>(),
        answered,
        "every sample the server answered is in the log"
    );
    assert!(samples[&1].error.is_some());
    assert!((2..=10).all(|i| samples[&i].error.is_none() && samples[&i].scores.is_some()));
}

#[examen_rt::test]
async fn a_call_that_gave_up_is_recorded_like_a_successful_one() {
    // Every attempt fails with a 500; max_retries 5 gives up after six attempts.
    let server = FaultServer::start(|_, _| Fault::ServerError, ServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (outcome, location) = run(
        dir.path(),
        task(1),
        model(&server),
        Some(FailOnError::Bool(false)),
    )
    .await;
    assert_eq!(outcome.errored_samples, 1);
    let log = read(&location);
    let sample = by_id(&log).remove(&1).unwrap_or_else(|| panic!("sample 1"));
    let events = serde_json::to_value(&sample.events).unwrap_or_else(|e| panic!("{e}"));
    let model_events: Vec<_> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"] == "model")
        .collect();
    assert_eq!(model_events.len(), 1, "{events}");
    let event = model_events[0];
    assert!(
        event["error"]
            .as_str()
            .unwrap_or_default()
            .contains("gave up after 6 attempts"),
        "{event}"
    );
    assert_eq!(event["retries"], 5, "{event}");
    assert_eq!(server.requests(&prompt(1)), 6);
    let working_time = event["working_time"].as_f64().unwrap_or_default();
    assert!(working_time > 0.0, "{event}");
    let call = &event["call"];
    assert_eq!(call["request"]["model"], "m", "{event}");
    assert_eq!(
        call["request"]["messages"][0]["content"],
        prompt(1),
        "{event}"
    );
    assert!(call["time"].as_f64().is_some(), "{event}");
}
