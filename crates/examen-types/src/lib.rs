//! Serde data shared by examen's model providers, eval engine and log writer.
//!
//! Every type here mirrors an Inspect AI (0.3.285) pydantic model field by field, so
//! that the JSON examen writes is the JSON Inspect writes and vice versa:
//!
//! - field names and enum string values are Inspect's;
//! - optional fields that are `None` are omitted on output, because Inspect's log
//!   recorders serialize with `exclude_none=True`;
//! - fields Inspect always emits (e.g. `Score.history`, `ContentReasoning.redacted`,
//!   `ToolCall.type`) are always emitted here too.
//!
//! Unknown content parts are kept as raw JSON so a log read from a newer Inspect
//! round-trips. Non-finite floats (the NaN "unscored" sentinel) are written by
//! `serde_json` as `null`; [`Value`] reads `null` back as NaN. examen-log writes
//! them as Python's `NaN` constant, as Inspect does.
//!
//! The crate does no IO and knows nothing of async runtimes.

#![warn(missing_docs, missing_debug_implementations)]
// Libraries never print: progress and warnings reach the user through the caller.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod config;
mod content;
pub mod event;
mod ids;
pub mod log;
mod message;
mod output;
mod pool;
mod sample_id;
mod score;
pub mod time;
mod tool;

pub use config::{GenerateConfig, ResponseSchema};
pub use content::{
    Content, ContentAudio, ContentData, ContentDocument, ContentImage, ContentReasoning,
    ContentText, ContentToolUse, ContentVideo, MessageContent,
};
pub use event::Event;
pub use ids::short_uuid;
pub use log::{
    EvalConfig, EvalDataset, EvalError, EvalLog, EvalMetric, EvalPlan, EvalPlanStep, EvalResults,
    EvalRevision, EvalSample, EvalSampleLimit, EvalSampleReductions, EvalSampleScore,
    EvalSampleSummary, EvalScore, EvalScorer, EvalSpec, EvalStats, EvalStatus, LogFinish, LogStart,
    Sample, SampleInput, Target, LOG_SCHEMA_VERSION,
};
pub use message::{
    ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageTool, ChatMessageUser,
    MessageSource,
};
pub use output::{
    ChatCompletionChoice, Logprob, Logprobs, ModelFallback, ModelOutput, ModelUsage, StopCategory,
    StopDetails, StopReason, TopLogprob,
};
pub use pool::{compress_refs, condense_events, EventsData};
pub use sample_id::SampleId;
pub use score::{value_to_float, Scalar, Score, Value, ValueToFloat};
pub use tool::{
    ToolCall, ToolCallContent, ToolCallError, ToolCallErrorType, ToolCallType, ToolChoice,
    ToolFunction, ToolInfo, ToolParams,
};

/// Re-exported because [`Value::Dict`] holds an [`indexmap::IndexMap`].
pub use indexmap;

/// Arbitrary JSON, as Inspect's `JsonValue` / `Any` fields hold it.
pub type JsonValue = serde_json::Value;

/// A JSON object (`dict[str, Any]`), key order preserved.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;
