//! Model-call options on the command line: `--timeout` and `--attempt-timeout` (fractions of a
//! second accepted, zero refused with exit code 2: it would fail every call, or retry forever),
//! and the warning for a generation option the provider does not send. On both backends.

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

/// Options a provider does not send are named in a warning, once, on stderr.
#[examen_rt::test]
async fn an_option_the_provider_does_not_send_is_warned_about_once() {
    use crate::fault_server::{Fault, FaultServer, ServerOptions};
    let server = FaultServer::start(|_, _| Fault::Answer, ServerOptions::default()).await;
    let sandbox = Sandbox::on(examen_rt::current_backend().expect("a runtime").name());
    sandbox.write(
        "t.yaml",
        "name: t\ndataset:\n  samples:\n    - {input: 'What is 1 + 1?', target: '2'}\n    - {input: 'What is 2 + 1?', target: '3'}\nscorer: includes\nconfig: {top_k: 5, temperature: 0}\n",
    );
    let mut cmd = sandbox.examen(&[
        "eval",
        "t.yaml",
        "--model",
        "openai/gpt-4o",
        "--display",
        "plain",
    ]);
    cmd.env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "test-key");
    let out = crate::support::run_async(cmd).await;
    assert_eq!(out.code, 0, "{out:?}");
    let warning =
        "warning: openai: generation option `top_k` is not supported by this provider and is not sent";
    assert_eq!(out.stderr.matches(warning).count(), 1, "{out:?}");
    assert!(!out.stderr.contains("`temperature`"), "{out:?}");
}
