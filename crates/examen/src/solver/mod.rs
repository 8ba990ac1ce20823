//! Solvers: the steps a sample goes through before scoring (Inspect's
//! `generate`, `system_message`, `user_message`, `assistant_message`,
//! `prompt_template`, `chain_of_thought`, `multiple_choice`,
//! `self_critique` and `chain`).
//!
//! Templates are Python format strings filled from the sample metadata and
//! the store (see [`crate::template`]).

mod multiple_choice;
pub mod react;

use std::fmt;
use std::sync::Arc;

use examen_types::{ChatMessage, GenerateConfig, JsonObject, JsonValue, MessageContent};

use crate::context::{BoxFuture, ModelRef, SampleContext, SampleError};
use crate::state::TaskState;
use crate::template::format_template;
use std::future::Future;

pub(crate) use multiple_choice::answer_options as answer_options_for;

/// The object-safe form of [`Solver`], which the engine holds
/// (`Arc<dyn DynSolver>`). Implemented for every [`Solver`]; implement
/// [`Solver`] rather than this.
pub trait DynSolver: Send + Sync + fmt::Debug {
    /// [`Solver::name`].
    fn name(&self) -> &str;
    /// [`Solver::params`].
    fn params(&self) -> JsonObject;
    /// [`Solver::solve`], boxed.
    fn solve<'a>(
        &'a self,
        state: &'a mut TaskState,
        ctx: &'a SampleContext,
    ) -> BoxFuture<'a, Result<(), SampleError>>;
}

impl<T: Solver> DynSolver for T {
    fn name(&self) -> &str {
        Solver::name(self)
    }
    fn params(&self) -> JsonObject {
        Solver::params(self)
    }
    fn solve<'a>(
        &'a self,
        state: &'a mut TaskState,
        ctx: &'a SampleContext,
    ) -> BoxFuture<'a, Result<(), SampleError>> {
        Box::pin(Solver::solve(self, state, ctx))
    }
}

/// Turns a solver into the engine's `Arc<dyn DynSolver>`: any [`Solver`],
/// or an `Arc<dyn DynSolver>` as it is.
pub trait IntoSolver {
    /// The solver, shared.
    fn into_solver(self) -> Arc<dyn DynSolver>;
}

impl<T: Solver> IntoSolver for T {
    fn into_solver(self) -> Arc<dyn DynSolver> {
        Arc::new(self)
    }
}

impl IntoSolver for Arc<dyn DynSolver> {
    fn into_solver(self) -> Arc<dyn DynSolver> {
        self
    }
}
pub use multiple_choice::{
    MultipleChoice, MULTIPLE_ANSWER_TEMPLATE, MULTIPLE_ANSWER_TEMPLATE_COT, SINGLE_ANSWER_TEMPLATE,
    SINGLE_ANSWER_TEMPLATE_COT,
};

/// A step applied to a sample's [`TaskState`].
///
/// Written with a plain `async fn`; the engine holds solvers as
/// `Arc<dyn DynSolver>` (every `Solver` is one, through a blanket impl), so
/// a task mixes built-in and custom solvers freely. An error of any type
/// converts into [`SampleError`] with `?`.
///
/// ```
/// use examen::{SampleContext, SampleError, Solver, TaskState};
///
/// #[derive(Debug)]
/// struct Shout;
///
/// impl Solver for Shout {
///     fn name(&self) -> &str {
///         "shout"
///     }
///     async fn solve(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
///         let prompt = state.user_prompt_text().unwrap_or_default().to_uppercase();
///         state.messages.push(examen::ChatMessage::user(prompt));
///         ctx.generate(state, &Default::default()).await
///     }
/// }
/// ```
pub trait Solver: Send + Sync + fmt::Debug + 'static {
    /// The registry name (`generate`, `prompt_template`, ...).
    fn name(&self) -> &str;

    /// The arguments it was created with (recorded in the log's plan).
    fn params(&self) -> JsonObject {
        JsonObject::new()
    }

    /// Runs the step. Returning an error ends the sample's solvers.
    fn solve(
        &self,
        state: &mut TaskState,
        ctx: &SampleContext,
    ) -> impl Future<Output = Result<(), SampleError>> + Send;
}

fn template_error(solver: &str, e: crate::template::TemplateError) -> SampleError {
    SampleError::failed(format!("{solver}: {e}"))
}

