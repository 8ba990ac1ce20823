//! Bad input, one test per kind: a one-line error on stderr naming the file (with the line and
//! column, or the field, where there is one) and what was expected; exit code 2 (1 for an eval
//! that ran and failed); nothing on stdout; no panic; and no log left half-written (none at all
//! for bad input, a finished one for a failed eval). On both backends.

use crate::support::{backends, run, Sandbox};

const TASK: &str =
    "name: t\ndataset:\n  samples: [{input: 'What is 1 + 1?', target: '2'}]\nscorer: includes\n";

/// Runs `args` in a sandbox holding `files` and checks the error. Returns the error line.
pub(crate) fn check(
    files: &[(&str, &str)],
    args: &[&str],
    env: &[(&str, &str)],
    code: i32,
    expected: &[&str],
) -> String {
    let mut line = String::new();
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        for (name, text) in files {
            sandbox.write(name, text);
        }
        let mut cmd = sandbox.examen(args);
        if matches!(args.first(), Some(&("eval" | "eval-retry" | "score"))) {
            cmd.args(["--display", "none"]);
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = run(&mut cmd);
        assert_eq!(out.code, code, "{args:?} on {backend}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(errors.len(), 1, "one line: {out:?}");
        assert!(errors[0].starts_with("error: "), "{out:?}");
        for part in expected {
            assert!(errors[0].contains(part), "{part:?} in {:?}", errors[0]);
        }
        let logs = sandbox.logs("logs");
        if code == 2 {
            assert!(logs.is_empty(), "bad input leaves no log: {logs:?}");
        }
        for log in logs {
            let read = examen_log::read_log(&log, examen_log::ReadOptions::default())
                .unwrap_or_else(|e| panic!("a finished log: {e}"));
            assert_eq!(read.status, examen_log::EvalStatus::Error);
        }
        line = errors[0].to_string();
    }
    line
}

fn eval(task: &str) -> Vec<&str> {
    vec!["eval", task, "--model", "mockllm/model"]
}

#[test]
fn malformed_task_yaml() {
    check(
        &[("t.yaml", "name: \"t\ndataset:\n")],
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml:3:1:", "quoted scalar"],
    );
}

#[test]
fn unknown_key_in_a_task_file() {
    check(
        &[("t.yaml", "name: t\ndatset:\n  path: d.jsonl\n")],
        &eval("t.yaml"),
        &[],
        2,
        &[
            "t.yaml:2:1:",
            "unknown field `datset`",
            "expected one of",
            "`dataset`",
        ],
    );
}

#[test]
fn missing_dataset_file() {
    check(
        &[("t.yaml", "name: t\ndataset:\n  path: nope.jsonl\n")],
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml:3:3:", "dataset file `nope.jsonl` not found"],
    );
}

#[test]
fn malformed_jsonl_line() {
    check(
        &[
            ("t.yaml", "name: t\ndataset:\n  path: d.jsonl\n"),
            (
                "d.jsonl",
                "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"c\", \"target\": \n",
            ),
        ],
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml: dataset:", "d.jsonl:2:", "invalid JSON"],
    );
}

#[test]
fn csv_missing_the_input_column() {
    check(
        &[
            ("t.yaml", "name: t\ndataset:\n  path: d.csv\n"),
            ("d.csv", "question,answer\n1+1,2\n"),
        ],
        &eval("t.yaml"),
        &[],
        2,
        &[
            "d.csv:1:",
            "no `input` column",
            "`question`, `answer`",
            "fields: {input: <column>}",
        ],
    );
}

#[test]
fn duplicate_sample_ids() {
    check(
        &[
            ("t.yaml", "name: t\ndataset:\n  path: d.jsonl\n"),
            (
                "d.jsonl",
                "{\"id\": \"a\", \"input\": \"a\", \"target\": \"b\"}\n{\"id\": \"a\", \"input\": \"c\", \"target\": \"d\"}\n",
            ),
        ],
        &eval("t.yaml"),
        &[],
        2,
        &["d.jsonl:", "duplicate sample id `a`", "ids must be unique"],
    );
}

#[test]
fn empty_dataset() {
    check(
        &[
            ("t.yaml", "name: t\ndataset:\n  path: d.jsonl\n"),
            ("d.jsonl", "\n"),
        ],
        &eval("t.yaml"),
        &[],
        2,
        &["d.jsonl:", "no samples", "expected at least one record"],
    );
    check(
        &[("t.yaml", "name: t\ndataset:\n  samples: []\n")],
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml: dataset:", "no samples"],
    );
}

#[test]
fn unknown_solver_scorer_metric_or_reducer() {
    let cases = [
        (
            "solver: [generat]\n",
            "t.yaml:4:10:",
            "unknown solver `generat`",
        ),
        (
            "scorer: inclides\n",
            "t.yaml:4:9:",
            "unknown scorer `inclides`",
        ),
        (
            "metrics: [acuracy]\n",
            "t.yaml:4:11:",
            "unknown metric `acuracy`",
        ),
        (
            "epochs: {epochs: 2, reducer: [meen]}\n",
            "t.yaml:4:9:",
            "unknown reducer `meen`",
        ),
    ];
    let without_scorer = TASK.replace("scorer: includes\n", "");
    for (line, at, what) in cases {
        let text = format!("{without_scorer}{line}");
        let error = check(
            &[("t.yaml", &text)],
            &eval("t.yaml"),
            &[],
            2,
            &[at, what, "expected one of"],
        );
        assert!(error.contains("did you mean"), "{error}");
    }
}

#[test]
fn bad_model_name_or_unknown_provider() {
    check(
        &[("t.yaml", TASK)],
        &["eval", "t.yaml", "--model", "gpt-4o"],
        &[],
        2,
        &[
            "--model gpt-4o",
            "invalid model name",
            "expected `provider/model`",
        ],
    );
    check(
        &[("t.yaml", TASK)],
        &["eval", "t.yaml", "--model", "nope/x"],
        &[],
        2,
        &[
            "--model nope/x",
            "unknown model provider `nope`",
            "expected one of",
        ],
    );
}

#[test]
fn missing_api_key() {
    check(
        &[("t.yaml", TASK)],
        &["eval", "t.yaml", "--model", "openai/gpt-4o"],
        &[],
        2,
        &["--model openai/gpt-4o", "no API key", "OPENAI_API_KEY"],
    );
}

#[test]
fn unreachable_base_url_fails_the_eval_after_retries() {
    // A port nothing listens on: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{port}/v1");
    let error = check(
        &[("t.yaml", TASK)],
        &[
            "eval",
            "t.yaml",
            "--model",
            "openai-api/test/m",
            "--model-base-url",
            &url,
            "--max-retries",
            "1",
        ],
        &[("TEST_API_KEY", "k")],
        1,
        &[
            "t (openai-api/test/m) failed",
            &url,
            "gave up after 2 attempts",
            "connection refused",
        ],
    );
    assert!(error.contains("max_retries 1"), "{error}");
}

#[test]
fn log_directory_not_writable() {
    // A directory under a plain file cannot be created, even by root.
    check(
        &[("t.yaml", TASK), ("afile", "x")],
        &[
            "eval",
            "t.yaml",
            "--model",
            "mockllm/model",
            "--log-dir",
            "afile/logs",
        ],
        &[],
        2,
        &["--log-dir afile/logs", "cannot write logs there"],
    );
}

/// The first `keep` bytes of a finished log of the example task, written in a sandbox.
fn truncated_log(keep: usize) -> Vec<u8> {
    let sandbox = Sandbox::new();
    let out = run(sandbox.examen(&[
        "eval",
        "arithmetic/task.yaml",
        "--model",
        "mockllm/model",
        "--limit",
        "2",
        "--display",
        "none",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    let log = sandbox.logs("logs").remove(0);
    let mut bytes = std::fs::read(log).unwrap_or_else(|e| panic!("{e}"));
    bytes.truncate(keep);
    bytes
}

#[test]
fn corrupt_or_truncated_log_given_to_score_dump_or_eval_retry() {
    let truncated = truncated_log(100);
    let truncated = String::from_utf8_lossy(&truncated).into_owned();
    for (name, bytes) in [
        ("garbage.eval", "not a log at all"),
        ("empty.json", ""),
        ("cut.eval", truncated.as_str()),
        (
            "cut.json",
            "{\"version\": 2, \"status\": \"success\", \"eval\": {\"task\"",
        ),
    ] {
        for verb in [&["eval-retry"][..], &["score"], &["log", "dump"]] {
            let mut args = verb.to_vec();
            args.push(name);
            check(&[(name, bytes)], &args, &[], 2, &[name]);
        }
    }
}
