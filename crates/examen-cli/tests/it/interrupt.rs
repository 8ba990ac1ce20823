//! Ctrl-C (SIGINT) during an eval stops it, completes its log as `cancelled`, says how to resume
//! it and exits with code 130, on both backends.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::{backends, Sandbox};

#[test]
fn sigint_during_an_eval_exits_130() {
    for backend in backends() {
        let sandbox = Sandbox::new();
        // Slow enough (20 samples one at a time, 0.5 s each) that it is still running when the
        // signal arrives; the test waits for the run to start, never for a time.
        let mut child = sandbox
            .examen(&[
                "eval",
                "arithmetic/task.yaml",
                "--model",
                "mockllm/model",
                "-M",
                "latency=0.5",
                "--max-samples",
                "1",
                "--display",
                "plain",
                "--async-backend",
                backend,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "ended early: {seen}"
            );
            seen.push_str(&line);
            if line.contains("started") {
                break;
            }
        }
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{seen}{rest}");
        assert!(rest.contains("SIGINT: stopping"), "{seen}{rest}");
        assert!(
            rest.contains("arithmetic (mockllm/model): cancelled"),
            "{seen}{rest}"
        );
        // The error, then how to continue: the log is named in the hint.
        let (error, hint) = rest
            .split_once("error: interrupted\n\nhint: resume with `examen eval-retry logs/")
            .unwrap_or_else(|| panic!("{seen}{rest}"));
        assert!(!error.contains("hint:"), "{seen}{rest}");
        assert!(
            hint.ends_with(".eval` (from this directory)\n"),
            "{seen}{rest}"
        );
        // The log was completed, with what finished before the signal.
        let logs = sandbox.logs("logs");
        assert_eq!(logs.len(), 1);
        let log = examen_log::read_log(&logs[0], examen_log::ReadOptions::default()).unwrap();
        assert_eq!(log.status.as_str(), "cancelled");
        assert!(log.samples.unwrap().len() < 40);
    }
}
