//! Tools: functions a model may call (Inspect's `@tool`). A [`Tool`] says
//! what it is (name, description, parameters as JSON Schema, which is what
//! the model is shown) and does the work in [`Tool::call`].
//!
//! Tools are registered by name ([`Registry::tool`](crate::Registry::tool))
//! and offered to the model by the `use_tools` solver; a sample's tools are
//! in [`TaskState::tools`](crate::TaskState::tools) and every `generate`
//! sends them (and the tool choice) to the model, recording both in the
//! model event. `generate` then runs the calls the model makes (the tool loop,
//! [`execute`]): each result goes back to the model as a tool message, each
//! call is recorded as a `tool` event in a `tool` span.
//!
//! A [`ToolError`] is either told to the model (a `ToolCallError` of Inspect's types:
//! `parsing`, `timeout`, `permission`, `file_not_found`, ...; the sample goes on) or, made
//! with [`ToolError::fatal`] or converted from an error that is not the model's doing, ends
//! the sample with an error, as an exception other than Inspect's tool errors does.
//!
//! ```
//! use examen::tool::{Tool, ToolError};
//! use examen::{JsonObject, ToolParams};
//!
//! #[derive(Debug)]
//! struct Add;
//!
//! impl Tool for Add {
//!     fn name(&self) -> &str {
//!         "add"
//!     }
//!     fn description(&self) -> &str {
//!         "Add two numbers."
//!     }
//!     fn parameters(&self) -> ToolParams {
//!         examen::tool::params(&[("x", "integer", "first"), ("y", "integer", "second")])
//!     }
//!     async fn call(&self, args: JsonObject) -> Result<examen::types::MessageContent, ToolError> {
//!         let get = |k: &str| args.get(k).and_then(|v| v.as_i64()).ok_or_else(|| ToolError::new(format!("`{k}` must be an integer")));
//!         Ok((get("x")? + get("y")?).to_string().into())
//!     }
//! }
//! ```

pub mod builtin;
pub mod execute;
pub mod sandbox;
mod text_editor;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use examen_types::{
    JsonObject, JsonValue, MessageContent, ToolCall, ToolCallContent, ToolCallError,
    ToolCallErrorType, ToolInfo, ToolParams,
};

use crate::context::BoxFuture;

/// Why a tool call failed.
///
/// Most failures are told to the model as a `ToolCallError` (Inspect's `ToolError` and its
/// kin): [`new`](Self::new) gives the `unknown` type Inspect gives a tool's own error,
/// [`of`](Self::of) any other type. A [`fatal`](Self::fatal) one ends the sample with an
/// error instead. Errors converted with `?` follow Inspect's mapping: an I/O error of kind
/// `PermissionDenied`, `NotFound` or `IsADirectory` is told to the model as `permission`,
/// `file_not_found` or `is_a_directory`; an invalid-UTF-8 error as `unicode_decode`; any
/// other error is fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// The `ToolCallError` type the model is shown.
    pub kind: ToolCallErrorType,
    /// What went wrong, for the model (or, when fatal, for the log).
    pub message: String,
    /// Whether the sample ends with this error instead of the model being told.
    pub fatal: bool,
    /// What the call had produced when it failed (a command's output up to its timeout):
    /// the model is shown it along with the error, as Inspect shows a sandbox timeout's
    /// partial output.
    pub partial: Option<String>,
}

impl ToolError {
    /// An error the model is told about (type `unknown`, as Inspect's `ToolError`).
    pub fn new(message: impl Into<String>) -> Self {
        Self::of(ToolCallErrorType::Unknown, message)
    }

