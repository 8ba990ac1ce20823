//! Defines the arithmetic task with the builder API and runs it against a
//! scripted `mockllm` that does the sums, on the backend named by
//! `EXAMEN_ASYNC_BACKEND` (tokio by default).
//!
//! ```text
//! cargo run -p examen --example arithmetic
//! ```

use std::sync::Arc;

use examen::dataset::Dataset;
use examen::metric::{Accuracy, Grouped, Stderr};
use examen::reducer::Reducer;
use examen::sample::Sample;
use examen::{scorer, solver, EvalOptions, Task};
use examen_model::{MockLlm, Model};
use examen_types::{ChatMessage, JsonObject, ModelOutput};

/// Answers "What is A op B?" correctly, as `ANSWER: n`.
fn calculator(messages: &[ChatMessage]) -> ModelOutput {
    let prompt = messages
        .iter()
        .rev()
        .find(|m| m.role() == "user")
        .map(ChatMessage::text)
        .unwrap_or_default();
    let question = prompt.lines().next().unwrap_or_default();
    let words: Vec<&str> = question
        .trim_start_matches("What is ")
        .trim_end_matches('?')
        .split(' ')
        .collect();
    let answer = match words.as_slice() {
        [a, op, b] => match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(a), Ok(b)) => match *op {
                "+" => (a + b).to_string(),
                "-" => (a - b).to_string(),
                "*" => (a * b).to_string(),
                _ => "I don't know".to_string(),
            },
            _ => "I don't know".to_string(),
        },
        _ => "I don't know".to_string(),
    };
    ModelOutput::from_text(
        "mockllm/model",
        format!("Let me compute.\nANSWER: {answer}"),
    )
}

fn main() {
    let questions = [
        ("What is 2 + 2?", "4", "easy"),
        ("What is 12 * 12?", "144", "hard"),
        ("What is 10 - 3?", "7", "easy"),
    ];
    let samples = questions
        .iter()
        .map(|(question, answer, level)| {
            let mut metadata = JsonObject::new();
            metadata.insert("level".into(), (*level).into());
            Sample::new(*question, *answer).with_metadata(metadata)
        })
        .collect();
    let dataset = match Dataset::from_samples(samples) {
        Ok(dataset) => dataset,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let task = Task::new("arithmetic", dataset)
        .solver(solver::system_message("You are a careful calculator."))
        .solver(solver::prompt_template(
            "{prompt}\nEnd with ANSWER: <number>",
        ))
        .solver(solver::generate())
        .scorer(Arc::new(scorer::Match {
            numeric: true,
            ..scorer::Match::default()
        }))
        .metrics(vec![
            Arc::new(Accuracy::default()),
            Arc::new(Stderr::default()),
            Arc::new(Grouped::new(Arc::new(Accuracy::default()), "level")),
        ])
        .epochs(2, vec![Reducer::Mean, Reducer::PassAt { k: 2, value: 1.0 }]);
    let model = Model::from_mock(MockLlm::from_fn(calculator));

    let backend = examen_rt::Backend::from_env().unwrap_or(examen_rt::Backend::Tokio);
    let outcomes = examen_rt::run(
        backend,
        examen::eval(vec![task], vec![model], EvalOptions::default(), None),
    );
    match outcomes {
        Ok(outcomes) => {
            for outcome in outcomes {
                println!(
                    "{} on {} ({}): {:?}",
                    outcome.task,
                    outcome.model,
                    backend.name(),
                    outcome.status
                );
                for score in outcome.results.iter().flat_map(|r| r.scores.iter()) {
                    let reducer = score.reducer.as_deref().unwrap_or("-");
                    for (name, metric) in &score.metrics {
                        println!("  {} [{reducer}] {name}: {:.3}", score.name, metric.value);
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
