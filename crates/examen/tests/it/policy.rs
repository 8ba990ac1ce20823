use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen::runner::log::EvalStatus;
use examen::sample::SampleId;
use examen::state::TaskState;
use examen::task::{FailOnError, Limits};
use examen::transcript::Event;
use examen::{scorer, solver, DynSolver, EvalOptions, SampleContext, SampleError, Solver, Task};
use examen_types::Value;

use crate::support::{dataset, mock, run};

/// Fails the first `times` attempts of the samples it is told about.
#[derive(Debug)]
struct Flaky {
    failing: Vec<SampleId>,
    times: usize,
    attempts: Mutex<HashMap<(SampleId, usize), usize>>,
}

impl Flaky {
    fn solver(failing: &[i64], times: usize) -> Arc<dyn DynSolver> {
        Arc::new(Flaky {
            failing: failing.iter().map(|i| SampleId::Int(*i)).collect(),
            times,
            attempts: Mutex::new(HashMap::new()),
        })
    }
}

impl Solver for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        if !self.failing.contains(&state.sample_id) {
            return Ok(());
        }
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = attempts
            .entry((state.sample_id.clone(), state.epoch))
            .or_insert(0);
        *n += 1;
        if *n <= self.times {
            Err(SampleError::failed(format!(
                "attempt {n} of sample {} failed",
                state.sample_id
            )))
        } else {
            Ok(())
        }
    }
}