/// Calls the model with the conversation and runs the tools it calls (Inspect's
/// `generate`).
#[derive(Debug, Clone, Default)]
pub struct GenerateSolver {
    /// Generation options layered over the task's config.
    pub config: GenerateConfig,
    /// What to do with the model's tool calls (`loop` by default).
    pub tool_calls: crate::ToolCalls,
}

/// Calls the model and appends its answer.
pub fn generate() -> Arc<dyn DynSolver> {
    Arc::new(GenerateSolver::default())
}

impl Solver for GenerateSolver {
    fn name(&self) -> &str {
        "generate"
    }

    fn params(&self) -> JsonObject {
        let mut params = match serde_json::to_value(&self.config) {
            Ok(JsonValue::Object(map)) => map,
            _ => JsonObject::new(),
        };
        // Inspect's plan records `generate`'s `tool_calls` argument.
        let tool_calls = match self.tool_calls {
            crate::ToolCalls::Loop => "loop",
            crate::ToolCalls::Single => "single",
            crate::ToolCalls::None => "none",
        };
        params.insert("tool_calls".into(), tool_calls.into());
        params
    }

    async fn solve(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
        ctx.generate_with(state, &self.config, self.tool_calls)
            .await
    }
}

/// Which kind of message a [`MessageTemplate`] adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRole {
    /// Inserted after the existing system messages.
    System,
    /// Appended.
    User,
    /// Appended.
    Assistant,
}

/// Adds a templated message (Inspect's `system_message`, `user_message`,
/// `assistant_message`).
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    /// The message kind.
    pub role: MessageRole,
    /// The template.
    pub template: String,
    /// Extra template values (override metadata and store).
    pub params: JsonObject,
}

/// Inserts a system message after any existing ones.
pub fn system_message(template: impl Into<String>) -> Arc<dyn DynSolver> {
    Arc::new(MessageTemplate {
        role: MessageRole::System,
        template: template.into(),
        params: JsonObject::new(),
    })
}

/// Appends a user message.
pub fn user_message(template: impl Into<String>) -> Arc<dyn DynSolver> {
    Arc::new(MessageTemplate {
        role: MessageRole::User,
        template: template.into(),
        params: JsonObject::new(),
    })
}

/// Appends an assistant message.
pub fn assistant_message(template: impl Into<String>) -> Arc<dyn DynSolver> {
    Arc::new(MessageTemplate {
        role: MessageRole::Assistant,
        template: template.into(),
        params: JsonObject::new(),
    })
}

impl Solver for MessageTemplate {
    fn name(&self) -> &str {
        match self.role {
            MessageRole::System => "system_message",
            MessageRole::User => "user_message",
            MessageRole::Assistant => "assistant_message",
        }
    }

    fn params(&self) -> JsonObject {
        let mut params = self.params.clone();
        params.insert("template".into(), JsonValue::from(self.template.as_str()));
        params
    }

    async fn solve(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
        let text = format_template(&self.template, &state.template_params(&self.params))
            .map_err(|e| template_error(Solver::name(self), e))?;
        match self.role {
            MessageRole::System => {
                let position = state
                    .messages
                    .iter()
                    .rposition(|m| matches!(m, ChatMessage::System(_)))
                    .map_or(0, |i| i + 1);
                state.messages.insert(position, ChatMessage::system(text));
            }
            MessageRole::User => state.messages.push(ChatMessage::user(text)),
            MessageRole::Assistant => {
                let mut message = examen_types::ChatMessageAssistant::new(text);
                message.model = Some(ctx.model_name().to_string());
                state.messages.push(message.into());
            }
        }
        crate::context::check_message_limit(state, false)
    }
}

/// Rewrites the last user prompt with a template (Inspect's `prompt_template`).
#[derive(Debug, Clone)]
pub struct PromptTemplate {
    /// The template; `{prompt}` is the current prompt.
    pub template: String,
    /// Extra template values.
    pub params: JsonObject,
}

/// Rewrites the prompt: `{prompt}` is the current prompt text.
pub fn prompt_template(template: impl Into<String>) -> Arc<dyn DynSolver> {
    Arc::new(PromptTemplate {
        template: template.into(),
        params: JsonObject::new(),
    })
}

