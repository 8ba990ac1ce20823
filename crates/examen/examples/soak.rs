//! Soak: N samples (default 100,000) through a slow mock model with
//! `max_samples` 1,000 and an `.eval` log, on one backend. Reads the resident
//! set size (`VmRSS`) when 10,000 and when all N samples have finished, then
//! checks that every sample landed in the log exactly once. Exits non-zero
//! when the log is incomplete.
//!
//! ```text
//! cargo build --release -p examen --example soak
//! EXAMEN_ASYNC_BACKEND=tokio target/release/examples/soak [N] [latency ms] [log dir]
//! EXAMEN_ASYNC_BACKEND=smol  target/release/examples/soak
//! ```
//!
//! `crates/examen/soak.sh` runs it on both backends.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use examen::dataset::Dataset;
use examen::runner::log::EvalLogger;
use examen::runner::LogDir;
use examen::sample::Sample;
use examen::{scorer, EvalEvent, EvalOptions, Task};
use examen_log::{LogFormat, LogReader};
use examen_model::{MockLlm, Model};
use examen_types::ModelOutput;

/// Resident and peak resident set size in MiB, from `/proc/self/status`.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let latency_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("examen-soak-{}", std::process::id())),
        PathBuf::from,
    );
    let backend = examen_rt::Backend::from_env().unwrap_or(examen_rt::Backend::Tokio);
    let checkpoint = 10_000.min(n);

    let samples = (0..n)
        .map(|i| Sample::new(format!("What is {i} + 1?"), (i + 1).to_string()))
        .collect();
    let dataset = Dataset::from_samples(samples).unwrap_or_default();
    let task = Task::new("soak", dataset).scorer(Arc::new(scorer::Match {
        numeric: true,
        ..scorer::Match::default()
    }));
    let model = Model::from_mock(
        MockLlm::from_fn(|_| ModelOutput::from_text("mockllm/model", "ANSWER: 1"))
            .with_latency(Duration::from_millis(latency_ms)),
    );
    let options = EvalOptions {
        max_samples: Some(1000),
        logger: Some(Arc::new(LogDir::new(&dir, LogFormat::Eval)) as Arc<dyn EvalLogger>),
        ..EvalOptions::default()
    };

    let started = Instant::now();
    let (rss_at_checkpoint, rss_at_end, outcome) = examen_rt::run(backend, async move {
        let (events, receiver) = examen_rt::channel(4096);
        let watcher = examen_rt::spawn(async move {
            let mut at_checkpoint = None;
            let mut at_end = None;
            while let Some(event) = receiver.recv().await {
                if let EvalEvent::SampleFinished { completed, .. } = event {
                    if completed == checkpoint {
                        at_checkpoint = Some(rss_mib());
                    }
                    if completed == n {
                        at_end = Some(rss_mib());
                    }
                }
            }
            (at_checkpoint, at_end)
        });
        let outcome = examen::eval(vec![task], vec![model], options, Some(events)).await;
        let (at_checkpoint, at_end) = watcher.await.unwrap_or((None, None));
        (at_checkpoint, at_end, outcome)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (_, peak) = rss_mib();
    let outcome = match outcome {
        Ok(mut outcomes) => outcomes.remove(0),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Some(location) = outcome.log_location.clone() else {
        eprintln!("error: no log written ({:?})", outcome.error);
        return std::process::ExitCode::FAILURE;
    };

    let reader = match LogReader::open(std::path::Path::new(&location)) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let summaries = reader.summaries().unwrap_or_default();
    let unique: HashSet<String> = summaries
        .iter()
        .map(|s| format!("{}:{}", s.id, s.epoch))
        .collect();
    let complete = reader.sample_count() == n && summaries.len() == n && unique.len() == n;
    let size = std::fs::metadata(&location).map_or(0, |m| m.len());
    let fmt = |v: Option<(f64, f64)>| v.map_or("?".into(), |(rss, _)| format!("{rss:.1} MiB"));
    println!(
        "{backend}: {n} samples, latency {latency_ms} ms, max_samples 1000: {elapsed:.1}s \
         ({:.0} samples/s); RSS at {checkpoint}: {}, at {n}: {}, peak {peak:.1} MiB; \
         log {:.1} MB with {} samples ({} unique), status {:?}",
        n as f64 / elapsed,
        fmt(rss_at_checkpoint),
        fmt(rss_at_end),
        size as f64 / 1e6,
        reader.sample_count(),
        unique.len(),
        outcome.status,
        backend = backend.name(),
    );
    let _ = std::fs::remove_file(&location);
    let _ = std::fs::remove_dir(&dir);
    if complete {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("error: the log does not hold every sample exactly once");
        std::process::ExitCode::FAILURE
    }
}
