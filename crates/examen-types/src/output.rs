//! Model output, completion choices, stop reasons, log probabilities and token usage.

use std::ops::{Add, AddAssign};

use serde::{Deserialize, Deserializer, Serialize};

use crate::content::MessageContent;
use crate::message::{ChatMessageAssistant, MessageSource};
use crate::tool::ToolCall;
use crate::JsonObject;

/// Why the model stopped generating (`StopReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Natural stop or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    MaxTokens,
    /// The model's context length was exceeded.
    ModelLength,
    /// The model asked for tool calls.
    ToolCalls,
    /// Content was filtered or refused.
    ContentFilter,
    /// Anything else (the default).
    #[default]
    Unknown,
}

impl StopReason {
    /// Inspect's string for the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Stop => "stop",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ModelLength => "model_length",
            StopReason::ToolCalls => "tool_calls",
            StopReason::ContentFilter => "content_filter",
            StopReason::Unknown => "unknown",
        }
    }

    /// Maps a provider's finish reason onto a stop reason (Inspect's
    /// `as_stop_reason`): `stop`/`eos` → stop, `length` → max_tokens,
    /// `tool_calls`/`function_call` → tool_calls, anything unrecognised → unknown.
    pub fn from_provider(reason: &str) -> StopReason {
        match reason {
            "stop" | "eos" => StopReason::Stop,
            "length" | "max_tokens" => StopReason::MaxTokens,
            "tool_calls" | "function_call" => StopReason::ToolCalls,
            "content_filter" => StopReason::ContentFilter,
            "model_length" => StopReason::ModelLength,
            _ => StopReason::Unknown,
        }
    }
}

impl<'de> Deserialize<'de> for StopReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Inspect migrates the legacy "length" to "max_tokens" when reading logs.
        match s.as_str() {
            "stop" => Ok(StopReason::Stop),
            "max_tokens" | "length" => Ok(StopReason::MaxTokens),
            "model_length" => Ok(StopReason::ModelLength),
            "tool_calls" => Ok(StopReason::ToolCalls),
            "content_filter" => Ok(StopReason::ContentFilter),
            "unknown" => Ok(StopReason::Unknown),
            other => Err(serde::de::Error::unknown_variant(
                other,
                &[
                    "stop",
                    "max_tokens",
                    "model_length",
                    "tool_calls",
                    "content_filter",
                    "unknown",
                ],
            )),
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refusal/safety category of a stop (`StopCategory`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopCategory {
    /// Category name.
    pub category: String,
    /// Severity reported by the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// Detail about why a model stopped (`StopDetails`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StopDetails {
    /// Kind of stop detail.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Primary category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// All categories (always emitted).
    #[serde(default)]
    pub categories: Vec<StopCategory>,
}

/// One of the most likely tokens at a position (`TopLogprob`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// Token text.
    pub token: String,
    /// Log probability.
    pub logprob: f64,
    /// Token bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u32>>,
}

/// Log probability of a generated token (`Logprob`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logprob {
    /// Token text.
    pub token: String,
    /// Log probability.
    pub logprob: f64,
    /// Token bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u32>>,
    /// Most likely alternatives at this position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<Vec<TopLogprob>>,
}

/// Log probabilities of a completion (`Logprobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logprobs {
    /// One entry per generated token.
    pub content: Vec<Logprob>,
}

/// One completion choice (`ChatCompletionChoice`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChoice {
    /// The assistant message (serialized with `"role": "assistant"`).
    #[serde(with = "assistant_with_role")]
    pub message: ChatMessageAssistant,
    /// Why generation stopped (always emitted).
    #[serde(default)]
    pub stop_reason: StopReason,
    /// Detail about the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_details: Option<StopDetails>,
    /// Output token log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
    /// Prompt token log probabilities (vLLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_logprobs: Option<Logprobs>,
}

impl ChatCompletionChoice {
    /// A choice with the given message and stop reason.
    pub fn new(message: ChatMessageAssistant, stop_reason: StopReason) -> Self {
        Self {
            message,
            stop_reason,
            stop_details: None,
            logprobs: None,
            prompt_logprobs: None,
        }
    }
}

/// `ChatCompletionChoice.message` is a `ChatMessageAssistant`, whose JSON carries
/// `"role": "assistant"`; the Rust struct has no role field, so add and check it here.
mod assistant_with_role {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::message::{ChatMessage, ChatMessageAssistant};

