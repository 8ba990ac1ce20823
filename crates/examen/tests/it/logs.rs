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