    /// An error of a given `ToolCallError` type, told to the model.
    pub fn of(kind: ToolCallErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            fatal: false,
            partial: None,
        }
    }

    /// With `partial`, what the call had produced, shown to the model with the error.
    pub fn with_partial(mut self, partial: impl Into<String>) -> Self {
        self.partial = Some(partial.into());
        self
    }

    /// Inspect's timeout: "Command timed out before completing.".
    pub fn timeout() -> Self {
        Self::of(
            ToolCallErrorType::Timeout,
            "Command timed out before completing.",
        )
    }

    /// A failure that ends the sample with an error (not the model's doing).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            kind: ToolCallErrorType::Unknown,
            message: message.into(),
            fatal: true,
            partial: None,
        }
    }

    /// The `ToolCallError` the model is shown.
    pub fn to_call_error(&self) -> ToolCallError {
        ToolCallError::new(self.kind, self.message.clone())
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ToolError {
    fn from(error: E) -> Self {
        let dynamic: &(dyn std::error::Error + 'static) = &error;
        if let Some(sandbox) = dynamic.downcast_ref::<examen_sandbox::SandboxError>() {
            return sandbox_error(sandbox);
        }
        if let Some(io) = dynamic.downcast_ref::<std::io::Error>() {
            let kind = match io.kind() {
                std::io::ErrorKind::PermissionDenied => Some(ToolCallErrorType::Permission),
                std::io::ErrorKind::NotFound => Some(ToolCallErrorType::FileNotFound),
                std::io::ErrorKind::IsADirectory => Some(ToolCallErrorType::IsADirectory),
                std::io::ErrorKind::InvalidData => Some(ToolCallErrorType::UnicodeDecode),
                _ => None,
            };
            if let Some(kind) = kind {
                return ToolError::of(kind, io.to_string());
            }
        }
        if dynamic.is::<std::string::FromUtf8Error>() || dynamic.is::<std::str::Utf8Error>() {
            return ToolError::of(
                ToolCallErrorType::UnicodeDecode,
                format!("Error decoding bytes to utf-8: {error}"),
            );
        }
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ToolError::fatal(message)
    }
}

/// Inspect's mapping of a sandbox's errors to what the model is told (`tool_call_error`). A
/// sandbox that is gone ends the sample: every later call would fail the same way, and a
/// model told of it would only run on to its limits (Inspect's #4709).
fn sandbox_error(error: &examen_sandbox::SandboxError) -> ToolError {
    use examen_sandbox::SandboxError as E;
    match error {
        E::Timeout { partial } => {
            let output = if partial.stderr.is_empty() {
                partial.stdout.clone()
            } else {
                format!("{}\n{}", partial.stderr, partial.stdout)
            };
            let error = ToolError::timeout();
            if output.is_empty() {
                error
            } else {
                error.with_partial(output)
            }
        }
        E::FileNotFound { path } => ToolError::of(
            ToolCallErrorType::FileNotFound,
            format!("File '{path}' was not found."),
        ),
        E::IsADirectory { path } => ToolError::of(
            ToolCallErrorType::IsADirectory,
            format!("Is a directory. Filename '{path}'."),
        ),
        E::PermissionDenied { path } => ToolError::of(
            ToolCallErrorType::Permission,
            format!("Permission denied. Filename '{path}'."),
        ),
        E::UnicodeDecode { .. } => ToolError::of(
            ToolCallErrorType::UnicodeDecode,
            "Error decoding bytes to utf-8: invalid utf-8",
        ),
        E::TooLarge { .. } => ToolError::of(
            ToolCallErrorType::Limit,
            "The tool exceeded its output limit of 100 MiB.",
        ),
        E::Unavailable(_) => ToolError {
            kind: ToolCallErrorType::SandboxUnavailable,
            message: error.to_string(),
            fatal: true,
            partial: None,
        },
        _ => ToolError::fatal(error.to_string()),
    }
}

/// A function a model may call.
pub trait Tool: Send + Sync + fmt::Debug + 'static {
    /// The name the model calls it by.
    fn name(&self) -> &str;

    /// What it does, for the model.
    fn description(&self) -> &str;

    /// Its parameters, as a JSON Schema object (none by default).
    fn parameters(&self) -> ToolParams {
        ToolParams::default()
    }

    /// Whether calls of it made in one turn may run at the same time as other such calls
    /// (Inspect's `@tool(parallel=)`; `false` by default, as there).
    fn parallel(&self) -> bool {
        false
    }

    /// The most bytes of text output the model is shown before it is truncated (`Some(0)`:
    /// never truncated); `None` leaves it to the generate config's `max_tool_output`
    /// (16 KiB by default).
    fn max_output(&self) -> Option<u64> {
        None
    }

    /// How a call of it is shown in the log viewer (Inspect's tool `viewer`): set on the
    /// model's tool calls and on the call's `tool` event. `None` (the default): the viewer
    /// shows the call as a function call.
    fn view(&self, call: &ToolCall) -> Option<ToolCallContent> {
        let _ = call;
        None
    }

    /// What the model is shown: name, description and parameters.
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: self.name().to_string(),
            description: self.description().to_string(),
            parameters: self.parameters(),
            options: None,
        }
    }

    /// Runs the tool with the arguments the model gave.
    fn call(
        &self,
        args: JsonObject,
    ) -> impl Future<Output = Result<MessageContent, ToolError>> + Send;

    /// Runs the tool in the sample it was called from ([`ToolContext`]: its working
    /// directory). The default is [`call`](Self::call); tools that act on the sample's
    /// environment (`bash`, `python`) use this.
    fn call_in(
        &self,
        args: JsonObject,
        ctx: &ToolContext,
    ) -> impl Future<Output = Result<MessageContent, ToolError>> + Send {
        let _ = ctx;
        self.call(args)
    }
}