    pub(super) fn serialize<S: Serializer>(
        m: &ChatMessageAssistant,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "role", rename_all = "snake_case")]
        enum Tagged<'a> {
            Assistant(&'a ChatMessageAssistant),
        }
        Tagged::Assistant(m).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<ChatMessageAssistant, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let value = match value {
            serde_json::Value::Object(mut map) => {
                map.entry("role")
                    .or_insert_with(|| serde_json::Value::String("assistant".into()));
                serde_json::Value::Object(map)
            }
            other => other,
        };
        match serde_json::from_value::<ChatMessage>(value) {
            Ok(ChatMessage::Assistant(m)) => Ok(m),
            Ok(other) => Err(serde::de::Error::custom(format_args!(
                "choice message has role `{}`, expected `assistant`",
                other.role()
            ))),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

/// A request served by a different model than requested (`ModelFallback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFallback {
    /// Model originally requested.
    pub model: String,
    /// Model that served the request.
    pub fallback_model: String,
    /// Number of requests served via this fallback.
    #[serde(default = "one")]
    pub count: u64,
    /// Provider-specific diagnostics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

fn one() -> u64 {
    1
}

/// Token usage (`ModelUsage`). Sums with `+` as Inspect's `__add__` does: the
/// optional counters stay `None` only when both sides are `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Input tokens charged at full rate (cached tokens excluded).
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Total tokens.
    #[serde(default)]
    pub total_tokens: u64,
    /// Tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_cache_write: Option<u64>,
    /// Tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_cache_read: Option<u64>,
    /// Reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Total cost in dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<f64>,
}

impl ModelUsage {
    /// Usage with the given input and output token counts (total = sum).
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
            ..Self::default()
        }
    }

    /// All input tokens: full rate plus cache reads and writes.
    pub fn all_input_tokens(&self) -> u64 {
        self.input_tokens
            + self.input_tokens_cache_read.unwrap_or(0)
            + self.input_tokens_cache_write.unwrap_or(0)
    }
}

fn optional_sum<T: Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Add for ModelUsage {
    type Output = ModelUsage;
    fn add(self, rhs: ModelUsage) -> ModelUsage {
        ModelUsage {
            input_tokens: self.input_tokens + rhs.input_tokens,
            output_tokens: self.output_tokens + rhs.output_tokens,
            total_tokens: self.total_tokens + rhs.total_tokens,
            input_tokens_cache_write: optional_sum(
                self.input_tokens_cache_write,
                rhs.input_tokens_cache_write,
            ),
            input_tokens_cache_read: optional_sum(
                self.input_tokens_cache_read,
                rhs.input_tokens_cache_read,
            ),
            reasoning_tokens: optional_sum(self.reasoning_tokens, rhs.reasoning_tokens),
            total_cost: optional_sum(self.total_cost, rhs.total_cost),
        }
    }
}

impl Add<&ModelUsage> for &ModelUsage {
    type Output = ModelUsage;
    fn add(self, rhs: &ModelUsage) -> ModelUsage {
        self.clone() + rhs.clone()
    }
}

impl AddAssign for ModelUsage {
    fn add_assign(&mut self, rhs: ModelUsage) {
        *self = std::mem::take(self) + rhs;
    }
}

impl AddAssign<&ModelUsage> for ModelUsage {
    fn add_assign(&mut self, rhs: &ModelUsage) {
        *self = std::mem::take(self) + rhs.clone();
    }
}

impl std::iter::Sum for ModelUsage {
    fn sum<I: Iterator<Item = ModelUsage>>(iter: I) -> Self {
        iter.fold(ModelUsage::default(), |a, b| a + b)
    }
}

