//! `examen log dump|list|convert` and `examen list`, on logs an eval just wrote.

use examen_log::{read_log, ReadOptions};
use serde_json::Value;

use crate::snapshot;
use crate::support::{backends, run, Sandbox};

/// A sandbox with one finished eval log (5 samples × 2 epochs) in `logs/`.
fn with_log(backend: &'static str) -> (Sandbox, std::path::PathBuf) {
    let sandbox = Sandbox::on(backend);
    let out = run(sandbox.examen(&[
        "eval",
        "arithmetic/task.yaml",
        "--model",
        "mockllm/model",
        "--limit",
        "5",
        "--display",
        "none",
        "--async-backend",
        backend,
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    let log = sandbox.logs("logs").pop().unwrap();
    (sandbox, log)
}

#[test]
fn dump_prints_the_log_as_json() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        let log = log.to_string_lossy().into_owned();
        let out = run(sandbox.examen(&["log", "dump", &log, "--header-only"]));
        assert_eq!(out.code, 0, "{out:?}");
        let header: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(header["eval"]["task"], "arithmetic");
        assert_eq!(header["status"], "success");
        assert!(header.get("samples").is_none());

        let out = run(sandbox.examen(&["log", "dump", &log]));
        assert_eq!(out.code, 0, "{out:?}");
        let full: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(full["samples"].as_array().map(Vec::len), Some(10));
        assert_eq!(full["results"]["total_samples"], 10);
    }
}

#[test]
fn list_shows_logs_and_filters_by_status() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        let out = run(sandbox.examen(&["log", "list"]));
        assert_eq!(out.code, 0, "{out:?}");
        // The size and mtime change from run to run (times are in the log).
        let mut filters = crate::support::filters(sandbox.path());
        filters.push((
            r"\d+ +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00".into(),
            "[SIZE]  [MODIFIED]".into(),
        ));
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({filters => filters, prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!("log_list_table", &out.stdout);
        });

        let out = run(sandbox.examen(&["log", "list", "--json", "--log-dir", "logs"]));
        let rows: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(rows[0]["status"], "success");
        assert_eq!(rows[0]["samples"], 10);
        assert_eq!(
            rows[0]["size"].as_u64(),
            Some(std::fs::metadata(&log).unwrap().len())
        );
        assert!(rows[0]["modified"].as_str().unwrap().ends_with("+00:00"));
        assert!(rows[0]["name"]
            .as_str()
            .unwrap()
            .ends_with(log.file_name().unwrap().to_str().unwrap()));

        let out = run(sandbox
            .examen(&["log", "list", "--status", "error"])
            .env("EXAMEN_JSON", "1"));
        assert_eq!(out.stdout.trim(), "[]");

        let out = run(sandbox.examen(&["log", "list", "--log-dir", "missing"]));
        assert_eq!(out.code, 2, "{out:?}");
    }
}

#[test]
fn convert_writes_the_other_format() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        let log = log.to_string_lossy().into_owned();
        let out = run(sandbox.examen(&[
            "log",
            "convert",
            &log,
            "--to",
            "json",
            "--output-dir",
            "converted",
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        let converted = sandbox.logs("converted");
        assert_eq!(converted.len(), 1);
        assert_eq!(converted[0].extension().unwrap(), "json");
        assert!(out
            .stdout
            .trim()
            .ends_with(converted[0].file_name().unwrap().to_str().unwrap()));
        let original = read_log(std::path::Path::new(&log), ReadOptions::default()).unwrap();
        let copy = read_log(&converted[0], ReadOptions::default()).unwrap();
        assert_eq!(copy.eval.eval_id, original.eval.eval_id);
        assert_eq!(
            copy.samples.as_ref().map(Vec::len),
            original.samples.as_ref().map(Vec::len)
        );
        // And back, through the environment variables.
        let json = converted[0].to_string_lossy().into_owned();
        let out = run(sandbox
            .examen(&["log", "convert", &json])
            .env("EXAMEN_TO", "eval")
            .env("EXAMEN_OUTPUT_DIR", "back"));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(sandbox.logs("back").len(), 1);
    }
}

#[test]
fn a_crashed_log_is_recovered_for_dump_and_list() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        // A writer that died mid-flush leaves no central directory: cut the file short.
        let bytes = std::fs::read(&log).unwrap();
        std::fs::write(&log, &bytes[..bytes.len() * 3 / 4]).unwrap();
        assert!(examen_log::LogReader::open(&log).is_err());
        let recovered = examen_log::recover(&log).unwrap().sample_count();
        assert!(recovered > 0);

        let name = log.to_string_lossy().into_owned();
        let out = run(sandbox.examen(&["log", "dump", &name]));
        assert_eq!(out.code, 0, "{out:?}");
        let dump: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(dump["eval"]["task"], "arithmetic");
        assert_eq!(dump["samples"].as_array().map(Vec::len), Some(recovered));

        let out = run(sandbox.examen(&["log", "list", "--json"]));
        let rows: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(rows[0]["samples"], recovered);
    }
}

