//! Subprocesses: output captured, and the whole process group killed on timeout or cancel.

use std::process::Command;
use std::time::Duration;

use examen_rt::process::{self, ProcessError};

use crate::support::within_a_minute;

#[examen_rt::test]
async fn captures_stdout_and_stderr_and_feeds_stdin() {
    let mut command = Command::new("sh");
    command.args(["-c", "tr a-z A-Z; echo oops >&2; exit 3"]);
    let output = process::run(
        command,
        Some(b"hello".to_vec()),
        Some(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(output.stdout, b"HELLO");
    assert_eq!(output.stderr, b"oops\n");
    assert_eq!(output.status.code(), Some(3));
}

#[examen_rt::test]
async fn a_missing_program_is_a_spawn_error() {
    let command = Command::new("/nonexistent/examen-test-program");
    let err = process::run(command, None, None).await.unwrap_err();
    assert!(matches!(err, ProcessError::Spawn { .. }), "{err}");
}

/// Whether `pid` is still a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        // The state is the field after the parenthesised command name.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
    }
}

/// A shell that starts a long-lived grandchild, records its pid in `pidfile`, and waits.
fn shell_with_grandchild(pidfile: &std::path::Path) -> Command {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!("sleep 300 & echo $! > {}; wait", pidfile.display()),
    ]);
    command
}

async fn read_pid(pidfile: &std::path::Path) -> u32 {
    within_a_minute("the pid file", async {
        loop {
            if let Ok(text) = std::fs::read_to_string(pidfile) {
                if let Ok(pid) = text.trim().parse() {
                    return pid;
                }
            }
            examen_rt::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

async fn wait_dead(pid: u32) {
    within_a_minute("the grandchild to die", async {
        while alive(pid) {
            examen_rt::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

fn temp_pidfile(name: &str) -> std::path::PathBuf {
    let backend = examen_rt::current_backend().unwrap();
    std::env::temp_dir().join(format!(
        "examen-rt-{name}-{backend}-{}.pid",
        std::process::id()
    ))
}

#[examen_rt::test]
async fn a_timeout_kills_the_whole_process_group() {
    let pidfile = temp_pidfile("timeout");
    let _ = std::fs::remove_file(&pidfile);
    let command = shell_with_grandchild(&pidfile);
    let run = examen_rt::spawn(process::run(
        command,
        None,
        Some(Duration::from_millis(300)),
    ));
    let grandchild = read_pid(&pidfile).await;
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, ProcessError::TimedOut { .. }), "{err}");
    wait_dead(grandchild).await;
    let _ = std::fs::remove_file(&pidfile);
}

#[examen_rt::test]
async fn cancelling_the_call_kills_the_whole_process_group() {
    let pidfile = temp_pidfile("cancel");
    let _ = std::fs::remove_file(&pidfile);
    let command = shell_with_grandchild(&pidfile);
    let run = examen_rt::spawn(process::run(command, None, None));
    let grandchild = read_pid(&pidfile).await;
    assert!(alive(grandchild));
    assert_eq!(run.cancel().await.map(|_| ()), None);
    wait_dead(grandchild).await;
    let _ = std::fs::remove_file(&pidfile);
}
