//! Running the tool calls of one assistant turn (Inspect's `execute_tools` and `call_tool`):
//! each call checked (parse error, unknown tool, arguments against the tool's schema), run in
//! a `tool` span with its `tool` event, its output truncated to the output limit, and answered
//! with a tool message. Calls of tools marked [`parallel`](super::Tool::parallel) that follow
//! one another run at the same time, in one task group; any other call runs alone. Results
//! come back in the order the model made the calls.
//!
//! A call that fails fatally ([`ToolError::fatal`]) ends the sample: its parallel siblings are
//! cancelled (dropped), and each records a `cancelled` tool event as it goes, so the
//! transcript says what happened to every call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use examen_types::{
    ChatMessage, ChatMessageTool, Content, JsonObject, JsonValue, MessageContent, ToolCall,
    ToolCallError, ToolCallErrorType, ToolParams,
};

use crate::context::{SampleContext, SampleError};
use crate::template::py_repr;
use crate::transcript::{utc_timestamp, Event};

use super::{DynTool, ToolError};

pub use examen_types::event::ToolEvent;

/// The output limit when neither the tool nor the config sets one (Inspect's 16 KiB).
pub const DEFAULT_MAX_TOOL_OUTPUT: u64 = 16 * 1024;

/// What a parallel sibling of a call that failed fatally is told (Inspect's text).
pub const CANCELLED_BY_SIBLING: &str =
    "Tool call cancelled because a parallel sibling tool call raised an exception.";

/// What a call stopped from outside (a time limit, an interrupted run) records.
pub const CANCELLED_BY_SAMPLE: &str =
    "Tool call cancelled because the sample stopped before the call finished.";

/// Runs the tool calls of one assistant message and returns one tool message per call, in the
/// calls' order. `max_output` is the config's `max_tool_output` (a tool's own limit wins).
pub async fn execute_tools(
    ctx: &SampleContext,
    tools: &[Arc<dyn DynTool>],
    calls: &[ToolCall],
    max_output: Option<u64>,
) -> Result<Vec<ChatMessage>, SampleError> {
    let find = |call: &ToolCall| tools.iter().find(|t| t.name() == call.function).cloned();
    let parallel = |call: &ToolCall| find(call).is_some_and(|t| t.parallel());
    let mut messages = Vec::with_capacity(calls.len());
    let mut next = 0;
    while next < calls.len() {
        let stage_len = calls[next..].iter().take_while(|c| parallel(c)).count();
        // Set by a call that fails fatally, for the siblings dropped after it.
        let failed = Arc::new(AtomicBool::new(false));
        if stage_len < 2 {
            let call = &calls[next];
            let record = CallRecord::open(ctx, call, failed);
            messages.push(call_tool(find(call), call.clone(), max_output, record).await?);
            next += 1;
            continue;
        }
        // Each call's record is opened here, in declared order, and moves into its task: a
        // call cancelled before its task first ran still records its cancellation.
        // (Built in a loop rather than by `map`: a closure over the iterator's borrows would
        // make this future's `Send` bound depend on a higher-ranked lifetime.)
        let mut stage = Vec::with_capacity(stage_len);
        for call in &calls[next..next + stage_len] {
            let record = CallRecord::open(ctx, call, failed.clone());
            let (tool, call) = (find(call), call.clone());
            stage.push(move || call_tool(tool, call, max_output, record));
        }
        messages.extend(examen_rt::collect(stage).await?);
        next += stage_len;
    }
    Ok(messages)
}

