use std::path::{Path, PathBuf};

use examen::sample::{SampleId, SampleInput, Target};
use examen::taskfile::{load_task_file, TaskFileError};

fn example_task() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/arithmetic/task.yaml")
}

/// Writes `yaml` as `task.yaml` (with the given extra files) in a temp dir
/// and loads it; returns the error text with the temp path replaced by `task.yaml`.
fn load_err(yaml: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let path = dir.path().join("task.yaml");
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    match load_task_file(&path) {
        Ok(task) => panic!("expected an error, loaded task `{}`", task.name),
        Err(e) => e
            .to_string()
            .replace(&dir.path().display().to_string(), "DIR"),
    }
}

const DATA: (&str, &str) = ("data.jsonl", "{\"input\": \"1+1?\", \"target\": \"2\"}\n");

#[test]
fn the_example_task_loads() {
    let task = load_task_file(example_task()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(task.name, "arithmetic");
    assert_eq!(task.dataset.len(), 20);
    let first = &task.dataset.samples[0];
    assert_eq!(first.id, Some(SampleId::Str("q01".into())));
    assert_eq!(first.input, SampleInput::Text("What is 6 + 3?".into()));
    assert_eq!(first.target, Target::One("9".into()));
    assert_eq!(
        first.metadata.as_ref().and_then(|m| m.get("level")),
        Some(&"easy".into())
    );
    let solvers: Vec<&str> = task.solvers.iter().map(|s| s.name()).collect();
    assert_eq!(
        solvers,
        vec!["system_message", "prompt_template", "generate"]
    );
    assert_eq!(task.scorers.len(), 1);
    assert_eq!(task.scorers[0].params().get("numeric"), Some(&true.into()));
    assert_eq!(task.epochs.epochs, 2);
    assert_eq!(
        task.epochs
            .reducers
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>(),
        vec!["mean", "pass_at_2"]
    );
    assert_eq!(task.config.max_tokens, Some(64));
    assert_eq!(
        task.fail_on_error,
        Some(examen::task::FailOnError::Fraction(0.1))
    );
    assert_eq!(task.metrics.as_ref().map(Vec::len), Some(3));
}

#[test]
fn the_contract_shape_parses() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("arithmetic.jsonl"),
        (1..=5)
            .map(|i| format!("{{\"id\": {i}, \"question\": \"q{i}\", \"answer\": \"{i}\", \"options\": [\"a\", \"b\"], \"level\": {i}}}\n"))
            .collect::<String>(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let yaml = r#"
name: arithmetic
dataset:
  path: arithmetic.jsonl
  fields: {input: question, target: answer, id: id, choices: options, metadata: [level]}
  shuffle: true
  seed: 7
  limit: 3
solver:
  - system_message: "You are a careful calculator."
  - prompt_template: "{prompt}\nEnd with ANSWER: <number>"
  - generate
scorer: {match: {location: end, numeric: true}}
epochs: {epochs: 3, reducer: [mean, pass_at_2]}
config: {max_tokens: 64, temperature: 0}
fail_on_error: 0.1
"#;
    let path = dir.path().join("task.yaml");
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    let task = load_task_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(task.dataset.len(), 3);
    assert!(task.dataset.shuffled);
    assert_eq!(
        task.dataset.samples[0].choices.as_ref().map(Vec::len),
        Some(2)
    );
    assert_eq!(task.config.temperature, Some(0.0));
    // The same seed gives the same order.
    let again = load_task_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let ids = |t: &examen::Task| {
        t.dataset
            .samples
            .iter()
            .filter_map(|s| s.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&task), ids(&again));

    // Other accepted spellings: a number of epochs, a list of scorers, a bool policy.
    let inline = "name: t\ndataset: {samples: [{input: \"What is 1+1?\", target: \"2\"}, {input: hi, target: [a, b]}]}\nscorer: [includes, exact, {answer: letter}]\nepochs: 2\nfail_on_error: false\n";
    std::fs::write(&path, inline).unwrap_or_else(|e| panic!("{e}"));
    let task = load_task_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        task.dataset.samples[1].target,
        Target::Many(vec!["a".into(), "b".into()])
    );
    assert_eq!(task.dataset.samples[1].id, Some(SampleId::Int(2)));
    assert_eq!(
        task.scorers.iter().map(|s| s.name()).collect::<Vec<_>>(),
        vec!["includes", "exact", "answer"]
    );
    assert_eq!(task.epochs.epochs, 2);
    assert_eq!(
        task.fail_on_error,
        Some(examen::task::FailOnError::Bool(false))
    );
    assert!(
        task.solvers.is_empty(),
        "default solver chain is [generate]"
    );
    assert_eq!(task.effective_solvers()[0].name(), "generate");
}