/// Waits (almost) forever; records that it was dropped, which is how a
/// limit's cancellation reaches it.
#[derive(Debug)]
struct Stall {
    dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Solver for Stall {
    fn name(&self) -> &str {
        "stall"
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        let _guard = SetOnDrop(self.dropped.clone());
        state.store_set("stalled", true);
        examen_rt::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
}

fn ten() -> examen::dataset::Dataset {
    let pairs: Vec<(String, String)> = (1..=10)
        .map(|i| (format!("q{i}"), "Default".to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    dataset(&refs)
}

fn one_at_a_time() -> EvalOptions {
    EvalOptions {
        max_samples: Some(1),
        ..EvalOptions::default()
    }
}

fn default_model() -> examen_model::Model {
    mock(|_| "Default output".into())
}

#[examen_rt::test]
async fn message_limit_ends_solving_and_the_sample_is_scored() {
    let task = Task::new("t", dataset(&[("hi", "Default")]))
        .solver(solver::generate())
        .solver(solver::user_message("again"))
        .solver(solver::generate())
        .scorer(scorer::includes())
        .limits(Limits {
            message_limit: Some(3),
            ..Limits::default()
        });
    let (outcome, run) = run(task, default_model(), EvalOptions::default()).await;
    assert_eq!(outcome.status, EvalStatus::Success);
    let sample = &run.sorted_samples()[0];
    assert!(sample.error.is_none());
    assert_eq!(
        sample.limit.as_ref().map(|l| (l.kind.as_str(), l.limit)),
        Some(("message", 3.0))
    );
    assert_eq!(sample.messages.len(), 3, "the second generate never ran");
    assert_eq!(
        sample
            .scores
            .as_ref()
            .and_then(|s| s.get("includes"))
            .map(|s| s.value.clone()),
        Some(Value::from("C"))
    );
    let limit_event = sample.events.iter().find_map(|e| match e {
        Event::SampleLimit(limit) => Some((limit.kind.clone(), limit.message.clone())),
        _ => None,
    });
    assert_eq!(
        limit_event,
        Some((
            "message".to_string(),
            "Message limit reached. count: 3; limit: 3".to_string()
        ))
    );
}

#[examen_rt::test]
async fn token_limit_ends_solving() {
    let task = Task::new("t", dataset(&[("hi", "Default")]))
        .solver(solver::generate())
        .solver(solver::generate())
        .scorer(scorer::includes())
        .limits(Limits {
            token_limit: Some(5),
            ..Limits::default()
        });
    let (outcome, run) = run(task, default_model(), EvalOptions::default()).await;
    assert_eq!(outcome.status, EvalStatus::Success);
    let sample = &run.sorted_samples()[0];
    assert_eq!(
        sample.limit.as_ref().map(|l| l.kind.as_str()),
        Some("token")
    );
    assert_eq!(sample.messages.len(), 2);
    assert!(sample.scores.is_some());
}

#[examen_rt::test]
async fn time_limit_cancels_the_solver_and_scores() {
    let dropped = Arc::new(AtomicBool::new(false));
    let task = Task::new("t", dataset(&[("hi", "x")]))
        .solver(Arc::new(Stall {
            dropped: dropped.clone(),
        }))
        .scorer(scorer::includes())
        .limits(Limits {
            time_limit: Some(0.05),
            ..Limits::default()
        });
    let (outcome, run) = run(task, default_model(), EvalOptions::default()).await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the stalled solver was cancelled"
    );
    assert_eq!(outcome.status, EvalStatus::Success);
    let sample = &run.sorted_samples()[0];
    assert_eq!(sample.limit.as_ref().map(|l| l.kind.as_str()), Some("time"));
    assert_eq!(
        sample.store.get("stalled"),
        Some(&true.into()),
        "state changes before the limit are kept"
    );
    assert_eq!(
        sample
            .scores
            .as_ref()
            .and_then(|s| s.get("includes"))
            .map(|s| s.value.clone()),
        Some(Value::from("I"))
    );
}

#[examen_rt::test]
async fn working_limit_cancels_the_solver_and_scores() {
    let dropped = Arc::new(AtomicBool::new(false));
    let task = Task::new("t", dataset(&[("hi", "x")]))
        .solver(Arc::new(Stall {
            dropped: dropped.clone(),
        }))
        .scorer(scorer::includes())
        .limits(Limits {
            working_limit: Some(0.05),
            ..Limits::default()
        });
    let (outcome, run) = run(task, default_model(), EvalOptions::default()).await;
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(outcome.status, EvalStatus::Success);
    let sample = &run.sorted_samples()[0];
    assert_eq!(
        sample.limit.as_ref().map(|l| l.kind.as_str()),
        Some("working")
    );
    assert!(sample.scores.is_some());
}

#[examen_rt::test]
async fn by_default_one_error_fails_the_task() {
    let task = Task::new("t", ten())
        .solver(Flaky::solver(&[3], 99))
        .solver(solver::generate())
        .scorer(scorer::includes());
    let (outcome, run) = run(task, default_model(), one_at_a_time()).await;
    assert_eq!(outcome.status, EvalStatus::Error);
    assert_eq!(
        outcome.error.as_ref().map(|e| e.message.as_str()),
        Some("attempt 1 of sample 3 failed")
    );
    let samples = run.sorted_samples();
    // Samples after the failure never ran; the failing one is logged with its error.
    assert_eq!(samples.len(), 3);
    assert_eq!(
        samples[2].error.as_ref().map(|e| e.message.as_str()),
        Some("attempt 1 of sample 3 failed")
    );
    assert!(samples[2].scores.is_none());
    assert!(samples[2]
        .events
        .iter()
        .any(|e| matches!(e, Event::Error { .. })));
    assert_eq!(run.finished().map(|f| f.status), Some(EvalStatus::Error));
}

#[examen_rt::test]
async fn fail_on_error_false_keeps_going() {
    let task = Task::new("t", ten())
        .solver(Flaky::solver(&[2, 5], 99))
        .solver(solver::generate())
        .scorer(scorer::includes())
        .fail_on_error(FailOnError::Bool(false));
    let (outcome, run) = run(task, default_model(), EvalOptions::default()).await;
    assert_eq!(outcome.status, EvalStatus::Success);
    assert_eq!(outcome.errored_samples, 2);
    let results = outcome.results.unwrap_or_else(|| panic!("results"));
    assert_eq!((results.total_samples, results.completed_samples), (10, 8));
    assert_eq!(
        results.scores[0].scored_samples,
        Some(8),
        "errored samples are not scored"
    );
    assert_eq!(run.sorted_samples().len(), 10);
}

#[examen_rt::test]
async fn fail_on_error_fraction_and_count() {
    for (policy, failing, expected) in [
        (FailOnError::Fraction(0.3), vec![1, 2], EvalStatus::Success),
        (FailOnError::Fraction(0.3), vec![1, 2, 3], EvalStatus::Error),
        (FailOnError::Count(2), vec![4], EvalStatus::Success),
        (FailOnError::Count(2), vec![4, 9], EvalStatus::Error),
    ] {
        let task = Task::new("t", ten())
            .solver(Flaky::solver(&failing, 99))
            .solver(solver::generate())
            .scorer(scorer::includes())
            .fail_on_error(policy);
        let (outcome, _) = run(task, default_model(), one_at_a_time()).await;
        assert_eq!(
            outcome.status,
            expected,
            "{policy:?} with {} errors",
            failing.len()
        );
    }
}

#[examen_rt::test]
async fn continue_on_fail_runs_everything_then_fails() {
    let task = Task::new("t", ten())
        .solver(Flaky::solver(&[1], 99))
        .solver(solver::generate())
        .scorer(scorer::includes());
    let options = EvalOptions {
        continue_on_fail: Some(true),
        ..one_at_a_time()
    };
    let (outcome, run) = run(task, default_model(), options).await;
    assert_eq!(outcome.status, EvalStatus::Error);
    assert_eq!(run.sorted_samples().len(), 10);
    assert_eq!(outcome.results.map(|r| r.completed_samples), Some(9));
}

#[examen_rt::test]
async fn retry_on_error_keeps_earlier_attempts() {
    let task = Task::new("t", ten())
        .solver(Flaky::solver(&[2, 7], 1))
        .solver(solver::generate())
        .scorer(scorer::includes());
    let options = EvalOptions {
        retry_on_error: 1,
        ..EvalOptions::default()
    };
    let (outcome, logged) = run(task, default_model(), options).await;
    assert_eq!(outcome.status, EvalStatus::Success);
    assert_eq!(outcome.errored_samples, 0);
    let samples = logged.sorted_samples();
    let retried: Vec<(SampleId, Vec<String>)> = samples
        .iter()
        .filter(|s| s.error_retries.is_some())
        .map(|s| {
            (
                s.id.clone(),
                s.error_retries
                    .iter()
                    .flatten()
                    .map(|e| e.message.clone())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        retried,
        vec![
            (
                SampleId::Int(2),
                vec!["attempt 1 of sample 2 failed".to_string()]
            ),
            (
                SampleId::Int(7),
                vec!["attempt 1 of sample 7 failed".to_string()]
            )
        ]
    );
    assert!(samples
        .iter()
        .all(|s| s.error.is_none() && s.scores.is_some()));

    // More failures than retries: the last error stands, the earlier ones are kept.
    let task = Task::new("t", ten())
        .solver(Flaky::solver(&[4], 3))
        .solver(solver::generate())
        .scorer(scorer::includes());
    let options = EvalOptions {
        retry_on_error: 1,
        fail_on_error: Some(FailOnError::Bool(false)),
        ..EvalOptions::default()
    };
    let (outcome, run) = run(task, default_model(), options).await;
    assert_eq!(outcome.errored_samples, 1);
    let failed = run
        .sorted_samples()
        .into_iter()
        .find(|s| s.error.is_some())
        .unwrap_or_else(|| panic!("an errored sample"));
    assert_eq!(
        failed.error.map(|e| e.message),
        Some("attempt 2 of sample 4 failed".to_string())
    );
    assert_eq!(failed.error_retries.as_ref().map_or(0, Vec::len), 1);
}

#[examen_rt::test]
async fn a_model_error_is_sample_data() {
    // A scripted mock with one output errors on the second call.
    let model = examen_model::Model::from_mock(examen_model::MockLlm::outputs([
        examen_types::ModelOutput::from_text("mockllm/model", "x"),
    ]));
    let task = Task::new("t", dataset(&[("a", "x"), ("b", "x")]))
        .scorer(scorer::includes())
        .fail_on_error(FailOnError::Bool(false));
    let (outcome, run) = run(task, model, one_at_a_time()).await;
    assert_eq!(outcome.status, EvalStatus::Success);
    let samples = run.sorted_samples();
    assert!(samples[0].error.is_none());
    let error = samples[1]
        .error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    assert!(
        error.contains("custom_outputs ran out of values"),
        "{error}"
    );
    let model_event_error = samples[1].events.iter().find_map(|e| match e {
        Event::Model(call) => call.error.clone(),
        _ => None,
    });
    assert!(model_event_error.is_some());
}
