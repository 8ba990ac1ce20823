//! Transcript events of a sample (Inspect's `event/*.py`), discriminated by `"event"`.
//!
//! examen writes the event types listed in [`Event`]; any other type found in an
//! Inspect log (`state`, `tool`, `sandbox`, `info`, ...) is read into
//! [`Event::Other`] and written back unchanged.

use crate::{
    ChatMessage, GenerateConfig, JsonObject, JsonValue, MessageContent, ModelOutput, ModelUsage,
    Score, ToolCallContent, ToolCallError, ToolChoice, ToolInfo,
};
use indexmap::IndexMap;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::log::{EvalError, Sample, Target};

/// Fields every event has (`BaseEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBase {
    /// Unique event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Span the event occurred in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Clock time (ISO 8601 with offset).
    pub timestamp: String,
    /// Working time within the sample when the event occurred (seconds).
    #[serde(default)]
    pub working_start: f64,
    /// Event metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Is the event pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<bool>,
}

impl EventBase {
    /// A base with a fresh uuid, the given span, `timestamp` now and `working_start`.
    pub fn new(span_id: Option<String>, working_start: f64) -> Self {
        Self {
            uuid: Some(crate::short_uuid()),
            span_id,
            timestamp: crate::time::iso_now_micros(),
            working_start,
            metadata: None,
            pending: None,
        }
    }
}

/// Beginning of a span (`SpanBeginEvent`, `"span_begin"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanBeginEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// Span id.
    pub id: String,
    /// Parent span id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Span type (`init`, `solvers`, `solver`, `scorers`, `scorer`, ...).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Span name.
    pub name: String,
}

/// End of a span (`SpanEndEvent`, `"span_end"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEndEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// Span id.
    pub id: String,
}

/// Beginning of a sample (`SampleInitEvent`, `"sample_init"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleInitEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// The sample.
    pub sample: Sample,
    /// Initial task state (messages, tools, store, output, ...).
    #[serde(default, skip_serializing_if = "JsonValue::is_null")]
    pub state: JsonValue,
}

/// A model call (`ModelEvent`, `"model"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// Model name.
    pub model: String,
    /// Model role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Model requested when a fallback served the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_model: Option<String>,
    /// Input messages (empty when condensed into `input_refs`).
    #[serde(default)]
    pub input: Vec<ChatMessage>,
    /// Ranges into the sample's pooled messages (condensed logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_refs: Option<Vec<(u64, u64)>>,
    /// Tools offered.
    #[serde(default)]
    pub tools: Vec<ToolInfo>,
    /// Tool choice.
    #[serde(default = "tool_choice_none")]
    pub tool_choice: ToolChoice,
    /// Generate config.
    #[serde(default)]
    pub config: GenerateConfig,
    /// Output.
    pub output: ModelOutput,
    /// Retries made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Provider request ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_ids: Option<JsonValue>,
    /// Error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Error traceback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// Error traceback with ANSI colours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback_ansi: Option<String>,
    /// `read` or `write` when the cache was involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Raw request/response (`ModelCall`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<JsonValue>,
    /// Completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    /// Seconds spent working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<f64>,
}

fn tool_choice_none() -> ToolChoice {
    ToolChoice::None
}

/// A tool call and its result (`ToolEvent`, `"tool"`). It sits between the call's
/// `span_begin{type:"tool"}` and `span_end`, but its own `span_id` is the enclosing span's,
/// as Inspect writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The call's id (the model's tool call id).
    pub id: String,
    /// The function called.
    pub function: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: JsonObject,
    /// A custom view of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<ToolCallContent>,
    /// What the tool returned, as sent to the model (`""` on an error).
    #[serde(default = "empty_content")]
    pub result: MessageContent,
    /// `[bytes of the raw output, the limit]` when the output was truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<(u64, u64)>,
    /// The error the call gave the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolCallError>,
    /// Nested events (deprecated in Inspect, always written empty).
    #[serde(default)]
    pub events: Vec<JsonValue>,
    /// Completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    /// Seconds spent working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<f64>,
    /// The agent the call handed off to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The span of that agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_span_id: Option<String>,
    /// True when the call raised (failing the sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<bool>,
    /// Id of the tool message holding the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

fn function_type() -> String {
    "function".to_owned()
}

fn empty_content() -> MessageContent {
    MessageContent::Text(String::new())
}

/// A score (`ScoreEvent`, `"score"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// The score.
    pub score: Score,
    /// Target scored against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Intermediate (not final) score.
    #[serde(default)]
    pub intermediate: bool,
    /// Scorer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer: Option<String>,
    /// Scorer arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer_args: Option<JsonObject>,
    /// Usage of the scorer's models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_usage: Option<IndexMap<String, ModelUsage>>,
    /// Usage by role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_usage: Option<IndexMap<String, ModelUsage>>,
}

/// An error that halted the sample (`ErrorEvent`, `"error"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// The error.
    pub error: EvalError,
}

/// A limit that halted the sample (`SampleLimitEvent`, `"sample_limit"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLimitEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// `message`, `time`, `working`, `token`, `cost`, `operator`, `custom`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    pub message: String,
    /// Limit value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}

