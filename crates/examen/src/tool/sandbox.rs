//! The sample's sandbox as a tool sees it ([`ToolContext::sandbox`](super::ToolContext::sandbox)):
//! each operation goes to the sandbox and is recorded in the sample's transcript as a
//! `sandbox` event (Inspect's `SandboxEnvironmentProxy`), inside the span of the tool call
//! that made it.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use examen_sandbox::{ExecRequest, ExecResult, Sandbox, SandboxError};
use examen_types::event::{Event, EventBase, SandboxEvent};
use examen_types::{JsonObject, JsonValue};

use crate::transcript::{utc_timestamp, Transcript};

/// A sandbox whose operations are recorded as `sandbox` events.
#[derive(Clone)]
pub struct RecordedSandbox {
    inner: Arc<dyn Sandbox>,
    transcript: Option<Arc<Mutex<Transcript>>>,
    span: Option<String>,
}

impl std::fmt::Debug for RecordedSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedSandbox")
            .field("sandbox", &self.inner)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl RecordedSandbox {
    pub(crate) fn new(
        inner: Arc<dyn Sandbox>,
        transcript: Option<Arc<Mutex<Transcript>>>,
        span: Option<String>,
    ) -> RecordedSandbox {
        RecordedSandbox {
            inner,
            transcript,
            span,
        }
    }

    /// The sandbox itself, unrecorded (for its provider's extras, through `as_any`).
    pub fn inner(&self) -> &Arc<dyn Sandbox> {
        &self.inner
    }

    /// [`Sandbox::exec`], recorded. A command that timed out is recorded with the output it
    /// had written.
    pub async fn exec(&self, request: ExecRequest) -> Result<ExecResult, SandboxError> {
        let started = self.started();
        let cmd = examen_sandbox::shell_join(&request.cmd);
        let options = exec_options(&request);
        let input = request
            .input
            .as_deref()
            .map(|input| match std::str::from_utf8(input) {
                Ok(text) => content_display(text),
                Err(_) => binary_display(input.len()),
            });
        let result = self.inner.exec(request).await;
        let shown = match &result {
            Ok(result) => Some(result),
            Err(SandboxError::Timeout { partial }) => Some(&**partial),
            Err(_) => None,
        };
        if let Some(shown) = shown {
            let output = if shown.stderr.is_empty() {
                shown.stdout.clone()
            } else {
                format!("{}\n\n{}", shown.stderr, shown.stdout)
            };
            let returncode = i64::from(shown.returncode);
            self.record(started, "exec", |event| {
                event.cmd = Some(cmd);
                event.options = Some(options);
                event.input = input;
                event.result = Some(returncode);
                event.output = Some(content_display(&output));
            });
        }
        result
    }

    /// [`Sandbox::write_file`], recorded.
    pub async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let started = self.started();
        self.inner.write_file(path, contents).await?;
        let input = match std::str::from_utf8(contents) {
            Ok(text) => content_display(text),
            Err(_) => binary_display(contents.len()),
        };
        self.record(started, "write_file", |event| {
            event.file = Some(path.to_owned());
            event.input = Some(input);
        });
        Ok(())
    }

    /// [`Sandbox::read_file`], recorded (the event shows it as binary).
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let started = self.started();
        let bytes = self.inner.read_file(path).await?;
        self.record_read(started, path, binary_display(bytes.len()));
        Ok(bytes)
    }

    /// The file as text, recorded (the event shows the text, cut for display).
    pub async fn read_text(&self, path: &str) -> Result<String, SandboxError> {
        let started = self.started();
        let text = self.inner.read_text(path).await?;
        self.record_read(started, path, content_display(&text));
        Ok(text)
    }

    fn record_read(&self, started: Option<EventBase>, path: &str, output: String) {
        self.record(started, "read_file", |event| {
            event.file = Some(path.to_owned());
            event.output = Some(output);
        });
    }

    /// The event's common fields, taken when the operation starts (its `timestamp`).
    fn started(&self) -> Option<EventBase> {
        let transcript = self.transcript.as_ref()?;
        let transcript = transcript.lock().unwrap_or_else(|e| e.into_inner());
        let mut base = transcript.base();
        if self.span.is_some() {
            base.span_id = self.span.clone();
        }
        Some(base)
    }

    /// Records a `sandbox` event of `action` that started at `started`, its fields set by
    /// `fill`; nothing when the sandbox is not recorded.
    fn record(
        &self,
        started: Option<EventBase>,
        action: &str,
        fill: impl FnOnce(&mut SandboxEvent),
    ) {
        let (Some(transcript), Some(base)) = (&self.transcript, started) else {
            return;
        };
        let mut event = SandboxEvent {
            base,
            action: action.to_owned(),
            cmd: None,
            options: None,
            file: None,
            input: None,
            result: None,
            output: None,
            completed: None,
        };
        fill(&mut event);
        event.completed = Some(utc_timestamp(SystemTime::now()));
        let mut transcript = transcript.lock().unwrap_or_else(|e| e.into_inner());
        transcript.push(Event::Sandbox(Box::new(event)));
    }
}