/// Replaces the text of the last user message with `text`.
pub(crate) fn set_user_prompt(state: &mut TaskState, text: String) -> Result<(), SampleError> {
    let prompt = state
        .user_prompt_mut()
        .ok_or_else(|| SampleError::failed("no user prompt in the conversation"))?;
    set_text(prompt.content_mut(), text);
    Ok(())
}

fn set_text(content: &mut MessageContent, text: String) {
    content.set_text(text);
}

impl Solver for PromptTemplate {
    fn name(&self) -> &str {
        "prompt_template"
    }

    fn params(&self) -> JsonObject {
        let mut params = self.params.clone();
        params.insert("template".into(), JsonValue::from(self.template.as_str()));
        params
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        let prompt = state.user_prompt_text().ok_or_else(|| {
            SampleError::failed("prompt_template: no user prompt in the conversation")
        })?;
        let mut values = state.template_params(&JsonObject::new());
        values.shift_remove("prompt");
        values.insert("prompt".into(), JsonValue::from(prompt));
        for (k, v) in &self.params {
            values.insert(k.clone(), v.clone());
        }
        let text = format_template(&self.template, &values)
            .map_err(|e| template_error("prompt_template", e))?;
        set_user_prompt(state, text)
    }
}

/// Inspect's default chain-of-thought template.
pub const DEFAULT_COT_TEMPLATE: &str = "\n{prompt}\n\nBefore answering, reason in a step-by-step manner as to get the right answer. Provide your answer at the end on its own line in the form \"ANSWER: $ANSWER\" (without quotes) where $ANSWER is the answer to the question.\n";

/// Asks for step-by-step reasoning (Inspect's `chain_of_thought`).
#[derive(Debug, Clone)]
pub struct ChainOfThought {
    /// The template; `{prompt}` is the current prompt.
    pub template: String,
}

/// Chain of thought with Inspect's default template.
pub fn chain_of_thought() -> Arc<dyn DynSolver> {
    Arc::new(ChainOfThought {
        template: DEFAULT_COT_TEMPLATE.to_string(),
    })
}

impl Solver for ChainOfThought {
    fn name(&self) -> &str {
        "chain_of_thought"
    }

    fn params(&self) -> JsonObject {
        let mut params = JsonObject::new();
        params.insert("template".into(), JsonValue::from(self.template.as_str()));
        params
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        let prompt = state.user_prompt_text().ok_or_else(|| {
            SampleError::failed("chain_of_thought: no user prompt in the conversation")
        })?;
        let mut values = JsonObject::new();
        values.insert("prompt".into(), JsonValue::from(prompt));
        let text = format_template(&self.template, &values)
            .map_err(|e| template_error("chain_of_thought", e))?;
        set_user_prompt(state, text)
    }
}

/// Inspect's default critique template.
pub const DEFAULT_CRITIQUE_TEMPLATE: &str = "\nGiven the following question and answer, please critique the answer. A good answer comprehensively answers the question and NEVER refuses to answer. If the answer is already correct do not provide critique - simply respond 'The original answer is fully correct'.\n\n[BEGIN DATA]\n***\n[Question]: {question}\n***\n[Answer]: {completion}\n***\n[END DATA]\n\nCritique: ";

/// Inspect's default critique completion template.
pub const DEFAULT_CRITIQUE_COMPLETION_TEMPLATE: &str = "\nGiven the following question, initial answer and critique please generate an improved answer to the question:\n\n[BEGIN DATA]\n***\n[Question]: {question}\n***\n[Answer]: {completion}\n***\n[Critique]: {critique}\n***\n[END DATA]\n\nIf the original answer is already correct, just repeat the original answer exactly. Provide your answer at the end on its own line in the form \"ANSWER: $ANSWER\" (without quotes) where $ANSWER is the answer to the question.\n";

/// Has a model critique the answer, then asks for an improved one
/// (Inspect's `self_critique`).
#[derive(Debug, Clone)]
pub struct SelfCritique {
    /// Template for the critique request (`{question}`, `{completion}`).
    pub critique_template: String,
    /// Template for the follow-up (`{question}`, `{completion}`, `{critique}`).
    pub completion_template: String,
    /// The critic (default: the evaluated model).
    pub model: ModelRef,
}