/// Runs one call and answers it (see the module docs).
async fn call_tool(
    tool: Option<Arc<dyn DynTool>>,
    call: ToolCall,
    max_output: Option<u64>,
    mut record: CallRecord,
) -> Result<ChatMessage, SampleError> {
    let checked = match (&call.parse_error, &tool) {
        (Some(error), _) => Err(ToolError::of(ToolCallErrorType::Parsing, error.clone())),
        (None, None) => Err(ToolError::of(
            ToolCallErrorType::Parsing,
            format!("Tool {} not found", call.function),
        )),
        (None, Some(tool)) => match validate_arguments(&call.arguments, &tool.info().parameters) {
            Some(message) => Err(ToolError::of(ToolCallErrorType::Parsing, message)),
            None => Ok(tool),
        },
    };
    let outcome = match checked {
        Ok(tool) => {
            tool.call(
                call.arguments.clone(),
                record.ctx.tools.in_span(&record.span),
            )
            .await
        }
        Err(error) => Err(error),
    };
    let limit = tool
        .as_ref()
        .and_then(|t| t.max_output())
        .or(max_output)
        .unwrap_or(DEFAULT_MAX_TOOL_OUTPUT);
    let message_id = examen_types::short_uuid();
    match outcome {
        Ok(content) => {
            let (content, truncated) = truncate_output(&call.function, content, limit);
            record.finish(content.clone(), truncated, None, &message_id);
            Ok(ChatMessage::Tool(ChatMessageTool {
                id: Some(message_id),
                content,
                tool_call_id: Some(call.id),
                function: Some(call.function),
                ..Default::default()
            }))
        }
        Err(error) if error.fatal => {
            record.stage_failed.store(true, Ordering::SeqCst);
            record.fail(&error);
            Err(SampleError::failed(format!(
                "tool `{}` failed: {}",
                call.function, error.message
            )))
        }
        Err(error) => {
            let call_error = error.to_call_error();
            // What the call had produced goes with the error, cut as any output is.
            let (content, truncated) = match error.partial {
                Some(partial) => {
                    truncate_output(&call.function, MessageContent::Text(partial), limit)
                }
                None => (MessageContent::Text(String::new()), None),
            };
            let error = call_error;
            record.finish(content.clone(), truncated, Some(error.clone()), &message_id);
            Ok(ChatMessage::Tool(ChatMessageTool {
                id: Some(message_id),
                content,
                tool_call_id: Some(call.id),
                function: Some(call.function),
                error: Some(error),
                ..Default::default()
            }))
        }
    }
}

/// A call's span and event in the transcript. Opened before the call starts; if the call is
/// dropped before it finishes (a parallel sibling failed, or the sample was cancelled), the
/// drop records the call as cancelled and closes its span.
struct CallRecord {
    ctx: SampleContext,
    event: Option<ToolEvent>,
    span: String,
    working_start: f64,
    stage_failed: Arc<AtomicBool>,
}

impl CallRecord {
    fn open(ctx: &SampleContext, call: &ToolCall, stage_failed: Arc<AtomicBool>) -> CallRecord {
        let (span, event) = ctx.with_transcript(|t| {
            let (span, enclosing) = t.begin_side_span(&call.function, "tool");
            let mut base = t.base();
            base.span_id = enclosing;
            let event = ToolEvent {
                base,
                kind: "function".to_owned(),
                id: call.id.clone(),
                function: call.function.clone(),
                arguments: call.arguments.clone(),
                view: call.view.clone(),
                result: MessageContent::Text(String::new()),
                truncated: None,
                error: None,
                events: Vec::new(),
                completed: None,
                working_time: None,
                agent: None,
                agent_span_id: None,
                failed: None,
                message_id: None,
            };
            // Recorded now, as pending, and completed in place when the call ends.
            let mut pending = event.clone();
            pending.base.pending = Some(true);
            t.push(Event::Tool(Box::new(pending)));
            (span, event)
        });
        CallRecord {
            ctx: ctx.clone(),
            working_start: event.base.working_start,
            event: Some(event),
            span,
            stage_failed,
        }
    }

    fn finish(
        &mut self,
        result: MessageContent,
        truncated: Option<(u64, u64)>,
        error: Option<ToolCallError>,
        message_id: &str,
    ) {
        if let Some(mut event) = self.event.take() {
            event.result = result;
            event.truncated = truncated;
            event.error = error;
            event.message_id = Some(message_id.to_owned());
            self.close(event);
        }
    }

    fn fail(&mut self, error: &ToolError) {
        if let Some(mut event) = self.event.take() {
            event.error = Some(error.to_call_error());
            event.failed = Some(true);
            self.close(event);
        }
    }

    fn close(&self, mut event: ToolEvent) {
        let span = self.span.clone();
        let working_start = self.working_start;
        self.ctx.with_transcript(move |t| {
            event.completed = Some(utc_timestamp(std::time::SystemTime::now()));
            event.working_time = Some((t.working_time().as_secs_f64() - working_start).max(0.0));
            t.complete_tool(event);
            t.end_side_span(span);
        });
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if let Some(mut event) = self.event.take() {
            let message = if self.stage_failed.load(Ordering::SeqCst) {
                CANCELLED_BY_SIBLING
            } else {
                CANCELLED_BY_SAMPLE
            };
            event.error = Some(ToolCallError::new(ToolCallErrorType::Cancelled, message));
            self.close(event);
        }
    }
}

