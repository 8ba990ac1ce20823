//! Task and dataset input that used to run with a wrong meaning (a task called `null`, empty
//! targets, an empty selection, ids too long for the log, unnamed config fields): each is now a
//! one-line error with exit code 2, naming the file and line or the option. On both backends
//! (see [`crate::bad_input`]'s `check`).

use crate::bad_input::check;
use crate::support::{backends, run, Sandbox};

/// A bad command-line value, which clap reports (with its `--help` hint): exit 2, the first
/// line naming the option, no log.
fn check_flag(extra: &[&str], expected: &[&str]) {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        for (name, text) in with_data(TASK) {
            sandbox.write(name, text);
        }
        let mut args = eval("t.yaml");
        args.extend(extra);
        let mut cmd = sandbox.examen(&args);
        cmd.args(["--display", "none"]);
        let out = run(&mut cmd);
        assert_eq!(out.code, 2, "{args:?} on {backend}: {out:?}");
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{out:?}");
        for part in expected {
            assert!(first.contains(part), "{part:?} in {first:?}");
        }
        assert!(sandbox.logs("logs").is_empty());
    }
}

fn eval(task: &str) -> Vec<&str> {
    vec!["eval", task, "--model", "mockllm/model"]
}

const DATA: &str = "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"c\", \"target\": \"d\"}\n";

fn with_data(task: &str) -> [(&str, &str); 2] {
    [("t.yaml", task), ("d.jsonl", DATA)]
}

const TASK: &str = "name: t\ndataset:\n  path: d.jsonl\n";

#[test]
fn an_empty_task_name_is_an_error() {
    // Item 9: an empty `name:` ran a task called `null`.
    check(
        &with_data("name:\ndataset:\n  path: d.jsonl\n"),
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml:1:", "`name`", "empty"],
    );
    check(
        &with_data("name: '  '\ndataset:\n  path: d.jsonl\n"),
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml:1:", "`name`", "empty"],
    );
    let mut args = eval("t.yaml");
    args.extend(["-T", "name="]);
    check(
        &with_data(TASK),
        &args,
        &[],
        2,
        &["-T name=", "`name`", "empty"],
    );
}

#[test]
fn a_missing_target_is_an_error() {
    // Item 6: a misspelled target mapping gave every sample an empty target (all correct).
    check(
        &with_data("name: t\ndataset:\n  path: d.jsonl\n  fields: {target: answr}\n"),
        &eval("t.yaml"),
        &[],
        2,
        &["d.jsonl:1:", "no target", "`answr`"],
    );
    check(
        &[
            (
                "t.yaml",
                "name: t\ndataset:\n  path: d.csv\n  fields: {input: question, target: answr}\n",
            ),
            ("d.csv", "question,answer\n1+1,2\n"),
        ],
        &eval("t.yaml"),
        &[],
        2,
        &["d.csv:1:", "no `answr` column", "`question`, `answer`"],
    );
    check(
        &[
            ("t.yaml", TASK),
            (
                "d.jsonl",
                "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"c\"}\n",
            ),
        ],
        &eval("t.yaml"),
        &[],
        2,
        &["d.jsonl:2:", "no target", "`target`"],
    );
    check(
        &[("t.yaml", "name: t\ndataset:\n  samples: [{input: hi}]\n")],
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml:", "samples[0]", "no target"],
    );
}

#[test]
fn an_empty_selection_is_an_error() {
    // Item 19: each of these ran nothing and reported `success 0/0, accuracy nan`.
    check_flag(&["--limit", "0"], &["--limit", "selects no samples"]);
    let cases: [(&[&str], &[&str]); 3] = [
        (&["--limit", "5-9"], &["--limit 5-9", "2 samples"]),
        (&["--sample-id", "nope"], &["--sample-id nope", "no sample"]),
        (&["-T", "dataset.limit=0"], &["limit", "no samples"]),
    ];
    for (extra, expected) in cases {
        let mut args = eval("t.yaml");
        args.extend(extra);
        check(&with_data(TASK), &args, &[], 2, expected);
    }
    check(
        &with_data("name: t\ndataset:\n  path: d.jsonl\n  sample_id: [7]\n"),
        &eval("t.yaml"),
        &[],
        2,
        &["sample_id", "7", "no sample"],
    );
}

#[test]
fn a_sample_id_too_long_for_the_log_is_an_error() {
    // Item 3: a ~65 KB id corrupted the `.eval` zip mid-run.
    let long = "x".repeat(70_000);
    let data = format!(
        "{{\"input\": \"a\", \"target\": \"b\"}}\n{{\"id\": \"{long}\", \"input\": \"c\", \"target\": \"d\"}}\n"
    );
    check(
        &[("t.yaml", TASK), ("d.jsonl", &data)],
        &eval("t.yaml"),
        &[],
        2,
        &["d.jsonl:2:", "`id`", "70000 bytes", "at most"],
    );
}

#[test]
fn a_bad_json_line_names_the_column_in_the_file() {
    // Item 21: `d.jsonl:2: … at line 1 column 25` named serde's line, not the file's.
    let line = check(
        &[
            ("t.yaml", TASK),
            (
                "d.jsonl",
                "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"c\", \"target\": }\n",
            ),
        ],
        &eval("t.yaml"),
        &[],
        2,
        &["d.jsonl:2:26:", "invalid JSON"],
    );
    assert!(!line.contains("line 1"), "{line}");
}

#[test]
fn bad_generation_options_name_the_field() {
    // Item 21: `config: {temperature: hot}` did not name the field; `--temperature nan` was
    // sent as `null`.
    check(
        &with_data(
            "name: t\ndataset:\n  path: d.jsonl\nconfig: {max_tokens: 5, temperature: hot}\n",
        ),
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml:4:", "`temperature`", "hot"],
    );
    check(
        &with_data("name: t\ndataset:\n  path: d.jsonl\nconfig: {temperature: .nan}\n"),
        &eval("t.yaml"),
        &[],
        2,
        &["t.yaml:4:", "`temperature`", "finite"],
    );
    let mut args = eval("t.yaml");
    args.extend(["-T", "config.top_p=.inf"]);
    check(
        &with_data(TASK),
        &args,
        &[],
        2,
        &["config.top_p=.inf", "`top_p`", "finite"],
    );
    for bad in ["nan", "inf"] {
        check_flag(&["--temperature", bad], &["--temperature", "finite"]);
    }
}
