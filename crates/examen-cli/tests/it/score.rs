//! `examen score`: re-scoring logs examen wrote and a log Inspect wrote, appending and
//! overwriting, with metrics checked against values worked out by hand; a grader bound on the
//! command line and a concurrency limit; unreadable logs exit 2 and leave nothing behind.

use std::path::{Path, PathBuf};

use examen_log::{read_log, EvalLog, ReadOptions, SampleId};
use serde_json::Value;

use crate::support::{backends, run, workspace, Sandbox};

/// Four samples answered by mockllm (`Default output from mockllm/model`), twice each:
/// `match` (at the end) scores them I C I I, `includes` C C I C.
const TASK: &str = "\
name: rescore
dataset:
  path: data.jsonl
  fields: {input: question, target: answer, id: id}
solver: [generate]
scorer: match
epochs: 2
";

const DATA: &str = r#"{"id": 1, "question": "one", "answer": "output"}
{"id": 2, "question": "two", "answer": "model"}
{"id": 3, "question": "three", "answer": "42"}
{"id": 4, "question": "four", "answer": "mockllm"}
"#;

/// A sandbox on `backend` with one finished `match` log of TASK in `logs/`.
fn with_log(backend: &'static str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::on(backend);
    sandbox.write("rescore/task.yaml", TASK);
    sandbox.write("rescore/data.jsonl", DATA);
    let out = run(sandbox.examen(&[
        "eval",
        "rescore/task.yaml",
        "--model",
        "mockllm/model",
        "--display",
        "none",
    ]));
    assert_eq!(out.code, 0, "{out:?}");
    let log = sandbox.logs("logs").pop().unwrap();
    (sandbox, log)
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn read(path: &Path) -> EvalLog {
    read_log(path, ReadOptions::default()).unwrap()
}

/// `{score name: {metric: value}}` of a `--json` record.
fn metrics(record: &Value, scorer: &str) -> Value {
    record["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scorer"] == scorer)
        .unwrap_or_else(|| panic!("no {scorer} in {record}"))["metrics"]
        .clone()
}

fn close(value: &Value, expected: f64) -> bool {
    (value.as_f64().unwrap() - expected).abs() < 1e-12
}

fn score_names(log: &EvalLog) -> Vec<String> {
    log.results
        .as_ref()
        .unwrap()
        .scores
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

/// Every file in `dir`, hidden ones included.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn append_adds_the_new_scorer_and_its_metrics() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        let out = run(sandbox.examen(&["score", &text(&log), "--scorer", "includes", "--json"]));
        assert_eq!(out.code, 0, "{out:?}");
        let record: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        let scored = log.with_file_name(format!(
            "{}-scored.eval",
            log.file_stem().unwrap().to_string_lossy()
        ));
        assert_eq!(record["log"], text(&scored));
        assert_eq!(record["status"], "success");
        assert_eq!(record["scorers"], serde_json::json!(["includes"]));
        assert_eq!(record["samples"]["total"], 8);
        // match: I C I I, includes: C C I C. Both have a sample variance of
        // (3 × 0.25² + 0.75²) / 3 = 0.25, so stderr = sqrt(0.25 / 4) = 0.25.
        assert!(
            close(&metrics(&record, "match")["accuracy"], 0.25),
            "{record}"
        );
        assert!(
            close(&metrics(&record, "includes")["accuracy"], 0.75),
            "{record}"
        );
        assert!(
            close(&metrics(&record, "includes")["stderr"], 0.25),
            "{record}"
        );

        let after = read(&scored);
        assert_eq!(score_names(&after), ["match", "includes"]);
        for sample in after.samples.as_ref().unwrap() {
            let scores = sample.scores.as_ref().unwrap();
            let keys: Vec<&str> = scores.keys().map(String::as_str).collect();
            assert_eq!(keys, ["match", "includes"]);
            let expected = if sample.id == SampleId::Int(3) {
                "I"
            } else {
                "C"
            };
            assert_eq!(scores["includes"].value, expected.into());
        }
        // The original is untouched.
        assert_eq!(score_names(&read(&log)), ["match"]);
        assert_eq!(sandbox.logs("logs").len(), 2);
    }
}

