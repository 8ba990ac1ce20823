//! [`SampleContext`]: what a solver or scorer sees of the sample it works on, beside the
//! sample's [`TaskState`] (its conversation, tools, store and metadata): the models (the one
//! under evaluation and those bound to roles), the transcript recorded so far, and the limits
//! in force. Model calls go through it: it applies the sample's message and token limits,
//! records every call as a `model` event, and counts token usage and waiting time.
//! Tool calls reach the sample's sandboxes through its [`ToolContext`](crate::tool::ToolContext).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use examen_model::{Model, ModelOptions};
use examen_types::{ChatMessage, GenerateConfig, ModelOutput, ModelUsage, ToolChoice, ToolInfo};

use crate::state::TaskState;
use crate::task::Limits;
use crate::transcript::{utc_timestamp, Event, ModelEvent, Transcript};

/// A boxed, sendable future (what [`Solver`](crate::Solver) and
/// [`Scorer`](crate::Scorer) methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A limit a sample ran into. It ends the solvers; the sample is still
/// scored and logged (it is not an error).
#[derive(Debug, Clone, PartialEq)]
pub struct LimitExceeded {
    /// `message`, `token`, `time` or `working`.
    pub kind: &'static str,
    /// The limit.
    pub limit: f64,
    /// Inspect's message, e.g. `Message limit reached. count: 4; limit: 4`.
    pub message: String,
}

/// Why a sample (or one attempt of it) stopped.
///
/// Any error type converts into it (`?` on an `io::Error` inside a solver
/// or scorer gives a [`SampleError::Failed`] with the error's message and
/// its chain of causes), so it does not itself implement
/// [`std::error::Error`] (as `anyhow::Error` does not).
#[derive(Debug, Clone, PartialEq)]
pub enum SampleError {
    /// A limit was reached: the sample is scored as it stands.
    Limit(LimitExceeded),
    /// Something failed: the sample is recorded with this error.
    Failed {
        /// What failed.
        message: String,
        /// The chain of causes.
        traceback: String,
    },
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleError::Limit(limit) => f.write_str(&limit.message),
            SampleError::Failed { message, .. } => f.write_str(message),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for SampleError {
    fn from(error: E) -> Self {
        let mut traceback = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            traceback.push_str(&format!("\ncaused by: {cause}"));
            source = cause.source();
        }
        SampleError::Failed {
            message: error.to_string(),
            traceback,
        }
    }
}

impl SampleError {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        let message = message.into();
        SampleError::Failed {
            traceback: message.clone(),
            message,
        }
    }

    /// A failure from an error and its causes.
    pub fn from_error(context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut traceback = format!("{context}: {error}");
        let mut source = error.source();
        while let Some(cause) = source {
            traceback.push_str(&format!("\ncaused by: {cause}"));
            source = cause.source();
        }
        SampleError::Failed {
            message: format!("{context}: {error}"),
            traceback,
        }
    }
}

/// What `generate` does with the tool calls a model makes (Inspect's `tool_calls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolCalls {
    /// Run them and call the model again, until it calls no tool.
    #[default]
    Loop,
    /// Run them once and return.
    Single,
    /// Leave them unanswered in the last message.
    None,
}

/// A model named by a solver or scorer argument: a model role bound for the
/// eval (e.g. `grader`), or a model name (`openai/gpt-4o`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// The model being evaluated.
    Evaluated,
    /// A role: the model bound to it, or the evaluated model when unbound.
    Role(String),
    /// A model by name.
    Named(String),
}

/// Models shared by the samples of one task run: the model under
/// evaluation, the role bindings and models resolved by name.
pub(crate) struct ModelSet {
    pub(crate) model: Model,
    pub(crate) roles: HashMap<String, Model>,
    named: Mutex<HashMap<String, Model>>,
    options: ModelOptions,
    /// Models that could not be built, and why: `None` is the evaluated
    /// model, `Some(role)` a role. A call to one fails with the reason.
    /// Re-scoring a log builds the log's models up front, but only a scorer
    /// that calls one needs it (scoring `includes` needs no API key).
    unavailable: HashMap<Option<String>, String>,
}

impl ModelSet {
    pub(crate) fn new(model: Model, roles: HashMap<String, Model>, options: ModelOptions) -> Self {
        Self {
            model,
            roles,
            named: Mutex::new(HashMap::new()),
            options,
            unavailable: HashMap::new(),
        }
    }

    /// Marks the evaluated model (`role` `None`; `model` is then only a
    /// stand-in, never called) or a role (left unbound) as unavailable.
    pub(crate) fn set_unavailable(&mut self, role: Option<String>, reason: String) {
        self.unavailable.insert(role, reason);
    }

    fn available(&self, role: Option<&String>) -> Result<(), SampleError> {
        match self.unavailable.get(&role.cloned()) {
            Some(reason) => Err(SampleError::failed(reason.clone())),
            None => Ok(()),
        }
    }

