//! The custom components run from `task.yaml` on both backends, and stay
//! rebuildable by name: the log they write re-scores through the registry.

use std::sync::Arc;

use examen::runner::LogDir;
use examen::{EvalOptions, LogFormat, ScoreAction, ScoreOptions};

fn read_json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[examen_rt::test]
async fn custom_components_run_from_a_task_file_and_rescore() {
    let registry = Arc::new(examen_example_custom::registry());
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/task.yaml");
    let task = registry
        .load_task_file(file, &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let model =
        examen::get_model("echo/model", Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        logger: Some(Arc::new(LogDir::new(dir.path(), LogFormat::Json))),
        ..EvalOptions::default()
    };
    let outcomes = examen::eval(vec![task], vec![model], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = &outcomes[0];
    assert_eq!(outcome.errored_samples, 0, "{:?}", outcome.error);
    let results = outcome.results.as_ref().expect("results");
    // `hello` and `abc` are shouted into their targets; `x` is not `nope`.
    assert_eq!(results.metric("exact_case", "correct_count"), Some(2.0));
    let accuracy = results.metric("exact_case", "accuracy").unwrap_or_default();
    assert!((accuracy - 2.0 / 3.0).abs() < 1e-9, "{accuracy}");

    // The model event records the tool offered and the tool choice sent, and the
    // model API received them.
    let location = outcome.log_location.clone().expect("a log");
    let log = read_json(&location);
    let sample = &log["samples"][0];
    let event = sample["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["event"] == "model"))
        .expect("a model event");
    assert_eq!(event["tools"][0]["name"], "add", "{event}");
    assert_eq!(
        event["tools"][0]["parameters"]["required"],
        serde_json::json!(["x", "y"])
    );
    assert_eq!(event["tool_choice"], "auto", "{event}");
    assert_eq!(
        sample["output"]["metadata"],
        serde_json::json!({"tools": ["add"], "tool_choice": "auto"})
    );
    assert_eq!(log["eval"]["scorers"][0]["name"], "exact_case");

    // `examen score` rebuilds the log's own (custom) scorer and metrics by name.
    let dest = dir.path().join("rescored.json");
    let scored = examen::score_log(
        location.as_ref(),
        &dest,
        ScoreOptions {
            registry: Some(registry.clone()),
            action: ScoreAction::Overwrite,
            ..ScoreOptions::default()
        },
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scored.scorers, vec!["exact_case".to_string()]);
    assert_eq!(
        scored.results.metric("exact_case", "correct_count"),
        Some(2.0),
        "{:?}",
        scored.results
    );

    // Without the registry the scorer cannot be rebuilt, and the error says which.
    let err = examen::score_log(
        location.as_ref(),
        &dir.path().join("builtin.json"),
        ScoreOptions::default(),
        None,
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("unknown scorer `exact_case`"), "{err}");

    // `eval-retry` rebuilds the task with the program's registry; every sample finished, so
    // every one is carried over and none runs again.
    let path = std::path::PathBuf::from(&location);
    let previous = examen_rt::to_thread(move || examen::runner::PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let builtin = previous.load_task().err().map(|e| e.to_string());
    assert!(
        builtin
            .as_deref()
            .is_some_and(|e| e.contains("unknown tool `add`")),
        "{builtin:?}"
    );
    let task = previous
        .load_task_with(&registry)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    options.logger = Some(Arc::new(LogDir::new(dir.path(), LogFormat::Json)));
    let model =
        examen::get_model("echo/model", Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let retried = examen::eval_retry(previous, task, model, options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(retried.errored_samples, 0, "{:?}", retried.error);
    let results = retried.results.as_ref().expect("results");
    assert_eq!(results.metric("exact_case", "correct_count"), Some(2.0));
}

#[test]
fn an_unknown_custom_name_is_reported_at_its_line() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/task.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    // The built-in registry does not know `shout`: the error points at its entry.
    let text = text.replace("  - use_tools: [add]", "  - generate       ");
    let err = examen::taskfile::parse_task(&text, std::path::Path::new("task.yaml"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with(
            "task.yaml:10:5: solver[1]: unknown solver `shout`; expected one of: generate"
        ),
        "{err}"
    );
}
