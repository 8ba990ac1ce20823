//! One count of a run everywhere it is shown: the plain display's last line, the summary, the
//! `--json` record and the log agree on how many samples finished and errored, and the
//! summary shows the retries (item 17 of issue 12).

use crate::support::{backends, run, Sandbox};

const TASK: &str = "name: t\ndataset:\n  samples:\n    - {input: 'a', target: 'x'}\n    - {input: 'b', target: 'x'}\n    - {input: 'c', target: 'x'}\n    - {input: 'd', target: 'x'}\nscorer: includes\n";

fn dead_url() -> String {
    // A port nothing listens on: every call is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    format!("http://127.0.0.1:{port}/v1")
}

/// The numbers after `label` in `text`'s first line containing it: `4/4` and `4 errors`.
fn counts_after(text: &str, label: &str) -> (String, String) {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("{label:?} in {text}"));
    let rest = &line[line.find(label).unwrap_or(0) + label.len()..];
    let fraction = rest
        .split_whitespace()
        .find(|w| w.contains('/'))
        .unwrap_or_default()
        .trim_end_matches(',')
        .to_string();
    let errors = rest
        .split(", ")
        .find(|p| p.contains("error"))
        .map(|p| p.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    (fraction, errors)
}

#[test]
fn progress_summary_json_and_log_agree_on_the_counts() {
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        sandbox.write("t.yaml", TASK);
        let url = dead_url();
        let args = [
            "eval",
            "t.yaml",
            "--model",
            "openai-api/test/m",
            "--model-base-url",
            &url,
            "--max-retries",
            "1",
            "--fail-on-error",
            "false",
        ];
        let mut cmd = sandbox.examen(&args);
        cmd.args(["--display", "plain"]).env("TEST_API_KEY", "k");
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{backend}: {out:?}");
        // The last progress line: `t (openai-api/test/m): success, 4/4 samples, 4 errors in 0.01s`.
        let last = out
            .stderr
            .lines()
            .rfind(|l| l.contains("samples"))
            .unwrap_or_default();
        let (progress, progress_errors) = counts_after(last, "success, ");
        let (summary, summary_errors) = counts_after(&out.stdout, "samples");
        assert_eq!(
            (progress.as_str(), progress_errors.as_str()),
            ("4/4", "4 errors"),
            "{out:?}"
        );
        assert_eq!(
            (&summary, &summary_errors),
            (&progress, &progress_errors),
            "{out:?}"
        );
        // Each call was refused twice (one retry), and the summary says so.
        let retries = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("retries"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("a retries row: {}", out.stdout));
        assert_eq!(retries, "4", "{}", out.stdout);

        let logs = sandbox.logs("logs");
        assert_eq!(logs.len(), 1);
        let log = examen_log::read_log(&logs[0], examen_log::ReadOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let samples = log.samples.unwrap_or_default();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples.iter().filter(|s| s.error.is_some()).count(), 4);

        // The JSON record counts the same way.
        let mut cmd = sandbox.examen(&args);
        cmd.args(["--display", "none", "--json"])
            .env("TEST_API_KEY", "k");
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{backend}: {out:?}");
        let record: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
        assert_eq!(record["samples"]["total"], 4, "{record}");
        assert_eq!(record["samples"]["finished"], 4, "{record}");
        assert_eq!(record["samples"]["errors"], 4, "{record}");
        assert_eq!(record["samples"]["completed"], 0, "{record}");
        assert_eq!(record["retries"], 4, "{record}");
    }
}

/// Whether this machine lets us mount a small file system of our own (a user and mount
/// namespace, through `unshare`). Under `CI=true` it must: a skip there would hide the test.
fn can_mount_a_small_disk() -> bool {
    let ok = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"])
        .output()
        .is_ok_and(|out| out.status.success());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        ok || !ci,
        "CI=true: `unshare -rm` + tmpfs is needed for the full-disk test"
    );
    if !ok {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the full-disk test: `unshare -rm` cannot mount a tmpfs here"
        );
    }
    ok
}

/// On a full disk the run stops with the log's error, and that error says how many samples the
/// log holds: the same number `examen log list` then reads from the file (they used to be three
/// different numbers: the progress line's, the summary's and the log's).
#[test]
fn on_a_full_disk_the_error_says_how_many_samples_the_log_holds() {
    if !can_mount_a_small_disk() {
        return;
    }
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        let records: String = (1..=400)
            .map(|i| {
                format!(
                    "{{\"id\": {i}, \"input\": \"{}{i}\", \"target\": \"x\"}}\n",
                    "q".repeat(500)
                )
            })
            .collect();
        sandbox.write("full/data.jsonl", &records);
        sandbox.write(
            "full/task.yaml",
            "name: full\ndataset: {path: data.jsonl}\nsolver: [generate]\nscorer: includes\n",
        );
        std::fs::create_dir_all(sandbox.path().join("disk")).unwrap();
        // A 100 KiB disk for the logs, in a mount namespace of this command's own; the log is
        // listed inside it, before the namespace (and the disk) goes away.
        let program = env!("CARGO_BIN_EXE_examen");
        let script = format!(
            "mount -t tmpfs -o size=100k tmpfs disk && \
             '{program}' eval full/task.yaml --model mockllm/model --log-dir disk --log-buffer 5 \
               --display plain --json; \
             echo '--- list'; '{program}' log list --log-dir disk --json"
        );
        let mut cmd = crate::support::wrapper_command(
            sandbox.path(),
            "unshare",
            &["-rm", "sh", "-c", &script],
        );
        cmd.env("EXAMEN_ASYNC_BACKEND", backend);
        let out = run(&mut cmd);
        let (record, list) = out
            .stdout
            .split_once("--- list\n")
            .unwrap_or_else(|| panic!("{out:?}"));
        let record: serde_json::Value =
            serde_json::from_str(record.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        let list: serde_json::Value =
            serde_json::from_str(list.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        assert_eq!(record["status"], "error", "{record}");
        let error = record["error"].as_str().unwrap_or_default();
        assert!(error.contains("No space left on device"), "{error}");
        let kept: u64 = error
            .split("the log keeps the ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("the error says what the log keeps: {error}"));
        let logs = list.as_array().unwrap_or_else(|| panic!("{list}"));
        assert_eq!(logs.len(), 1, "{list}");
        assert_eq!(logs[0]["status"], "started", "{list}");
        assert_eq!(logs[0]["samples"].as_u64(), Some(kept), "{error} / {list}");
        assert!(kept > 0 && kept < 400, "{kept}");
        // The display's last line carries the same error, so the same number.
        assert!(
            out.stderr
                .contains(&format!("the log keeps the {kept} samples")),
            "{}",
            out.stderr
        );
    }
}
