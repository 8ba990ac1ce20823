//! Inspect reads examen's logs, and examen reads Inspect's, through the pinned
//! inspect-ai in the repository's `.venv` (made by `scripts/inspect-venv.sh`).
//!
//! Without the venv these tests say so and pass, unless `CI=true`, where they create
//! the venv and must run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use examen_log::{read_log, read_summaries, LogFormat, LogWriter, ReadOptions, WriterOptions};
use serde_json::{json, Map, Value as Json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, installing the venv on CI; `None` (after saying why) when it
/// is absent outside CI.
fn python() -> Option<PathBuf> {
    let root = repo_root();
    let py = root.join(".venv/bin/python");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci || py.exists() {
        let out = Command::new("bash")
            .arg(root.join("scripts/inspect-venv.sh"))
            .output()
            .expect("run scripts/inspect-venv.sh");
        assert!(
            out.status.success(),
            "scripts/inspect-venv.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        return Some(PathBuf::from(path));
    }
    // Straight to the terminal: libtest captures `eprintln!` of passing tests, and a skip that
    // nobody sees reads as a pass.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: Inspect compatibility check: {} is missing (run scripts/inspect-venv.sh; CI=true runs it)",
        py.display()
    );
    None
}

fn score_json(v: &examen_types::Value) -> Json {
    serde_json::to_value(v).unwrap()
}

/// What Inspect must report for a log examen wrote.
fn expected_for(path: &Path) -> Json {
    let log = read_log(path, ReadOptions::default()).unwrap();
    let mut scores = Map::new();
    for s in log.samples.as_ref().unwrap() {
        let per: Map<String, Json> = s
            .scores
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), score_json(&v.value)))
            .collect();
        scores.insert(format!("{}:{}", s.id, s.epoch), Json::Object(per));
    }
    let mut metrics = Map::new();
    for score in log.results.iter().flat_map(|r| &r.scores) {
        let m: Map<String, Json> = score
            .metrics
            .iter()
            .map(|(k, m)| (k.clone(), json!(m.value)))
            .collect();
        let key = match &score.reducer {
            Some(reducer) => format!("{}/{reducer}", score.name),
            None => score.name.clone(),
        };
        metrics.insert(key, Json::Object(m));
    }
    json!({
        "status": log.status.as_str(),
        "samples": log.samples.as_ref().unwrap().len(),
        "scores": scores,
        "metrics": metrics,
    })
}

fn write_logs(dir: &Path) -> Vec<PathBuf> {
    let ids = common::ids(6);
    let mut paths = Vec::new();
    for format in [LogFormat::Eval, LogFormat::Json] {
        // finished
        let start = common::start("compat", &ids, 2);
        let mut w =
            LogWriter::create(dir, format, start.clone(), WriterOptions::default()).unwrap();
        for epoch in 1..=2 {
            for (i, id) in ids.iter().enumerate() {
                w.write_sample(&common::sample(id.clone(), epoch, i))
                    .unwrap();
            }
        }
        paths.push(w.finish(common::finish(&ids, 2)).unwrap());
        // still running: 4 samples flushed, one buffered
        let start = common::start("running", &ids, 1);
        let opts = WriterOptions {
            buffer_samples: 100,
            ..Default::default()
        };
        let mut w = LogWriter::create(dir, format, start.clone(), opts).unwrap();
        for (i, id) in ids.iter().take(4).enumerate() {
            w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
        }
        w.flush().unwrap();
        w.write_sample(&common::sample(ids[4].clone(), 1, 4))
            .unwrap();
        paths.push(w.path().to_owned());
        // Dropped without finish: the file stays as a running (or killed) eval left it.
        drop(w);
    }
    paths
}

