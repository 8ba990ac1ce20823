//! Logs in S3 end to end, against a real S3-protocol server on 127.0.0.1 (moto, started by
//! `scripts/s3.sh`): every log command on `s3://`, a 20,000-sample eval killed with SIGKILL
//! and continued with `eval-retry`, and the bytes its flushes upload, counted by the server.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use examen_log::EvalLog;

use crate::s3_server::{s3_server, S3Server};
use crate::support::{run, Finished, Sandbox};

/// A bucket of this test's own (tests share one server).
fn bucket(s3: &S3Server, name: &str) -> String {
    let backend = examen_rt::current_backend().map_or("none", |b| b.name());
    let bucket = format!("{name}-{backend}-{}", std::process::id());
    s3.create_bucket(&bucket);
    bucket
}

/// `examen ARGS` on this test's backend, pointed at the server.
fn examen(sandbox: &Sandbox, s3: &S3Server, args: &[&str]) -> Command {
    let backend = examen_rt::current_backend()
        .unwrap_or_else(|| panic!("a runtime"))
        .name();
    let mut cmd = sandbox.examen(args);
    cmd.env("EXAMEN_ASYNC_BACKEND", backend);
    for (name, value) in s3.env() {
        cmd.env(name, value);
    }
    cmd
}

fn ok(finished: Finished) -> Finished {
    assert_eq!(
        finished.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        finished.stdout, finished.stderr
    );
    finished
}

/// `examen log list --json` of `dir`.
fn listed(sandbox: &Sandbox, s3: &S3Server, dir: &str) -> Vec<serde_json::Value> {
    let out = ok(run(examen(
        sandbox,
        s3,
        &["log", "list", "--log-dir", dir, "--json"],
    )));
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The log at `url`, as `examen log dump` prints it.
fn dumped(sandbox: &Sandbox, s3: &S3Server, url: &str) -> serde_json::Value {
    let out = ok(run(examen(sandbox, s3, &["log", "dump", url])));
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}"))
}