#[test]
fn unknown_key_names_file_line_column() {
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nsolvr: [generate]\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:1: unknown field `solvr`, expected one of `name`, `version`, `dataset`, `solver`"), "{err}");
}

#[test]
fn unknown_scorer_lists_valid_names() {
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nscorer:\n  - match\n  - inclides\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:5:5: scorer[1]: unknown scorer `inclides`; expected one of: match, includes, exact, f1, pattern, answer, choice, model_graded_qa, model_graded_fact (did you mean `includes`?)"), "{err}");
}

#[test]
fn unknown_solver_lists_valid_names() {
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nsolver: [chain_of_thougth, generate]\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:10: solver[0]: unknown solver `chain_of_thougth`; expected one of: generate, system_message"), "{err}");
    assert!(err.contains("(did you mean `chain_of_thought`?)"), "{err}");
}

#[test]
fn unknown_reducer_and_metric_list_valid_names() {
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nepochs: {epochs: 2, reducer: [mean, avg]}\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:9: epochs: unknown reducer `avg`; expected one of: mean, median, mode, max, majority, at_least_k, pass_at_k, pass_k_k"), "{err}");
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nmetrics: [accuracy, sdterr]\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:21: metrics[1]: unknown metric `sdterr`; expected one of: accuracy, mean, stderr"), "{err}");
}

#[test]
fn bad_values_say_what_was_expected() {
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nepochs: {epochs: 2, reducer: pass_at_3}\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:9: epochs: reducer `pass_at_3` requires 3 epochs however the task has only 2"), "{err}");
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nconfig: {max_token: 64}\n",
        &[DATA],
    );
    assert!(
        err.starts_with("DIR/task.yaml:3:9: config: unknown generation option `max_token`"),
        "{err}"
    );
    assert!(err.contains("did you mean `max_tokens`"), "{err}");
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nscorer: {match: {location: middle}}\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:9: scorer: match: unknown location `middle`; expected one of: begin, end, any, exact"), "{err}");
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nfail_on_error: 2.5\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:16: fail_on_error: a value of 1 or more is a count of errors and must be whole"), "{err}");
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\nmessage_limit: lots\n",
        &[DATA],
    );
    assert!(
        err.starts_with(
            "DIR/task.yaml:3:16: message_limit: invalid type: string \"lots\", expected"
        ),
        "{err}"
    );
}

#[test]
fn missing_fields_and_files() {
    let err = load_err("dataset: {path: data.jsonl}\n", &[DATA]);
    assert_eq!(err, "DIR/task.yaml:1:1: missing field `name`");
    let err = load_err("name: t\ndataset:\n  path: missing.jsonl\n", &[]);
    assert!(
        err.starts_with("DIR/task.yaml:3:3: dataset: dataset file `missing.jsonl` not found"),
        "{err}"
    );
    let err = load_err(
        "name: t\ndataset:\n  path: data.txt\n",
        &[("data.txt", "x")],
    );
    assert!(err.starts_with("DIR/task.yaml:3:3: dataset: dataset path `data.txt`: unsupported format; expected a .jsonl, .json or .csv file"), "{err}");
    let err = load_err("name: t\ndataset: {samples: [{target: x}]}\n", &[]);
    assert!(
        err.starts_with(
            "DIR/task.yaml:2:10: dataset: samples[0]: no input: the record has no `input` field"
        ),
        "{err}"
    );
}

#[test]
fn inline_sample_ids_are_kept_exactly_or_refused() {
    // Item 8: inline ids beyond 64 bits were refused as "JSON number out of range". YAML
    // reads integers up to 128 bits exactly, and so are they kept; wider ones come out of the
    // YAML reader rounded, so they are refused rather than merged with a neighbour.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("task.yaml");
    let yaml = "name: t\ndataset: {samples: [\
        {id: 18446744073709551616, input: a, target: b, extra: 18446744073709551616},\
        {id: 18446744073709551617, input: a, target: b},\
        {id: -170141183460469231731687303715884105728, input: a, target: b}]}\n";
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    let task = load_task_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = task
        .dataset
        .samples
        .iter()
        .filter_map(|s| s.id.as_ref().map(ToString::to_string))
        .collect();
    assert_eq!(
        ids,
        [
            "18446744073709551616",
            "18446744073709551617",
            "-170141183460469231731687303715884105728"
        ]
    );

    let err = load_err(
        "name: t\ndataset: {samples: [{id: 1000000000000000000000000000000000000000, input: a, target: b}]}\n",
        &[],
    );
    assert!(
        err.contains("samples[0]: `id` is")
            && err.contains("write it as a string, or put the samples in a .jsonl file"),
        "{err}"
    );
}

