//! Inspect's own Python reader on logs written by a real eval (the example task, on each backend,
//! in both formats): status, sample count, every sample's scores and every metric must equal what
//! examen's engine reported. Uses `scripts/inspect_compat.py` in the pinned venv; without the venv
//! this says so and passes, except with `CI=true`, where the venv is installed and the check runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use examen::runner::LogDir;
use examen::taskfile::load_task_file;
use examen::EvalOptions;
use examen_log::{read_log, LogFormat, ReadOptions};
use serde_json::{json, Map, Value as Json};

use crate::support::mock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python: installed on CI, `None` (after saying why) when absent elsewhere.
fn inspect_python() -> Option<PathBuf> {
    let root = repo_root();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !ci && !root.join(".venv/bin/python").exists() {
        // Straight to the terminal: libtest captures `eprintln!` of passing tests, and a skip
        // that nobody sees reads as a pass.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the Inspect check: no .venv (scripts/inspect-venv.sh makes it; CI=true runs it)"
        );
        return None;
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/inspect-venv.sh"))
        .output()
        .expect("run scripts/inspect-venv.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

async fn eval_and_expect(dir: &Path, format: LogFormat) -> (PathBuf, Json) {
    let task = load_task_file(repo_root().join("examples/arithmetic/task.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        logger: Some(Arc::new(LogDir::new(dir, format))),
        limit: Some(6),
        ..EvalOptions::default()
    };
    // Right for some questions, wrong for others, so metrics are not trivial.
    let model = mock(|prompt| {
        if prompt.contains('3') {
            "ANSWER: 9".into()
        } else {
            "ANSWER: 5".into()
        }
    });
    let outcome = examen::eval(vec![task], vec![model], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
    let path = PathBuf::from(outcome.log_location.clone().expect("a log"));
    let mut metrics = Map::new();
    for score in &outcome.results.as_ref().expect("results").scores {
        let key = match &score.reducer {
            Some(reducer) => format!("{}/{reducer}", score.name),
            None => score.name.clone(),
        };
        let values: Map<String, Json> = score
            .metrics
            .values()
            .map(|metric| (metric.name.clone(), json!(metric.value)))
            .collect();
        metrics.insert(key, Json::Object(values));
    }
    let log = read_log(&path, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let samples = log.samples.unwrap_or_default();
    let mut scores = Map::new();
    for sample in &samples {
        let per_scorer: Map<String, Json> = sample
            .scores
            .iter()
            .flatten()
            .map(|(name, score)| (name.clone(), serde_json::to_value(&score.value).unwrap()))
            .collect();
        scores.insert(
            format!("{}:{}", sample.id, sample.epoch),
            Json::Object(per_scorer),
        );
    }
    let expected = json!({
        "status": serde_json::to_value(outcome.status).unwrap(),
        "samples": samples.len(),
        "scores": scores,
        "metrics": metrics,
    });
    (path, expected)
}

#[examen_rt::test]
async fn inspect_reads_logs_of_a_real_eval() {
    let Some(python) = inspect_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut expected = Map::new();
    let mut logs = Vec::new();
    for format in [LogFormat::Eval, LogFormat::Json] {
        let (path, want) = eval_and_expect(dir.path(), format).await;
        assert_eq!(want["samples"], json!(12), "6 samples × 2 epochs");
        expected.insert(path.display().to_string(), want);
        logs.push(path);
    }
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, Json::Object(expected).to_string()).unwrap();
    let output = examen_rt::to_thread(move || {
        Command::new(python)
            .arg(repo_root().join("scripts/inspect_compat.py"))
            .arg("check")
            .arg(&expected_path)
            .args(&logs)
            .output()
            .expect("run inspect_compat.py")
    })
    .await;
    assert!(
        output.status.success(),
        "Inspect disagrees:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
