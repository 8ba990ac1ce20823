//! examen's built-in tools, with Inspect's names, descriptions and parameters so that models see
//! the same tools: `think`; `bash` and `python`, which run in the sample's sandbox
//! ([`ToolContext::sandbox`](super::ToolContext::sandbox)); and [`TextEditor`] (Inspect's
//! `text_editor`), which views and edits files there (relative paths are the sandbox's working
//! directory's) with Inspect's answers, word for word.

use examen_types::{JsonObject, JsonValue, MessageContent, ToolCall, ToolCallContent, ToolParams};

use super::{Tool, ToolError};

pub use super::text_editor::{TextEditor, MAX_HISTORY_ENTRIES_PER_FILE, TEXT_EDITOR_DESCRIPTION};

/// Inspect's `think()`: somewhere for the model to write a thought down; answers `""`.
#[derive(Debug, Clone, Default)]
pub struct Think;

/// Inspect's description of `think`, word for word (its typo included: models see this text).
pub const THINK_DESCRIPTION: &str = "Use the tool to think about something.\n\nThe will not obtain new information or change the environment, but just append the thought to the log. Use it when complex reasoning or some cache memory is needed.";

impl Tool for Think {
    fn name(&self) -> &str {
        "think"
    }

    fn description(&self) -> &str {
        THINK_DESCRIPTION
    }

    fn parameters(&self) -> ToolParams {
        super::params(&[("thought", "string", "A thought to think about.")])
    }

    fn parallel(&self) -> bool {
        true
    }

    /// Inspect's `think_tool_viewer`: the thought, as markdown.
    fn view(&self, call: &ToolCall) -> Option<ToolCallContent> {
        let thought = match call.arguments.get("thought") {
            Some(JsonValue::String(thought)) => thought.clone(),
            Some(other) => crate::template::py_str(other),
            None => String::new(),
        };
        Some(ToolCallContent {
            title: None,
            format: "markdown".to_owned(),
            content: thought,
        })
    }

    async fn call(&self, _args: JsonObject) -> Result<MessageContent, ToolError> {
        Ok(MessageContent::Text(String::new()))
    }
}

/// Inspect's description of `bash`.
pub const BASH_DESCRIPTION: &str = "Use this function to execute bash commands.";

/// Inspect's description of `python`.
pub const PYTHON_DESCRIPTION: &str = "Use the python function to execute Python code.\n\nThe Python tool executes single-run Python scripts. Important notes:\n1. Each execution is independent - no state is preserved between runs\n2. You must explicitly use print() statements to see any output\n3. Simply writing expressions (like in notebooks) will not display results\n4. The script cannot accept interactive input during execution\n5. Return statements alone won't produce visible output\n6. All variables and imports are cleared between executions\n7. Standard output (via print()) is the only way to see results";

/// Inspect's `bash(timeout, user)`: runs `bash -c <command>` in the sample's sandbox and
/// answers with its output (standard error, a newline, then standard output, when there was
/// standard error; the exit code is not reported, as in Inspect).
///
/// It runs in the sample's sandbox ([`ToolContext::sandbox`](super::ToolContext::sandbox)),
/// which is this machine (a temporary directory of the sample's own, no isolation) when the
/// task names none: then use it only with models and tasks you trust.
#[derive(Debug, Clone, Default)]
pub struct Bash {
    /// Seconds before the command is killed (with its whole process group).
    pub timeout: Option<f64>,
    /// The user the command runs as in the sandbox (`None`: the sandbox's default user).
    pub user: Option<String>,
}

/// Inspect's `python(timeout, user)`: runs the code with `python3 -` through `bash -c` in
/// the sample's sandbox; output as [`Bash`]'s.
#[derive(Debug, Clone, Default)]
pub struct Python {
    /// Seconds before the interpreter is killed.
    pub timeout: Option<f64>,
    /// The user the interpreter runs as in the sandbox (`None`: the sandbox's default user).
    pub user: Option<String>,
}

