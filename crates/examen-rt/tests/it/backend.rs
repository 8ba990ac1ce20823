//! Backend selection, `current_backend`, and the promise that smol never starts tokio.
//!
//! Checks that depend on process-wide state (environment variables, the set of threads) run in a
//! fresh child process: the test binary re-runs itself with `EXAMEN_RT_PROBE` set, so that other
//! tests running in parallel threads cannot disturb them.

use std::process::Command;

use examen_rt::Backend;

const PROBE_ENV: &str = "EXAMEN_RT_PROBE";

/// Runs the probe test `name` in a child copy of this test binary and returns its stdout.
fn run_probe(name: &str, envs: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args([
            "--exact",
            "backend::probe_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, name)
        .envs(envs.iter().copied())
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "probe {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The probe's report: what follows `PROBE ` (the harness prints the test name before it).
fn probe_line(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|line| {
            line.split_once("PROBE ")
                .map(|(_, report)| report.to_string())
        })
        .unwrap_or_else(|| panic!("no probe report in:\n{stdout}"))
}

/// Not a test of its own: the body of the child process started by `run_probe`. Without
/// `EXAMEN_RT_PROBE` it has nothing to do.
#[test]
fn probe_child() {
    let Ok(probe) = std::env::var(PROBE_ENV) else {
        return;
    };
    match probe.as_str() {
        "from_env" => match Backend::from_env() {
            Ok(backend) => println!("PROBE backend={backend}"),
            Err(err) => println!("PROBE error={err}"),
        },
        "smol_threads" => {
            let report = examen_rt::run(Backend::Smol, async {
                // Exercise every part that could start a runtime behind our back.
                let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .unwrap();
                let addr = listener.local_addr().unwrap();
                let accept = examen_rt::spawn(async move { listener.accept().await.map(|_| ()) });
                let _client = examen_rt::net::connect_tcp("127.0.0.1", addr.port())
                    .await
                    .unwrap();
                accept.await.unwrap().unwrap();
                examen_rt::sleep(std::time::Duration::from_millis(5)).await;
                examen_rt::to_thread(|| ()).await;
                let mut command = Command::new("true");
                command.arg("x");
                examen_rt::process::run(command, None, None).await.unwrap();
                let in_task = examen_rt::spawn(async { tokio_handle_exists() })
                    .await
                    .unwrap();
                format!(
                    "handle_in_main={} handle_in_task={} threads={}",
                    tokio_handle_exists(),
                    in_task,
                    thread_names().join(",")
                )
            });
            println!("PROBE {report}");
        }
        other => panic!("unknown probe {other}"),
    }
}

fn tokio_handle_exists() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("linux /proc") {
        let path = entry.unwrap().path().join("comm");
        if let Ok(name) = std::fs::read_to_string(path) {
            names.push(name.trim().to_string());
        }
    }
    names
}

#[test]
fn under_smol_no_tokio_runtime_exists() {
    let stdout = run_probe("smol_threads", &[]);
    let line = probe_line(&stdout);
    assert!(line.contains("handle_in_main=false"), "{line}");
    assert!(line.contains("handle_in_task=false"), "{line}");
    assert!(
        line.contains("examen-smol-"),
        "smol workers are ours: {line}"
    );
    assert!(
        !line.contains("tokio"),
        "a tokio thread exists under smol: {line}"
    );
}

#[test]
fn from_env_reads_examen_async_backend() {
    let probe = |value: Option<&str>| {
        let envs: Vec<(&str, &str)> = value
            .map(|v| ("EXAMEN_ASYNC_BACKEND", v))
            .into_iter()
            .collect();
        let mut command_env = envs.clone();
        if value.is_none() {
            // Make sure an outer setting does not leak in.
            command_env.push(("EXAMEN_ASYNC_BACKEND", ""));
        }
        probe_line(&run_probe("from_env", &command_env))
    };
    assert_eq!(probe(None), "backend=tokio");
    assert_eq!(probe(Some("smol")), "backend=smol");
    assert_eq!(probe(Some("Tokio")), "backend=tokio");
    assert_eq!(
        probe(Some("asyncio")),
        "error=unknown async backend 'asyncio' in EXAMEN_ASYNC_BACKEND: expected one of tokio, smol"
    );
}

#[test]
fn current_backend_names_the_running_backend() {
    assert_eq!(examen_rt::current_backend(), None);
    for backend in Backend::ALL {
        let (outside_task, inside_task, in_thread) = examen_rt::run(backend, async {
            let inside = examen_rt::spawn(async { examen_rt::current_backend() })
                .await
                .unwrap();
            let in_thread = examen_rt::to_thread(examen_rt::current_backend).await;
            (examen_rt::current_backend(), inside, in_thread)
        });
        assert_eq!(outside_task, Some(backend));
        assert_eq!(inside_task, Some(backend));
        assert_eq!(in_thread, None, "blocking work runs outside the runtime");
    }
    assert_eq!(examen_rt::current_backend(), None);
}
