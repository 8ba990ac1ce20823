//! Small usage errors, each worded so that the user can act on it, and alike where the cases
//! are alike.

use crate::support::{run, Sandbox};

#[test]
fn zero_connections_and_zero_samples_are_refused_alike() {
    let sandbox = Sandbox::new();
    for flag in ["--max-connections", "--max-samples"] {
        let out = run(sandbox.examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            flag,
            "0",
        ]));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.contains(&format!(
                "invalid value '0' for '{flag} <N>': must be at least 1"
            )),
            "{out:?}"
        );
    }
}

#[test]
fn a_log_dir_that_is_a_file_says_so() {
    let sandbox = Sandbox::new();
    sandbox.write("afile", "");
    let out = run(sandbox.examen(&[
        "eval",
        "arithmetic/task.yaml",
        "--model",
        "mockllm/model",
        "--log-dir",
        "afile",
    ]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("--log-dir afile: is a file, not a directory"),
        "{out:?}"
    );
}

#[test]
fn listing_a_missing_log_dir_says_so_whether_named_or_default() {
    let sandbox = Sandbox::new();
    for (args, dir) in [
        (vec!["log", "list"], "logs"),
        (vec!["log", "list", "--log-dir", "nope"], "nope"),
    ] {
        let out = run(sandbox.examen(&args));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.contains(&format!("{dir}: no such directory")),
            "{out:?}"
        );
    }
}

#[test]
fn display_and_backend_options_only_where_they_do_something() {
    let sandbox = Sandbox::new();
    for args in [
        ["log", "list", "--display", "none"],
        ["log", "list", "--async-backend", "smol"],
        ["list", "scorers", "--display", "plain"],
    ] {
        let out = run(sandbox.examen(&args));
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("unexpected argument"), "{out:?}");
    }
    for command in ["eval", "eval-retry", "score"] {
        let out = run(sandbox.examen(&[command, "--help"]));
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout.contains("--display") && out.stdout.contains("--async-backend"),
            "{command}: {}",
            out.stdout
        );
    }
}

#[test]
fn eval_retry_says_where_to_run_it() {
    let sandbox = Sandbox::new();
    let out = run(sandbox.examen(&["eval-retry", "--help"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("Run it from the directory the eval ran in"),
        "{}",
        out.stdout
    );
}

#[test]
fn fewer_epochs_than_a_reducer_needs_suggests_another_reducer() {
    let sandbox = Sandbox::new();
    let base = [
        "eval",
        "arithmetic/task.yaml",
        "--model",
        "mockllm/model",
        "--epochs",
        "1",
        "--display",
        "none",
    ];
    let out = run(sandbox.examen(&base));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("reducer `pass_at_2` requires 2 epochs")
            && out
                .stderr
                .contains("hint: choose reducers that fit 1 epoch, e.g. --epochs-reducer mean"),
        "{out:?}"
    );
    assert!(sandbox.logs("logs").is_empty(), "no log for a refused eval");
    let mut fixed = base.to_vec();
    fixed.extend(["--epochs-reducer", "mean"]);
    let out = run(sandbox.examen(&fixed));
    assert_eq!(out.code, 0, "{out:?}");
}
