//! The events recorded while a sample runs (Inspect's transcript:
//! `sample_init`, `model`, `score`, `error`, `sample_limit`, `span_begin`,
//! `span_end`), serialized with Inspect's field names so the log writer can
//! store them as they are.

use std::time::{Duration, Instant, SystemTime};

use examen_types::{ChatMessage, GenerateConfig, JsonObject, JsonValue, ModelOutput, Score};
use serde::Serialize;

use crate::sample::Sample;

/// An error recorded as data (Inspect's `EvalError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvalError {
    /// The error message.
    pub message: String,
    /// The chain of causes, one per line (examen's stand-in for a Python traceback).
    pub traceback: String,
    /// The same, for terminals (no colour codes are used).
    pub traceback_ansi: String,
}

impl EvalError {
    /// An error with a message and a traceback.
    pub fn new(message: impl Into<String>, traceback: impl Into<String>) -> Self {
        let traceback = traceback.into();
        Self {
            message: message.into(),
            traceback_ansi: traceback.clone(),
            traceback,
        }
    }
}

/// Why a sample stopped early (Inspect's `EvalSampleLimit`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleLimit {
    /// `message`, `token`, `time` or `working`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The limit's value.
    pub limit: f64,
}

/// One transcript event.
// Reason: events are created once and moved into the sample record; the
// model event is the common one, so boxing it would add an allocation to
// most events to shrink the rare ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The sample was initialised.
    SampleInit {
        /// Common event fields.
        #[serde(flatten)]
        base: EventBase,
        /// The sample.
        sample: Box<Sample>,
        /// The initial state (messages, metadata, store).
        state: JsonValue,
    },
    /// A model call.
    Model {
        /// Common event fields.
        #[serde(flatten)]
        base: EventBase,
        /// The model's name.
        model: String,
        /// The model role (`grader`), if the call was made for one.
        #[serde(skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        /// The messages sent.
        input: Vec<ChatMessage>,
        /// Tools offered (none: examen's built-in solvers use no tools).
        tools: Vec<JsonValue>,
        /// Tool choice.
        tool_choice: String,
        /// The generation config of the call.
        config: GenerateConfig,
        /// The output.
        output: ModelOutput,
        /// Retries made.
        #[serde(skip_serializing_if = "Option::is_none")]
        retries: Option<u64>,
        /// The error, when the call failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The raw request and response.
        #[serde(skip_serializing_if = "Option::is_none")]
        call: Option<JsonValue>,
        /// When the call finished.
        completed: String,
        /// Seconds of working time the call took.
        working_time: f64,
    },
    /// A score.
    Score {
        /// Common event fields.
        #[serde(flatten)]
        base: EventBase,
        /// The score.
        score: Score,
        /// The target.
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<JsonValue>,
        /// Whether the score is intermediate.
        intermediate: bool,
        /// The scorer's name.
        scorer: String,
    },
    /// An error.
    Error {
        /// Common event fields.
        #[serde(flatten)]
        base: EventBase,
        /// The error.
        error: EvalError,
    },
    /// A limit was hit.
    SampleLimit {
        /// Common event fields.
        #[serde(flatten)]
        base: EventBase,
        /// `message`, `token`, `time` or `working`.
        #[serde(rename = "type")]
        kind: String,
        /// What happened.
        message: String,
        /// The limit.
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<f64>,
    },
    /// A span (a solver, a scorer, or the init/solvers/scorers phases) began.
    SpanBegin {
        /// Common event fields.
        #[serde(flatten)]
        base: EventBase,
        /// The span's id.
        id: String,
        /// The enclosing span.
        #[serde(skip_serializing_if = "Option::is_none")]
        parent_id: Option<String>,
        /// `init`, `solvers`, `solver`, `scorers`, `scorer`.
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        /// The span's name.
        name: String,
    },
    /// A span ended.
    SpanEnd {
        /// Common event fields.
        #[serde(flatten)]
        base: EventBase,
        /// The span's id.
        id: String,
    },
}

/// Fields every event carries.
#[derive(Debug, Clone, Serialize)]
pub struct EventBase {
    /// Unique id.
    pub uuid: String,
    /// The span the event belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Wall-clock time (ISO 8601, UTC).
    pub timestamp: String,
    /// Seconds of sample working time when the event happened.
    pub working_start: f64,
    /// Extra data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

/// Collects one sample's events, keeping track of the open span.
#[derive(Debug)]
pub(crate) struct Transcript {
    started: Instant,
    waiting: Duration,
    spans: Vec<String>,
    pub(crate) events: Vec<Event>,
}

impl Transcript {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            waiting: Duration::ZERO,
            spans: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Time spent waiting (for a connection slot), which is not working time.
    pub(crate) fn add_waiting(&mut self, wait: Duration) {
        self.waiting += wait;
    }

    pub(crate) fn working_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.waiting)
    }

    pub(crate) fn base(&self) -> EventBase {
        EventBase {
            uuid: examen_types::short_uuid(),
            span_id: self.spans.last().cloned(),
            timestamp: utc_timestamp(SystemTime::now()),
            working_start: self.working_time().as_secs_f64(),
            metadata: None,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    pub(crate) fn begin_span(&mut self, name: &str, kind: &str) {
        let id = examen_types::short_uuid();
        let event = Event::SpanBegin {
            base: self.base(),
            id: id.clone(),
            parent_id: self.spans.last().cloned(),
            kind: Some(kind.to_string()),
            name: name.to_string(),
        };
        self.events.push(event);
        self.spans.push(id);
    }

    pub(crate) fn end_span(&mut self) {
        if let Some(id) = self.spans.pop() {
            let mut base = self.base();
            base.span_id = Some(id.clone());
            self.events.push(Event::SpanEnd { base, id });
        }
    }

    pub(crate) fn close_spans(&mut self) {
        while !self.spans.is_empty() {
            self.end_span();
        }
    }
}

/// ISO 8601 in UTC with microseconds, as Python's `datetime.isoformat()`
/// prints an aware UTC time (`2025-01-31T12:00:00.123456+00:00`).
pub fn utc_timestamp(time: SystemTime) -> String {
    examen_log::time::format_iso(time, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn timestamps_are_iso_utc() {
        assert_eq!(
            utc_timestamp(UNIX_EPOCH),
            "1970-01-01T00:00:00.000000+00:00"
        );
        let t = UNIX_EPOCH + Duration::from_micros(1_709_210_096_123_456);
        // 2024-02-29 is a leap day
        assert_eq!(utc_timestamp(t), "2024-02-29T12:34:56.123456+00:00");
    }
}