#[test]
fn unreadable_logs_are_bad_input() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write("not-a-log.eval", "hello");
        let mut report = String::new();
        for args in [
            &["log", "dump", "not-a-log.eval"][..],
            &["log", "dump", "missing.eval"][..],
            &[
                "log",
                "convert",
                "missing.eval",
                "--to",
                "json",
                "--output-dir",
                "o",
            ][..],
            &["score", "missing.eval"][..],
            &["score", "not-a-log.eval"][..],
        ] {
            let out = run(sandbox.examen(args));
            assert_eq!(out.code, 2, "{args:?}: {out:?}");
            report.push_str(out.stderr.lines().next().unwrap_or_default());
            report.push('\n');
        }
        snapshot!(sandbox.path(), "log_bad_input", &report);
    }
}

#[test]
fn list_prints_one_line_of_help_per_name() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let registry = |kind| -> Vec<String> {
            examen::registry::entries()
                .into_iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.name.to_string())
                .collect()
        };
        use examen::registry::Kind;
        for (what, names) in [
            ("solvers", registry(Kind::Solver)),
            ("scorers", registry(Kind::Scorer)),
            ("metrics", registry(Kind::Metric)),
            ("reducers", registry(Kind::Reducer)),
        ] {
            let out = run(sandbox.examen(&["list", what]));
            assert_eq!(out.code, 0, "{out:?}");
            let listed: Vec<String> = out
                .stdout
                .lines()
                .map(|line| {
                    let (name, help) = line.split_once("  ").unwrap_or((line, ""));
                    assert!(!help.trim().is_empty(), "{what}: no help on `{line}`");
                    name.to_string()
                })
                .collect();
            assert_eq!(listed, names, "{what}");
        }
        let out = run(sandbox.examen(&["list", "providers"]));
        assert_eq!(out.code, 0, "{out:?}");
        snapshot!(sandbox.path(), "list_providers", &out.stdout);
        let out = run(sandbox.examen(&["list", "widgets"]));
        assert_eq!(out.code, 2);
    }
}

#[test]
fn env_prints_the_reference_in_docs() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let out = run(sandbox.examen(&["env"]));
        assert_eq!(out.code, 0, "{out:?}");
        let docs =
            std::fs::read_to_string(crate::support::workspace().join("docs/src/env.md")).unwrap();
        assert_eq!(out.stdout, docs);
    }
}