/// The engine calls the (synchronous) writer from the runtime's blocking pool, so
/// write the logs that way on each backend, then have Inspect check them.
#[examen_rt::test]
async fn inspect_reads_examen_logs() {
    let Some(python) = examen_rt::to_thread(python).await else {
        return;
    };
    let backend = format!("{:?}", examen_rt::current_backend().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join(&backend);
    let logs = examen_rt::to_thread(move || write_logs(&out_dir)).await;
    let mut expected = Map::new();
    for log in &logs {
        let e = expected_for(log);
        if log.to_string_lossy().contains("_running_") {
            assert_eq!(e["status"], "started");
            assert_eq!(e["samples"], 4);
        }
        expected.insert(log.to_string_lossy().into_owned(), e);
    }
    let expected_path = dir.path().join("expected.json");
    std::fs::write(
        &expected_path,
        serde_json::to_vec_pretty(&expected).unwrap(),
    )
    .unwrap();
    let args = logs.clone();
    let out = examen_rt::to_thread(move || {
        Command::new(&python)
            .arg(repo_root().join("scripts/inspect_compat.py"))
            .arg("check")
            .arg(&expected_path)
            .args(&args)
            .output()
            .unwrap()
    })
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{backend}: {stdout}");
    assert!(
        out.status.success(),
        "Inspect rejected examen's logs ({backend}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} passed, 0 failed", logs.len())),
        "{stdout}"
    );
}

#[test]
fn examen_reads_inspect_logs() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .arg(repo_root().join("scripts/inspect_compat.py"))
        .arg("generate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Inspect failed to write logs:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_slice(&out.stdout).expect("generate prints JSON");
    let logs = report["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    for log in logs {
        let path = PathBuf::from(log.as_str().unwrap());
        let read = read_log(&path, ReadOptions::default())
            .unwrap_or_else(|e| panic!("examen cannot read Inspect's log: {e}"));
        assert_eq!(
            json!(read.status.as_str()),
            report["status"],
            "{}",
            path.display()
        );
        let samples = read.samples.as_ref().unwrap();
        assert_eq!(json!(samples.len()), report["samples"]);
        for s in samples {
            let key = format!("{}:{}", s.id, s.epoch);
            for (scorer, score) in s.scores.iter().flatten() {
                assert_eq!(
                    score_json(&score.value),
                    report["scores"][&key][scorer],
                    "{key}"
                );
            }
            // Inspect's own events (state, etc.) are kept, not dropped
            assert!(!s.events.is_empty());
        }
        for score in &read.results.as_ref().unwrap().scores {
            let key = match &score.reducer {
                Some(reducer) => format!("{}/{reducer}", score.name),
                None => score.name.clone(),
            };
            for (name, metric) in &score.metrics {
                let want = report["metrics"][&key][name].as_f64().unwrap();
                assert!(
                    (metric.value - want).abs() < 1e-12,
                    "{name}: {} vs {want}",
                    metric.value
                );
            }
        }
        assert_eq!(read_summaries(&path).unwrap().len(), samples.len());
        // and what examen read, written back out by examen, is still a log Inspect
        // reads identically (convert)
        let start = examen_log::LogStart {
            version: read.version,
            eval: read.eval.clone(),
            plan: read.plan.clone(),
        };
        let out_dir = dir.path().join("converted");
        let mut w = LogWriter::create(
            &out_dir,
            LogFormat::Eval,
            start.clone(),
            WriterOptions::default(),
        )
        .unwrap();
        for s in samples {
            w.write_sample(s).unwrap();
        }
        let converted = w
            .finish(examen_log::LogFinish {
                status: read.status,
                results: read.results.clone(),
                stats: read.stats.clone(),
                error: read.error.clone(),
                reductions: read.reductions.clone(),
                invalidated: read.invalidated,
            })
            .unwrap();
        let again = read_log(&converted, ReadOptions::default()).unwrap();
        assert_eq!(again.samples.as_ref().unwrap().len(), samples.len());
        let expected = dir.path().join("converted.json");
        std::fs::write(
            &expected,
            serde_json::to_vec(&json!({"*": expected_for(&converted)})).unwrap(),
        )
        .unwrap();
        let check = Command::new(&python)
            .arg(repo_root().join("scripts/inspect_compat.py"))
            .arg("check")
            .arg(&expected)
            .arg(&converted)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "Inspect rejected a converted log:\n{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}