/// The log at `url`, downloaded and read with examen-log.
async fn fetched(s3: &S3Server, url: &str) -> EvalLog {
    let examen_store::Location::S3 { bucket, key } = examen_store::Location::parse(url).unwrap()
    else {
        panic!("{url} is not in S3")
    };
    let object = s3.client().get(&bucket, &key, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(key.rsplit('/').next().unwrap());
    std::fs::write(&path, &object.bytes).unwrap();
    examen_log::read_log(&path, examen_log::ReadOptions::default())
        .or_else(|_| {
            examen_log::recover(&path).map(|r| {
                let mut log = r.log.clone();
                log.samples = Some(r.samples().map(Result::unwrap).collect());
                log
            })
        })
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[examen_rt::test]
async fn every_log_command_works_on_s3() {
    let Some(s3) = s3_server() else { return };
    let sandbox = Sandbox::new();
    let bucket = bucket(s3, "commands");
    let dir = format!("s3://{bucket}/runs");
    ok(run(examen(
        &sandbox,
        s3,
        &[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--log-dir",
            &dir,
            "--display",
            "none",
        ],
    )));
    // Listing: the log with its status, size and mtime, as for a local directory.
    let rows = listed(&sandbox, s3, &dir);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let url = rows[0]["name"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{dir}/")) && url.ends_with(".eval"),
        "{url}"
    );
    assert_eq!(rows[0]["status"], "success");
    assert_eq!(rows[0]["samples"], 40);
    assert!(rows[0]["size"].as_u64().unwrap() > 1000);
    assert!(rows[0]["modified"].as_str().unwrap().starts_with("20"));

    // Dump: the whole log, and the header alone (read from the end of the object).
    let log = dumped(&sandbox, s3, &url);
    assert_eq!(log["samples"].as_array().map(Vec::len), Some(40));
    let header = ok(run(examen(
        &sandbox,
        s3,
        &["log", "dump", &url, "--header-only"],
    )));
    let header: serde_json::Value = serde_json::from_str(&header.stdout).unwrap();
    assert_eq!(header["eval"]["eval_id"], log["eval"]["eval_id"]);
    assert!(header.get("samples").is_none());

    // Convert into S3, and back out to a local directory.
    let converted = ok(run(examen(
        &sandbox,
        s3,
        &[
            "log",
            "convert",
            &url,
            "--to",
            "json",
            "--output-dir",
            &format!("s3://{bucket}/json"),
        ],
    )));
    let json_url = converted.stdout.trim().to_owned();
    assert!(json_url.starts_with(&format!("s3://{bucket}/json/")) && json_url.ends_with(".json"));
    let as_json = dumped(&sandbox, s3, &json_url);
    assert_eq!(as_json["samples"].as_array().map(Vec::len), Some(40));

    // Score: a `-scored` log beside the original, then the original itself.
    ok(run(examen(
        &sandbox,
        s3,
        &["score", &url, "--scorer", "includes", "--display", "none"],
    )));
    let scored = url.replace(".eval", "-scored.eval");
    let scorers = |log: &serde_json::Value| -> Vec<String> {
        log["results"]["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let scored_log = dumped(&sandbox, s3, &scored);
    assert!(
        scorers(&scored_log).contains(&"includes".to_owned()),
        "{:?}",
        scorers(&scored_log)
    );
    assert!(!scorers(&log).contains(&"includes".to_owned()));
    ok(run(examen(
        &sandbox,
        s3,
        &[
            "score",
            &url,
            "--scorer",
            "includes",
            "--overwrite",
            "--display",
            "none",
        ],
    )));
    assert!(scorers(&dumped(&sandbox, s3, &url)).contains(&"includes".to_owned()));

    // eval-retry of an S3 log into S3: a new log holding every sample once.
    ok(run(examen(
        &sandbox,
        s3,
        &[
            "eval-retry",
            &url,
            "--log-dir",
            &format!("s3://{bucket}/retried"),
            "--display",
            "none",
        ],
    )));
    let retried = listed(&sandbox, s3, &format!("s3://{bucket}/retried"));
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(retried[0]["samples"], 40);

    // The secret key is in no output and no log byte.
    let secret = s3
        .env()
        .into_iter()
        .find(|(name, _)| *name == "AWS_SECRET_ACCESS_KEY")
        .map(|(_, value)| value)
        .unwrap();
    // (Read decompressed: the members of an .eval are deflated.)
    for url in [&url, &scored, &json_url] {
        let text = dumped(&sandbox, s3, url).to_string();
        assert!(!text.contains(&secret), "{url} holds the secret");
    }
    let verbose = run(examen(&sandbox, s3, &["log", "list", "--log-dir", &dir]));
    assert!(!verbose.stdout.contains(&secret) && !verbose.stderr.contains(&secret));

    // Bad locations are one-line errors (exit 2).
    let missing = run(examen(
        &sandbox,
        s3,
        &["log", "dump", &format!("s3://{bucket}/runs/none.eval")],
    ));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no such object"),
        "{}",
        missing.stderr
    );
    let no_bucket = run(examen(
        &sandbox,
        s3,
        &[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--log-dir",
            "s3://no-such-bucket-here/x",
        ],
    ));
    assert_eq!(no_bucket.code, 2, "{}", no_bucket.stderr);
    assert!(
        no_bucket
            .stderr
            .contains("bucket `no-such-bucket-here` does not exist"),
        "{}",
        no_bucket.stderr
    );
}

/// A task of `n` arithmetic samples, in the sandbox.
fn big_task(sandbox: &Sandbox, n: usize) -> String {
    let mut lines = String::new();
    for i in 0..n {
        lines.push_str(&format!(
            "{{\"id\": {i}, \"input\": \"What is {i} + 1?\", \"target\": \"{}\"}}\n",
            i + 1
        ));
    }
    sandbox.write("big/samples.jsonl", &lines);
    sandbox.write(
        "big/task.yaml",
        "name: big\ndataset:\n  path: samples.jsonl\nsolver: [generate]\nscorer: match\n",
    );
    "big/task.yaml".into()
}

/// (id, epoch) → sample uuid of every sample; panics on a duplicate.
fn uuids(log: &EvalLog) -> BTreeMap<(String, u32), String> {
    let mut out = BTreeMap::new();
    for s in log.samples.iter().flatten() {
        let previous = out.insert(
            (s.id.to_string(), s.epoch),
            s.uuid.clone().unwrap_or_default(),
        );
        assert!(
            previous.is_none(),
            "{} epoch {} is in the log twice",
            s.id,
            s.epoch
        );
    }
    out
}

#[examen_rt::test]
async fn a_killed_s3_eval_is_continued_without_asking_again_and_uploads_little() {
    let Some(s3) = s3_server() else { return };
    let sandbox = Sandbox::new();
    let bucket = bucket(s3, "killed");
    let task = big_task(&sandbox, 20_000);
    let dir = format!("s3://{bucket}/runs");
    let mut child = examen(
        &sandbox,
        s3,
        &[
            "eval",
            &task,
            "--model",
            "mockllm/model",
            "--log-dir",
            &dir,
            "--log-buffer",
            "10",
            "--display",
            "none",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Killed once the object in S3 is past 5 MiB (flushes are then composed server-side).
    let client = s3.client();
    let mut killed_at = 0;
    for _ in 0..2000 {
        let objects = client.list(&bucket, "runs/", true).await.unwrap();
        if let Some(object) = objects.first() {
            if object.size > 6 * 1024 * 1024 {
                killed_at = object.size;
                break;
            }
        }
        examen_rt::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        killed_at > 0,
        "the eval finished or never got past 6 MiB before it could be killed"
    );
    let rows = listed(&sandbox, s3, &dir);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let url = rows[0]["name"].as_str().unwrap().to_owned();
    assert_eq!(rows[0]["status"], "started");
    let killed = fetched(s3, &url).await;
    let flushed = uuids(&killed);
    assert!(
        !flushed.is_empty() && flushed.len() < 20_000,
        "{}",
        flushed.len()
    );

    let before = s3.body_bytes(&bucket);
    ok(run(examen(
        &sandbox,
        s3,
        &[
            "eval-retry",
            &url,
            "--log-dir",
            &dir,
            "--log-buffer",
            "10",
            "--display",
            "none",
        ],
    )));
    let uploaded = s3.body_bytes(&bucket) - before;
    let rows = listed(&sandbox, s3, &dir);
    let done = rows
        .iter()
        .find(|r| r["status"] == "success")
        .unwrap_or_else(|| panic!("{rows:?}"));
    let done_url = done["name"].as_str().unwrap();
    let size = done["size"].as_u64().unwrap();
    let retried = fetched(s3, done_url).await;
    let all = uuids(&retried);
    assert_eq!(all.len(), 20_000);
    // Every sample flushed before the kill was carried over as it was, not asked again.
    for (unit, uuid) in &flushed {
        assert_eq!(all.get(unit), Some(uuid), "{unit:?} was run again");
    }
    eprintln!(
        "killed at {killed_at} bytes with {} samples flushed; the retry uploaded {uploaded} bytes \
         for a {size}-byte log ({:.2}x)",
        flushed.len(),
        uploaded as f64 / size as f64
    );
    // The retry's flushes together uploaded a small multiple of the log (re-uploading it
    // whole at each of its ~2,000 flushes would be ~1,000x).
    assert!(
        uploaded <= 3 * size,
        "{uploaded} bytes uploaded for a {size}-byte log ({:.1}x)",
        uploaded as f64 / size as f64
    );
}

/// The Inspect venv's python (made by `scripts/inspect-venv.sh`), or `None` (skipped) outside CI.
fn inspect_python() -> Option<std::path::PathBuf> {
    let root = crate::support::workspace();
    let out = Command::new("bash")
        .arg(root.join("scripts/inspect-venv.sh"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    match out {
        Some(out) => Some(String::from_utf8_lossy(&out.stdout).trim().into()),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and scripts/inspect-venv.sh failed")
        }
        None => {
            eprintln!("SKIPPED: the Inspect venv (scripts/inspect-venv.sh) is missing");
            None
        }
    }
}

/// `scripts/inspect_compat.py ARGS` with the server's environment; its JSON output.
fn inspect(python: &std::path::Path, s3: &S3Server, args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(python);
    cmd.arg(crate::support::workspace().join("scripts/inspect_compat.py"))
        .args(args);
    for (name, value) in s3.env() {
        cmd.env(name, value);
    }
    let out = ok(run(cmd));
    serde_json::from_str(out.stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[examen_rt::test]
async fn inspect_reads_examen_s3_logs_and_examen_reads_inspects() {
    let Some(s3) = s3_server() else { return };
    let Some(python) = inspect_python() else {
        return;
    };
    let sandbox = Sandbox::new();
    let bucket = bucket(s3, "inspect");
    // A finished examen log, and a running one: the object a killed eval left is exactly what
    // a reader of a running log sees between two flushes.
    let done = format!("s3://{bucket}/done");
    ok(run(examen(
        &sandbox,
        s3,
        &[
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "--log-dir",
            &done,
            "--display",
            "none",
        ],
    )));
    let task = big_task(&sandbox, 20_000);
    let running = format!("s3://{bucket}/running");
    let mut child = examen(
        &sandbox,
        s3,
        &[
            "eval",
            &task,
            "--model",
            "mockllm/model",
            "--log-dir",
            &running,
            "--log-buffer",
            "10",
            "--display",
            "none",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let client = s3.client();
    for _ in 0..2000 {
        let objects = client.list(&bucket, "running/", true).await.unwrap();
        if objects.first().is_some_and(|o| o.size > 1_000_000) {
            break;
        }
        examen_rt::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the eval finished before it could be read running"
    );
    child.kill().unwrap();
    let _ = child.wait();

    let finished = inspect(&python, s3, &["s3-read", &done]);
    assert_eq!(finished[0]["status"], "success", "{finished}");
    assert_eq!(finished[0]["samples"], 40);
    let started = inspect(&python, s3, &["s3-read", &running]);
    assert_eq!(started[0]["status"], "started", "{started}");
    let ours = listed(&sandbox, s3, &running);
    assert_eq!(
        started[0]["samples"], ours[0]["samples"],
        "Inspect and examen see the same samples"
    );
    assert!(started[0]["samples"].as_u64().unwrap() > 0);

    // Inspect writes into the same server; examen lists, dumps and continues from its log.
    let theirs = format!("s3://{bucket}/inspect");
    let written = inspect(&python, s3, &["s3-write", &theirs]);
    let url = written["location"].as_str().unwrap().to_owned();
    let rows = listed(&sandbox, s3, &theirs);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "success");
    assert_eq!(rows[0]["samples"], 5);
    let log = dumped(&sandbox, s3, &url);
    assert_eq!(log["samples"].as_array().map(Vec::len), Some(5));
}