#[test]
fn overwrite_keeps_only_the_new_scores() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        // A second scored log of the same log gets the next free name.
        for expected in ["-scored.eval", "-scored-1.eval"] {
            let out = run(sandbox.examen(&[
                "score",
                &text(&log),
                "--scorer",
                "includes",
                "--action",
                "overwrite",
                "--display",
                "plain",
            ]));
            assert_eq!(out.code, 0, "{out:?}");
            assert!(
                out.stdout
                    .contains("includes  accuracy 0.750  stderr 0.250"),
                "{}",
                out.stdout
            );
            assert!(!out.stdout.contains("match "), "{}", out.stdout);
            assert!(out.stdout.contains(expected), "{}", out.stdout);
        }
        let scored = sandbox.logs("logs")[1].clone();
        let after = read(&scored);
        assert_eq!(score_names(&after), ["includes"]);
        for sample in after.samples.as_ref().unwrap() {
            let keys: Vec<&str> = sample
                .scores
                .as_ref()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, ["includes"]);
        }

        // --overwrite writes into the log itself; the log's own scorer, run again, gives the
        // log's own results back.
        let before = read(&log);
        let out = run(sandbox.examen(&[
            "score",
            &text(&log),
            "--action",
            "overwrite",
            "--overwrite",
            "--json",
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        let record: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(record["log"], text(&log));
        let again = read(&log);
        assert_eq!(again.results, before.results);
        assert_eq!(again.eval.eval_id, before.eval.eval_id);
        assert_eq!(sandbox.logs("logs").len(), 3);
    }
}

#[test]
fn inspect_written_logs_are_scored_as_inspect_scores_them() {
    let fixture = workspace().join("crates/examen-cli/tests/fixtures/inspect-compat.eval");
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let log = sandbox.path().join("inspect.eval");
        std::fs::copy(&fixture, &log).unwrap();
        let out = run(sandbox.examen(&["score", "inspect.eval", "--scorer", "match", "--json"]));
        assert_eq!(out.code, 0, "{out:?}");
        let record: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        // What `inspect score --scorer match --action append` reports for this log. The model
        // answers `Default output from mockllm/model`; targets: `2` (sample 1), the answer
        // itself (b), `output` (3). includes: I C C; match (at the end): I C I, so accuracy
        // 1/3 and stderr sqrt(((1/3)² × 2 + (2/3)²) / 2 / 3) = 1/3.
        assert!(
            close(&metrics(&record, "includes")["accuracy"], 2.0 / 3.0),
            "{record}"
        );
        assert!(
            close(&metrics(&record, "match")["accuracy"], 1.0 / 3.0),
            "{record}"
        );
        assert!(
            close(&metrics(&record, "match")["stderr"], 1.0 / 3.0),
            "{record}"
        );
        let after = read(&sandbox.path().join("inspect-scored.eval"));
        assert_eq!(score_names(&after), ["includes", "match"]);
        let reductions: Vec<&str> = after
            .reductions
            .iter()
            .flatten()
            .map(|r| r.scorer.as_str())
            .collect();
        assert_eq!(reductions, ["includes", "match"]);
        for sample in after.samples.as_ref().unwrap() {
            let scores = sample.scores.as_ref().unwrap();
            let expected = if sample.id == SampleId::Str("b".into()) {
                "C"
            } else {
                "I"
            };
            assert_eq!(scores["match"].value, expected.into(), "{}", sample.id);
            // Inspect's own events are kept.
            assert!(sample.events.iter().any(|e| e.kind() == "state"));
        }
    }
}

