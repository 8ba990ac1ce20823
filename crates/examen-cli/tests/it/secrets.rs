//! A recognisable API key never reaches a log file, stdout, stderr or an error message: across
//! a full eval, a failed one, a 401, an `eval-retry` and a `log dump`, on both backends, against
//! the loopback server (which does receive it, in the `Authorization` header).

use std::path::Path;

use crate::fault_server::{Fault, FaultServer, ServerOptions};
use crate::support::{run_async, Finished, Sandbox};

const KEY: &str = "sk-examen-SECRET-1234";

async fn examen(sandbox: &Sandbox, base_url: &str, args: &[&str]) -> Finished {
    let backend = examen_rt::current_backend()
        .unwrap_or_else(|| panic!("a runtime"))
        .name();
    let mut all = args.to_vec();
    if matches!(args.first(), Some(&("eval" | "eval-retry" | "score"))) {
        all.extend(["--async-backend", backend]);
    }
    let mut cmd = sandbox.examen(&all);
    cmd.env("TEST_BASE_URL", base_url).env("TEST_API_KEY", KEY);
    run_async(cmd).await
}

/// Fails if the key, or a large part of it, is in `text`.
fn assert_clean(what: &str, text: &str) {
    for needle in [KEY, "SECRET-1234", &KEY.to_ascii_lowercase()] {
        assert!(!text.contains(needle), "the key is in {what}: {text}");
    }
}

/// Every log under `dir`: its raw bytes (a `.json` log is text) and everything the reader
/// decodes from it (`.eval` members are compressed).
fn assert_logs_clean(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_clean(&path.display().to_string(), &String::from_utf8_lossy(&raw));
        let log = examen_log::recover(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_clean(
            &path.display().to_string(),
            &serde_json::to_string(&log.log)
                .unwrap_or_else(|e| panic!("serialize the header: {e}")),
        );
        for sample in log.samples() {
            let sample = sample.unwrap_or_else(|e| panic!("{e}"));
            assert_clean(
                &path.display().to_string(),
                &serde_json::to_string(&sample)
                    .unwrap_or_else(|e| panic!("serialize a sample: {e}")),
            );
        }
    }
}

fn assert_output_clean(out: &Finished) {
    assert_clean("stdout", &out.stdout);
    assert_clean("stderr", &out.stderr);
}

#[examen_rt::test]
async fn the_api_key_never_reaches_logs_terminal_or_errors() {
    let sandbox = Sandbox::new();
    let accepting = FaultServer::start(
        |_, _| Fault::Answer,
        ServerOptions {
            key: Some(KEY.into()),
            ..ServerOptions::default()
        },
    )
    .await;
    let eval = [
        "eval",
        "arithmetic/task.yaml",
        "--model",
        "openai-api/test/m",
        "--limit",
        "3",
        "--display",
        "plain",
        "--json",
    ];

    // A full eval, in both log formats.
    for format in ["eval", "json"] {
        let mut args = eval.to_vec();
        args.extend(["--log-format", format, "--log-dir", "ok"]);
        let out = examen(&sandbox, &accepting.base_url(), &args).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_output_clean(&out);
    }
    assert!(
        accepting.heads().iter().all(|h| h.contains(&format!(
            "authorization: bearer {}",
            KEY.to_ascii_lowercase()
        ))),
        "the server got the key"
    );

    // A failed eval (every prompt rejected), then its retry against the server that answers.
    let rejecting = FaultServer::start(
        |_, _| Fault::BadRequest,
        ServerOptions {
            key: Some(KEY.into()),
            ..ServerOptions::default()
        },
    )
    .await;
    let mut args = eval.to_vec();
    args.extend(["--log-dir", "failed"]);
    let out = examen(&sandbox, &rejecting.base_url(), &args).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("400"), "{out:?}");
    assert_output_clean(&out);
    let failed = sandbox.logs("failed").remove(0).display().to_string();
    let out = examen(
        &sandbox,
        &accepting.base_url(),
        &[
            "eval-retry",
            &failed,
            "--model-base-url",
            &accepting.base_url(),
            "--log-dir",
            "retried",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_output_clean(&out);

    // A 401: the server expects another key.
    let other = FaultServer::start(
        |_, _| Fault::Answer,
        ServerOptions {
            key: Some("another-key".into()),
            ..ServerOptions::default()
        },
    )
    .await;
    let mut args = eval.to_vec();
    args.extend(["--log-dir", "unauthorized"]);
    let out = examen(&sandbox, &other.base_url(), &args).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("401"), "{out:?}");
    assert!(
        out.stderr.contains("TEST_API_KEY"),
        "names the variable: {out:?}"
    );
    assert_output_clean(&out);

    for dir in ["ok", "failed", "retried", "unauthorized"] {
        assert_logs_clean(&sandbox.path().join(dir));
        for log in sandbox.logs(dir) {
            let log = log.display().to_string();
            let out = examen(&sandbox, &other.base_url(), &["log", "dump", &log]).await;
            assert_eq!(out.code, 0, "{out:?}");
            assert_output_clean(&out);
        }
    }
}