    fn resolve(&self, model: &ModelRef) -> Result<(Model, Option<String>), SampleError> {
        match model {
            ModelRef::Evaluated => {
                self.available(None)?;
                Ok((self.model.clone(), None))
            }
            ModelRef::Role(role) => match self.roles.get(role) {
                Some(bound) => Ok((bound.clone(), Some(role.clone()))),
                None => {
                    self.available(Some(role))?;
                    self.available(None)?;
                    Ok((self.model.clone(), Some(role.clone())))
                }
            },
            ModelRef::Named(name) => {
                if name == self.model.name() && self.available(None).is_ok() {
                    return Ok((self.model.clone(), None));
                }
                let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(model) = named.get(name) {
                    return Ok((model.clone(), None));
                }
                let model = examen_model::get_model(name, self.options.clone()).map_err(|e| {
                    SampleError::from_error(&format!("cannot use model `{name}`"), &e)
                })?;
                named.insert(name.clone(), model.clone());
                Ok((model, None))
            }
        }
    }
}

/// What a solver or scorer is given for one sample, besides its [`TaskState`]: models by
/// role, the transcript so far, the limits in force, and the model calls that record
/// themselves.
#[derive(Clone)]
pub struct SampleContext {
    pub(crate) models: Arc<ModelSet>,
    pub(crate) config: GenerateConfig,
    pub(crate) transcript: Arc<Mutex<Transcript>>,
    /// The limits in force: the run's while solving, none while scoring.
    pub(crate) limits: Option<Limits>,
    /// The task's scorers, for solvers that score as they go (`react`'s attempts); `None`
    /// while scoring.
    pub(crate) scorers: Option<Arc<TaskScorers>>,
    /// What the sample's tool calls run in.
    pub(crate) tools: crate::tool::ToolContext,
}

/// A task's scorers and the names their scores get.
pub(crate) struct TaskScorers {
    pub(crate) scorers: Vec<Arc<dyn crate::scorer::DynScorer>>,
    pub(crate) names: Vec<String>,
}

impl fmt::Debug for SampleContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleContext")
            .field("model", &self.models.model.name())
            .field("config", &self.config)
            .finish()
    }
}

impl SampleContext {
    /// The name of the model under evaluation.
    pub fn model_name(&self) -> &str {
        self.models.model.name()
    }

    /// The model under evaluation.
    pub fn model(&self) -> &Model {
        &self.models.model
    }

    /// The model bound to `role` (`grader`, ...) for this eval, or the model under evaluation
    /// when the role is not bound (as Inspect's `get_model(role=...)` falls back).
    pub fn role_model(&self, role: &str) -> Result<Model, SampleError> {
        self.models
            .resolve(&ModelRef::Role(role.to_owned()))
            .map(|(model, _)| model)
    }