#[test]
fn unreadable_logs_exit_2_and_leave_nothing_behind() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        let dir = log.parent().unwrap().to_path_buf();
        let bytes = std::fs::read(&log).unwrap();

        // Truncated: the header cannot be read.
        let truncated = dir.join("truncated.eval");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        // A damaged sample: the header reads, the scoring fails half-way.
        let damaged = dir.join("damaged.eval");
        let mut broken = bytes.clone();
        let member = b"samples/3_epoch_2.json";
        let at = broken
            .windows(member.len())
            .position(|w| w == member)
            .unwrap()
            + member.len();
        broken[at..at + 64].fill(0xff);
        std::fs::write(&damaged, broken).unwrap();
        // Not a log at all.
        let notes = dir.join("notes.json");
        std::fs::write(&notes, "[1, 2").unwrap();

        let before = files(&dir);
        for (path, expected) in [
            (&truncated, "not a zip file"),
            (&damaged, "samples/3_epoch_2.json"),
            (&notes, "not an eval log"),
        ] {
            let out = run(sandbox.examen(&[
                "score",
                &text(path),
                "--scorer",
                "includes",
                "--display",
                "none",
            ]));
            assert_eq!(out.code, 2, "{out:?}");
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
            assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
            assert!(out.stderr.contains(&text(path)), "{}", out.stderr);
            assert!(out.stderr.contains(expected), "{}", out.stderr);
            assert_eq!(files(&dir), before);
        }

        let out = run(sandbox.examen(&["score", &text(&log), "--scorer", "inclides"]));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.contains("did you mean `includes`"),
            "{}",
            out.stderr
        );
        let out = run(sandbox.examen(&["score", "missing.eval"]));
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(files(&dir), before);
    }
}

/// `--model-role grader=...` sends model-graded scoring to that model (a loopback
/// OpenAI-compatible server), not the log's own (mockllm); `--max-samples` bounds how many
/// samples are graded at once.
#[examen_rt::test]
async fn a_grader_role_and_concurrency_limit_from_the_command_line() {
    let backend = examen_rt::current_backend().unwrap().name();
    let (sandbox, log) = with_log(backend);
    let server = examen_mock_server::MockServer::start(examen_mock_server::Config {
        latency: std::time::Duration::from_millis(30),
        reply: "The answer is right.\nGRADE: C".into(),
        ..examen_mock_server::Config::default()
    })
    .await
    .unwrap();
    let mut cmd = sandbox.examen(&[
        "score",
        &text(&log),
        "--scorer",
        "model_graded_qa",
        "--model-role",
        "grader=openai-api/grading/judge",
        "--max-samples",
        "2",
        "--json",
    ]);
    cmd.env("GRADING_BASE_URL", server.base_url())
        .env("GRADING_API_KEY", "test-key");
    let output = examen_rt::process::run(cmd, None, None).await.unwrap();
    let (code, stdout) = (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    );
    assert_eq!(
        code,
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats = server.stats();
    // Four samples, two epochs: each graded once, by the grader, at most two at a time.
    assert_eq!(stats.completions, 8, "{stats:?}");
    assert!(stats.max_in_flight <= 2, "{stats:?}");
    let record: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        close(&metrics(&record, "model_graded_qa")["accuracy"], 1.0),
        "{record}"
    );
}

#[test]
fn a_grader_role_naming_an_unknown_provider_is_a_usage_error() {
    for backend in backends() {
        let (sandbox, log) = with_log(backend);
        let out = run(sandbox.examen(&[
            "score",
            &text(&log),
            "--scorer",
            "model_graded_qa",
            "--model-role",
            "grader=nosuch/judge",
        ]));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.contains("--model-role grader=nosuch/judge"),
            "{out:?}"
        );
        assert_eq!(sandbox.logs("logs").len(), 1, "no scored log is written");
    }
}