/// Inspect's `code_viewer(language, code_param)`: the call's `code_param` argument (or, when
/// it has none, the function's name) as a fenced `language` block titled `language`, which
/// is how Inspect's viewer shows `bash` and `python` calls.
pub fn code_view(language: &str, code_param: &str, call: &ToolCall) -> ToolCallContent {
    // Python's `str(code or function).strip()`: falsy arguments give way to the name.
    let truthy = |value: &JsonValue| match value {
        JsonValue::Null => false,
        JsonValue::Bool(b) => *b,
        JsonValue::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        JsonValue::String(s) => !s.is_empty(),
        JsonValue::Array(a) => !a.is_empty(),
        JsonValue::Object(o) => !o.is_empty(),
    };
    let code = match call.arguments.get(code_param).filter(|v| truthy(v)) {
        Some(value) => crate::template::py_str(value),
        None => call.function.clone(),
    };
    let code = crate::text::py_strip(&code);
    ToolCallContent {
        title: Some(language.to_owned()),
        format: "markdown".to_owned(),
        content: format!("```{language}\n{code}\n```\n"),
    }
}

/// Sets each tool call's `view` from the tool it calls (Inspect does this to the model's
/// output before the model event is recorded).
pub(crate) fn set_views(output: &mut examen_types::ModelOutput, tools: &[Arc<dyn DynTool>]) {
    if tools.is_empty() {
        return;
    }
    for choice in &mut output.choices {
        for call in choice.message.tool_calls.iter_mut().flatten() {
            if let Some(tool) = tools.iter().find(|t| t.name() == call.function) {
                call.view = tool.view(call);
            }
        }
    }
}

/// What a tool call may use of the sample it runs in: its sandbox
/// ([`sandbox`](Self::sandbox)), each operation recorded as a `sandbox` event in the call's
/// span.
///
/// A sample whose task names no sandbox gets an implicit `local` one: a temporary directory
/// of its own on this machine (made when first asked for, removed with everything in it when
/// the sample ends), with no isolation.
#[derive(Clone, Default)]
pub struct ToolContext {
    workdir: Arc<SampleWorkdir>,
    sandboxes: Option<examen_sandbox::SandboxEnvironments>,
    transcript: Option<Arc<std::sync::Mutex<crate::transcript::Transcript>>>,
    span: Option<String>,
}

impl fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolContext")
            .field("workdir", &self.workdir)
            .field("sandboxes", &self.sandboxes)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl ToolContext {
    /// The context of a sample whose events go to `transcript`, with its `sandboxes` (`None`:
    /// the implicit local one).
    pub(crate) fn for_sample(
        transcript: Arc<std::sync::Mutex<crate::transcript::Transcript>>,
        sandboxes: Option<examen_sandbox::SandboxEnvironments>,
    ) -> ToolContext {
        ToolContext {
            workdir: Arc::default(),
            sandboxes,
            transcript: Some(transcript),
            span: None,
        }
    }

    /// The same sample, its sandbox events in the span `span` (a tool call's).
    pub(crate) fn in_span(&self, span: &str) -> ToolContext {
        ToolContext {
            span: Some(span.to_owned()),
            ..self.clone()
        }
    }

    /// The sample's working directory on this machine (the implicit local sandbox's), made on
    /// first use.
    pub fn working_dir(&self) -> std::io::Result<std::path::PathBuf> {
        self.workdir.get()
    }

    /// The sample's default sandbox: the one named `default`, else its first; the implicit
    /// local one when its task names none.
    pub fn sandbox(&self) -> Result<sandbox::RecordedSandbox, ToolError> {
        let inner: Arc<dyn examen_sandbox::Sandbox> = match &self.sandboxes {
            Some(envs) => envs
                .default_sandbox()
                .cloned()
                .ok_or_else(|| ToolError::fatal("the sample has no sandbox"))?,
            None => Arc::new(examen_sandbox::local::LocalSandbox::new(
                self.working_dir()?,
                examen_sandbox::DEFAULT_OUTPUT_LIMIT,
            )),
        };
        Ok(sandbox::RecordedSandbox::new(
            inner,
            self.transcript.clone(),
            self.span.clone(),
        ))
    }

    /// The sample's sandbox named `name` (Inspect's `sandbox(name)`).
    pub fn sandbox_named(&self, name: &str) -> Result<sandbox::RecordedSandbox, ToolError> {
        let Some(envs) = &self.sandboxes else {
            return match name {
                "default" => self.sandbox(),
                _ => Err(ToolError::fatal(format!(
                    "the sample has no sandbox named `{name}` (its task names no sandbox)"
                ))),
            };
        };
        let inner = envs.get(name).cloned().ok_or_else(|| {
            let names: Vec<&str> = envs.names().collect();
            ToolError::fatal(format!(
                "the sample has no sandbox named `{name}`; it has: {}",
                names.join(", ")
            ))
        })?;
        Ok(sandbox::RecordedSandbox::new(
            inner,
            self.transcript.clone(),
            self.span.clone(),
        ))
    }
}