    /// The roles bound to a model for this eval, sorted.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = self.models.roles.keys().cloned().collect();
        roles.sort_unstable();
        roles
    }

    /// The limits in force: the run's message, token, time and working limits while the
    /// solvers run; `None` while scoring (scorers are not limited).
    pub fn limits(&self) -> Option<&Limits> {
        self.limits.as_ref()
    }

    /// The sample's transcript so far (a copy of its events, in order).
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// The sample's working time so far: time since it started, less the time spent waiting
    /// for a model connection.
    pub fn working_time(&self) -> std::time::Duration {
        self.lock().working_time()
    }

    /// Calls the evaluated model with the conversation, appends its answer and sets
    /// `state.output`, then runs the tool calls it made and calls it again with their
    /// results, until it calls no tool (Inspect's `generate()`, `tool_calls="loop"`).
    /// `config` is layered over the task's config.
    pub async fn generate(
        &self,
        state: &mut TaskState,
        config: &GenerateConfig,
    ) -> Result<(), SampleError> {
        self.generate_with(state, config, ToolCalls::Loop).await
    }

    /// [`generate`](Self::generate), saying what to do with the model's tool calls.
    ///
    /// A tool choice naming a function holds for the first call only (the tools sent are
    /// filtered to that one); later calls in the loop are `auto`, as in Inspect. The
    /// message and token limits are checked before and after each model call, so a limit
    /// reached inside the loop ends the sample (which is still scored).
    pub async fn generate_with(
        &self,
        state: &mut TaskState,
        config: &GenerateConfig,
        tool_calls: ToolCalls,
    ) -> Result<(), SampleError> {
        let merged = self.config.merge(config);
        let mut tool_choice = state.tool_choice.clone();
        loop {
            self.generate_once(state, config, &tool_choice).await?;
            if state.completed || tool_calls == ToolCalls::None {
                return Ok(());
            }
            let calls = match state.messages.last() {
                Some(ChatMessage::Assistant(message)) => message.tool_calls.clone(),
                _ => None,
            };
            let Some(calls) = calls.filter(|calls| !calls.is_empty()) else {
                return Ok(());
            };
            let tools = state.tools.clone();
            let results =
                crate::tool::execute::execute_tools(self, &tools, &calls, merged.max_tool_output)
                    .await?;
            state.messages.extend(results);
            if state.completed || tool_calls == ToolCalls::Single {
                return Ok(());
            }
            if matches!(tool_choice, ToolChoice::Function(_)) {
                tool_choice = ToolChoice::Auto;
            }
        }
    }

    /// Scores `state` with the task's scorers as they stand, recording each score as an
    /// intermediate `score` event (Inspect's `score(state)`, which `react` uses to check a
    /// submission). Fails when the task has no scorers.
    pub async fn score(&self, state: &TaskState) -> Result<Vec<examen_types::Score>, SampleError> {
        let Some(task) = self.scorers.as_ref().filter(|t| !t.scorers.is_empty()) else {
            return Err(SampleError::failed(
                "scoring during the sample needs the task's scorers, and this task has none",
            ));
        };
        let mut scores = Vec::with_capacity(task.scorers.len());
        for (scorer, name) in task.scorers.iter().zip(&task.names) {
            let Some(score) = scorer.score(state, &state.target, self).await? else {
                continue;
            };
            let mut t = self.lock();
            let base = t.base();
            t.push(Event::Score(Box::new(crate::transcript::ScoreEvent {
                base,
                score: score.clone(),
                target: Some(state.target.clone()),
                intermediate: true,
                scorer: Some(name.clone()),
                scorer_args: Some(scorer.params()),
                model_usage: None,
                role_usage: None,
            })));
            scores.push(score);
        }
        Ok(scores)
    }

    /// One model call with the conversation and the state's tools (filtered to the one a
    /// forced `tool_choice` names).
    async fn generate_once(
        &self,
        state: &mut TaskState,
        config: &GenerateConfig,
        tool_choice: &ToolChoice,
    ) -> Result<(), SampleError> {
        let tools = state.tools.clone();
        self.generate_turn(state, config, &tools, tool_choice).await
    }

    /// One model call with the conversation and `tools` (filtered to the one a forced
    /// `tool_choice` names): appends the answer and sets `state.output`; runs no tool.
    pub(crate) async fn generate_turn(
        &self,
        state: &mut TaskState,
        config: &GenerateConfig,
        tools: &[Arc<dyn crate::tool::DynTool>],
        tool_choice: &ToolChoice,
    ) -> Result<(), SampleError> {
        if self.limits.is_some() {
            check_message_limit(state, true)?;
            check_token_limit(state, true)?;
        }
        let config = self.config.merge(config);
        let offered: Vec<Arc<dyn crate::tool::DynTool>> = tools
            .iter()
            .filter(|t| match tool_choice {
                ToolChoice::Function(f) => t.name() == f.name,
                _ => true,
            })
            .cloned()
            .collect();
        let (output, usage) = self
            .call(
                &ModelRef::Evaluated,
                &state.messages,
                &config,
                &offered,
                tool_choice,
            )
            .await?;
        state.token_usage += usage;
        let message = output
            .message()
            .cloned()
            .map(ChatMessage::from)
            .unwrap_or_else(|| ChatMessage::assistant(output.completion.as_str()));
        state.messages.push(message);
        state.output = output;
        if self.limits.is_some() {
            check_token_limit(state, false)?;
            check_message_limit(state, false)?;
        }
        Ok(())
    }

    /// Calls `model` with `input` (for graders and critics). Usage counts
    /// towards the sample's tokens when called from a solver.
    pub async fn call_model(
        &self,
        model: &ModelRef,
        input: &[ChatMessage],
        config: &GenerateConfig,
        state: Option<&mut TaskState>,
    ) -> Result<ModelOutput, SampleError> {
        let (output, usage) = self
            .call(model, input, config, &[], &ToolChoice::None)
            .await?;
        if let Some(state) = state {
            state.token_usage += usage;
            if self.limits.is_some() {
                check_token_limit(state, false)?;
            }
        }
        Ok(output)
    }

    async fn call(
        &self,
        model: &ModelRef,
        input: &[ChatMessage],
        config: &GenerateConfig,
        offered: &[Arc<dyn crate::tool::DynTool>],
        tool_choice: &ToolChoice,
    ) -> Result<(ModelOutput, ModelUsage), SampleError> {
        let (model, role) = self.models.resolve(model)?;
        let tools: Vec<ToolInfo> = offered.iter().map(|t| t.info()).collect();
        let working_start = self.lock().working_time().as_secs_f64();
        // What is sent is what is recorded: with no tools, no choice is sent (`none`).
        let tool_choice = if tools.is_empty() {
            &ToolChoice::None
        } else {
            tool_choice
        };
        let result = model
            .generate_with_tool_choice(input, &tools, tool_choice, config)
            .await;
        let mut transcript = self.lock();
        let mut base = transcript.base();
        base.working_start = working_start;
        // A failed call is recorded as a successful one is: retries, request, working time.
        let event = |output: ModelOutput, error: Option<String>, retries: usize, call, time| {
            let retries = u64::try_from(retries).unwrap_or(u64::MAX);
            Event::Model(Box::new(ModelEvent {
                base,
                model: model.name().to_string(),
                role,
                requested_model: None,
                input: input.to_vec(),
                input_refs: None,
                tools,
                tool_choice: tool_choice.clone(),
                config: config.clone(),
                output,
                retries: (retries > 0).then_some(retries),
                request_ids: None,
                error,
                traceback: None,
                traceback_ansi: None,
                cache: None,
                call,
                completed: Some(utc_timestamp(std::time::SystemTime::now())),
                working_time: Some(std::time::Duration::as_secs_f64(&time)),
            }))
        };
        match result {
            Ok(mut generation) => {
                crate::tool::set_views(&mut generation.output, offered);
                transcript.add_waiting(generation.limiter_wait);
                let usage = generation.output.usage.clone().unwrap_or_default();
                transcript.push(event(
                    generation.output.clone(),
                    None,
                    generation.retries.len(),
                    generation.call.take().map(call_json),
                    generation.working_time,
                ));
                Ok((generation.output, usage))
            }
            Err(error) => {
                transcript.add_waiting(error.limiter_wait());
                transcript.push(event(
                    ModelOutput::default(),
                    Some(error.to_string()),
                    error.retries().len(),
                    error.call().cloned().map(call_json),
                    error.working_time(),
                ));
                // The URL says which server did not answer (a base URL from the wrong
                // environment is a common cause); credentials in it are left out.
                let what = match model.base_url() {
                    Some(url) => format!("model `{}` at {} failed", model.name(), redact_url(url)),
                    None => format!("model `{}` failed", model.name()),
                };
                Err(SampleError::from_error(&what, &error))
            }
        }
    }

    /// Runs `f` on the sample's transcript (held only for `f`).
    pub(crate) fn with_transcript<R>(&self, f: impl FnOnce(&mut Transcript) -> R) -> R {
        f(&mut self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Transcript> {
        self.transcript.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A model event's `call` (Inspect's `ModelCall`). Takes the call: its request holds the whole
/// conversation, and a copy of it per turn was a tenth of an agent eval's CPU.
fn call_json(call: examen_model::ModelCall) -> serde_json::Value {
    let mut map = serde_json::Map::with_capacity(3);
    map.insert("request".to_owned(), call.request);
    map.insert("response".to_owned(), call.response);
    map.insert("time".to_owned(), call.time.as_secs_f64().into());
    serde_json::Value::Object(map)
}

/// Inspect's message limit: reaching it before a generate, or exceeding it
/// after, ends the sample.
pub(crate) fn check_message_limit(
    state: &TaskState,
    raise_for_equal: bool,
) -> Result<(), SampleError> {
    let Some(limit) = state.message_limit else {
        return Ok(());
    };
    let count = state.messages.len();
    if count > limit || (raise_for_equal && count == limit) {
        let status = if count == limit {
            "reached"
        } else {
            "exceeded"
        };
        return Err(SampleError::Limit(LimitExceeded {
            kind: "message",
            limit: limit as f64,
            message: format!(
                "Message limit {status}. count: {}; limit: {}",
                thousands(count as u64),
                thousands(limit as u64)
            ),
        }));
    }
    Ok(())
}

/// Inspect's token limit.
pub(crate) fn check_token_limit(
    state: &TaskState,
    raise_for_equal: bool,
) -> Result<(), SampleError> {
    let Some(limit) = state.token_limit else {
        return Ok(());
    };
    let total = state.token_usage.total_tokens;
    if total > limit || (raise_for_equal && total == limit) {
        let status = if total == limit {
            "reached"
        } else {
            "exceeded"
        };
        return Err(SampleError::Limit(LimitExceeded {
            kind: "token",
            limit: limit as f64,
            message: format!(
                "Token limit {status}. value: {}; limit: {}",
                thousands(total),
                thousands(limit)
            ),
        }));
    }
    Ok(())
}

/// Python's `f"{n:,}"`.
fn thousands(n: u64) -> String {
    crate::template::group_thousands(&n.to_string(), ',')
}

/// `url` without any `user:password@` part.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:pw@host:8000/v1?k=1"),
            "https://host:8000/v1?k=1"
        );
        assert_eq!(redact_url("http://127.0.0.1:9/v1"), "http://127.0.0.1:9/v1");
        assert_eq!(redact_url("http://host/a@b"), "http://host/a@b");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
