//! `--max-connections` above what the process may open: examen raises its soft limit, caps
//! connections below the hard one and says so, and the eval completes with every sample logged
//! and a finished log (it used to retry on "too many open files" and leave the log `started`).

use std::time::Duration;

use crate::support::{run_async, Sandbox};

#[examen_rt::test]
async fn more_connections_than_open_files_are_capped_and_the_run_completes() {
    let backend = examen_rt::current_backend().unwrap().name();
    let sandbox = Sandbox::new();
    // Long enough a latency that every sample's request is in flight at once.
    let server = examen_mock_server::MockServer::start(examen_mock_server::Config {
        latency: Duration::from_millis(300),
        reply: "ANSWER: 4".into(),
        ..examen_mock_server::Config::default()
    })
    .await
    .unwrap();
    let samples = 500;
    let dataset: String = (1..=samples)
        .map(|i| format!("{{\"id\": {i}, \"input\": \"2+2? ({i})\", \"target\": \"4\"}}\n"))
        .collect();
    sandbox.write("many/data.jsonl", &dataset);
    sandbox.write(
        "many/task.yaml",
        "name: many\ndataset: {path: data.jsonl}\nsolver: [generate]\nscorer: includes\n",
    );
    // A hard limit of 300 open files (bash's `ulimit -n` sets soft and hard), then examen, in
    // the environment `examen_command` gives it.
    let mut cmd = crate::support::wrapper_command(
        sandbox.path(),
        "bash",
        &["-c", "ulimit -n 300 && exec \"$@\"", "bash"],
    );
    cmd.arg(env!("CARGO_BIN_EXE_examen"))
        .args([
            "eval",
            "many/task.yaml",
            "--model",
            "openai-api/test/m",
            "--max-connections",
            "1000",
            "--display",
            "plain",
            "--json",
        ])
        .env("TEST_BASE_URL", server.base_url())
        .env("TEST_API_KEY", "test-key")
        .env("EXAMEN_ASYNC_BACKEND", backend);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("--max-connections 1000: this process may open only 300 files")
            && out.stderr.contains("at most 172 connections"),
        "the cap is said: {}",
        out.stderr
    );
    let record: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(record["status"], "success", "{record}");
    let logs = sandbox.logs("logs");
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = examen_log::read_log(&logs[0], examen_log::ReadOptions::default()).unwrap();
    assert_eq!(log.status.as_str(), "success");
    assert_eq!(log.samples.as_ref().map(Vec::len), Some(samples));
    let stats = server.stats();
    assert_eq!(
        stats.completions as usize, samples,
        "no request failed and was retried: {stats:?}"
    );
    assert!(stats.max_in_flight <= 172, "{stats:?}");
}