/// A sample's temporary working directory: made on first use, removed when the last handle
/// to it goes (when the sample ends).
#[derive(Debug, Default)]
pub(crate) struct SampleWorkdir {
    dir: std::sync::OnceLock<std::path::PathBuf>,
}

impl SampleWorkdir {
    fn get(&self) -> std::io::Result<std::path::PathBuf> {
        if let Some(dir) = self.dir.get() {
            return Ok(dir.clone());
        }
        let dir =
            std::env::temp_dir().join(format!("examen-sample-{}", examen_types::short_uuid()));
        std::fs::create_dir(&dir)?;
        match self.dir.set(dir.clone()) {
            Ok(()) => Ok(dir),
            // Another call of the same sample made one first: use it, drop ours.
            Err(_) => {
                let _ = std::fs::remove_dir(&dir);
                Ok(self.dir.get().cloned().unwrap_or(dir))
            }
        }
    }
}

impl Drop for SampleWorkdir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.get() {
            // Nothing to report to at this point; a leftover directory is only litter.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The object-safe form of [`Tool`], which the engine holds
/// (`Arc<dyn DynTool>`). Implemented for every [`Tool`].
pub trait DynTool: Send + Sync + fmt::Debug {
    /// [`Tool::name`].
    fn name(&self) -> &str;
    /// [`Tool::info`].
    fn info(&self) -> ToolInfo;
    /// [`Tool::parallel`].
    fn parallel(&self) -> bool;
    /// [`Tool::max_output`].
    fn max_output(&self) -> Option<u64>;
    /// [`Tool::view`].
    fn view(&self, call: &ToolCall) -> Option<ToolCallContent>;
    /// [`Tool::call_in`], boxed.
    fn call(
        &self,
        args: JsonObject,
        ctx: ToolContext,
    ) -> BoxFuture<'_, Result<MessageContent, ToolError>>;
}

impl<T: Tool> DynTool for T {
    fn name(&self) -> &str {
        Tool::name(self)
    }
    fn info(&self) -> ToolInfo {
        Tool::info(self)
    }
    fn parallel(&self) -> bool {
        Tool::parallel(self)
    }
    fn max_output(&self) -> Option<u64> {
        Tool::max_output(self)
    }
    fn view(&self, call: &ToolCall) -> Option<ToolCallContent> {
        Tool::view(self, call)
    }
    fn call(
        &self,
        args: JsonObject,
        ctx: ToolContext,
    ) -> BoxFuture<'_, Result<MessageContent, ToolError>> {
        Box::pin(async move { Tool::call_in(self, args, &ctx).await })
    }
}

/// Turns a tool into the engine's `Arc<dyn DynTool>`.
pub trait IntoTool {
    /// The tool, shared.
    fn into_tool(self) -> Arc<dyn DynTool>;
}

impl<T: Tool> IntoTool for T {
    fn into_tool(self) -> Arc<dyn DynTool> {
        Arc::new(self)
    }
}

impl IntoTool for Arc<dyn DynTool> {
    fn into_tool(self) -> Arc<dyn DynTool> {
        self
    }
}

/// Parameters from `(name, JSON type, description)` triples, all required.
pub fn params(fields: &[(&str, &str, &str)]) -> ToolParams {
    let mut params = ToolParams::default();
    for (name, kind, description) in fields {
        let mut property = JsonObject::new();
        property.insert("type".into(), JsonValue::from(*kind));
        property.insert("description".into(), JsonValue::from(*description));
        params
            .properties
            .insert((*name).to_string(), JsonValue::Object(property));
        params.required.push((*name).to_string());
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(function: &str, arguments: JsonValue) -> ToolCall {
        ToolCall::new("c1", function, arguments.as_object().unwrap().clone())
    }

    #[test]
    fn code_views_are_inspects_fenced_blocks() {
        let view = code_view(
            "bash",
            "command",
            &call("bash", serde_json::json!({"command": "  ls -l\n"})),
        );
        assert_eq!(view.title.as_deref(), Some("bash"));
        assert_eq!(view.format, "markdown");
        assert_eq!(view.content, "```bash\nls -l\n```\n");
        // `str(code or function)`: an empty or missing argument shows the function's name, a
        // number shows as Python prints it.
        for empty in [serde_json::json!({"command": ""}), serde_json::json!({})] {
            assert_eq!(
                code_view("bash", "command", &call("bash", empty)).content,
                "```bash\nbash\n```\n"
            );
        }
        let number = call("python", serde_json::json!({"code": 1.5}));
        assert_eq!(
            code_view("python", "code", &number).content,
            "```python\n1.5\n```\n"
        );
    }
}