/// Output of one generate call (`ModelOutput`).
///
/// `completion` is kept in sync with the first choice's text the way Inspect does
/// it: when it is empty on input it is filled from `choices[0]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "ModelOutputWire")]
pub struct ModelOutput {
    /// Model used for generation.
    #[serde(default)]
    pub model: String,
    /// Completion choices.
    #[serde(default)]
    pub choices: Vec<ChatCompletionChoice>,
    /// Text of the first choice (always emitted).
    #[serde(default)]
    pub completion: String,
    /// Token usage summed over every request of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ModelUsage>,
    /// Tokens the input occupied in the context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_context_tokens: Option<u64>,
    /// Fallback that served the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<ModelFallback>,
    /// Seconds the generate call took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// Additional metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Error message (content moderation refusals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Provider id of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

#[derive(Deserialize)]
struct ModelOutputWire {
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<ChatCompletionChoice>,
    #[serde(default)]
    completion: Option<String>,
    #[serde(default)]
    usage: Option<ModelUsage>,
    #[serde(default)]
    input_context_tokens: Option<u64>,
    #[serde(default)]
    fallback: Option<ModelFallback>,
    #[serde(default)]
    time: Option<f64>,
    #[serde(default)]
    metadata: Option<JsonObject>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    response_id: Option<String>,
}

impl From<ModelOutputWire> for ModelOutput {
    fn from(w: ModelOutputWire) -> Self {
        let mut out = ModelOutput {
            model: w.model,
            choices: w.choices,
            completion: w.completion.unwrap_or_default(),
            usage: w.usage,
            input_context_tokens: w.input_context_tokens,
            fallback: w.fallback,
            time: w.time,
            metadata: w.metadata,
            error: w.error,
            response_id: w.response_id,
        };
        if out.completion.is_empty() {
            out.sync_completion();
        }
        out
    }
}

impl ModelOutput {
    /// Output with one choice holding `content`, tagged with `model` and
    /// `source: generate` (Inspect's `ModelOutput.from_content`).
    pub fn from_content(
        model: impl Into<String>,
        content: impl Into<MessageContent>,
        stop_reason: StopReason,
    ) -> Self {
        let model = model.into();
        let message = ChatMessageAssistant {
            content: content.into(),
            model: Some(model.clone()),
            source: Some(MessageSource::Generate),
            ..Default::default()
        };
        Self::from_message(model, message, stop_reason)
    }

    /// Output with one choice holding `text`, stop reason `stop`.
    pub fn from_text(model: impl Into<String>, text: impl Into<String>) -> Self {
        Self::from_content(model, MessageContent::Text(text.into()), StopReason::Stop)
    }

    /// Output with one choice holding `message`.
    pub fn from_message(
        model: impl Into<String>,
        message: ChatMessageAssistant,
        stop_reason: StopReason,
    ) -> Self {
        let mut out = ModelOutput {
            model: model.into(),
            choices: vec![ChatCompletionChoice::new(message, stop_reason)],
            ..Default::default()
        };
        out.sync_completion();
        out
    }

    /// Output requesting one tool call (Inspect's `ModelOutput.for_tool_call`); the
    /// content defaults to `"tool call for tool {name}"`.
    pub fn for_tool_call(
        model: impl Into<String>,
        call: ToolCall,
        content: Option<String>,
    ) -> Self {
        Self::for_tool_calls(model, vec![call], content)
    }

    /// Output requesting several tool calls in one turn; the content defaults to
    /// `"tool call for tool {name}"` of the first (as [`for_tool_call`](Self::for_tool_call)).
    pub fn for_tool_calls(
        model: impl Into<String>,
        calls: Vec<ToolCall>,
        content: Option<String>,
    ) -> Self {
        let model = model.into();
        let content = content.unwrap_or_else(|| {
            let first = calls.first().map_or("", |call| call.function.as_str());
            format!("tool call for tool {first}")
        });
        let message = ChatMessageAssistant {
            content: MessageContent::Text(content),
            model: Some(model.clone()),
            source: Some(MessageSource::Generate),
            tool_calls: Some(calls),
            ..Default::default()
        };
        Self::from_message(model, message, StopReason::ToolCalls)
    }

    /// Sets `completion` to the first choice's text (empty when there is none).
    pub fn sync_completion(&mut self) {
        self.completion = self
            .choices
            .first()
            .map(|c| c.message.text())
            .unwrap_or_default();
    }

    /// True when there are no choices.
    pub fn is_empty(&self) -> bool {
        self.choices.is_empty()
    }

    /// First choice's message.
    pub fn message(&self) -> Option<&ChatMessageAssistant> {
        self.choices.first().map(|c| &c.message)
    }

    /// First choice's stop reason (`unknown` when there are no choices).
    pub fn stop_reason(&self) -> StopReason {
        self.choices
            .first()
            .map(|c| c.stop_reason)
            .unwrap_or_default()
    }
}
