//! `examen eval-retry` end to end: an eval killed with SIGKILL part-way (even mid-flush) is
//! continued from its log against a loopback server that counts requests per prompt and per
//! API key; the new log holds every sample × epoch once, and no sample flushed before the kill
//! is sent to the model again. Also: Ctrl-C's resume hint works as printed, a second signal
//! quits at once leaving a log `eval-retry` still continues, and logs that cannot be continued
//! are bad input.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use examen_log::{read_log, recover, EvalLog, ReadOptions};

use crate::fault_server::{Fault, FaultServer, ServerOptions};
use crate::support::{backends, run, run_async, Finished, Sandbox};

/// The example task's questions by sample id.
fn questions(sandbox: &Sandbox) -> HashMap<String, String> {
    let text = std::fs::read_to_string(sandbox.path().join("arithmetic/arithmetic.jsonl"))
        .unwrap_or_else(|e| panic!("{e}"));
    text.lines()
        .map(|line| {
            let record: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
            (
                record["id"].as_str().unwrap_or_default().to_string(),
                record["question"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// (id, epoch) of every sample of a log; panics on a duplicate.
fn units(log: &EvalLog) -> BTreeMap<(String, u32), bool> {
    let mut out = BTreeMap::new();
    for s in log.samples.iter().flatten() {
        assert!(
            out.insert((s.id.to_string(), s.epoch), s.error.is_none())
                .is_none(),
            "{} epoch {} is in the log twice",
            s.id,
            s.epoch
        );
    }
    out
}

fn the_only_log(sandbox: &Sandbox) -> Option<PathBuf> {
    let logs = sandbox.logs("logs");
    assert!(logs.len() <= 1, "{logs:?}");
    logs.into_iter().next()
}

/// `examen eval` of the example task against `server`, as a child process.
fn spawn_eval(sandbox: &Sandbox, server: &FaultServer, key: &str, backend: &str) -> Child {
    sandbox
        .examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "openai-api/test/m",
            "--max-samples",
            "2",
            "--log-buffer",
            "1",
            "--display",
            "plain",
            "--async-backend",
            backend,
        ])
        .env("TEST_BASE_URL", server.base_url())
        .env("TEST_API_KEY", key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `examen ARGS` against `server` with `key`, to completion.
async fn examen(sandbox: &Sandbox, server: &FaultServer, key: &str, args: &[&str]) -> Finished {
    let backend = examen_rt::current_backend()
        .unwrap_or_else(|| panic!("a runtime"))
        .name();
    let mut all = args.to_vec();
    all.extend(["--async-backend", backend]);
    let mut cmd = sandbox.examen(&all);
    cmd.env("TEST_BASE_URL", server.base_url())
        .env("TEST_API_KEY", key);
    run_async(cmd).await
}

/// Samples that `recover` finds intact in the log at `path`.
fn flushed(path: &Path) -> Vec<(String, u32)> {
    match recover(path) {
        Ok(recovered) => recovered
            .samples()
            .filter_map(Result::ok)
            .map(|s| (s.id.to_string(), s.epoch))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[examen_rt::test]
async fn a_killed_eval_is_continued_without_paying_twice() {
    let backend = examen_rt::current_backend()
        .unwrap_or_else(|| panic!("a runtime"))
        .name();
    // Slow answers, so the eval is part-way when it is killed.
    let server = FaultServer::start(
        |_, _| Fault::Answer,
        ServerOptions {
            latency: Duration::from_millis(100),
            key: None,
        },
    )
    .await;
    let sandbox = Sandbox::new();
    let mut child = spawn_eval(&sandbox, &server, "first-run", backend);

    // Wait (for a condition, not a time) until a few samples are on disk, then SIGKILL.
    let log = loop {
        let dir = sandbox.path().to_path_buf();
        let found = examen_rt::to_thread(move || {
            let logs: Vec<PathBuf> = std::fs::read_dir(dir.join("logs"))
                .map(|e| e.filter_map(|e| Some(e.ok()?.path())).collect())
                .unwrap_or_default();
            let log = logs.into_iter().next()?;
            (flushed(&log).len() >= 6).then_some(log)
        })
        .await;
        if let Some(log) = found {
            break log;
        }
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "the eval ended before it was killed"
        );
        examen_rt::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap_or_else(|e| panic!("{e}"));
    let status = examen_rt::to_thread(move || child.wait())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), None, "killed by a signal");

    // What the log holds right after the kill: the samples already paid for.
    let on_disk = flushed(&log);
    assert!(
        on_disk.len() >= 6 && on_disk.len() < 40,
        "{}",
        on_disk.len()
    );
    let before = read_log(&log, ReadOptions::default()).map(|l| l.status);
    assert!(
        before.is_err() || before.ok() == Some(examen_log::EvalStatus::Started),
        "the killed eval's log was never finished"
    );

    let log_arg = log.display().to_string();
    let out = examen(
        &sandbox,
        &server,
        "retry-run",
        &["eval-retry", &log_arg, "--display", "plain"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");

    let logs = sandbox.logs("logs");
    assert_eq!(logs.len(), 2, "the original log is kept beside the new one");
    let new_log = logs
        .into_iter()
        .find(|p| *p != log)
        .unwrap_or_else(|| panic!("a new log"));
    let finished = read_log(&new_log, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(finished.status, examen_log::EvalStatus::Success);
    let all = units(&finished);
    assert_eq!(all.len(), 40, "20 samples x 2 epochs, each once");
    assert!(all.values().all(|ok| *ok), "no errored sample");
    let original = recover(&log).unwrap_or_else(|e| panic!("{e}")).log;
    assert_eq!(finished.eval.task_id, original.eval.task_id);
    assert_eq!(finished.eval.dataset, original.eval.dataset);
    assert_eq!(finished.eval.config, original.eval.config);

    // The retry sent each sample's prompt once per epoch that was not on disk, never for one
    // that was.
    for (id, question) in questions(&sandbox) {
        let paid = on_disk.iter().filter(|(i, _)| *i == id).count();
        assert_eq!(
            server.requests_with_key("retry-run", &question),
            2 - paid,
            "{id}: {paid} epoch(s) were on disk before the kill"
        );
    }
}

/// A slow `mockllm` eval of the example task as a child process, once its log holds a
/// sample (it has started, and is far from done).
fn started_mock_eval(sandbox: &Sandbox, backend: &str) -> Child {
    let mut child = sandbox
        .examen(&[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "-M",
            "latency=0.2",
            "--max-samples",
            "2",
            "--log-buffer",
            "1",
            "--display",
            "plain",
            "--async-backend",
            backend,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    while the_only_log(sandbox).is_none_or(|log| flushed(&log).is_empty()) {
        assert!(child.try_wait().ok().flatten().is_none(), "ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `examen eval-retry LOG` in the sandbox, with no display.
fn retry(sandbox: &Sandbox, log: &Path, backend: &str) -> Finished {
    let log = log.display().to_string();
    run(sandbox.examen(&[
        "eval-retry",
        &log,
        "--display",
        "none",
        "--async-backend",
        backend,
    ]))
}

/// A mock eval stopped by SIGTERM once it has started: its log (status `cancelled`) and the
/// eval's stderr.
fn cancelled_mock_eval(sandbox: &Sandbox, backend: &str) -> (PathBuf, EvalLog, String) {
    let child = started_mock_eval(sandbox, backend);
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)
        .unwrap_or_else(|e| panic!("{e}"));
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let log = the_only_log(sandbox).unwrap_or_else(|| panic!("a log"));
    let cancelled = read_log(&log, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cancelled.status, examen_log::EvalStatus::Cancelled);
    (log, cancelled, stderr)
}

/// The log a retry of `cancelled` wrote beside it, which must be complete: every sample ×
/// epoch of the example task once.
fn the_completed_retry(sandbox: &Sandbox, cancelled: &Path) -> EvalLog {
    let logs = sandbox.logs("logs");
    assert_eq!(logs.len(), 2);
    let done = logs
        .iter()
        .find(|p| *p != cancelled)
        .map(|p| read_log(p, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|| panic!("a new log"));
    assert_eq!(done.status, examen_log::EvalStatus::Success);
    assert_eq!(units(&done).len(), 40);
    done
}

/// Every sample of `cancelled` is in `done` as it was (the same sample uuid), not run again.
fn assert_carried_over(cancelled: &EvalLog, done: &EvalLog) {
    for (unit, _) in units(cancelled) {
        let carried = |l: &EvalLog| {
            l.samples
                .iter()
                .flatten()
                .find(|s| (s.id.to_string(), s.epoch) == unit)
                .and_then(|s| s.uuid.clone())
        };
        assert_eq!(carried(done), carried(cancelled), "{unit:?} carried over");
    }
}

#[test]
fn ctrl_c_prints_a_resume_command_that_completes_the_eval() {
    for backend in backends() {
        let sandbox = Sandbox::new();
        let (log, cancelled, stderr) = cancelled_mock_eval(&sandbox, backend);
        let hint = stderr
            .lines()
            .find_map(|l| l.strip_prefix("hint: resume with `"))
            .and_then(|l| l.strip_suffix("` (from this directory)"))
            .unwrap_or_else(|| panic!("a resume hint: {stderr}"));
        let relative = log
            .strip_prefix(sandbox.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .display()
            .to_string();
        assert_eq!(hint, format!("examen eval-retry {relative}"));

        // The hint, as printed.
        let args: Vec<&str> = hint.split(' ').skip(1).collect();
        let out =
            run(sandbox
                .examen(&args)
                .args(["--display", "none", "--async-backend", backend]));
        assert_eq!(out.code, 0, "{out:?}");
        let done = the_completed_retry(&sandbox, &log);
        assert_carried_over(&cancelled, &done);
    }
}

#[test]
fn a_retry_rebuilds_the_task_from_the_log_when_the_task_file_is_gone() {
    for backend in backends() {
        let sandbox = Sandbox::new();
        let (log, cancelled, _) = cancelled_mock_eval(&sandbox, backend);
        // The dataset file stays; only the task file that named it is gone.
        std::fs::remove_file(sandbox.path().join("arithmetic/task.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));

        let out = retry(&sandbox, &log, backend);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stderr.contains(
                "task file `arithmetic/task.yaml` not found; rebuilding the task from the copy \
                 of it recorded in the log"
            ),
            "{}",
            out.stderr
        );
        let done = the_completed_retry(&sandbox, &log);
        assert_eq!(done.eval.task, cancelled.eval.task);
        assert_eq!(done.plan, cancelled.plan);
        assert_eq!(done.eval.scorers, cancelled.eval.scorers);
        assert_carried_over(&cancelled, &done);
    }
}

#[test]
fn a_second_signal_quits_at_once_and_the_log_can_still_be_continued() {
    for backend in backends() {
        let sandbox = Sandbox::new();
        let child = started_mock_eval(&sandbox, backend);
        let pid = rustix::process::Pid::from_child(&child);
        for _ in 0..2 {
            // Two signals in a row: the second may find the first still completing the log.
            rustix::process::kill_process(pid, rustix::process::Signal::INT)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(130), "{stderr}");

        let log = the_only_log(&sandbox).unwrap_or_else(|| panic!("a log"));
        let out = retry(&sandbox, &log, backend);
        assert_eq!(out.code, 0, "{out:?}");
        let done = sandbox
            .logs("logs")
            .into_iter()
            .find(|p| *p != log)
            .map(|p| read_log(&p, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|| panic!("a new log"));
        assert_eq!(done.status, examen_log::EvalStatus::Success);
        assert_eq!(units(&done).len(), 40);
    }
}
