//! `examen eval` end to end with `mockllm/model`, on both backends.

use examen_log::{read_log, ReadOptions};
use serde_json::Value;

use crate::snapshot;
use crate::support::{backends, run, Sandbox};

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn plain_display_summary_and_log_on_both_backends() {
    for backend in backends() {
        let sandbox = Sandbox::new();
        let out = run(sandbox.examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--display",
            "plain",
            "--async-backend",
            backend,
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        snapshot!(sandbox.path(), "eval_plain_stdout", &out.stdout);
        snapshot!(sandbox.path(), "eval_plain_stderr", &out.stderr);
        let logs = sandbox.logs("logs");
        assert_eq!(logs.len(), 1, "{logs:?}");
        let log = read_log(&logs[0], ReadOptions::default()).unwrap();
        assert_eq!(log.status.as_str(), "success");
        assert_eq!(log.samples.as_ref().map(Vec::len), Some(40));
        // The summary names the log that was written.
        let name = logs[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(out.stdout.contains(&name), "{}", out.stdout);
    }
}

#[test]
fn tasks_times_models_run_as_one_eval_with_json_records() {
    for backend in backends() {
        let sandbox = Sandbox::new();
        sandbox.write(
            "second.yaml",
            "name: second\ndataset:\n  samples:\n    - {input: 'Say hi', target: 'hi'}\n    - {input: 'Say yo', target: 'yo'}\nscorer: includes\n",
        );
        let out = run(sandbox.examen(&[
            "eval",
            "arithmetic/task.yaml",
            "second.yaml",
            "--model",
            "mockllm/model,mockllm/model",
            "--max-tasks",
            "2",
            "--limit",
            "3",
            "--json",
            "--async-backend",
            backend,
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        let records = json_lines(&out.stdout);
        assert_eq!(records.len(), 4, "{}", out.stdout);
        let mut seen: Vec<(String, u64)> = records
            .iter()
            .map(|r| {
                (
                    r["task"].as_str().unwrap().to_string(),
                    r["samples"]["total"].as_u64().unwrap(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("arithmetic".to_string(), 6),
                ("arithmetic".to_string(), 6),
                ("second".to_string(), 2),
                ("second".to_string(), 2)
            ]
        );
        for record in &records {
            assert_eq!(record["status"], "success");
            let log = sandbox.path().join(record["log"].as_str().unwrap());
            assert!(log.is_file(), "{log:?}");
            assert!(record["scores"][0]["metrics"]["accuracy"].is_number());
        }
        assert_eq!(sandbox.logs("logs").len(), 4);
        // Records come as runs finish, in any order.
        let arithmetic = records.iter().find(|r| r["task"] == "arithmetic").unwrap();
        snapshot!(sandbox.path(), "eval_json_record", &arithmetic.to_string());
    }
}

#[test]
fn options_override_the_task_file() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let out = run(sandbox.examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--sample-id",
            "q01,q05",
            "--epochs",
            "3",
            "--epochs-reducer",
            "max",
            "--log-format",
            "json",
            "--log-dir",
            "out",
            "--tags",
            "nightly,small",
            "--metadata",
            "owner=qa",
            "--max-tokens",
            "7",
            "--temperature",
            "0.25",
            "--seed",
            "42",
            "--max-retries",
            "3",
            "--timeout",
            "60",
            "--attempt-timeout",
            "20",
            "--max-connections",
            "4",
            "--max-samples",
            "3",
            "--message-limit",
            "12",
            "--token-limit",
            "5000",
            "--time-limit",
            "30",
            "--fail-on-error",
            "0.5",
            "--retry-on-error",
            "--log-buffer",
            "2",
            "--json",
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        let record = &json_lines(&out.stdout)[0];
        assert_eq!(record["samples"]["total"], 6);
        assert_eq!(record["scores"][0]["reducer"], "max");
        let logs = sandbox.logs("out");
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].extension().unwrap(), "json");
        let log = read_log(&logs[0], ReadOptions { header_only: true }).unwrap();
        assert_eq!(
            log.eval.tags.as_deref(),
            Some(&["nightly".to_string(), "small".to_string()][..])
        );
        assert_eq!(log.eval.metadata.as_ref().unwrap()["owner"], "qa");
        let config = &log.plan.config;
        assert_eq!(config.max_tokens, Some(7));
        assert_eq!(config.temperature, Some(0.25));
        assert_eq!(config.seed, Some(42));
        assert_eq!(config.max_retries, Some(3));
        assert_eq!(config.timeout, Some(60.0));
        assert_eq!(config.attempt_timeout, Some(20.0));
        assert_eq!(config.max_connections, Some(4));
        let eval = &log.eval.config;
        assert_eq!(eval.epochs, Some(3));
        assert_eq!(
            eval.epochs_reducer.as_deref(),
            Some(&["max".to_string()][..])
        );
        assert_eq!(eval.message_limit, Some(12));
        assert_eq!(eval.token_limit, Some(5000));
        assert_eq!(eval.time_limit, Some(30));
        assert_eq!(eval.max_samples, Some(3));
        assert_eq!(eval.fail_on_error, Some(serde_json::json!(0.5)));
        assert_eq!(eval.retry_on_error, Some(1));
        assert_eq!(eval.sample_id, Some(serde_json::json!(["q01", "q05"])));
    }
}

#[test]
fn task_args_override_task_file_fields() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let out = run(sandbox.examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "-T",
            "epochs=1",
            "-T",
            "dataset.limit=4",
            "--json",
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(json_lines(&out.stdout)[0]["samples"]["total"], 4);
    }
}

#[test]
fn flag_beats_environment_beats_dotenv_beats_task_file() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        // The task file says 2 epochs over 20 samples.
        let total = |extra_env: &[(&str, &str)], args: &[&str]| {
            let mut argv = vec!["eval", "arithmetic/task.yaml", "--json"];
            argv.extend_from_slice(args);
            let mut cmd = sandbox.examen(&argv);
            for (k, v) in extra_env {
                cmd.env(k, v);
            }
            let out = run(&mut cmd);
            assert_eq!(out.code, 0, "{out:?}");
            json_lines(&out.stdout)[0]["samples"]["total"]
                .as_u64()
                .unwrap()
        };
        sandbox.write(".env", "EXAMEN_MODEL=mockllm/model\n");
        assert_eq!(total(&[], &[]), 40, "task file");
        sandbox.write(".env", "EXAMEN_MODEL=mockllm/model\nEXAMEN_EPOCHS=3\n");
        assert_eq!(total(&[], &[]), 60, ".env over the task file");
        assert_eq!(
            total(&[("EXAMEN_EPOCHS", "4")], &[]),
            80,
            "environment over .env"
        );
        assert_eq!(
            total(&[("EXAMEN_EPOCHS", "4")], &["--epochs", "5"]),
            100,
            "flag over environment"
        );
    }
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_file() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write(
            "bad.yaml",
            "name: bad\ndataset:\n  samples: [{input: '1+1', target: '2'}]\nscorer: inclides\n",
        );
        type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
        let cases: &[Case<'_>] = &[
            (
                "bad_task_file",
                &["eval", "bad.yaml", "--model", "mockllm/model"],
                &[],
            ),
            (
                "missing_task_file",
                &["eval", "nope.yaml", "--model", "mockllm/model"],
                &[],
            ),
            ("no_model", &["eval", "arithmetic/task.yaml"], &[]),
            (
                "unknown_provider",
                &["eval", "arithmetic/task.yaml", "--model", "nope/x"],
                &[],
            ),
            (
                "bad_limit_flag",
                &["eval", "arithmetic/task.yaml", "--limit", "x"],
                &[],
            ),
            (
                "bad_limit_env",
                &["eval", "arithmetic/task.yaml", "--model", "mockllm/model"],
                &[("EXAMEN_LIMIT", "5-2")],
            ),
            (
                "bad_backend_env",
                &["eval", "arithmetic/task.yaml", "--model", "mockllm/model"],
                &[("EXAMEN_ASYNC_BACKEND", "trio")],
            ),
            (
                "bad_task_arg",
                &[
                    "eval",
                    "arithmetic/task.yaml",
                    "--model",
                    "mockllm/model",
                    "-T",
                    "epochs.n=1",
                ],
                &[],
            ),
        ];
        let mut report = String::new();
        for (name, args, env) in cases {
            let mut cmd = sandbox.examen(args);
            for (k, v) in *env {
                cmd.env(k, v);
            }
            let out = run(&mut cmd);
            assert_eq!(out.code, 2, "{name}: {out:?}");
            assert!(out.stdout.is_empty(), "{name}: {out:?}");
            let first = out.stderr.lines().next().unwrap_or_default();
            assert!(first.starts_with("error: "), "{name}: {out:?}");
            // The lists of valid names belong to the engine and the model layer, which grow.
            let first = match first.find("expected one of") {
                Some(at) => format!("{}expected one of [...]", &first[..at]),
                None => first.to_string(),
            };
            report.push_str(&format!("{name}: {first}\n"));
        }
        snapshot!(sandbox.path(), "eval_bad_input", &report);
        assert!(sandbox.logs("logs").is_empty());
    }
}

