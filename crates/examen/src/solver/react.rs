//! `react`: Inspect's ReAct agent (`agent/_react.py`). It prepends a system prompt, then
//! loops: call the model with its tools (and a `submit` tool), run the calls it makes, and stop
//! when it submits an answer (after `attempts` tries, or as soon as one is scored correct),
//! when it runs into a limit, or when the model's context is full. When the model calls no tool
//! it is urged to go on (`on_continue`). Submit calls are removed from the conversation at the
//! end and the answer becomes the output's completion, so scorers see a plain answer.
//!
//! Inspect's texts are kept word for word: models see the same prompts.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use examen_types::{
    ChatMessage, Content, ContentText, JsonObject, JsonValue, MessageContent, StopReason,
    ToolChoice, ToolParams, ValueToFloat,
};

use crate::context::{BoxFuture, SampleContext, SampleError};
use crate::state::TaskState;
use crate::tool::{DynTool, Tool, ToolError};

use super::Solver;

/// Inspect's `PARALLEL_TOOLS_PROMPT`.
pub const PARALLEL_TOOLS_PROMPT: &str = "Prioritize parallel tool calls: when operations are independent, run them in one response — e.g. reading several files or running several searches at once — rather than one at a time. Only sequence calls when one depends on another's result.";

/// Inspect's `DEFAULT_ASSISTANT_PROMPT` (with [`PARALLEL_TOOLS_PROMPT`] inside).
pub fn default_assistant_prompt() -> String {
    format!(
        "\nYou are a helpful assistant attempting to submit the best possible answer. You have several tools available to help with finding the answer. You will see the result of tool calls right after sending the message. {PARALLEL_TOOLS_PROMPT} Do some reasoning before your actions, describing what tool calls you are going to use and how they fit into your plan.\n"
    )
}

/// Inspect's `DEFAULT_SUBMIT_PROMPT` (`{submit}` is the submit tool's name).
pub const DEFAULT_SUBMIT_PROMPT: &str =
    "\nWhen you have completed the task and have an answer, call the {submit}() tool to report it.\n";

/// Inspect's `DEFAULT_CONTINUE_PROMPT`.
pub const DEFAULT_CONTINUE_PROMPT: &str = "\nPlease proceed to the next step using your best judgement. If you believe you have completed the task, please call the `{submit}()` tool with your final answer.\n";

/// Inspect's `DEFAULT_CONTINUE_PROMPT_NO_SUBMIT`.
pub const DEFAULT_CONTINUE_PROMPT_NO_SUBMIT: &str =
    "\nPlease proceed to the next step using your best judgement.\n";

/// Inspect's `AgentAttempts.incorrect_message` default.
pub const DEFAULT_INCORRECT_MESSAGE: &str =
    "Your submission was incorrect. Please proceed and attempt to find the correct answer.";

/// The agent's system prompt (Inspect's `AgentPrompt`): its parts joined by blank lines.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPrompt {
    /// Task-specific instructions, first.
    pub instructions: Option<String>,
    /// How to work with tools (`None` leaves it out).
    pub assistant_prompt: Option<String>,
    /// How to submit, added after the assistant prompt unless it names `{submit}` itself.
    pub submit_prompt: Option<String>,
}

impl Default for AgentPrompt {
    fn default() -> Self {
        Self {
            instructions: None,
            assistant_prompt: Some(default_assistant_prompt()),
            submit_prompt: Some(DEFAULT_SUBMIT_PROMPT.to_owned()),
        }
    }
}

impl AgentPrompt {
    /// The default prompt with these instructions (Inspect's `react(prompt="...")`).
    pub fn instructions(instructions: impl Into<String>) -> Self {
        Self {
            instructions: Some(instructions.into()),
            ..Self::default()
        }
    }

    /// The system message's text (Inspect's `_prompt_to_system_message`), or `None` when every
    /// part is left out.
    pub fn text(&self, submit: Option<&str>) -> Option<String> {
        let mut lines: Vec<String> = Vec::new();
        if let Some(instructions) = self.instructions.as_deref().filter(|s| !s.is_empty()) {
            lines.push(instructions.to_owned());
        }
        if let Some(assistant) = self.assistant_prompt.as_deref().filter(|s| !s.is_empty()) {
            match (
                submit,
                self.submit_prompt.as_deref().filter(|s| !s.is_empty()),
            ) {
                (Some(name), Some(submit_prompt)) if !assistant.contains("{submit}") => {
                    lines.push(format!(
                        "{assistant}\n{}",
                        submit_prompt.replace("{submit}", name)
                    ));
                }
                _ => lines.push(assistant.replace("{submit}", submit.unwrap_or("submit"))),
            }
        }
        (!lines.is_empty()).then(|| lines.join("\n\n"))
    }
}

/// How the agent submits its answer (Inspect's `AgentSubmit`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSubmit {
    /// The tool's name.
    pub name: String,
    /// The tool's description.
    pub description: String,
    /// Make the completion the answer alone, rather than the message's text and the answer.
    pub answer_only: bool,
    /// Between the message's text and the answer.
    pub answer_delimiter: String,
    /// Keep the submit calls in the conversation.
    pub keep_in_messages: bool,
}