/// A slow `mockllm` eval of the example task (20 samples × 2 epochs, 0.2 s a call, two at a
/// time, a flush per sample) as a child process writing `format`, once its log holds
/// `at_least` samples. Returns the child and its log.
fn slow_eval(
    sandbox: &Sandbox,
    backend: &str,
    format: &str,
    at_least: usize,
) -> (std::process::Child, PathBuf) {
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
            "--log-format",
            format,
            "--display",
            "none",
            "--async-backend",
            backend,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        let log = sandbox
            .logs("logs")
            .into_iter()
            .find(|p| examen_log::LogFormat::from_path(p).is_some_and(|f| f.extension() == format));
        if let Some(log) = log {
            if flushed_count(&log) >= at_least {
                return (child, log);
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the eval ended early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Samples of a log that `recover` finds.
fn flushed_count(log: &Path) -> usize {
    examen_log::recover(log).map_or(0, |r| r.sample_count())
}

/// Samples in a `.json` log's main file alone (as its last rewrite left it), without its
/// side file: what readers saw of a crashed `.json` log before they read the side file.
fn main_only(sandbox: &Sandbox, log: &Path) -> usize {
    let alone = sandbox.path().join("alone.json");
    std::fs::copy(log, &alone).unwrap();
    let count = read(&alone).samples.unwrap().len();
    std::fs::remove_file(&alone).unwrap();
    count
}

/// `score --overwrite` (and `--action overwrite`) of a log that a running eval is writing is
/// refused, naming why, and leaves it alone: the eval then finishes its log whole. (Rewriting
/// it in place used to break the eval's zip and leave its log `started` with half the
/// samples.)
#[test]
fn a_log_a_running_eval_writes_is_not_rewritten_under_it() {
    for format in ["eval", "json"] {
        for backend in backends() {
            let sandbox = Sandbox::on(backend);
            let (child, log) = slow_eval(&sandbox, backend, format, 1);
            for args in [
                &["--overwrite"][..],
                &["--action", "overwrite", "--overwrite"],
                &["--action", "overwrite"],
                &["--json"],
            ] {
                let mut all = vec!["score", log.to_str().unwrap(), "--scorer", "includes"];
                all.extend_from_slice(args);
                let out = run(sandbox.examen(&all));
                assert_eq!(out.code, 2, "{format} {args:?}: {out:?}");
                assert!(
                    out.stderr.contains("still being written by a running eval")
                        && out.stderr.contains(&text(&log)),
                    "{}",
                    out.stderr
                );
                assert!(out.stdout.is_empty(), "{}", out.stdout);
            }
            let output = child.wait_with_output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(0),
                "{format}: the eval was still running, and finished: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let done = read(&log);
            assert_eq!(done.status, examen_log::EvalStatus::Success, "{format}");
            assert_eq!(done.samples.unwrap().len(), 40, "{format}: every sample");
            assert_eq!(
                sandbox.logs("logs"),
                vec![log.clone()],
                "nothing else written"
            );
        }
    }
}

/// A log left `started` by a killed eval (SIGKILL): `score` refuses it with exit 2 (the plain
/// and `--json` forms alike), saying it was not finished, how many samples it holds and how to
/// complete it; every reader (`score`'s count, `log dump`, `log list`, `log convert`) sees
/// every flushed sample, for `.json` logs the side file's too; and `eval-retry` of the
/// converted log carries every one of them over instead of asking the model again.
#[test]
fn a_crashed_log_is_refused_by_score_and_read_whole_by_every_reader() {
    for format in ["json", "eval"] {
        for backend in backends() {
            let sandbox = Sandbox::on(backend);
            let (mut child, log) = slow_eval(&sandbox, backend, format, 5);
            // Stopped (SIGSTOP) where the main file of a `.json` log lags its side file
            // (the doubling schedule rewrites it now and then), then killed as it is.
            let pid = rustix::process::Pid::from_child(&child);
            loop {
                rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
                // The signal is delivered asynchronously: look at the files only once every
                // thread has stopped, or a write still under way could change them after.
                wait_stopped(child.id());
                if format == "eval" || main_only(&sandbox, &log) < flushed_count(&log) {
                    break;
                }
                rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
                assert!(child.try_wait().unwrap().is_none(), "the eval ended early");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            let crashed = examen_log::recover(&log).unwrap();
            let flushed: Vec<(String, u32, Option<String>)> = crashed
                .samples()
                .map(|s| {
                    let s = s.unwrap();
                    (s.id.to_string(), s.epoch, s.uuid)
                })
                .collect();
            let n = flushed.len();
            assert!(n >= 5, "{n}");
            if format == "json" {
                let main_only = main_only(&sandbox, &log);
                assert!(main_only < n, "the premise: {main_only} of {n}");
            }

            let out = run(sandbox.examen(&["log", "dump", log.to_str().unwrap()]));
            assert_eq!(out.code, 0, "{out:?}");
            let dump: Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(dump["status"], "started");
            assert_eq!(
                dump["samples"].as_array().map(Vec::len),
                Some(n),
                "log dump"
            );
            let out = run(sandbox.examen(&["log", "list", "--json"]));
            let rows: Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(rows[0]["samples"], n, "log list");
            assert_eq!(rows[0]["status"], "started");

            let other = if format == "json" { "eval" } else { "json" };
            let out = run(sandbox.examen(&[
                "log",
                "convert",
                log.to_str().unwrap(),
                "--to",
                other,
                "--output-dir",
                "converted",
            ]));
            assert_eq!(out.code, 0, "{out:?}");
            let converted = PathBuf::from(out.stdout.trim());
            let converted = sandbox.path().join(converted);
            let back = read(&converted);
            assert_eq!(back.status, examen_log::EvalStatus::Started);
            assert_eq!(back.samples.unwrap().len(), n, "log convert");

            // A retry from the converted log runs only what it lacks: the flushed samples
            // come over as they were (same uuid), not answered again.
            let out = run(sandbox.examen(&[
                "eval-retry",
                converted.to_str().unwrap(),
                "--display",
                "none",
                "--log-dir",
                "retried",
            ]));
            assert_eq!(out.code, 0, "{out:?}");
            let retried = read(&sandbox.logs("retried")[0]);
            assert_eq!(retried.status, examen_log::EvalStatus::Success);
            let samples = retried.samples.unwrap();
            assert_eq!(samples.len(), 40);
            for (id, epoch, uuid) in &flushed {
                let again = samples
                    .iter()
                    .find(|s| s.id.to_string() == *id && s.epoch == *epoch)
                    .unwrap();
                assert_eq!(&again.uuid, uuid, "{id} epoch {epoch} carried over");
            }

            for json in [false, true] {
                let mut args = vec!["score", log.to_str().unwrap()];
                if json {
                    args.push("--json");
                }
                let out = run(sandbox.examen(&args));
                assert_eq!(out.code, 2, "{out:?}");
                assert!(out.stdout.is_empty(), "{}", out.stdout);
                assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
                for part in [
                    "the log's eval did not finish (status `started`".to_string(),
                    format!("holds {n} samples"),
                    format!("examen eval-retry {}", log.display()),
                ] {
                    assert!(out.stderr.contains(&part), "{part}: {}", out.stderr);
                }
            }
            let out = run(sandbox.examen(&["score", log.to_str().unwrap(), "--overwrite"]));
            assert_eq!(out.code, 2, "{out:?}");
            let logs: Vec<PathBuf> = sandbox
                .logs("logs")
                .into_iter()
                .filter(|p| examen_log::LogFormat::from_path(p).is_some())
                .collect();
            assert_eq!(logs, vec![log.clone()], "no -scored log");
        }
    }
}

/// Waits until every thread of process `pid` is stopped (state `T` in `/proc`).
fn wait_stopped(pid: u32) {
    let stopped = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .all(|task| {
                let stat =
                    std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
                // `pid (comm) S ...`: the state follows the last `)`.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T'))
            })
    };
    while !stopped() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