#[test]
fn display_none_prints_nothing_and_no_color_is_respected() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let out = run(sandbox.examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--display",
            "none",
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));

        // `rich` into a pipe: the panel, without colour codes (stdout is not a terminal).
        let out = run(sandbox
            .examen(&[
                "eval",
                "arithmetic/task.yaml",
                "--model",
                "mockllm/model",
                "--display",
                "rich",
            ])
            .env("CLICOLOR_FORCE", "1")
            .env("NO_COLOR", "1"));
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains('╭'), "{}", out.stdout);
        assert!(!out.stdout.contains('\x1b'), "{:?}", out.stdout);
        snapshot!(sandbox.path(), "eval_rich_panel", &out.stdout);
    }
}

#[test]
fn plain_is_the_default_in_ci() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let out = run(sandbox
            .examen(&["eval", "arithmetic/task.yaml", "--model", "mockllm/model"])
            .env("CI", "true"));
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout
                .starts_with("arithmetic · mockllm/model: success\n"),
            "{}",
            out.stdout
        );
        assert!(
            out.stderr.contains("arithmetic (mockllm/model): started"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn a_run_that_cannot_start_still_gets_a_record_and_fails_the_eval() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write(
        "roles.yaml",
        "name: roles\ndataset:\n  samples: [{input: 'hi', target: 'hi'}]\nmodel_roles: {grader: nope/x}\n",
    );
        let out = run(sandbox.examen(&[
            "eval",
            "roles.yaml",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--limit",
            "1",
            "--json",
        ]));
        assert_eq!(out.code, 1, "{out:?}");
        let records = json_lines(&out.stdout);
        assert_eq!(records.len(), 2, "{}", out.stdout);
        let failed = records.iter().find(|r| r["task"] == "roles").unwrap();
        assert_eq!(failed["status"], "error");
        assert!(
            failed["error"].as_str().unwrap().contains("grader"),
            "{failed}"
        );
        assert!(failed["log"].is_null());
        let ok = records.iter().find(|r| r["task"] == "arithmetic").unwrap();
        assert_eq!(ok["status"], "success");
        assert!(
            out.stderr.contains("error: roles (mockllm/model) failed:"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn no_score_runs_the_solvers_only() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let out = run(sandbox.examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--limit",
            "2-4",
            "--no-score",
            "--json",
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        let record = &json_lines(&out.stdout)[0];
        assert_eq!(record["samples"]["total"], 6, "samples 2 to 4, two epochs");
        assert_eq!(record["scores"], serde_json::json!([]));
        let log = read_log(&sandbox.logs("logs")[0], ReadOptions::default()).unwrap();
        assert!(log.results.is_none() || log.results.as_ref().unwrap().scores.is_empty());
        let ids: Vec<String> = log
            .samples
            .unwrap()
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        assert!(
            ids.iter()
                .all(|id| ["q02", "q03", "q04"].contains(&id.as_str())),
            "{ids:?}"
        );
    }
}

#[test]
fn model_roles_are_bound_for_scorers() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write(
            "graded.yaml",
            "name: graded\ndataset:\n  samples: [{input: 'Capital of France?', target: 'Paris'}]\n\
         scorer: {model_graded_qa: {model_role: grader}}\n",
        );
        let out = run(sandbox.examen(&[
            "eval",
            "graded.yaml",
            "--model",
            "mockllm/model",
            "--model-role",
            "grader=mockllm/model",
            "--json",
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        let log = read_log(&sandbox.logs("logs")[0], ReadOptions { header_only: true }).unwrap();
        let roles = log.eval.model_roles.unwrap();
        assert_eq!(roles["grader"]["model"], "mockllm/model");
    }
}