/// A sandbox operation (`SandboxEvent`, `"sandbox"`): a command run, or a file read or
/// written, in the sample's sandbox. `timestamp` is when it started, `completed` when it
/// ended; `input` and `output` are cut for display as Inspect cuts them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// `exec`, `read_file` or `write_file`.
    pub action: String,
    /// The command, shell-quoted and joined (exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// `cwd`, `env`, `user`, `timeout` as given (exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JsonObject>,
    /// The file (read_file, write_file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// What was sent: standard input (exec) or the contents (write_file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The exit code (exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<i64>,
    /// What came back: `stderr\n\nstdout` (exec) or the contents (read_file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
}

/// A log record (`LoggingMessage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggingMessage {
    /// Logger name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `debug`, `trace`, `http`, `sandbox`, `info`, `warning`, `error`, `critical`.
    pub level: String,
    /// Message.
    pub message: String,
    /// Unix time (seconds).
    pub created: f64,
    /// Source file.
    #[serde(default = "unknown")]
    pub filename: String,
    /// Module.
    #[serde(default = "unknown")]
    pub module: String,
    /// Line number.
    #[serde(default)]
    pub lineno: u64,
}

fn unknown() -> String {
    "unknown".to_owned()
}

/// A log record emitted during the sample (`LoggerEvent`, `"logger"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggerEvent {
    /// Common fields.
    #[serde(flatten)]
    pub base: EventBase,
    /// The record.
    pub message: LoggingMessage,
}

/// One transcript event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `"span_begin"`.
    SpanBegin(SpanBeginEvent),
    /// `"span_end"`.
    SpanEnd(SpanEndEvent),
    /// `"sample_init"`.
    SampleInit(Box<SampleInitEvent>),
    /// `"model"`.
    Model(Box<ModelEvent>),
    /// `"tool"`.
    Tool(Box<ToolEvent>),
    /// `"score"`.
    Score(Box<ScoreEvent>),
    /// `"error"`.
    Error(ErrorEvent),
    /// `"sample_limit"`.
    SampleLimit(SampleLimitEvent),
    /// `"logger"`.
    Logger(LoggerEvent),
    /// `"sandbox"`.
    Sandbox(Box<SandboxEvent>),
    /// Any other event type, kept as the JSON object it was read from.
    Other(JsonValue),
}

impl Event {
    /// The `"event"` type string.
    pub fn kind(&self) -> &str {
        match self {
            Event::SpanBegin(_) => "span_begin",
            Event::SpanEnd(_) => "span_end",
            Event::SampleInit(_) => "sample_init",
            Event::Model(_) => "model",
            Event::Tool(_) => "tool",
            Event::Score(_) => "score",
            Event::Error(_) => "error",
            Event::SampleLimit(_) => "sample_limit",
            Event::Logger(_) => "logger",
            Event::Sandbox(_) => "sandbox",
            Event::Other(v) => v.get("event").and_then(JsonValue::as_str).unwrap_or(""),
        }
    }
}

fn serialize_tagged<S: Serializer, T: Serialize>(
    serializer: S,
    event: &'static str,
    inner: &T,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Tagged<'a, T> {
        event: &'static str,
        #[serde(flatten)]
        inner: &'a T,
    }
    Tagged { event, inner }.serialize(serializer)
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::SpanBegin(e) => serialize_tagged(s, "span_begin", e),
            Event::SpanEnd(e) => serialize_tagged(s, "span_end", e),
            Event::SampleInit(e) => serialize_tagged(s, "sample_init", e),
            Event::Model(e) => serialize_tagged(s, "model", e),
            Event::Tool(e) => serialize_tagged(s, "tool", e),
            Event::Score(e) => serialize_tagged(s, "score", e),
            Event::Error(e) => serialize_tagged(s, "error", e),
            Event::SampleLimit(e) => serialize_tagged(s, "sample_limit", e),
            Event::Logger(e) => serialize_tagged(s, "logger", e),
            Event::Sandbox(e) => serialize_tagged(s, "sandbox", e),
            Event::Other(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    /// Reads the event's text once to find its type, then parses that text as the
    /// type's struct, without building a `serde_json::Value` tree of it first
    /// (~15% less CPU for `examen log dump`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Tag {
            event: Option<String>,
        }
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let text = raw.get();
        let kind = serde_json::from_str::<Tag>(text)
            .ok()
            .and_then(|tag| tag.event)
            .ok_or_else(|| de::Error::custom("event without a string `event` field"))?;
        fn parse<T: de::DeserializeOwned, E: de::Error>(kind: &str, text: &str) -> Result<T, E> {
            serde_json::from_str(text)
                .map_err(|e| E::custom(format_args!("invalid `{kind}` event: {e}")))
        }
        Ok(match kind.as_str() {
            "span_begin" => Event::SpanBegin(parse(&kind, text)?),
            "span_end" => Event::SpanEnd(parse(&kind, text)?),
            "sample_init" => Event::SampleInit(Box::new(parse(&kind, text)?)),
            "model" => Event::Model(Box::new(parse(&kind, text)?)),
            "tool" => Event::Tool(Box::new(parse(&kind, text)?)),
            "score" => Event::Score(Box::new(parse(&kind, text)?)),
            "error" => Event::Error(parse(&kind, text)?),
            "sample_limit" => Event::SampleLimit(parse(&kind, text)?),
            "logger" => Event::Logger(parse(&kind, text)?),
            "sandbox" => Event::Sandbox(Box::new(parse(&kind, text)?)),
            _ => Event::Other(parse(&kind, text)?),
        })
    }
}