#[test]
fn malformed_yaml_names_the_position() {
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl\nscorer: includes\n",
        &[DATA],
    );
    assert!(err.starts_with("DIR/task.yaml:3:"), "{err}");
}

#[test]
fn dataset_errors_name_the_dataset_line() {
    let err = load_err(
        "name: t\ndataset: {path: data.jsonl}\n",
        &[(
            "data.jsonl",
            "{\"input\": \"a\", \"target\": \"\"}\n\n{\"input\": \"b\",}\n",
        )],
    );
    assert!(
        err == "DIR/task.yaml: dataset: DIR/data.jsonl:3:15: invalid JSON: trailing comma",
        "{err}"
    );
}

#[test]
fn a_missing_task_file_is_named() {
    let err = load_task_file("/nonexistent/task.yaml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("/nonexistent/task.yaml: cannot read task file"),
        "{err}"
    );
    assert!(matches!(
        load_task_file("/nonexistent/task.yaml"),
        Err(TaskFileError::Read { .. })
    ));
}

/// Like [`load_err`], with `-T` overrides.
fn load_err_with(yaml: &str, args: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join(DATA.0), DATA.1).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("task.yaml");
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    match examen::taskfile::load_task_file_with_args(&path, &args) {
        Ok(task) => panic!("expected an error, loaded task `{}`", task.name),
        Err(e) => e
            .to_string()
            .replace(&dir.path().display().to_string(), "DIR"),
    }
}

#[test]
fn overrides_set_fields_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join(DATA.0), DATA.1).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("task.yaml");
    std::fs::write(
        &path,
        "name: t\ndataset: {path: data.jsonl}\nconfig: {max_tokens: 5}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let args = [
        ("epochs".to_string(), "3".to_string()),
        ("config.temperature".to_string(), "0.5".to_string()),
        ("name".to_string(), "renamed".to_string()),
    ];
    let task =
        examen::taskfile::load_task_file_with_args(&path, &args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(task.name, "renamed");
    assert_eq!(task.epochs.epochs, 3);
    assert_eq!(task.config.max_tokens, Some(5));
    assert_eq!(task.config.temperature, Some(0.5));
    assert_eq!(
        serde_json::to_value(&task.args).ok(),
        Some(serde_json::json!({"epochs": 3, "config.temperature": 0.5, "name": "renamed"}))
    );
}

#[test]
fn an_error_in_an_overridden_field_names_the_override() {
    let yaml = "name: t\ndataset: {path: data.jsonl}\n";
    assert_eq!(
        load_err_with(yaml, &[("epochs", "0")]),
        "DIR/task.yaml: -T epochs=0: epochs: epochs must be at least 1"
    );
    assert_eq!(
        load_err_with(yaml, &[("epochs.n", "2"), ("name", "x")]),
        "DIR/task.yaml: -T epochs.n=2: epochs: unknown field `n`, expected `epochs` or `reducer`"
    );
    assert_eq!(
        load_err_with(yaml, &[("name.first", "x")]),
        "DIR/task.yaml: -T name.first=x: `name` is not a mapping, so it has no field `first`"
    );
    assert!(load_err_with(yaml, &[("config", "[")])
        .starts_with("DIR/task.yaml: -T config=[: the value is not valid YAML"));
    // An error the file has on its own keeps the file's line.
    let broken = "name: t\ndataset: {path: data.jsonl}\nscorer: inclides\n";
    let e = load_err_with(broken, &[("epochs", "2")]);
    assert!(
        e.starts_with("DIR/task.yaml:3:9: scorer: unknown scorer `inclides`"),
        "{e}"
    );
}

#[test]
fn generate_takes_tool_calls_beside_its_generation_options() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join(DATA.0), DATA.1).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("task.yaml");
    let yaml = "name: t\ndataset: {path: data.jsonl}\nsolver:\n  - generate: {tool_calls: single, max_tokens: 9}\n";
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    let task = load_task_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let params = task.solvers[0].params();
    assert_eq!(params["tool_calls"], "single");
    assert_eq!(params["max_tokens"], 9);

    let err = load_err(
        "name: t\ndataset: {samples: [{input: a, target: b}]}\nsolver: [{generate: {tool_calls: often}}]\n",
        &[],
    );
    assert!(
        err.contains("generate: `tool_calls` is often; expected loop, single or none"),
        "{err}"
    );
}
