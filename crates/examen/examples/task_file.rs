//! Runs a task file against a model and writes an Inspect-compatible log,
//! the way `examen eval` does (without the CLI's display):
//!
//! ```text
//! cargo run -p examen --example task_file -- examples/arithmetic/task.yaml mockllm/model logs
//! ```

use std::sync::Arc;

use examen::runner::LogDir;
use examen::{EvalEvent, EvalOptions};
use examen_log::LogFormat;
use examen_model::{get_model, ModelOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [task_file, model, log_dir] = args.as_slice() else {
        eprintln!("usage: task_file <task.yaml> <provider/model> <log dir>");
        std::process::exit(2);
    };
    let task = examen::taskfile::load_task_file(task_file).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let model = get_model(model, ModelOptions::default()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let options = EvalOptions {
        logger: Some(Arc::new(LogDir::new(log_dir, LogFormat::Eval))),
        ..EvalOptions::default()
    };
    let backend = examen_rt::Backend::from_env().unwrap_or(examen_rt::Backend::Tokio);
    let outcomes = examen_rt::run(backend, async move {
        let (tx, rx) = examen_rt::channel(256);
        let display = examen_rt::spawn(async move {
            let mut done = 0;
            while let Some(event) = rx.recv().await {
                if let EvalEvent::SampleFinished { completed, .. } = event {
                    done = completed;
                }
            }
            done
        });
        let outcomes = examen::eval(vec![task], vec![model], options, Some(tx)).await;
        let done = display.await.unwrap_or(0);
        eprintln!("{done} samples finished");
        outcomes
    });
    match outcomes {
        Ok(outcomes) => {
            for o in outcomes {
                println!(
                    "{} {} {:?} log: {}",
                    o.task,
                    o.model,
                    o.status,
                    o.log_location.unwrap_or_default()
                );
                for score in o.results.iter().flat_map(|r| r.scores.iter()) {
                    for (name, metric) in &score.metrics {
                        println!(
                            "  {} [{}] {name}: {:.4}",
                            score.name,
                            score.reducer.as_deref().unwrap_or("-"),
                            metric.value
                        );
                    }
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