/// Inspect's `truncate_tool_output`: text longer than `limit` bytes keeps its first and last
/// halves, in Inspect's envelope; `limit` 0 never truncates, and content parts (images, ...)
/// pass unchanged. Returns the content and `(original bytes, limit)` when it was cut.
pub fn truncate_output(
    function: &str,
    content: MessageContent,
    limit: u64,
) -> (MessageContent, Option<(u64, u64)>) {
    let text = match content {
        MessageContent::Text(text) => text,
        MessageContent::Parts(parts) => {
            // One text part is a string result to Inspect (it is str()-ed); others pass.
            match <[Content; 1]>::try_from(parts) {
                Ok([Content::Text(part)]) => part.text,
                Ok([other]) => return (MessageContent::Parts(vec![other]), None),
                Err(parts) => return (MessageContent::Parts(parts), None),
            }
        }
    };
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 || text.len() <= limit_bytes {
        return (MessageContent::Text(text), None);
    }
    let head_len = floor_char_boundary(&text, limit_bytes / 2);
    let tail_start = ceil_char_boundary(&text, text.len() - (limit_bytes - limit_bytes / 2));
    let cut = format!("{}{}", &text[..head_len], &text[tail_start..]);
    let wrapped = format!(
        "\nThe output of your call to {function} was too long to be displayed.\nHere is a truncated version:\n<START_TOOL_OUTPUT>\n{cut}\n<END_TOOL_OUTPUT>\n"
    );
    (
        MessageContent::Text(wrapped),
        Some((text.len() as u64, limit)),
    )
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, mut index: usize) -> usize {
    while index < text.len() && !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

/// Checks a call's arguments against its tool's parameters as Inspect does (Draft 7
/// validation of required, `additionalProperties: false`, `type` and `enum` of each
/// argument), with jsonschema's messages; `None` when they are valid.
pub fn validate_arguments(arguments: &JsonObject, parameters: &ToolParams) -> Option<String> {
    // In the order jsonschema reports them: the schema's keywords in the order the
    // parameters are dumped (`properties`, `required`, `additionalProperties`).
    let mut errors = Vec::new();
    for (name, schema) in &parameters.properties {
        if let Some(value) = arguments.get(name) {
            check_value(value, schema, &mut errors);
        }
    }
    for name in &parameters.required {
        if !arguments.contains_key(name) {
            errors.push(format!("'{name}' is a required property"));
        }
    }
    let unexpected: Vec<String> = arguments
        .keys()
        .filter(|name| !parameters.properties.contains_key(*name))
        .map(|name| py_repr(&JsonValue::String(name.clone())))
        .collect();
    if parameters.additional_properties == JsonValue::Bool(false) && !unexpected.is_empty() {
        let verb = if unexpected.len() == 1 { "was" } else { "were" };
        errors.push(format!(
            "Additional properties are not allowed ({} {verb} unexpected)",
            unexpected.join(", ")
        ));
    }
    if errors.is_empty() {
        return None;
    }
    let mut message = format!(
        "Found {} validation errors parsing tool input arguments:",
        errors.len()
    );
    for error in errors {
        message.push_str("\n- ");
        message.push_str(&error);
    }
    Some(message)
}

fn check_value(value: &JsonValue, schema: &JsonValue, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let Some(any_of) = schema.get("anyOf").and_then(JsonValue::as_array) {
        let fits = any_of.iter().any(|option| {
            let mut inner = Vec::new();
            check_value(value, option, &mut inner);
            inner.is_empty()
        });
        if !fits {
            errors.push(format!(
                "{} is not valid under any of the given schemas",
                py_repr(value)
            ));
        }
        return;
    }
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            JsonValue::String(one) => vec![one.as_str()],
            JsonValue::Array(many) => many.iter().filter_map(JsonValue::as_str).collect(),
            _ => Vec::new(),
        };
        if !kinds.is_empty() && !kinds.iter().any(|k| is_of_type(value, k)) {
            let expected = match kind {
                JsonValue::String(one) => format!("'{one}'"),
                other => py_repr(other),
            };
            errors.push(format!("{} is not of type {expected}", py_repr(value)));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(JsonValue::as_array) {
        if !options.contains(value) {
            let listed: Vec<String> = options.iter().map(py_repr).collect();
            errors.push(format!(
                "{} is not one of [{}]",
                py_repr(value),
                listed.join(", ")
            ));
        }
    }
    if let (Some(items), JsonValue::Array(values)) = (schema.get("items"), value) {
        for item in values {
            check_value(item, items, errors);
        }
    }
}

fn is_of_type(value: &JsonValue, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}