fn string_arg(args: &JsonObject, name: &str) -> Result<String, ToolError> {
    match args.get(name) {
        Some(JsonValue::String(value)) => Ok(value.clone()),
        _ => Err(ToolError::of(
            examen_types::ToolCallErrorType::Parsing,
            format!("'{name}' is a required property"),
        )),
    }
}

/// Runs `bash -c <script>` in the sample's sandbox; Inspect's output rule.
///
/// Not `bash --login` as Inspect runs it: in the implicit local sandbox a login shell would
/// source the user's profile, which can do anything (seen: a `pyenv rehash` that waits 60 s
/// for a lock when commands run side by side). The command sees examen's environment there.
async fn run_bash(
    script: &str,
    input: Option<Vec<u8>>,
    timeout: Option<f64>,
    user: Option<&str>,
    ctx: &super::ToolContext,
) -> Result<MessageContent, ToolError> {
    let sandbox = ctx.sandbox()?;
    let mut request = examen_sandbox::ExecRequest::new(["bash", "-c", script]);
    request.input = input;
    request.user = user.map(str::to_owned);
    request.timeout = timeout.and_then(|s| std::time::Duration::try_from_secs_f64(s).ok());
    let result = sandbox.exec(request).await?;
    let truncated = result.truncated();
    let text = if result.stderr.is_empty() {
        result.stdout
    } else {
        format!("{}\n{}", result.stderr, result.stdout)
    };
    if truncated {
        // Inspect's `OutputLimitExceededError`, which its own providers never raise (they
        // cut silently): the model is told, and shown what was kept.
        return Err(ToolError::of(
            examen_types::ToolCallErrorType::Limit,
            "The tool exceeded its output limit of 10 MiB.",
        )
        .with_partial(text));
    }
    Ok(MessageContent::Text(text))
}

impl Tool for Bash {
    fn name(&self) -> &str {
        "bash"
    }
    fn description(&self) -> &str {
        BASH_DESCRIPTION
    }
    fn parameters(&self) -> ToolParams {
        super::params(&[("command", "string", "The bash command to execute.")])
    }
    fn parallel(&self) -> bool {
        true
    }
    fn view(&self, call: &ToolCall) -> Option<ToolCallContent> {
        Some(super::code_view("bash", "command", call))
    }
    async fn call(&self, _args: JsonObject) -> Result<MessageContent, ToolError> {
        Err(ToolError::fatal(
            "bash runs in a sample: call it through the tool loop (call_in)",
        ))
    }
    async fn call_in(
        &self,
        args: JsonObject,
        ctx: &super::ToolContext,
    ) -> Result<MessageContent, ToolError> {
        let command = string_arg(&args, "command")?;
        run_bash(&command, None, self.timeout, self.user.as_deref(), ctx).await
    }
}

impl Tool for Python {
    fn name(&self) -> &str {
        "python"
    }
    fn description(&self) -> &str {
        PYTHON_DESCRIPTION
    }
    fn parameters(&self) -> ToolParams {
        super::params(&[("code", "string", "The python code to execute.")])
    }
    fn parallel(&self) -> bool {
        true
    }
    fn view(&self, call: &ToolCall) -> Option<ToolCallContent> {
        Some(super::code_view("python", "code", call))
    }
    async fn call(&self, _args: JsonObject) -> Result<MessageContent, ToolError> {
        Err(ToolError::fatal(
            "python runs in a sample: call it through the tool loop (call_in)",
        ))
    }
    async fn call_in(
        &self,
        args: JsonObject,
        ctx: &super::ToolContext,
    ) -> Result<MessageContent, ToolError> {
        let code = string_arg(&args, "code")?;
        run_bash(
            "python3 -",
            Some(code.into_bytes()),
            self.timeout,
            self.user.as_deref(),
            ctx,
        )
        .await
    }
}
