//! Sandbox exec latency and throughput, per provider and runtime, side by side in one run.
//!
//! ```text
//! cargo bench -p examen-sandbox --bench exec                 # 1,000 execs per provider
//! cargo bench -p examen-sandbox --bench exec -- --execs 200 --providers local,bwrap
//! cargo bench -p examen-sandbox --bench exec -- --json "$PWD/bench/results/sandbox-exec.json"
//! ```
//!
//! For each provider there is here (`local`; `bwrap` when bubblewrap is installed; `docker`
//! when the daemon of `scripts/docker.sh` answers) and each runtime, it makes one sample's
//! sandbox and times trivial execs (`true`) one after the other (median and p99), then the same
//! number with 16 in flight (execs per second). For docker it also times a `docker exec`
//! process per command on the same container, the path Inspect's sandbox takes, so the two
//! are compared in the same run. Prints a Markdown table; `--json FILE` writes the figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use examen_rt::Backend;
use examen_sandbox::{ExecRequest, ProviderRegistry, SampleInfo, SandboxConfig, SandboxProvider};

/// Execs in flight in the throughput run.
const CONCURRENCY: usize = 16;

struct Args {
    execs: usize,
    providers: Option<Vec<String>>,
    json: Option<std::path::PathBuf>,
}

fn args() -> Args {
    let mut args = Args {
        execs: 1000,
        providers: None,
        json: None,
    };
    let mut rest = std::env::args().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--execs" => args.execs = rest.next().and_then(|n| n.parse().ok()).expect("--execs N"),
            "--providers" => {
                args.providers = rest
                    .next()
                    .map(|list| list.split(',').map(str::to_owned).collect());
            }
            "--json" => args.json = rest.next().map(Into::into),
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    args
}

#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    provider: String,
    backend: String,
    execs: usize,
    median_ms: f64,
    p99_ms: f64,
    throughput_per_s: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// What [`measure`] found.
struct Measured {
    times: Vec<Duration>,
    throughput: f64,
    /// `docker exec` processes on the same container, for providers that have one.
    cli: Option<Vec<Duration>>,
}

/// Times `execs` trivial execs in one sample's sandbox of `provider`, then `execs` more with
/// [`CONCURRENCY`] in flight; with `with_cli`, a `docker exec` process per command on its
/// container too, when it has one.
async fn measure(
    provider: Arc<dyn SandboxProvider>,
    execs: usize,
    with_cli: bool,
) -> Result<Measured, String> {
    let config = SandboxConfig::default();
    provider
        .task_init("bench", &config)
        .await
        .map_err(|e| e.to_string())?;
    let info = SampleInfo {
        task: "bench".to_owned(),
        eval_id: format!("bench{}", std::process::id()),
        sample_id: "1".to_owned(),
        epoch: 1,
        ..SampleInfo::default()
    };
    let envs = provider
        .sample_init(&config, &info)
        .await
        .map_err(|e| e.to_string())?;
    let sandbox = envs.default_sandbox().cloned().expect("a default sandbox");
    let container = sandbox.connection().ok().and_then(|c| c.container);
    let run = async {
        for _ in 0..execs.min(20) {
            sandbox
                .exec(ExecRequest::new(["true"]))
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut times = Vec::with_capacity(execs);
        for _ in 0..execs {
            let start = Instant::now();
            let result = sandbox
                .exec(ExecRequest::new(["true"]))
                .await
                .map_err(|e| e.to_string())?;
            times.push(start.elapsed());
            assert!(result.success, "`true` failed: {result:?}");
        }
        let start = Instant::now();
        let funcs = (0..execs).map(|_| {
            let sandbox = sandbox.clone();
            move || async move { sandbox.exec(ExecRequest::new(["true"])).await }
        });
        examen_rt::collect_limited(CONCURRENCY, funcs)
            .await
            .map_err(|e| e.to_string())?;
        let throughput = execs as f64 / start.elapsed().as_secs_f64();
        let cli = match (&container, with_cli) {
            (Some(container), true) => {
                let container = container.clone();
                examen_rt::to_thread(move || docker_cli(&container, execs)).await
            }
            _ => None,
        };
        Ok::<_, String>(Measured {
            times,
            throughput,
            cli,
        })
    };
    let measured = run.await;
    drop(sandbox);
    provider
        .sample_cleanup(&config, envs, false)
        .await
        .map_err(|e| e.to_string())?;
    provider
        .task_cleanup("bench", &config, true)
        .await
        .map_err(|e| e.to_string())?;
    measured
}

/// `docker exec CONTAINER true` as a process, `execs` times: Inspect's path.
fn docker_cli(container: &str, execs: usize) -> Option<Vec<Duration>> {
    let docker = ["/usr/bin/docker", "docker"].into_iter().find(|d| {
        std::process::Command::new(d)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let mut times = Vec::with_capacity(execs);
    for _ in 0..execs {
        let start = Instant::now();
        let status = std::process::Command::new(docker)
            .args(["exec", container, "true"])
            .status()
            .ok()?;
        times.push(start.elapsed());
        if !status.success() {
            return None;
        }
    }
    Some(times)
}

fn main() {
    let args = args();
    let registry = ProviderRegistry::default();
    let names: Vec<String> = args
        .providers
        .clone()
        .unwrap_or_else(|| registry.names().map(str::to_owned).collect());
    let mut rows = Vec::new();
    let mut cli_rows = Vec::new();
    for name in &names {
        let provider = registry.get(name).unwrap_or_else(|e| panic!("{e}"));
        for backend in Backend::ALL {
            let execs = args.execs;
            let provider = provider.clone();
            let with_cli = backend == Backend::ALL[0];
            let measured = examen_rt::run(backend, measure(provider, execs, with_cli));
            let Measured {
                mut times,
                throughput,
                cli,
            } = match measured {
                Ok(measured) => measured,
                Err(why) => {
                    eprintln!("skipped {name} on {backend}: {why}");
                    break;
                }
            };
            times.sort();
            rows.push(Row {
                provider: name.clone(),
                backend: backend.to_string(),
                execs,
                median_ms: percentile(&times, 0.5),
                p99_ms: percentile(&times, 0.99),
                throughput_per_s: throughput,
            });
            if let Some(mut cli) = cli {
                cli.sort();
                cli_rows.push(Row {
                    provider: format!("{name} (`docker exec` process)"),
                    backend: "-".to_owned(),
                    execs,
                    median_ms: percentile(&cli, 0.5),
                    p99_ms: percentile(&cli, 0.99),
                    throughput_per_s: 0.0,
                });
            }
        }
    }
    println!(
        "| provider | runtime | execs | median | p99 | throughput ({CONCURRENCY} in flight) |"
    );
    println!("|---|---|--:|--:|--:|--:|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {:.2} ms | {:.2} ms | {:.0} execs/s |",
            row.provider, row.backend, row.execs, row.median_ms, row.p99_ms, row.throughput_per_s
        );
    }
    for row in &cli_rows {
        println!(
            "| {} | {} | {} | {:.2} ms | {:.2} ms | (one at a time) |",
            row.provider, row.backend, row.execs, row.median_ms, row.p99_ms
        );
        if let Some(api) = rows.iter().find(|r| row.provider.starts_with(&r.provider)) {
            println!();
            println!(
                "{}: the Engine API's median exec is {:.2}× the `docker exec` process's ({:.2} ms vs {:.2} ms).",
                api.provider,
                api.median_ms / row.median_ms,
                api.median_ms,
                row.median_ms
            );
        }
    }
    rows.extend(cli_rows);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
        std::fs::write(path, json + "\n").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
