//! `--timeout` and `--attempt-timeout`: fractions of a second are accepted, zero is refused with
//! exit code 2 (it would fail every call, or retry forever), on both backends.

use examen_log::{read_log, ReadOptions};

use crate::support::{backends, run, Sandbox};

const TASK: &str =
    "name: t\ndataset:\n  samples: [{input: 'What is 1 + 1?', target: '2'}]\nscorer: includes\n";

#[test]
fn zero_timeouts_are_refused_with_exit_code_2() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write("t.yaml", TASK);
        for (flag, value) in [
            ("--timeout", "0"),
            ("--attempt-timeout", "0"),
            ("--timeout", "-1"),
            ("--attempt-timeout", "0.0"),
        ] {
            let out = run(sandbox.examen(&[
                "eval",
                "t.yaml",
                "--model",
                "mockllm/model",
                "--display",
                "none",
                &format!("{flag}={value}"),
            ]));
            assert_eq!(out.code, 2, "{flag} {value} on {backend}: {out:?}");
            assert!(out.stderr.contains(flag), "{out:?}");
            assert!(
                out.stderr.contains("greater than 0"),
                "{flag} {value}: {out:?}"
            );
            assert!(sandbox.logs("logs").is_empty(), "{out:?}");
        }
        // The same check applies to the variable.
        let mut cmd = sandbox.examen(&[
            "eval",
            "t.yaml",
            "--model",
            "mockllm/model",
            "--display",
            "none",
        ]);
        cmd.env("EXAMEN_TIMEOUT", "0");
        let out = run(cmd);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("EXAMEN_TIMEOUT"), "{out:?}");
    }
}

#[test]
fn fractional_timeouts_are_accepted() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write("t.yaml", TASK);
        let out = run(sandbox.examen(&[
            "eval",
            "t.yaml",
            "--model",
            "mockllm/model",
            "--display",
            "none",
            "--timeout",
            "0.5",
            "--attempt-timeout",
            "2.25",
        ]));
        assert_eq!(out.code, 0, "{backend}: {out:?}");
        let logs = sandbox.logs("logs");
        assert_eq!(logs.len(), 1);
        let log = read_log(&logs[0], ReadOptions { header_only: true }).unwrap();
        // Inspect's schema has whole seconds: the log rounds a fraction up.
        assert_eq!(log.plan.config.timeout, Some(1.0));
        assert_eq!(log.plan.config.attempt_timeout, Some(3.0));
    }
}
