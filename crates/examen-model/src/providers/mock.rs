//! `mockllm/model`: answers without a network, for tests and demos (Inspect's `MockLLM`).
//!
//! By default every call answers `Default output from mockllm/model`. Tests script it with a
//! list of outputs (served in order; asking for more than the list holds is an error, as in
//! Inspect) or with a function of the input. It must stay cheap: no I/O, and no JSON but the
//! call record of the log's model event (as Inspect's, the request's model and messages and the
//! response's content).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen_types::{
    ChatMessage, Content, GenerateConfig, MessageContent, ModelOutput, ModelUsage, StopReason,
    ToolInfo,
};

use crate::error::{ErrorKind, ModelError};

/// Inspect's default mock answer.
pub const DEFAULT_OUTPUT: &str = "Default output from mockllm/model";

type OutputFn = dyn Fn(&[ChatMessage]) -> ModelOutput + Send + Sync;

/// The scriptable mock model. Turn it into a [`Model`](crate::Model) with
/// [`Model::from_mock`](crate::Model::from_mock) (or get the default one with
/// `get_model("mockllm/model", ...)`).
pub struct MockLlm {
    outputs: Outputs,
    latency: Option<Duration>,
}

enum Outputs {
    Default,
    Script(Mutex<std::vec::IntoIter<ModelOutput>>),
    Function(Arc<OutputFn>),
}

impl std::fmt::Debug for MockLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outputs = match &self.outputs {
            Outputs::Default => "default",
            Outputs::Script(_) => "script",
            Outputs::Function(_) => "function",
        };
        f.debug_struct("MockLlm")
            .field("outputs", &outputs)
            .field("latency", &self.latency)
            .finish()
    }
}

impl Default for MockLlm {
    fn default() -> Self {
        Self::new()
    }
}

impl MockLlm {
    /// Always answers [`DEFAULT_OUTPUT`].
    pub fn new() -> Self {
        Self {
            outputs: Outputs::Default,
            latency: None,
        }
    }

    /// Answers with these outputs in order; a call after the last fails with
    /// `custom_outputs ran out of values` (Inspect's behaviour).
    pub fn outputs(outputs: impl IntoIterator<Item = ModelOutput>) -> Self {
        let outputs: Vec<ModelOutput> = outputs.into_iter().collect();
        Self {
            outputs: Outputs::Script(Mutex::new(outputs.into_iter())),
            latency: None,
        }
    }

    /// Answers with `function(input)` on every call.
    pub fn from_fn(
        function: impl Fn(&[ChatMessage]) -> ModelOutput + Send + Sync + 'static,
    ) -> Self {
        Self {
            outputs: Outputs::Function(Arc::new(function)),
            latency: None,
        }
    }

    /// Waits this long (on the runtime's timer) before each answer, to imitate a real model.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    pub(crate) async fn generate(
        &self,
        input: &[ChatMessage],
        tools: &[ToolInfo],
        _config: &GenerateConfig,
    ) -> Result<ModelOutput, ModelError> {
        if let Some(latency) = self.latency {
            examen_rt::sleep(latency).await;
        }
        let mut output = match &self.outputs {
            Outputs::Default => ModelOutput::from_content(
                "mockllm",
                MessageContent::Text(DEFAULT_OUTPUT.to_owned()),
                StopReason::Stop,
            ),
            Outputs::Script(script) => script
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next()
                .ok_or_else(|| {
                    ModelError::new(ErrorKind::Mock {
                        provider: "mockllm".to_owned(),
                        message: "custom_outputs ran out of values".to_owned(),
                    })
                })?,
            Outputs::Function(function) => function(input),
        };
        if output.usage.is_none() {
            let input_tokens = estimate_input_tokens(input, tools);
            // Inspect counts the completion's characters as its output tokens.
            let output_tokens = output.completion.chars().count() as u64;
            output.usage = Some(ModelUsage::new(input_tokens, output_tokens));
        }
        Ok(output)
    }
}

impl MockLlm {
    /// The call record Inspect's `MockLLM` gives the log's model event (the viewer's API
    /// tab): the request `{"model": <name after "mockllm/">, "messages": <input>}` and the
    /// response `{"content": <completion>}`. The one JSON a call makes.
    pub(crate) fn call_record(
        &self,
        model: &str,
        input: &[ChatMessage],
        output: &ModelOutput,
        time: Duration,
    ) -> crate::ModelCall {
        let name = model.split_once('/').map_or(model, |(_, name)| name);
        let messages = serde_json::to_value(input).unwrap_or_else(|e| {
            // Messages are plain data: serializing them cannot fail; say so if it did.
            serde_json::Value::String(format!("messages not recorded: {e}"))
        });
        crate::ModelCall {
            request: serde_json::json!({"model": name, "messages": messages}),
            response: serde_json::json!({"content": output.completion}),
            time,
        }
    }
}

/// A cheap token estimate (about four bytes a token, plus 10% as Inspect's counter adds), at
/// least one per message.
fn estimate_input_tokens(input: &[ChatMessage], tools: &[ToolInfo]) -> u64 {
    let estimate = |bytes: usize| ((bytes as u64).div_ceil(4) * 11 / 10).max(1);
    let mut tokens: u64 = input
        .iter()
        .map(|message| {
            let bytes = match message.content() {
                MessageContent::Text(text) => text.len(),
                MessageContent::Parts(parts) => parts
                    .iter()
                    .map(|part| match part {
                        Content::Text(text) => text.text.len(),
                        Content::Reasoning(reasoning) => reasoning.reasoning.len(),
                        _ => 0,
                    })
                    .sum(),
            };
            estimate(bytes)
        })
        .sum();
    for tool in tools {
        let schema = serde_json::to_string(&tool.parameters).map_or(0, |s| s.len());
        tokens += estimate(tool.name.len() + tool.description.len() + schema);
    }
    tokens
}