impl Default for AgentSubmit {
    fn default() -> Self {
        Self {
            name: "submit".to_owned(),
            description: "Submit an answer for evaluation.".to_owned(),
            answer_only: false,
            answer_delimiter: "\n\n".to_owned(),
            keep_in_messages: false,
        }
    }
}

/// What to do after a turn (Inspect's `on_continue`).
#[derive(Clone, Default)]
pub enum OnContinue {
    /// When the model called no tool, tell it to go on (the default prompt).
    #[default]
    Default,
    /// When the model called no tool, send this message (`{submit}` is the submit tool).
    Message(String),
    /// Asked after every turn.
    Callback(Arc<ContinueFn>),
}

/// An `on_continue` callback: sees the state after a turn, says what to do next.
pub type ContinueFn = dyn Fn(&TaskState) -> BoxFuture<'static, Continue> + Send + Sync;

/// What an `on_continue` callback answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Continue {
    /// Go on (with the default message when the model called no tool).
    Yes,
    /// Go on after sending this user message.
    With(String),
    /// Stop.
    Stop,
}

impl fmt::Debug for OnContinue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnContinue::Default => f.write_str("Default"),
            OnContinue::Message(m) => f.debug_tuple("Message").field(m).finish(),
            OnContinue::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

impl OnContinue {
    /// A callback (any async function of the state).
    pub fn callback<F, Fut>(f: F) -> Self
    where
        F: Fn(&TaskState) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Continue> + Send + 'static,
    {
        OnContinue::Callback(Arc::new(move |state| Box::pin(f(state))))
    }
}

/// Inspect's `react` agent as a solver (see the module docs).
#[derive(Debug, Clone)]
pub struct React {
    /// The system prompt (`None`: no system message).
    pub prompt: Option<AgentPrompt>,
    /// The tools it may call (the submit tool is added to them).
    pub tools: Vec<Arc<dyn DynTool>>,
    /// How many submissions it gets.
    pub attempts: u32,
    /// What an incorrect submission is answered with.
    pub incorrect_message: String,
    /// The submit tool; `None` for an agent that stops when it calls no tool.
    pub submit: Option<AgentSubmit>,
    /// What to do after each turn.
    pub on_continue: OnContinue,
}

impl Default for React {
    fn default() -> Self {
        Self {
            prompt: Some(AgentPrompt::default()),
            tools: Vec::new(),
            attempts: 1,
            incorrect_message: DEFAULT_INCORRECT_MESSAGE.to_owned(),
            submit: Some(AgentSubmit::default()),
            on_continue: OnContinue::Default,
        }
    }
}

/// A react agent with these tools and the default prompt, one attempt and a submit tool.
pub fn react(tools: Vec<Arc<dyn DynTool>>) -> Arc<dyn super::DynSolver> {
    Arc::new(React {
        tools,
        ..React::default()
    })
}

/// The submit tool: answers with the answer it was given, never truncated.
#[derive(Debug)]
struct Submit {
    name: String,
    description: String,
}

impl Tool for Submit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn parameters(&self) -> ToolParams {
        crate::tool::params(&[("answer", "string", "Submitted answer")])
    }
    fn max_output(&self) -> Option<u64> {
        // The answer becomes the completion: cutting it would score a truncation notice.
        Some(0)
    }
    async fn call(&self, args: JsonObject) -> Result<MessageContent, ToolError> {
        let answer = match args.get("answer") {
            Some(JsonValue::String(answer)) => answer.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        Ok(MessageContent::Text(answer))
    }
}

impl Solver for React {
    fn name(&self) -> &str {
        "react"
    }

    fn params(&self) -> JsonObject {
        let mut params = JsonObject::new();
        let tools: Vec<JsonValue> = self.tools.iter().map(|t| t.name().into()).collect();
        params.insert("tools".into(), JsonValue::Array(tools));
        params.insert("attempts".into(), self.attempts.into());
        params.insert("submit".into(), self.submit.is_some().into());
        params
    }

    async fn solve(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
        ctx.with_transcript(|t| t.begin_span("react", "agent"));
        let result = self.run(state, ctx).await;
        ctx.with_transcript(|t| t.end_span());
        result
    }
}

