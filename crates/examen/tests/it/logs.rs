use std::path::Path;
use std::sync::Arc;

use examen::runner::log::EvalStatus;
use examen::runner::LogDir;
use examen::taskfile::load_task_file;
use examen::EvalOptions;
use examen_log::{read_log, LogFormat, ReadOptions};
use examen_types::Value;

use crate::support::mock;

/// The example task written through examen-log's writer and read back.
async fn round_trip(format: LogFormat) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let task = load_task_file(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/arithmetic/task.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        logger: Some(Arc::new(LogDir::new(dir.path(), format))),
        limit: Some(5),
        ..EvalOptions::default()
    };
    let model = mock(|_| "ANSWER: 9".into());
    let outcomes = examen::eval(vec![task], vec![model], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = &outcomes[0];
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    let location = outcome
        .log_location
        .clone()
        .unwrap_or_else(|| panic!("a log file"));
    assert!(
        location.ends_with(&format!(".{}", format.extension())),
        "{location}"
    );

    let log =
        read_log(Path::new(&location), ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.eval.task, "arithmetic");
    assert_eq!(log.eval.model, "mockllm/model");
    assert_eq!(log.eval.dataset.samples, Some(5));
    assert_eq!(
        log.plan
            .steps
            .iter()
            .map(|s| s.solver.as_str())
            .collect::<Vec<_>>(),
        vec!["system_message", "prompt_template", "generate"]
    );
    let samples = log.samples.unwrap_or_default();
    assert_eq!(samples.len(), 10);
    let first = &samples[0];
    assert_eq!(
        first
            .scores
            .as_ref()
            .and_then(|s| s.get("match"))
            .map(|s| s.value.clone()),
        Some(Value::from("C"))
    );
    assert_eq!(
        first
            .events
            .iter()
            .map(|e| e.kind().to_string())
            .filter(|k| k == "model")
            .count(),
        1
    );
    let results = log.results.unwrap_or_else(|| panic!("results"));
    assert_eq!(results.scores.len(), 2);
    // q01 is 6 + 3 = 9: the only sample this mock gets right.
    assert_eq!(
        results.scores[0].metrics.get("accuracy").map(|m| m.value),
        Some(0.2)
    );
}

#[examen_rt::test]
async fn eval_log_round_trip() {
    round_trip(LogFormat::Eval).await;
}

#[examen_rt::test]
async fn json_log_round_trip() {
    round_trip(LogFormat::Json).await;
}

#[examen_rt::test]
async fn each_task_and_model_run_gets_its_own_task_id_and_log() {
    // One task against two models in the same second: two logs, neither overwriting the other.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let task = load_task_file(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/arithmetic/task.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        logger: Some(Arc::new(LogDir::new(dir.path(), LogFormat::Eval))),
        limit: Some(2),
        ..EvalOptions::default()
    };
    let models = vec![mock(|_| "ANSWER: 9".into()), mock(|_| "ANSWER: 1".into())];
    let outcomes = examen::eval(vec![task], models, options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let logs: Vec<_> = outcomes
        .iter()
        .map(|o| {
            let location = o.log_location.clone().unwrap_or_else(|| panic!("a log"));
            read_log(Path::new(&location), ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    assert_eq!(logs.len(), 2);
    assert_ne!(logs[0].eval.task_id, logs[1].eval.task_id);
    for log in &logs {
        assert_eq!(log.samples.as_ref().map(Vec::len), Some(4));
    }
}

/// Waits for `release` before solving samples whose id is above 2.
#[derive(Debug)]
struct HoldLater {
    release: examen_rt::CancelToken,
}

impl examen::Solver for HoldLater {
    fn name(&self) -> &str {
        "hold_later"
    }

    async fn solve(
        &self,
        state: &mut examen::state::TaskState,
        _generate: &examen::SampleContext,
    ) -> Result<(), examen::SampleError> {
        if matches!(state.sample_id, examen::sample::SampleId::Int(i) if i > 2) {
            self.release.cancelled().await;
        }
        Ok(())
    }
}

#[examen_rt::test]
async fn samples_reach_the_file_within_the_flush_interval_while_the_run_goes_on() {
    // A large buffer: only the flush interval can bring the first two samples to disk
    // while the third waits.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let logger = LogDir::new(dir.path(), LogFormat::Eval).with_options(examen_log::WriterOptions {
        buffer_samples: 1000,
        flush_interval: std::time::Duration::from_millis(20),
        ..examen_log::WriterOptions::default()
    });
    let release = examen_rt::CancelToken::new();
    let task = examen::Task::new(
        "interval",
        crate::support::dataset(&[("a", "x"), ("b", "x"), ("c", "x")]),
    )
    .solver(Arc::new(HoldLater {
        release: release.clone(),
    }))
    .solver(examen::solver::generate());
    let watcher = {
        let dir = dir.path().to_path_buf();
        examen_rt::spawn(async move {
            // Generous: the interval is 20 ms; a writer that never flushes on its own
            // fails the test instead of hanging it.
            for _ in 0..500 {
                let dir = dir.clone();
                let on_disk = examen_rt::to_thread(move || {
                    let log = std::fs::read_dir(&dir).ok()?.next()?.ok()?.path();
                    Some(examen_log::recover(&log).ok()?.sample_count())
                })
                .await;
                if on_disk == Some(2) {
                    release.cancel();
                    return true;
                }
                examen_rt::sleep(std::time::Duration::from_millis(20)).await;
            }
            release.cancel();
            false
        })
    };
    let options = EvalOptions {
        logger: Some(Arc::new(logger)),
        max_samples: Some(3),
        ..EvalOptions::default()
    };
    let outcomes = examen::eval(vec![task], vec![mock(|_| "x".into())], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        watcher.await.unwrap_or(false),
        "the first two samples were flushed while the third was still running"
    );
    assert_eq!(outcomes[0].status, EvalStatus::Success);
}
