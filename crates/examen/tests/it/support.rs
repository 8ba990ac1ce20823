//! Helpers shared by the test modules.

use std::sync::Arc;

use examen::dataset::Dataset;
use examen::runner::log::{MemoryLog, MemoryRun};
use examen::sample::Sample;
use examen::{EvalOptions, EvalOutcome, Task};
use examen_model::{MockLlm, Model};
use examen_types::{ChatMessage, ModelOutput};

/// The text of the last user message.
pub(crate) fn last_user(messages: &[ChatMessage]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.role() == "user")
        .map(ChatMessage::text)
        .unwrap_or_default()
}

/// A mock whose answer is a function of the last user message.
pub(crate) fn mock(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> Model {
    Model::from_mock(MockLlm::from_fn(move |messages| {
        ModelOutput::from_text("mockllm/model", answer(&last_user(messages)))
    }))
}

/// A dataset from (input, target) pairs.
pub(crate) fn dataset(pairs: &[(&str, &str)]) -> Dataset {
    let samples = pairs
        .iter()
        .map(|(input, target)| Sample::new(*input, *target))
        .collect();
    Dataset::from_samples(samples).unwrap_or_else(|e| panic!("dataset: {e}"))
}

/// Runs one task on one model with a memory log; returns the outcome and the logged run.
pub(crate) async fn run(
    task: Task,
    model: Model,
    mut options: EvalOptions,
) -> (EvalOutcome, Arc<MemoryRun>) {
    let log = MemoryLog::new();
    options.logger = Some(Arc::new(log.clone()));
    let mut outcomes = examen::eval(vec![task], vec![model], options, None)
        .await
        .unwrap_or_else(|e| panic!("eval: {e}"));
    let outcome = outcomes.pop().unwrap_or_else(|| panic!("one outcome"));
    let run = log.runs().pop().unwrap_or_else(|| panic!("one logged run"));
    (outcome, run)
}
