//! Exec latency of the docker sandbox (the Engine API over its socket) against a
//! `docker exec CONTAINER true` process, side by side in one run: median and p99 of N
//! trivial execs each, interleaved so both see the same machine.
//!
//! Usage: `DOCKER_HOST=$(scripts/docker.sh up | sed 's/^DOCKER_HOST=//') cargo run --release
//! -p examen-sandbox --example docker_exec_latency [N]` (`EXAMEN_ASYNC_BACKEND=smol` for smol).

use std::time::{Duration, Instant};

use examen_sandbox::docker::DockerSandbox;
use examen_sandbox::{DockerProvider, ExecRequest, SampleInfo, SandboxConfig, SandboxProvider};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let backend = examen_rt::Backend::from_env().expect("EXAMEN_ASYNC_BACKEND");
    examen_rt::run(backend, async move {
        let provider = DockerProvider::new();
        let config = SandboxConfig::default();
        let envs = provider
            .sample_init(&config, &SampleInfo::default())
            .await
            .expect("sample_init");
        let sandbox = envs.default_sandbox().unwrap().clone();
        let container = sandbox
            .as_any()
            .downcast_ref::<DockerSandbox>()
            .unwrap()
            .container()
            .to_owned();
        let cli = if std::path::Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker"
        } else {
            "docker"
        };
        let (mut api, mut process) = (Vec::new(), Vec::new());
        // Warm-up: the pool's first connection, the CLI's first start.
        sandbox.exec(ExecRequest::new(["true"])).await.unwrap();
        for _ in 0..n {
            let started = Instant::now();
            let result = sandbox.exec(ExecRequest::new(["true"])).await.unwrap();
            assert!(result.success);
            api.push(started.elapsed());

            let mut command = std::process::Command::new(cli);
            command.args(["exec", &container, "true"]);
            let started = Instant::now();
            let out = examen_rt::process::run(command, None, None).await.unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            process.push(started.elapsed());
        }
        provider
            .sample_cleanup(&config, envs, false)
            .await
            .expect("sample_cleanup");
        api.sort();
        process.sort();
        let (api_median, process_median) = (percentile(&api, 0.5), percentile(&process, 0.5));
        println!(
            "backend {:?}, {n} execs of `true` each",
            examen_rt::current_backend().unwrap()
        );
        println!(
            "engine API:    median {:>8.2?}  p99 {:>8.2?}",
            api_median,
            percentile(&api, 0.99)
        );
        println!(
            "docker exec:   median {:>8.2?}  p99 {:>8.2?}",
            process_median,
            percentile(&process, 0.99)
        );
        println!(
            "ratio (API / process): median {:.2}, p99 {:.2}",
            api_median.as_secs_f64() / process_median.as_secs_f64(),
            percentile(&api, 0.99).as_secs_f64() / percentile(&process, 0.99).as_secs_f64()
        );
    });
}
