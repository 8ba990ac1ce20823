//! Inspect reads examen's logs, and examen reads Inspect's, through the pinned
//! inspect-ai in the repository's `.venv` (made by `scripts/inspect-venv.sh`).
//!
//! Without the venv these tests say so and pass, unless `CI=true`, where they create
//! the venv and must run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use examen_log::{
    read_log, read_summaries, LogFormat, LogWriter, ReadOptions, SampleId, WriterOptions,
};
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
    let int_ids: Vec<String> = log
        .samples
        .iter()
        .flatten()
        .filter(|s| s.id.is_int())
        .map(|s| format!("{}:{}", s.id, s.epoch))
        .collect();
    json!({
        "status": log.status.as_str(),
        "samples": log.samples.as_ref().unwrap().len(),
        "scores": scores,
        "metrics": metrics,
        "int_ids": int_ids,
    })
}

fn write_logs(dir: &Path) -> Vec<PathBuf> {
    let mut ids = common::ids(6);
    // Two integers beyond 64 bits that an f64 cannot tell apart (issue 12, item 8).
    for wide in ["18446744073709551616", "18446744073709551617"] {
        ids.push(SampleId::parse_int(wide).unwrap());
    }
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
        paths.push(w.finish(&common::finish(&ids, 2)).unwrap());
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
    let report = inspect_writes(&python, "generate", dir.path());
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
            .finish(&examen_log::LogFinish {
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

/// Has Inspect write logs into `dir` (`generate` or `multiturn` of
/// scripts/inspect_compat.py); its report names them.
fn inspect_writes(python: &Path, command: &str, dir: &Path) -> Json {
    let out = Command::new(python)
        .arg(repo_root().join("scripts/inspect_compat.py"))
        .arg(command)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Inspect failed to write logs:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

/// Every model event's input and raw request messages as Inspect's reader
/// resolves them (`read_eval_log` + `resolve_sample_events_data`), by log and
/// sample (`inputs` of scripts/inspect_compat.py).
fn inspect_inputs(python: &Path, logs: &[PathBuf]) -> Json {
    let out = Command::new(python)
        .arg(repo_root().join("scripts/inspect_compat.py"))
        .arg("inputs")
        .args(logs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Inspect cannot read the logs' inputs:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inputs prints JSON")
}

/// A message as Inspect dumps it (examen writes no null fields either).
fn message_json(m: &examen_types::ChatMessage) -> Json {
    serde_json::to_value(m).unwrap()
}

#[test]
fn inspect_resolves_examen_condensed_logs() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sample = common::agent_sample("agent".into(), 4);
    let ids = [sample.id.clone()];
    let mut logs = Vec::new();
    for format in [LogFormat::Eval, LogFormat::Json] {
        let start = common::start("condensed", &ids, 1);
        let mut w = LogWriter::create(dir.path(), format, start, WriterOptions::default()).unwrap();
        w.write_sample(&sample).unwrap();
        logs.push(w.finish(&common::finish(&ids, 1)).unwrap());
    }
    let inputs = inspect_inputs(&python, &logs);
    let original = common::model_events(&sample);
    for log in &logs {
        // The log is condensed: the inputs are only in its pool.
        let stored = common::stored_sample(log);
        assert_eq!(
            stored["events_data"]["messages"].as_array().map(Vec::len),
            Some(2 + 2 * 3 + 1),
            "{}",
            log.display()
        );
        let stored_inputs = stored["events"].as_array().unwrap().iter();
        assert!(stored_inputs
            .filter(|e| e["event"] == "model")
            .all(|e| e["input"] == json!([]) && e["input_refs"].is_array()));
        let events = inputs[log.to_string_lossy().as_ref()]["agent:1"]
            .as_array()
            .unwrap_or_else(|| panic!("no sample in {inputs}"));
        assert_eq!(events.len(), original.len(), "{}", log.display());
        for (i, (got, want)) in events.iter().zip(&original).enumerate() {
            let want_input: Vec<Json> = want.input.iter().map(message_json).collect();
            assert_eq!(
                got["input"],
                Json::Array(want_input),
                "{}: event {i}",
                log.display()
            );
            assert_eq!(got["input_refs"], Json::Null);
            let want_call = &want.call.as_ref().unwrap()["request"]["messages"];
            assert_eq!(
                &got["call_messages"],
                want_call,
                "{}: event {i}",
                log.display()
            );
        }
    }
}

/// examen reads the logs Inspect writes condensed (each model event's input from
/// `events_data`), and condenses what it read exactly as Inspect's recorder did:
/// the same pools, refs and call records.
#[test]
fn examen_reads_and_condenses_as_inspect_writes() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = inspect_writes(&python, "multiturn", dir.path());
    let logs: Vec<PathBuf> = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| PathBuf::from(l.as_str().unwrap()))
        .collect();
    assert_eq!(logs.len(), 2);
    let inputs = inspect_inputs(&python, &logs);
    for log in &logs {
        let stored = common::stored_sample(log);
        // Inspect did condense: the inputs are only in its pool.
        let stored_events: Vec<&Json> = stored["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "model")
            .collect();
        assert_eq!(stored_events.len(), 3);
        assert!(stored_events.iter().all(|e| e["input"] == json!([])));

        let read = read_log(log, ReadOptions::default()).unwrap();
        let sample = &read.samples.as_ref().unwrap()[0];
        assert!(sample.events_data.is_none());
        let events = common::model_events(sample);
        let want = inputs[log.to_string_lossy().as_ref()]["1:1"]
            .as_array()
            .unwrap();
        assert_eq!(events.len(), want.len());
        let lengths: Vec<usize> = events.iter().map(|e| e.input.len()).collect();
        assert_eq!(lengths, [2, 4, 6], "{}", log.display());
        for (i, (got, want)) in events.iter().zip(want).enumerate() {
            let input: Vec<Json> = got.input.iter().map(message_json).collect();
            assert_eq!(
                Json::Array(input),
                want["input"],
                "{}: event {i}",
                log.display()
            );
            assert!(got.input_refs.is_none());
            let call = got.call.as_ref().unwrap();
            assert_eq!(call["request"]["messages"], want["call_messages"]);
        }

        // What examen writes for this transcript is what Inspect wrote.
        let condensed = serde_json::to_value(sample.condensed()).unwrap();
        assert_eq!(
            condensed["events_data"],
            stored["events_data"],
            "{}",
            log.display()
        );
        let ours: Vec<&Json> = condensed["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "model")
            .collect();
        for (i, (ours, theirs)) in ours.iter().zip(&stored_events).enumerate() {
            assert_eq!(ours["input"], theirs["input"], "event {i}");
            assert_eq!(ours["input_refs"], theirs["input_refs"], "event {i}");
            // The call record byte for byte (key order included).
            assert_eq!(
                serde_json::to_string(&ours["call"]).unwrap(),
                serde_json::to_string(&theirs["call"]).unwrap(),
                "{}: event {i}",
                log.display()
            );
        }
    }
}
