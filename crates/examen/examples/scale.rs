//! Runs N samples (default 100,000) through the engine on a mock model that
//! answers instantly, to measure throughput and check that memory stays flat
//! (results keep only small score data; samples go to the log sink).
//!
//! ```text
//! cargo run --release -p examen --example scale -- 100000 [log dir]
//! /usr/bin/time -v target/release/examples/scale 100000   # "Maximum resident set size"
//! ```

use std::sync::Arc;
use std::time::Instant;

use examen::dataset::Dataset;
use examen::runner::LogDir;
use examen::sample::Sample;
use examen::{scorer, EvalOptions, Task};
use examen_log::LogFormat;
use examen_model::{MockLlm, Model};
use examen_types::ModelOutput;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let log_dir = args.next();
    let samples = (0..n)
        .map(|i| Sample::new(format!("What is {i} + 1?"), (i + 1).to_string()))
        .collect();
    let dataset = Dataset::from_samples(samples).unwrap_or_default();
    let task = Task::new("scale", dataset).scorer(Arc::new(scorer::Match {
        numeric: true,
        ..scorer::Match::default()
    }));
    let model = Model::from_mock(MockLlm::from_fn(|_| {
        ModelOutput::from_text("mockllm/model", "ANSWER: 1")
    }));
    let options = EvalOptions {
        max_samples: Some(100),
        logger: log_dir.map(|dir| {
            Arc::new(LogDir::new(dir, LogFormat::Eval)) as Arc<dyn examen::runner::log::EvalLogger>
        }),
        ..EvalOptions::default()
    };
    let started = Instant::now();
    let backend = examen_rt::Backend::from_env().unwrap_or(examen_rt::Backend::Tokio);
    let outcomes = examen_rt::run(
        backend,
        examen::eval(vec![task], vec![model], options, None),
    );
    let elapsed = started.elapsed().as_secs_f64();
    match outcomes {
        Ok(outcomes) => {
            let accuracy = outcomes[0]
                .results
                .as_ref()
                .and_then(|r| r.metric("match", "accuracy"))
                .unwrap_or(f64::NAN);
            println!(
                "{n} samples on {} in {elapsed:.2}s ({:.0} samples/s), accuracy {accuracy:.5}",
                backend.name(),
                n as f64 / elapsed
            );
        }
        Err(e) => eprintln!("error: {e}"),
    }
}
