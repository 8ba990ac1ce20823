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
    Turns(Arc<[ModelOutput]>),
    Function(Arc<OutputFn>),
}

impl std::fmt::Debug for MockLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outputs = match &self.outputs {
            Outputs::Default => "default",
            Outputs::Script(_) => "script",
            Outputs::Turns(_) => "turns",
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

    /// Plays the same conversation with every sample: the call whose input holds `n`
    /// assistant messages is answered with `turns[n]` (so samples running side by side, and
    /// every epoch, each get the whole script). A call past the end fails with an error that
    /// says how many turns the script has.
    pub fn turns(turns: impl IntoIterator<Item = ModelOutput>) -> Self {
        Self {
            outputs: Outputs::Turns(turns.into_iter().collect()),
            latency: None,
        }
    }

    /// A script of turns (see [`turns`](Self::turns)) read from a `.json` file holding a list
    /// of turns or a `.jsonl` file with one turn per line. A turn is the answer's text, or
    /// `{"content": "...", "tool_calls": [{"function": "...", "arguments": {...}, "id": "..."}]}`
    /// (`content` and each call's `id` are optional).
    pub fn read_script(path: &std::path::Path) -> Result<Vec<ModelOutput>, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the mockllm script {shown}: {e}"))?;
        let jsonl = path.extension().is_some_and(|ext| ext == "jsonl");
        let turns: Vec<(usize, serde_json::Value)> = if jsonl {
            text.lines()
                .enumerate()
                .filter(|(_, line)| !line.trim().is_empty())
                .map(|(i, line)| {
                    serde_json::from_str(line)
                        .map(|turn| (i + 1, turn))
                        .map_err(|e| format!("{shown}:{}: {e}", i + 1))
                })
                .collect::<Result<_, _>>()?
        } else {
            match serde_json::from_str(&text) {
                Ok(serde_json::Value::Array(turns)) => turns.into_iter().map(|t| (0, t)).collect(),
                Ok(_) => return Err(format!("{shown}: expected a JSON list of turns")),
                Err(e) => return Err(format!("{shown}:{}: {e}", e.line())),
            }
        };
        turns
            .into_iter()
            .enumerate()
            .map(|(index, (line, turn))| {
                script_turn(index, turn).map_err(|e| match line {
                    0 => format!("{shown}: turn {}: {e}", index + 1),
                    line => format!("{shown}:{line}: {e}"),
                })
            })
            .collect()
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
            Outputs::Turns(turns) => {
                let turn = input
                    .iter()
                    .filter(|m| matches!(m, ChatMessage::Assistant(_)))
                    .count();
                turns.get(turn).cloned().ok_or_else(|| {
                    ModelError::new(ErrorKind::Mock {
                        provider: "mockllm".to_owned(),
                        message: format!(
                            "the script has {} turns; this conversation is at turn {}",
                            turns.len(),
                            turn + 1
                        ),
                    })
                })?
            }
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

/// One turn of a script file: its text, or `{content?, tool_calls?}`.
fn script_turn(index: usize, turn: serde_json::Value) -> Result<ModelOutput, String> {
    use examen_types::ToolCall;
    let model = "mockllm/model";
    let (content, calls) = match turn {
        serde_json::Value::String(text) => return Ok(ModelOutput::from_text(model, text)),
        serde_json::Value::Object(mut turn) => {
            let content = match turn.remove("content") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(text)) => Some(text),
                Some(_) => return Err("`content` must be a string".to_owned()),
            };
            let calls = match turn.remove("tool_calls") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(calls)) => calls,
                Some(_) => return Err("`tool_calls` must be a list".to_owned()),
            };
            if let Some(other) = turn.keys().next() {
                return Err(format!(
                    "unknown field `{other}`; expected content or tool_calls"
                ));
            }
            (content, calls)
        }
        _ => return Err("a turn is a string or {content, tool_calls}".to_owned()),
    };
    if calls.is_empty() {
        return Ok(ModelOutput::from_text(model, content.unwrap_or_default()));
    }
    let mut tool_calls = Vec::with_capacity(calls.len());
    for (i, call) in calls.into_iter().enumerate() {
        let serde_json::Value::Object(mut call) = call else {
            return Err(format!("tool_calls[{i}] must be {{function, arguments}}"));
        };
        let Some(serde_json::Value::String(function)) = call.remove("function") else {
            return Err(format!("tool_calls[{i}] has no `function` name"));
        };
        let arguments = match call.remove("arguments") {
            None | Some(serde_json::Value::Null) => Default::default(),
            Some(serde_json::Value::Object(arguments)) => arguments,
            Some(_) => return Err(format!("tool_calls[{i}]: `arguments` must be an object")),
        };
        let id = match call.remove("id") {
            Some(serde_json::Value::String(id)) => id,
            _ => format!("call_{}_{}", index + 1, i + 1),
        };
        tool_calls.push(ToolCall::new(id, function, arguments.into_iter().collect()));
    }
    Ok(ModelOutput::for_tool_calls(model, tool_calls, content))
}
