//! Inspect's own Python reader on logs written by a real eval (the example task, on each backend,
//! in both formats): status, sample count, every sample's scores and every metric must equal what
//! examen's engine reported. Uses `scripts/inspect_compat.py` in the pinned venv; without the venv
//! this says so and passes, except with `CI=true`, where the venv is installed and the check runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use examen::runner::LogDir;
use examen::taskfile::load_task_file;
use examen::EvalOptions;
use examen_log::{read_log, LogFormat, ReadOptions};
use serde_json::{json, Map, Value as Json};

use crate::support::mock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python: installed on CI, `None` (after saying why) when absent elsewhere.
fn inspect_python() -> Option<PathBuf> {
    let root = repo_root();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !ci && !root.join(".venv/bin/python").exists() {
        // Straight to the terminal: libtest captures `eprintln!` of passing tests, and a skip
        // that nobody sees reads as a pass.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the Inspect check: no .venv (scripts/inspect-venv.sh makes it; CI=true runs it)"
        );
        return None;
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/inspect-venv.sh"))
        .output()
        .expect("run scripts/inspect-venv.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

async fn eval_and_expect(dir: &Path, format: LogFormat) -> (PathBuf, Json) {
    let task = load_task_file(repo_root().join("examples/arithmetic/task.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        logger: Some(Arc::new(LogDir::new(dir, format))),
        limit: Some(6),
        ..EvalOptions::default()
    };
    // Right for some questions, wrong for others, so metrics are not trivial.
    let model = mock(|prompt| {
        if prompt.contains('3') {
            "ANSWER: 9".into()
        } else {
            "ANSWER: 5".into()
        }
    });
    let outcome = examen::eval(vec![task], vec![model], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
    let path = PathBuf::from(outcome.log_location.clone().expect("a log"));
    let mut metrics = Map::new();
    for score in &outcome.results.as_ref().expect("results").scores {
        let key = match &score.reducer {
            Some(reducer) => format!("{}/{reducer}", score.name),
            None => score.name.clone(),
        };
        let values: Map<String, Json> = score
            .metrics
            .values()
            .map(|metric| (metric.name.clone(), json!(metric.value)))
            .collect();
        metrics.insert(key, Json::Object(values));
    }
    let log = read_log(&path, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let samples = log.samples.unwrap_or_default();
    let mut scores = Map::new();
    for sample in &samples {
        let per_scorer: Map<String, Json> = sample
            .scores
            .iter()
            .flatten()
            .map(|(name, score)| (name.clone(), serde_json::to_value(&score.value).unwrap()))
            .collect();
        scores.insert(
            format!("{}:{}", sample.id, sample.epoch),
            Json::Object(per_scorer),
        );
    }
    let expected = json!({
        "status": serde_json::to_value(outcome.status).unwrap(),
        "samples": samples.len(),
        "scores": scores,
        "metrics": metrics,
    });
    (path, expected)
}

#[examen_rt::test]
async fn inspect_reads_logs_of_a_real_eval() {
    let Some(python) = inspect_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut expected = Map::new();
    let mut logs = Vec::new();
    for format in [LogFormat::Eval, LogFormat::Json] {
        let (path, want) = eval_and_expect(dir.path(), format).await;
        assert_eq!(want["samples"], json!(12), "6 samples × 2 epochs");
        expected.insert(path.display().to_string(), want);
        logs.push(path);
    }
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, Json::Object(expected).to_string()).unwrap();
    let output = examen_rt::to_thread(move || {
        Command::new(python)
            .arg(repo_root().join("scripts/inspect_compat.py"))
            .arg("check")
            .arg(&expected_path)
            .args(&logs)
            .output()
            .expect("run inspect_compat.py")
    })
    .await;
    assert!(
        output.status.success(),
        "Inspect disagrees:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The same tasks as `inspect_compat.py shapes`: a `grouped` metric and a task config, and
/// every sample erroring.
const SHAPES_TASK: &str = "\
name: shapes
dataset:
  path: data.jsonl
  fields: {input: question, target: answer, id: id, metadata: [level]}
solver: [generate]
scorer: match
metrics:
  - grouped: {metric: accuracy, group_key: level}
  - stderr
config: {temperature: 0.5}
";

const SHAPES_DATA: &str = r#"{"id": 1, "question": "What is 1+1?", "answer": "2", "level": "a"}
{"id": 2, "question": "Say output", "answer": "output", "level": "b"}
"#;

/// The parts of a log Inspect's viewer relies on, as `inspect_compat.py shapes` reports them.
fn shapes(log: &examen_log::EvalLog) -> Json {
    let header = serde_json::to_value(log).unwrap_or_else(|e| panic!("{e}"));
    let mut out = json!({
        "status": header["status"],
        "has_results": header.get("results").is_some_and(|r| !r.is_null()),
        "model_generate_config": header["eval"]["model_generate_config"],
        "plan_config": header["plan"]["config"],
        "config_has_score": header["eval"]["config"].get("score").is_some(),
    });
    if out["has_results"] == json!(true) {
        let metrics = header["results"]["scores"][0]["metrics"]
            .as_object()
            .unwrap_or_else(|| panic!("metrics"));
        out["metric_params"] = metrics
            .iter()
            .map(|(name, metric)| (name.clone(), metric["params"].clone()))
            .collect::<Map<String, Json>>()
            .into();
        let scorer_metrics = header["eval"]["scorers"][0]["metrics"]
            .as_array()
            .unwrap_or_else(|| panic!("scorer metrics"));
        out["scorer_metric_options"] = scorer_metrics
            .iter()
            .map(|m| {
                let name = m["name"].as_str().unwrap_or_default();
                let name = name.strip_prefix("inspect_ai/").unwrap_or(name);
                (name.to_string(), m["options"].clone())
            })
            .collect::<Map<String, Json>>()
            .into();
    }
    let first_call = log
        .samples
        .iter()
        .flatten()
        .flat_map(|s| s.events.iter())
        .find_map(|event| match serde_json::to_value(event) {
            Ok(event) if event["event"] == "model" && !event["call"].is_null() => {
                Some(event["call"].clone())
            }
            _ => None,
        });
    if let Some(call) = first_call {
        let mut keys: Vec<String> = call["request"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        out["call"] = json!({
            "request_model": call["request"]["model"],
            "request_keys": keys,
            "request_contents": call["request"]["messages"]
                .as_array()
                .map(|m| m.iter().map(|m| m["content"].clone()).collect::<Vec<_>>()),
            "response": call["response"],
        });
    }
    out
}

/// What Inspect 0.3.285 writes for the shapes tasks (checked against Inspect itself below
/// when the venv is there): no `results` when every sample errored (its viewer shows "-",
/// not NaN); a `grouped` metric's `metric` in registry form (`{type, name, params}`, the
/// form its viewer lays the groups out for), also in the scorers' metric options;
/// `model_generate_config` only the eval's own config (the task's is `plan.config`); no
/// `score` in `eval.config`; and mockllm's call record (the viewer's API tab).
fn inspect_shapes() -> Json {
    let grouped = json!({"metric": {"type": "metric", "name": "accuracy", "params": {}}, "group_key": "level"});
    json!({
        "grouped": {
            "status": "success",
            "has_results": true,
            "model_generate_config": {},
            "plan_config": {"temperature": 0.5},
            "config_has_score": false,
            "metric_params": {"a": grouped, "b": grouped, "all": grouped, "stderr": {}},
            "scorer_metric_options": {"grouped": grouped, "stderr": {}},
            "call": {
                "request_model": "model",
                "request_keys": ["messages", "model"],
                "request_contents": ["What is 1+1?"],
                "response": {"content": "Default output from mockllm/model"},
            },
        },
        "errored": {
            "status": "success",
            "has_results": false,
            "model_generate_config": {},
            "plan_config": {"temperature": 0.5},
            "config_has_score": false,
        },
    })
}

#[examen_rt::test]
async fn logs_have_the_shapes_inspect_writes_for_its_viewer() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("task.yaml"), SHAPES_TASK).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("data.jsonl"), SHAPES_DATA).unwrap_or_else(|e| panic!("{e}"));
    let mut ours = Map::new();
    for key in ["grouped", "errored"] {
        let task = load_task_file(dir.path().join("task.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let (model, options) = if key == "grouped" {
            let model = examen_model::get_model("mockllm/model", Default::default())
                .unwrap_or_else(|e| panic!("{e}"));
            (model, EvalOptions::default())
        } else {
            // A script of no answers: every call, so every sample, errors.
            let model = examen_model::Model::from_mock(examen_model::MockLlm::outputs(vec![]));
            let options = EvalOptions {
                fail_on_error: Some(examen::task::FailOnError::Bool(false)),
                ..EvalOptions::default()
            };
            (model, options)
        };
        let options = EvalOptions {
            logger: Some(Arc::new(LogDir::new(dir.path().join(key), LogFormat::Json))),
            ..options
        };
        let outcome = examen::eval(vec![task], vec![model], options, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0);
        let path = PathBuf::from(outcome.log_location.clone().expect("a log"));
        let log = read_log(&path, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        if key == "errored" {
            assert_eq!(
                outcome.errored_samples, 2,
                "the premise: every sample errored"
            );
            assert!(
                outcome.results.is_none(),
                "the engine reports no results either"
            );
        }
        ours.insert(key.to_string(), shapes(&log));
    }
    assert_eq!(Json::Object(ours), inspect_shapes(), "examen's logs");

    let Some(python) = inspect_python() else {
        return;
    };
    let out_dir = dir.path().join("inspect");
    let output = examen_rt::to_thread(move || {
        Command::new(python)
            .arg(repo_root().join("scripts/inspect_compat.py"))
            .arg("shapes")
            .arg(&out_dir)
            .output()
            .expect("run inspect_compat.py")
    })
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(theirs, inspect_shapes(), "Inspect's own logs");
}

/// Runs `scripts/inspect_compat.py` with `args` and parses what it prints.
async fn inspect_json(python: PathBuf, args: Vec<String>) -> Json {
    let output = examen_rt::to_thread(move || {
        Command::new(python)
            .arg(repo_root().join("scripts/inspect_compat.py"))
            .args(&args)
            .output()
            .expect("run inspect_compat.py")
    })
    .await;
    assert!(
        output.status.success(),
        "inspect_compat.py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"))
}

#[examen_rt::test]
async fn the_agent_examples_give_the_transcripts_inspect_gives() {
    // Issue 14: examples/agent's tasks (generate's tool loop, and the react agent with two
    // attempts) run by examen (both formats) and by Inspect itself, on mockllm playing the
    // same script: Inspect's reader sees the same messages (roles, texts, tool calls and
    // their ids, tool results, react's prompts and messages), the same tool events in the same
    // spans, the same spans and the same (intermediate) scores.
    let Some(python) = inspect_python() else {
        return;
    };
    let example = repo_root().join("examples/agent");
    for (task_file, script_file) in [("task.yaml", "script.jsonl"), ("react.yaml", "react.jsonl")] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut logs = Vec::new();
        for format in [LogFormat::Eval, LogFormat::Json] {
            let task = load_task_file(example.join(task_file)).unwrap_or_else(|e| panic!("{e}"));
            let script = examen_model::MockLlm::read_script(&example.join(script_file))
                .unwrap_or_else(|e| panic!("{e}"));
            let model = examen_model::Model::from_mock(examen_model::MockLlm::turns(script));
            let options = EvalOptions {
                logger: Some(Arc::new(LogDir::new(dir.path().join("examen"), format))),
                ..EvalOptions::default()
            };
            let outcome = examen::eval(vec![task], vec![model], options, None)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .remove(0);
            logs.push(outcome.log_location.clone().expect("a log"));
        }
        let path = |p: &Path| p.display().to_string();
        let inspect = inspect_json(
            python.clone(),
            vec![
                "agent".into(),
                path(&example.join(task_file)),
                path(&example.join(script_file)),
                path(&dir.path().join("inspect")),
            ],
        )
        .await;
        let inspect_log = inspect["logs"][0]
            .as_str()
            .expect("Inspect's log")
            .to_owned();
        let mut args = vec!["transcript".to_owned(), inspect_log.clone()];
        args.extend(logs.iter().cloned());
        let transcripts = inspect_json(python.clone(), args).await;
        let theirs = &transcripts[&inspect_log];
        assert_eq!(theirs.as_object().map(Map::len), Some(2), "{theirs}");
        let tools = &theirs["multiply:1"]["tools"];
        assert_eq!(tools[0]["function"], "think", "{theirs}");
        assert_eq!(tools[0]["span"], "tool");
        assert_eq!(tools[0]["in_enclosing_span"], true);
        for log in &logs {
            assert_eq!(
                &transcripts[log], theirs,
                "{task_file}: {log} against Inspect's own run"
            );
        }
        if task_file == "react.yaml" {
            let spans = &theirs["multiply:1"]["spans"];
            assert_eq!(spans[2], "solver:react", "{spans}");
            assert_eq!(spans[3], "agent:react", "{spans}");
            let scores = &theirs["multiply:1"]["scores"];
            assert_eq!(
                scores[0],
                json!({"intermediate": true, "value": "I"}),
                "{scores}"
            );
        }
    }
}

/// Like [`inspect_json`], with `env` added to the script's environment.
async fn inspect_json_with_env(
    python: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> Json {
    let output = examen_rt::to_thread(move || {
        Command::new(python)
            .arg(repo_root().join("scripts/inspect_compat.py"))
            .args(&args)
            .envs(env)
            .output()
            .expect("run inspect_compat.py")
    })
    .await;
    assert!(
        output.status.success(),
        "inspect_compat.py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"))
}

#[examen_rt::test]
async fn a_react_agent_with_bash_python_and_think_on_a_loopback_server_matches_inspect() {
    // Issue 14: the react agent with bash, python and think, against a real model server on
    // 127.0.0.1 (examen-mock-server playing a five-turn tool conversation, strict about tool
    // call pairing like the real APIs) in both wire formats. Parallel calls (think beside
    // bash), a file one tool writes and the next reads, a command that fails, a call of a tool
    // that does not exist, and the submission. The same task run by Inspect against the same
    // server must give the same messages, tool calls, results, errors, views, tool events,
    // spans and scores.
    let fixture = repo_root().join("crates/examen/tests/fixtures/agent-tools");
    let script = examen_mock_server::read_script(&fixture.join("script.jsonl"))
        .unwrap_or_else(|e| panic!("{e}"));
    let server = examen_mock_server::MockServer::start(examen_mock_server::Config {
        script: Some(script),
        ..examen_mock_server::Config::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let url = server.base_url();
    let python = inspect_python();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let formats = [
        (
            "openai-api/mock/mock-model",
            vec![
                ("MOCK_BASE_URL", format!("{url}/v1")),
                ("MOCK_API_KEY", "test-key".to_owned()),
            ],
        ),
        (
            "anthropic/claude-x",
            vec![
                ("ANTHROPIC_BASE_URL", url.clone()),
                ("ANTHROPIC_API_KEY", "test-key".to_owned()),
            ],
        ),
    ];
    for (model_name, env) in formats {
        let before = server.stats().requests;
        let model = examen_model::get_model(
            model_name,
            examen_model::ModelOptions {
                env: examen_model::Env::from_pairs(env.iter().map(|(k, v)| (*k, v.clone()))),
                ..examen_model::ModelOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let task = load_task_file(fixture.join("task.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let options = EvalOptions {
            logger: Some(Arc::new(LogDir::new(
                dir.path().join("examen"),
                LogFormat::Eval,
            ))),
            ..EvalOptions::default()
        };
        let outcome = examen::eval(vec![task], vec![model], options, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0);
        assert_eq!(
            outcome.status,
            examen_types::EvalStatus::Success,
            "{model_name}: {:?}",
            outcome.error
        );
        assert_eq!(
            outcome
                .results
                .as_ref()
                .and_then(|r| r.metric("includes", "accuracy")),
            Some(1.0),
            "{model_name}"
        );
        // Five turns per sample, every one accepted by the strict server.
        assert_eq!(server.stats().requests - before, 10, "{model_name}");
        let log = outcome.log_location.clone().expect("a log");
        let read =
            read_log(Path::new(&log), ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let sample = &read.samples.as_ref().expect("samples")[0];
        let tool_texts: Vec<(String, String, Option<String>)> = sample
            .messages
            .iter()
            .filter_map(|m| match m {
                examen_types::ChatMessage::Tool(t) => Some((
                    t.function.clone().unwrap_or_default(),
                    t.content.text(),
                    t.error.as_ref().map(|e| e.message.clone()),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            tool_texts,
            vec![
                ("think".to_owned(), String::new(), None),
                ("bash".to_owned(), "42\n".to_owned(), None),
                ("python".to_owned(), "True 42\n".to_owned(), None),
                (
                    "bash".to_owned(),
                    "ls: cannot access 'missing-file': No such file or directory\n\ndone\n"
                        .to_owned(),
                    None
                ),
                (
                    "calculator".to_owned(),
                    String::new(),
                    Some("Tool calculator not found".to_owned())
                ),
            ],
            "{model_name}"
        );
        assert_eq!(
            sample.output.completion, "Both agree.\n\n42",
            "{model_name}"
        );

        let Some(python) = python.clone() else {
            continue;
        };
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut inspect_env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        // Inspect's local sandbox runs `bash --login`: keep this user's profile out of it.
        inspect_env.push(("HOME".to_owned(), home.path().display().to_string()));
        let before = server.stats().requests;
        let inspect = inspect_json_with_env(
            python.clone(),
            vec![
                "agent-server".into(),
                fixture.join("task.yaml").display().to_string(),
                model_name.to_owned(),
                dir.path().join("inspect").display().to_string(),
            ],
            inspect_env,
        )
        .await;
        assert_eq!(
            server.stats().requests - before,
            10,
            "{model_name}: Inspect's requests"
        );
        let inspect_log = inspect["logs"][0]
            .as_str()
            .expect("Inspect's log")
            .to_owned();
        let transcripts = inspect_json(
            python,
            vec!["transcript".into(), inspect_log.clone(), log.clone()],
        )
        .await;
        let theirs = &transcripts[&inspect_log];
        assert_eq!(theirs.as_object().map(Map::len), Some(2), "{theirs}");
        assert_same_json(
            &transcripts[&log],
            theirs,
            &format!("{model_name}: examen's transcript against Inspect's"),
        );
    }
}

/// Asserts two JSON values are equal, showing the first differing line of their pretty forms
/// with some context (the whole values are too long to compare by eye).
fn assert_same_json(ours: &Json, theirs: &Json, what: &str) {
    if ours == theirs {
        return;
    }
    let pretty = |v: &Json| serde_json::to_string_pretty(v).unwrap_or_default();
    let (ours, theirs) = (pretty(ours), pretty(theirs));
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(12);
    panic!(
        "{what}: they differ at line {}\n--- examen\n{}\n--- Inspect\n{}",
        at + 1,
        a[from..(at + 3).min(a.len())].join("\n"),
        b[from..(at + 3).min(b.len())].join("\n"),
    );
}