impl React {
    async fn run(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
        let submit_name = self.submit.as_ref().map(|s| s.name.clone());
        let mut tools = self.tools.clone();
        if let Some(submit) = &self.submit {
            tools.push(Arc::new(Submit {
                name: submit.name.clone(),
                description: submit.description.clone(),
            }));
        }
        if let Some(text) = self
            .prompt
            .as_ref()
            .and_then(|p| p.text(submit_name.as_deref()))
        {
            state.messages.insert(0, ChatMessage::system(text));
        }
        let config = examen_types::GenerateConfig::default();
        let max_output = ctx.config.max_tool_output;
        let mut attempts = 0;
        let mut content_filtered = 0;
        loop {
            ctx.generate_turn(state, &config, &tools, &ToolChoice::Auto)
                .await?;
            match state.output.stop_reason() {
                // Inspect compacts or truncates here when asked to; by default it stops.
                StopReason::ModelLength => break,
                StopReason::ContentFilter => {
                    content_filtered += 1;
                    if content_filtered >= 3 {
                        break;
                    }
                }
                _ => content_filtered = 0,
            }
            let calls = match state.messages.last() {
                Some(ChatMessage::Assistant(message)) => message.tool_calls.clone(),
                _ => None,
            }
            .unwrap_or_default();
            if !calls.is_empty() {
                let results =
                    crate::tool::execute::execute_tools(ctx, &tools, &calls, max_output).await?;
                let answer = self.submission(&results);
                state.messages.extend(results);
                if let (Some(answer), Some(submit)) = (answer, &self.submit) {
                    set_answer(state, &answer, submit);
                    attempts += 1;
                    if attempts >= self.attempts {
                        break;
                    }
                    let scores = ctx.score(state).await?;
                    let value = scores
                        .first()
                        .map(|s| ValueToFloat::default().convert(&s.value));
                    if value == Some(1.0) {
                        break;
                    }
                    state
                        .messages
                        .push(ChatMessage::user(self.incorrect_message.as_str()));
                }
            }
            let called = !calls.is_empty();
            let continue_with = |text: &str| {
                ChatMessage::user(
                    text.replace("{submit}", submit_name.as_deref().unwrap_or("submit")),
                )
            };
            match &self.on_continue {
                OnContinue::Callback(callback) => match callback(state).await {
                    Continue::Yes if !called => {
                        state.messages.push(continue_with(DEFAULT_CONTINUE_PROMPT));
                    }
                    Continue::Yes => {}
                    Continue::With(message) => state.messages.push(continue_with(&message)),
                    Continue::Stop => break,
                },
                // Without a submit tool, a turn with no tool call is the answer.
                _ if self.submit.is_none() && !called => break,
                OnContinue::Message(message) if !called => {
                    state.messages.push(continue_with(message));
                }
                OnContinue::Default if !called => {
                    let prompt = if self.submit.is_some() {
                        DEFAULT_CONTINUE_PROMPT
                    } else {
                        DEFAULT_CONTINUE_PROMPT_NO_SUBMIT
                    };
                    state.messages.push(continue_with(prompt));
                }
                _ => {}
            }
        }
        if let Some(submit) = self.submit.as_ref().filter(|s| !s.keep_in_messages) {
            remove_submit_calls(&mut state.messages, &submit.name);
        }
        Ok(())
    }

    /// The answer of a submit call that did not fail, if the turn made one.
    fn submission(&self, results: &[ChatMessage]) -> Option<String> {
        let submit = self.submit.as_ref()?;
        results.iter().find_map(|message| match message {
            ChatMessage::Tool(tool)
                if tool.function.as_deref() == Some(submit.name.as_str())
                    && tool.error.is_none() =>
            {
                Some(tool.content.text())
            }
            _ => None,
        })
    }
}

/// The completion becomes the answer (after the message's text unless `answer_only`); the
/// output's message, and the assistant message in the conversation that made the call (the
/// same object in Inspect), get it too, since the submit call is removed from them.
fn set_answer(state: &mut TaskState, answer: &str, submit: &AgentSubmit) {
    let delimiter = &submit.answer_delimiter;
    state.output.completion = if submit.answer_only {
        answer.to_owned()
    } else {
        format!("{}{delimiter}{answer}", state.output.completion)
            .trim()
            .to_owned()
    };
    if submit.keep_in_messages {
        return;
    }
    let append = |content: &mut MessageContent| match content {
        MessageContent::Text(text) => {
            *text = format!("{text}{delimiter}{answer}").trim().to_owned();
        }
        MessageContent::Parts(parts) => parts.push(Content::Text(ContentText::new(answer))),
    };
    if let Some(choice) = state.output.choices.first_mut() {
        append(&mut choice.message.content);
    }
    let caller = state.messages.iter_mut().rev().find_map(|m| match m {
        ChatMessage::Assistant(assistant) => Some(assistant),
        _ => None,
    });
    if let Some(caller) = caller {
        append(&mut caller.content);
    }
}

/// Inspect's `_remove_submit_tool`: submit results dropped, submit calls taken out of the
/// assistant messages (with the last reasoning block of a message that made one).
fn remove_submit_calls(messages: &mut Vec<ChatMessage>, submit: &str) {
    messages
        .retain(|m| !matches!(m, ChatMessage::Tool(t) if t.function.as_deref() == Some(submit)));
    for message in messages.iter_mut() {
        let ChatMessage::Assistant(assistant) = message else {
            continue;
        };
        let Some(calls) = assistant.tool_calls.as_mut() else {
            continue;
        };
        let before = calls.len();
        calls.retain(|c| c.function != submit);
        if calls.len() < before {
            if let MessageContent::Parts(parts) = &mut assistant.content {
                if let Some(last) = parts
                    .iter()
                    .rposition(|p| matches!(p, Content::Reasoning(_)))
                {
                    parts.remove(last);
                }
            }
        }
    }
}