/// Self critique with Inspect's default templates, by the evaluated model.
pub fn self_critique() -> Arc<dyn DynSolver> {
    Arc::new(SelfCritique {
        critique_template: DEFAULT_CRITIQUE_TEMPLATE.to_string(),
        completion_template: DEFAULT_CRITIQUE_COMPLETION_TEMPLATE.to_string(),
        model: ModelRef::Evaluated,
    })
}

impl Solver for SelfCritique {
    fn name(&self) -> &str {
        "self_critique"
    }

    fn params(&self) -> JsonObject {
        let mut params = JsonObject::new();
        if let ModelRef::Named(name) | ModelRef::Role(name) = &self.model {
            params.insert("model".into(), JsonValue::from(name.as_str()));
        }
        params
    }

    async fn solve(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
        let mut values = state.metadata.clone();
        for key in ["question", "completion", "critique"] {
            values.shift_remove(key);
        }
        values.insert("question".into(), JsonValue::from(state.input_text()));
        values.insert(
            "completion".into(),
            JsonValue::from(state.output.completion.as_str()),
        );
        let critique_prompt = format_template(&self.critique_template, &values)
            .map_err(|e| template_error("self_critique", e))?;
        let critique = ctx
            .call_model(
                &self.model,
                &[ChatMessage::user(critique_prompt)],
                &GenerateConfig::default(),
                Some(&mut *state),
            )
            .await?;
        values.insert(
            "critique".into(),
            JsonValue::from(critique.completion.as_str()),
        );
        let follow_up = format_template(&self.completion_template, &values)
            .map_err(|e| template_error("self_critique", e))?;
        state.messages.push(ChatMessage::user(follow_up));
        ctx.generate(state, &GenerateConfig::default()).await
    }
}

/// Runs solvers in order, stopping when one marks the state completed
/// (Inspect's `chain`).
#[derive(Debug, Clone)]
pub struct Chain {
    /// The solvers.
    pub solvers: Vec<Arc<dyn DynSolver>>,
}

/// A chain of solvers.
pub fn chain(solvers: Vec<Arc<dyn DynSolver>>) -> Arc<dyn DynSolver> {
    Arc::new(Chain { solvers })
}

impl Solver for Chain {
    fn name(&self) -> &str {
        "chain"
    }

    fn params(&self) -> JsonObject {
        let mut params = JsonObject::new();
        let names: Vec<JsonValue> = self
            .solvers
            .iter()
            .map(|s| JsonValue::from(s.name()))
            .collect();
        params.insert("solvers".into(), JsonValue::Array(names));
        params
    }

    async fn solve(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
        for solver in &self.solvers {
            solver.solve(state, ctx).await?;
            if state.completed {
                break;
            }
        }
        Ok(())
    }
}

/// Sets the tools offered to the model and the tool choice (Inspect's
/// `use_tools`).
#[derive(Debug, Clone)]
pub struct UseTools {
    /// The tools.
    pub tools: Vec<Arc<dyn crate::tool::DynTool>>,
    /// The tool choice (`None`: leave the state's, `auto` by default).
    pub tool_choice: Option<examen_types::ToolChoice>,
    /// Add to the state's tools rather than replace them.
    pub append: bool,
}

/// Offers `tools` to the model from now on (tool choice `auto`).
pub fn use_tools(tools: Vec<Arc<dyn crate::tool::DynTool>>) -> Arc<dyn DynSolver> {
    Arc::new(UseTools {
        tools,
        tool_choice: None,
        append: false,
    })
}

impl Solver for UseTools {
    fn name(&self) -> &str {
        "use_tools"
    }

    fn params(&self) -> JsonObject {
        let mut params = JsonObject::new();
        let names: Vec<JsonValue> = self
            .tools
            .iter()
            .map(|t| JsonValue::from(t.name()))
            .collect();
        params.insert("tools".into(), JsonValue::Array(names));
        if let Some(choice) = &self.tool_choice {
            params.insert(
                "tool_choice".into(),
                serde_json::to_value(choice).unwrap_or_default(),
            );
        }
        params.insert("append".into(), JsonValue::from(self.append));
        params
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        if !self.append {
            state.tools.clear();
        }
        for tool in &self.tools {
            state.tools.retain(|t| t.name() != tool.name());
            state.tools.push(tool.clone());
        }
        if let Some(choice) = &self.tool_choice {
            state.tool_choice = choice.clone();
        }
        Ok(())
    }
}