/// The hidden `examen reference` prints the generated pages of the user guide as they are in
/// `docs/src/`.
#[test]
fn reference_prints_the_pages_in_docs() {
    let sandbox = Sandbox::on(backends()[0]);
    let out = run(sandbox.examen(&["reference", "cli"]));
    assert_eq!(out.code, 0, "{out:?}");
    let docs = crate::support::workspace().join("docs/src");
    assert_eq!(
        out.stdout,
        std::fs::read_to_string(docs.join("cli.md")).unwrap()
    );
    let out = run(sandbox.examen(&["reference", "registry"]));
    assert_eq!(out.code, 0, "{out:?}");
    let page = std::fs::read_to_string(docs.join("task-file.md")).unwrap();
    assert!(
        page.contains(&out.stdout),
        "docs/src/task-file.md lacks the registry tables"
    );
    let help = run(sandbox.examen(&["--help"]));
    assert!(!help.stdout.contains("  reference "), "{}", help.stdout);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let mut child = sandbox
            .examen(&["env"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end at once, as `examen env | head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_closed_stdout_keeps_the_exit_code_of_a_failed_eval() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write(
            "roles.yaml",
            "name: roles\ndataset:\n  samples: [{input: 'hi', target: 'hi'}]\nmodel_roles: {grader: nope/x}\n",
        );
        let mut child = sandbox
            .examen(&[
                "eval",
                "roles.yaml",
                "--model",
                "mockllm/model",
                "--display",
                "plain",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("error: roles (mockllm/model) failed"),
            "{stderr}"
        );
    }
}

#[test]
fn integer_ids_beyond_64_bits_stay_exact_from_dataset_to_dump_and_convert() {
    // Issue 12, item 8: `2^64` and `2^64+1` were one id (refused, or merged as floats).
    const TASK: &str = "name: wide\ndataset: {path: wide.jsonl}\nscorer: includes\n";
    const DATA: &str = "{\"id\": 18446744073709551616, \"input\": \"a\", \"target\": \"x\"}\n\
        {\"id\": 18446744073709551617, \"input\": \"b\", \"target\": \"x\"}\n\
        {\"id\": 5, \"input\": \"c\", \"target\": \"x\"}\n";
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write("wide.yaml", TASK);
        sandbox.write("wide.jsonl", DATA);
        let eval = |args: &[&str]| {
            let mut all = vec!["eval", "wide.yaml", "--model", "mockllm/model"];
            all.extend_from_slice(args);
            all.extend_from_slice(&["--display", "none", "--async-backend", backend]);
            let out = run(sandbox.examen(&all));
            assert_eq!(out.code, 0, "{out:?}");
        };
        eval(&["--sample-id", "18446744073709551617", "--log-dir", "one"]);
        let one = read_log(&sandbox.logs("one")[0], ReadOptions::default()).unwrap();
        let ids: Vec<String> = one
            .samples
            .iter()
            .flatten()
            .map(|s| s.id.to_string())
            .collect();
        assert_eq!(ids, ["18446744073709551617"]);

        eval(&["--log-dir", "all"]);
        let log = sandbox.logs("all").pop().unwrap();
        let log = log.to_string_lossy().into_owned();
        let out =
            run(sandbox.examen(&["log", "convert", &log, "--to", "json", "--output-dir", "c"]));
        assert_eq!(out.code, 0, "{out:?}");
        let converted = sandbox.logs("c").pop().unwrap();
        for path in [log, converted.to_string_lossy().into_owned()] {
            let out = run(sandbox.examen(&["log", "dump", &path]));
            assert_eq!(out.code, 0, "{out:?}");
            // The integers as written, in the records and in the dataset's id list.
            for id in ["18446744073709551616", "18446744073709551617"] {
                assert!(
                    out.stdout.contains(&format!("\"id\":{id},")),
                    "{id} in {path}"
                );
            }
            assert!(
                out.stdout
                    .contains("\"sample_ids\":[5,18446744073709551616,18446744073709551617]")
                    || out
                        .stdout
                        .contains("\"sample_ids\":[18446744073709551616,18446744073709551617,5]"),
                "{path}"
            );
            let log = read_log(std::path::Path::new(&path), ReadOptions::default()).unwrap();
            let mut ids: Vec<String> = log
                .samples
                .iter()
                .flatten()
                .map(|s| s.id.to_string())
                .collect();
            ids.sort();
            assert_eq!(ids, ["18446744073709551616", "18446744073709551617", "5"]);
        }
    }
}
