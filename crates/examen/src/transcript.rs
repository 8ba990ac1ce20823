//! The transcript of a running sample: `Transcript` collects its events (Inspect's
//! `sample_init`, `model`, `score`, `error`, `sample_limit`, `span_begin`, `span_end`,
//! defined once in [`examen_types::event`]) and keeps track of the open span and of the
//! sample's working time.

use std::time::{Duration, Instant, SystemTime};

pub use examen_types::event::{
    ErrorEvent, Event, EventBase, ModelEvent, SampleInitEvent, SampleLimitEvent, ScoreEvent,
    SpanBeginEvent, SpanEndEvent, ToolEvent,
};
pub use examen_types::{EvalError, EvalSampleLimit as SampleLimit};

/// Collects one sample's events, keeping track of the open span.
#[derive(Debug)]
pub(crate) struct Transcript {
    started: Instant,
    /// Working time before this transcript started (a sample re-scored).
    offset: Duration,
    waiting: Duration,
    spans: Vec<String>,
    pub(crate) events: Vec<Event>,
}

impl Transcript {
    pub(crate) fn new() -> Self {
        Self::resumed(Duration::ZERO)
    }

    /// A transcript continuing a sample that already worked for `offset`
    /// (a logged sample being re-scored): its events' working times follow on.
    pub(crate) fn resumed(offset: Duration) -> Self {
        Self {
            started: Instant::now(),
            offset,
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
        (self.offset + self.started.elapsed()).saturating_sub(self.waiting)
    }

    pub(crate) fn base(&self) -> EventBase {
        EventBase {
            uuid: Some(examen_types::short_uuid()),
            span_id: self.spans.last().cloned(),
            timestamp: utc_timestamp(SystemTime::now()),
            working_start: self.working_time().as_secs_f64(),
            metadata: None,
            pending: None,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Puts a finished tool event in place of its pending one (same uuid), where the call
    /// was first recorded: Inspect updates a pending event in place, so a tool's event stays
    /// just after its span's start however long the call runs. Pushes it if there is none.
    pub(crate) fn complete_tool(&mut self, event: ToolEvent) {
        let pending = self.events.iter().rposition(|e| {
            matches!(e, Event::Tool(t) if t.base.pending == Some(true) && t.base.uuid == event.base.uuid)
        });
        match pending {
            Some(index) => self.events[index] = Event::Tool(Box::new(event)),
            None => self.events.push(Event::Tool(Box::new(event))),
        }
    }

    pub(crate) fn begin_span(&mut self, name: &str, kind: &str) {
        let id = examen_types::short_uuid();
        let event = Event::SpanBegin(SpanBeginEvent {
            base: self.base(),
            id: id.clone(),
            parent_id: self.spans.last().cloned(),
            kind: Some(kind.to_string()),
            name: name.to_string(),
        });
        self.events.push(event);
        self.spans.push(id);
    }

    /// Opens a span that is not pushed on the span stack (a tool call's: calls run side by
    /// side, so they cannot nest as a stack). Returns its id and the enclosing span's.
    pub(crate) fn begin_side_span(&mut self, name: &str, kind: &str) -> (String, Option<String>) {
        let id = examen_types::short_uuid();
        let enclosing = self.spans.last().cloned();
        self.events.push(Event::SpanBegin(SpanBeginEvent {
            base: self.base(),
            id: id.clone(),
            parent_id: enclosing.clone(),
            kind: Some(kind.to_string()),
            name: name.to_string(),
        }));
        (id, enclosing)
    }

    /// Closes a span opened by [`begin_side_span`](Self::begin_side_span).
    pub(crate) fn end_side_span(&mut self, id: String) {
        let mut base = self.base();
        base.span_id = Some(id.clone());
        self.events.push(Event::SpanEnd(SpanEndEvent { base, id }));
    }

    pub(crate) fn end_span(&mut self) {
        if let Some(id) = self.spans.pop() {
            let mut base = self.base();
            base.span_id = Some(id.clone());
            self.events.push(Event::SpanEnd(SpanEndEvent { base, id }));
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
    examen_types::time::format_iso(time, true)
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