/// Inspect's `options` of an exec event: only what was given.
fn exec_options(request: &ExecRequest) -> JsonObject {
    let mut options = JsonObject::new();
    if let Some(cwd) = request.cwd.as_ref().filter(|cwd| !cwd.is_empty()) {
        options.insert("cwd".to_owned(), JsonValue::String(cwd.clone()));
    }
    if !request.env.is_empty() {
        let env = request
            .env
            .iter()
            .map(|(k, v)| (k.clone(), JsonValue::String(v.clone())))
            .collect();
        options.insert("env".to_owned(), JsonValue::Object(env));
    }
    if let Some(user) = request.user.as_ref().filter(|user| !user.is_empty()) {
        options.insert("user".to_owned(), JsonValue::String(user.clone()));
    }
    if let Some(timeout) = request.timeout {
        // Inspect's timeouts are whole seconds; a fractional one is kept as it is.
        let seconds = timeout.as_secs_f64();
        let value = if seconds.fract() == 0.0 {
            JsonValue::from(timeout.as_secs())
        } else {
            JsonValue::from(seconds)
        };
        options.insert("timeout".to_owned(), value);
    }
    options
}

/// Inspect's `content_display` for text: at most 10,000 characters and 20 lines, then a note
/// of how many lines were left out.
pub(crate) fn content_display(text: &str) -> String {
    const MAX_CHARACTERS: usize = 100 * 100;
    const MAX_LINES: usize = 20;
    let text = match text.char_indices().nth(MAX_CHARACTERS) {
        // Inspect's `truncate(..., pad=False)`: the first 9,997 characters and "...".
        Some(_) => {
            let cut = text
                .char_indices()
                .nth(MAX_CHARACTERS - 3)
                .map_or(text.len(), |(at, _)| at);
            std::borrow::Cow::Owned(format!("{}...", &text[..cut]))
        }
        None => std::borrow::Cow::Borrowed(text),
    };
    let lines = crate::text::py_splitlines(&text);
    if lines.len() > MAX_LINES {
        format!(
            "{}\n\nOutput truncated ({} additional lines)",
            lines[..MAX_LINES].join("\n"),
            lines.len() - MAX_LINES
        )
    } else {
        text.into_owned()
    }
}

/// Inspect's `content_display` for bytes: `binary (<size>)`.
pub(crate) fn binary_display(len: usize) -> String {
    let size = len as f64;
    let pretty = if len < 1024 {
        format!("{len} B")
    } else if len < 1024 * 1024 {
        format!("{:.2} KB", size / 1024.0)
    } else {
        format!("{:.2} MB", size / (1024.0 * 1024.0))
    };
    format!("binary ({pretty})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_as_shlex_quotes_them() {
        let cmd: Vec<String> = ["bash", "--login", "-c", "echo 'hi' && ls", ""]
            .map(String::from)
            .to_vec();
        assert_eq!(
            examen_sandbox::shell_join(&cmd),
            r#"bash --login -c 'echo '"'"'hi'"'"' && ls' ''"#
        );
    }

    #[test]
    fn long_output_is_cut_to_twenty_lines_with_a_note() {
        let text: String = (1..=25).map(|i| format!("line {i}\n")).collect();
        let shown = content_display(&text);
        assert!(shown.starts_with("line 1\nline 2\n"));
        assert!(shown.ends_with("line 20\n\nOutput truncated (5 additional lines)"));
        assert_eq!(content_display("short\n"), "short\n");
        let long = "x".repeat(10_005);
        assert_eq!(content_display(&long), format!("{}...", "x".repeat(9_997)));
        assert_eq!(binary_display(8), "binary (8 B)");
        assert_eq!(binary_display(2048), "binary (2.00 KB)");
        assert_eq!(binary_display(3 * 1024 * 1024), "binary (3.00 MB)");
    }
}
