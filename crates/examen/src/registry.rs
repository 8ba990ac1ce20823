//! The names task files (and the CLI's `examen list`) use for solvers,
//! scorers, metrics, reducers and tools, with a one-line description each,
//! and the factories that turn a name plus YAML arguments into the real
//! thing.
//!
//! A [`Registry`] is a value: [`Registry::builtin`] (also its `Default`
//! contents) holds examen's own components, each registered by name with a
//! factory, as a Rust program registers its own:
//!
//! ```
//! use examen::{Args, ChatMessage, SampleContext, Registry, SampleError, Solver, TaskState};
//!
//! #[derive(Debug)]
//! struct Repeat {
//!     times: usize,
//! }
//!
//! impl Solver for Repeat {
//!     fn name(&self) -> &str {
//!         "repeat"
//!     }
//!     async fn solve(&self, state: &mut TaskState, _: &SampleContext) -> Result<(), SampleError> {
//!         let prompt = state.user_prompt_text().unwrap_or_default();
//!         state.messages.push(ChatMessage::user(prompt.repeat(self.times)));
//!         Ok(())
//!     }
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct RepeatArgs {
//!     times: usize,
//! }
//!
//! let mut registry = Registry::builtin();
//! registry.solver("repeat", "repeat the prompt", |args: &Args| {
//!     let a: RepeatArgs = args.parse()?;
//!     Ok::<_, String>(Repeat { times: a.times })
//! });
//! // A task file can now say `solver: [{repeat: {times: 2}}, generate]`.
//! assert!(registry.entries().iter().any(|e| e.name == "repeat"));
//! ```
//!
//! Names are `&'static str` (as Inspect's decorators name components in
//! source); registering a name again replaces the earlier entry.

use std::fmt;
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;

use examen_types::{GenerateConfig, JsonObject, JsonValue};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::context::ModelRef;
use crate::metric::{
    Accuracy, BootstrapStderr, Grouped, GroupedAll, Mean, Metric, Std, Stderr, Var,
};
use crate::reducer::{CustomReducer, Reducer, ScoreReducer, REDUCERS};
use crate::scorer::rules::MatchLocation;
use crate::scorer::{self, DynScorer, IntoScorer, ModelGraded};
use crate::solver::{self, DynSolver, IntoSolver, MessageRole, MessageTemplate, MultipleChoice};
use crate::task::Task;
use crate::taskfile::{TaskFileError, TaskSpec};

/// YAML, as task files hold component arguments.
pub use serde_norway::Value as Yaml;
/// What kind of component a registry entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A solver.
    Solver,
    /// A scorer.
    Scorer,
    /// A metric.
    Metric,
    /// An epoch reducer.
    Reducer,
    /// A tool (offered to the model by `use_tools`).
    Tool,
}

impl Kind {
    /// `solver`, `scorer`, `metric` or `reducer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Solver => "solver",
            Kind::Scorer => "scorer",
            Kind::Metric => "metric",
            Kind::Reducer => "reducer",
            Kind::Tool => "tool",
        }
    }
}

/// One name a task file can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The kind.
    pub kind: Kind,
    /// The name.
    pub name: &'static str,
    /// What it does, in one line.
    pub description: &'static str,
    /// Its arguments, in one line (empty when it takes none).
    pub args: &'static str,
}

const fn entry(
    kind: Kind,
    name: &'static str,
    description: &'static str,
    args: &'static str,
) -> Entry {
    Entry {
        kind,
        name,
        description,
        args,
    }
}

/// The solvers.
pub const SOLVERS: &[Entry] = &[
    entry(
        Kind::Solver,
        "generate",
        "call the model, append its answer, and run the tools it calls until it stops",
        "{tool_calls?, max_tokens, temperature, ...} (generation options)",
    ),
    entry(
        Kind::Solver,
        "system_message",
        "insert a system message after any existing ones",
        "template | {template, ...params}",
    ),
    entry(
        Kind::Solver,
        "user_message",
        "append a user message",
        "template | {template, ...params}",
    ),
    entry(
        Kind::Solver,
        "assistant_message",
        "append an assistant message",
        "template | {template, ...params}",
    ),
    entry(
        Kind::Solver,
        "prompt_template",
        "rewrite the prompt from a template ({prompt} is the prompt)",
        "template | {template, ...params}",
    ),
    entry(
        Kind::Solver,
        "chain_of_thought",
        "ask for step-by-step reasoning ending in ANSWER:",
        "template?",
    ),
    entry(
        Kind::Solver,
        "multiple_choice",
        "ask a lettered multiple-choice question, generate, mark the picked choices",
        "{template?, cot?, multiple_correct?, max_tokens?}",
    ),
    entry(
        Kind::Solver,
        "self_critique",
        "have a model critique the answer, then answer again",
        "{critique_template?, completion_template?, model?}",
    ),
    entry(
        Kind::Solver,
        "chain",
        "run a list of solvers in order",
        "[solver, ...]",
    ),
    entry(
        Kind::Solver,
        "use_tools",
        "offer tools (registered by name) to the model from now on",
        "[tool, ...] | {tools, tool_choice?: auto|any|none|{name}, append?}",
    ),
    entry(
        Kind::Solver,
        "react",
        "Inspect's ReAct agent: tools and a submit tool in a loop until it submits",
        "{prompt?, tools?, attempts?, incorrect_message?, submit?, on_continue?}",
    ),
];

/// The scorers.
pub const SCORERS: &[Entry] = &[
    entry(Kind::Scorer, "match", "target at the end (or begin/any/exact) of the output, optionally as a number", "location | {location?, ignore_case?, numeric?}"),
    entry(Kind::Scorer, "includes", "target appears anywhere in the output", "{ignore_case?}"),
    entry(Kind::Scorer, "exact", "normalised output equals a normalised target", ""),
    entry(Kind::Scorer, "f1", "token-overlap F1 with the best target", "{stop_words?}"),
    entry(Kind::Scorer, "pattern", "answer extracted by a regular expression equals a target", "regex | {pattern, ignore_case?, match_all?}"),
    entry(Kind::Scorer, "answer", "answer after `ANSWER:` (a letter, word or line) equals a target", "letter | word | line"),
    entry(Kind::Scorer, "choice", "choices picked by multiple_choice equal the target letters", ""),
    entry(Kind::Scorer, "model_graded_qa", "a grader model judges the answer against the criterion", "{template?, instructions?, grade_pattern?, include_history?, partial_credit?, model?, model_role?}"),
    entry(Kind::Scorer, "model_graded_fact", "a grader model checks the answer contains the expert answer", "{template?, instructions?, grade_pattern?, include_history?, partial_credit?, model?, model_role?}"),
];

/// The metrics.
pub const METRICS: &[Entry] = &[
    entry(
        Kind::Metric,
        "accuracy",
        "mean of the scores as floats (C=1, P=0.5, I=N=0)",
        "",
    ),
    entry(Kind::Metric, "mean", "mean of the scores", ""),
    entry(
        Kind::Metric,
        "stderr",
        "standard error of the mean (sample std, ddof 1, over sqrt n)",
        "",
    ),
    entry(
        Kind::Metric,
        "std",
        "sample standard deviation (ddof 1)",
        "",
    ),
    entry(Kind::Metric, "var", "sample variance (ddof 1)", ""),
    entry(
        Kind::Metric,
        "bootstrap_stderr",
        "standard error of the mean by bootstrap resampling",
        "{num_samples?: 1000, seed?: 0}",
    ),
    entry(
        Kind::Metric,
        "grouped",
        "a metric per value of a metadata key, plus an aggregate",
        "{metric, group_key, all?: samples|groups|false, all_label?}",
    ),
];

/// Every built-in entry: solvers, scorers, metrics and reducers.
pub fn entries() -> Vec<Entry> {
    Registry::builtin_ref().entries()
}

/// An error naming an unknown entry, listing the valid names and the
/// closest one.
pub(crate) fn unknown(kind: Kind, name: &str, valid: &[&str]) -> String {
    if valid.is_empty() {
        return format!(
            "unknown {kind} `{name}`; no {kind}s are registered",
            kind = kind.as_str()
        );
    }
    let mut message = format!(
        "unknown {} `{name}`; expected one of: {}",
        kind.as_str(),
        valid.join(", ")
    );
    if let Some(best) = closest(name, valid) {
        message.push_str(&format!(" (did you mean `{best}`?)"));
    }
    message
}

fn closest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (levenshtein(name, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn args<T: DeserializeOwned>(owner: &str, value: Option<Yaml>) -> Result<T, String> {
    let value = value.unwrap_or(Yaml::Mapping(serde_norway::Mapping::new()));
    let value = if value.is_null() {
        Yaml::Mapping(serde_norway::Mapping::new())
    } else {
        value
    };
    serde_norway::from_value(value).map_err(|e| format!("{owner}: {e}"))
}

fn yaml_to_json(value: &Yaml) -> Result<JsonValue, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

/// A template argument: a string, or a mapping with `template` and
/// extra parameters.
fn template_args(owner: &str, value: Option<Yaml>) -> Result<(String, JsonObject), String> {
    match value {
        Some(Yaml::String(s)) => Ok((s, JsonObject::new())),
        Some(Yaml::Mapping(map)) => {
            let mut params = match yaml_to_json(&Yaml::Mapping(map))? {
                JsonValue::Object(o) => o,
                _ => JsonObject::new(),
            };
            match params.shift_remove("template") {
                Some(JsonValue::String(t)) => Ok((t, params)),
                _ => Err(format!(
                    "{owner}: expected a template string, or a mapping with a `template` string"
                )),
            }
        }
        _ => Err(format!("{owner}: expected a template string")),
    }
}

/// The names of `GenerateConfig`'s fields, read from its `Deserialize`.
pub(crate) fn generate_config_fields() -> &'static [&'static str] {
    struct Probe(Option<&'static [&'static str]>);
    impl<'de> serde::Deserializer<'de> for &mut Probe {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("probe"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(serde::de::Error::custom("probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
            newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    static FIELDS: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut probe = Probe(None);
        let _ = GenerateConfig::deserialize(&mut probe);
        probe.0.unwrap_or(&[])
    })
}

/// Generation options from YAML, rejecting unknown option names.
pub(crate) fn generate_config(value: Option<Yaml>) -> Result<GenerateConfig, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(GenerateConfig::default());
    };
    let Yaml::Mapping(map) = &value else {
        return Err(
            "expected a mapping of generation options (max_tokens, temperature, ...)".to_string(),
        );
    };
    let known = generate_config_fields();
    for (key, field) in map {
        let key = key.as_str().unwrap_or_default();
        if !known.contains(&key) {
            return Err(unknown_option(key, known));
        }
        // Each option alone, so that an error names it (`temperature: hot`).
        let mut one = serde_norway::Mapping::new();
        one.insert(Yaml::String(key.to_string()), field.clone());
        serde_norway::from_value::<GenerateConfig>(Yaml::Mapping(one))
            .map_err(|e| format!("`{key}`: {e}"))?;
        if let Some(f) = field.as_f64().filter(|f| !f.is_finite()) {
            return Err(format!("`{key}`: expected a finite number, found {f}"));
        }
    }
    serde_norway::from_value(value).map_err(|e| e.to_string())
}

fn unknown_option(key: &str, known: &[&str]) -> String {
    let mut message = format!(
        "unknown generation option `{key}`; expected one of: {}",
        known.join(", ")
    );
    if let Some(best) = closest(key, known) {
        message.push_str(&format!(" (did you mean `{best}`?)"));
    }
    message
}

fn model_ref(model: Option<String>, role: Option<String>, default_role: Option<&str>) -> ModelRef {
    match (model, role) {
        (Some(model), _) => ModelRef::Named(model),
        (None, Some(role)) => ModelRef::Role(role),
        (None, None) => default_role.map_or(ModelRef::Evaluated, |r| ModelRef::Role(r.to_string())),
    }
}

/// Builds a solver from its name and YAML arguments, with the built-in
/// registry.
pub fn build_solver(name: &str, value: Option<Yaml>) -> Result<Arc<dyn DynSolver>, String> {
    Registry::builtin_ref().build_solver(name, value.as_ref())
}

/// A solver entry (a name, or a one-key mapping `{name: args}`), with the
/// built-in registry.
pub fn solver_from_yaml(value: Yaml) -> Result<Arc<dyn DynSolver>, String> {
    Registry::builtin_ref().solver_from_yaml(value)
}

/// A scorer entry (a name, or a one-key mapping `{name: args}`), with the
/// built-in registry.
pub fn scorer_from_yaml(value: Yaml) -> Result<Arc<dyn DynScorer>, String> {
    Registry::builtin_ref().scorer_from_yaml(value)
}

/// A metric entry (a name, or a one-key mapping `{name: args}`), with the
/// built-in registry.
pub fn metric_from_yaml(value: Yaml) -> Result<Arc<dyn Metric>, String> {
    Registry::builtin_ref().metric_from_yaml(value)
}

/// Builds a scorer from its name and YAML arguments, with the built-in
/// registry.
pub fn build_scorer(name: &str, value: Option<Yaml>) -> Result<Arc<dyn DynScorer>, String> {
    Registry::builtin_ref().build_scorer(name, value.as_ref())
}

/// Builds a metric from its name and YAML arguments, with the built-in
/// registry.
pub fn build_metric(name: &str, value: Option<Yaml>) -> Result<Arc<dyn Metric>, String> {
    Registry::builtin_ref().build_metric(name, value.as_ref())
}

/// Parses a reducer name (with the built-in registry), or says which names
/// are valid.
pub fn build_reducer(name: &str) -> Result<Reducer, String> {
    Registry::builtin_ref().build_reducer(name)
}

fn builtin_solver(
    name: &str,
    value: Option<Yaml>,
    registry: &Registry,
) -> Result<Arc<dyn DynSolver>, String> {
    let message = |role| -> Result<Arc<dyn DynSolver>, String> {
        let (template, params) = template_args(name, value.clone())?;
        Ok(Arc::new(MessageTemplate {
            role,
            template,
            params,
        }))
    };
    match name {
        "generate" => {
            // `tool_calls` is the solver's own argument; the rest are generation options.
            let mut value = value;
            let tool_calls = match value.as_mut() {
                Some(Yaml::Mapping(map)) => map.remove("tool_calls"),
                _ => None,
            };
            let tool_calls = match tool_calls {
                None | Some(Yaml::Null) => crate::ToolCalls::Loop,
                Some(Yaml::String(s)) if s == "loop" => crate::ToolCalls::Loop,
                Some(Yaml::String(s)) if s == "single" => crate::ToolCalls::Single,
                Some(Yaml::String(s)) if s == "none" => crate::ToolCalls::None,
                Some(other) => {
                    return Err(format!(
                        "generate: `tool_calls` is {}; expected loop, single or none",
                        yaml_text(&other)
                    ))
                }
            };
            Ok(Arc::new(solver::GenerateSolver {
                config: generate_config(value).map_err(|e| format!("generate: {e}"))?,
                tool_calls,
            }))
        }
        "system_message" => message(MessageRole::System),
        "user_message" => message(MessageRole::User),
        "assistant_message" => message(MessageRole::Assistant),
        "prompt_template" => {
            let (template, params) = template_args(name, value)?;
            Ok(Arc::new(solver::PromptTemplate { template, params }))
        }
        "chain_of_thought" => {
            let template = match value {
                None | Some(Yaml::Null) => solver::DEFAULT_COT_TEMPLATE.to_string(),
                other => template_args(name, other)?.0,
            };
            Ok(Arc::new(solver::ChainOfThought { template }))
        }
        "multiple_choice" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                template: Option<String>,
                #[serde(default)]
                cot: bool,
                #[serde(default)]
                multiple_correct: bool,
                max_tokens: Option<u64>,
            }
            let a: Args = args(name, value)?;
            let solver = MultipleChoice {
                template: a.template,
                cot: a.cot,
                multiple_correct: a.multiple_correct,
                max_tokens: a.max_tokens,
            };
            solver.validate()?;
            Ok(Arc::new(solver))
        }
        "self_critique" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                critique_template: Option<String>,
                completion_template: Option<String>,
                model: Option<String>,
                model_role: Option<String>,
            }
            let a: Args = args(name, value)?;
            Ok(Arc::new(solver::SelfCritique {
                critique_template: a
                    .critique_template
                    .unwrap_or_else(|| solver::DEFAULT_CRITIQUE_TEMPLATE.to_string()),
                completion_template: a
                    .completion_template
                    .unwrap_or_else(|| solver::DEFAULT_CRITIQUE_COMPLETION_TEMPLATE.to_string()),
                model: model_ref(a.model, a.model_role, None),
            }))
        }
        "chain" => {
            let Some(Yaml::Sequence(items)) = value else {
                return Err("chain: expected a list of solvers".into());
            };
            let solvers = items
                .into_iter()
                .map(|item| registry.solver_from_yaml(item))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(solver::chain(solvers))
        }
        "use_tools" => use_tools(value, registry),
        "react" => react(value, registry),
        other => Err(registry.unknown(Kind::Solver, other)),
    }
}

/// A metric in Inspect's registry form, as logs record the `metric` of `grouped`:
/// `{type: metric, name, params}` → its (bare) name and arguments.
fn registry_object(value: &Yaml) -> Option<(&str, Option<Yaml>)> {
    let map = value.as_mapping()?;
    if map.get("type").and_then(Yaml::as_str) != Some("metric") {
        return None;
    }
    let name = map.get("name").and_then(Yaml::as_str)?;
    let name = name.strip_prefix("inspect_ai/").unwrap_or(name);
    let params = map
        .get("params")
        .filter(|p| p.as_mapping().is_some_and(|m| !m.is_empty()))
        .cloned();
    Some((name, params))
}

pub(crate) fn entry_parts(kind: Kind, value: Yaml) -> Result<(String, Option<Yaml>), String> {
    match value {
        Yaml::String(name) => Ok((name, None)),
        Yaml::Mapping(map) => {
            if map.len() != 1 {
                let keys: Vec<String> = map
                    .keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                return Err(format!(
                    "a {} with arguments is a mapping with one key, its name (e.g. `{{match: {{numeric: true}}}}`); found keys: {}",
                    kind.as_str(),
                    keys.join(", ")
                ));
            }
            let (k, v) = map
                .into_iter()
                .next()
                .ok_or_else(|| format!("empty {} mapping", kind.as_str()))?;
            let name = k
                .as_str()
                .ok_or_else(|| format!("a {} name must be a string", kind.as_str()))?
                .to_string();
            Ok((name, Some(v)))
        }
        _ => Err(format!(
            "expected a {} name or a `{{name: arguments}}` mapping",
            kind.as_str()
        )),
    }
}

/// The `{timeout}` argument of `bash` and `python` (seconds, more than 0).
fn command_tool_timeout(tool: &str, given: &Args<'_>) -> Result<Option<f64>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ToolArgs {
        timeout: Option<f64>,
    }
    let parsed: ToolArgs = args::<ToolArgs>(tool, given.yaml().cloned())?;
    checked_timeout(tool, parsed.timeout)
}

/// `bash` and `python`'s arguments: `timeout` (seconds) and `user`.
fn command_tool_args(
    tool: &str,
    given: &Args<'_>,
) -> Result<(Option<f64>, Option<String>), String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ToolArgs {
        timeout: Option<f64>,
        user: Option<String>,
    }
    let parsed: ToolArgs = args::<ToolArgs>(tool, given.yaml().cloned())?;
    if parsed.user.as_deref() == Some("") {
        return Err(format!(
            "{tool}: `user` is empty; leave it out for the sandbox's default user"
        ));
    }
    Ok((checked_timeout(tool, parsed.timeout)?, parsed.user))
}

fn checked_timeout(tool: &str, timeout: Option<f64>) -> Result<Option<f64>, String> {
    match timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => Err(format!(
            "{tool}: `timeout` must be a number of seconds above 0, got {t}"
        )),
        timeout => Ok(timeout),
    }
}

/// `react`: Inspect's arguments (see `solver::react`), from a task file.
fn react(value: Option<Yaml>, registry: &Registry) -> Result<Arc<dyn DynSolver>, String> {
    use solver::react::{AgentPrompt, AgentSubmit, OnContinue, React};
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SubmitArgs {
        name: Option<String>,
        description: Option<String>,
        #[serde(default)]
        answer_only: bool,
        answer_delimiter: Option<String>,
        #[serde(default)]
        keep_in_messages: bool,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ReactArgs {
        prompt: Option<Yaml>,
        #[serde(default)]
        tools: Vec<Yaml>,
        attempts: Option<u32>,
        incorrect_message: Option<String>,
        submit: Option<Yaml>,
        on_continue: Option<String>,
    }
    let a = args::<ReactArgs>("react", value)?;
    let prompt = match a.prompt {
        None => Some(AgentPrompt::default()),
        Some(Yaml::Null) | Some(Yaml::Bool(false)) => None,
        Some(Yaml::String(instructions)) => Some(AgentPrompt::instructions(instructions)),
        Some(Yaml::Mapping(map)) => {
            // A part set to null is left out; an absent one keeps Inspect's default.
            let mut prompt = AgentPrompt::default();
            for (key, value) in map {
                let text = match &value {
                    Yaml::Null => None,
                    Yaml::String(text) => Some(text.clone()),
                    _ => return Err(format!("react: prompt: {} must be a string or null", yaml_text(&key))),
                };
                match key.as_str() {
                    Some("instructions") => prompt.instructions = text,
                    Some("assistant_prompt") => prompt.assistant_prompt = text,
                    Some("submit_prompt") => prompt.submit_prompt = text,
                    _ => {
                        return Err(format!(
                            "react: prompt: unknown field {}; expected instructions, assistant_prompt or submit_prompt",
                            yaml_text(&key)
                        ))
                    }
                }
            }
            Some(prompt)
        }
        Some(_) => {
            return Err(
                "react: `prompt` is the instructions, or {instructions, assistant_prompt, submit_prompt}"
                    .into(),
            )
        }
    };
    let submit = match a.submit {
        None | Some(Yaml::Bool(true)) | Some(Yaml::Null) => Some(AgentSubmit::default()),
        Some(Yaml::Bool(false)) => None,
        Some(other) => {
            let s: SubmitArgs =
                serde_norway::from_value(other).map_err(|e| format!("react: submit: {e}"))?;
            let default = AgentSubmit::default();
            Some(AgentSubmit {
                name: s.name.unwrap_or(default.name),
                description: s.description.unwrap_or(default.description),
                answer_only: s.answer_only,
                answer_delimiter: s.answer_delimiter.unwrap_or(default.answer_delimiter),
                keep_in_messages: s.keep_in_messages,
            })
        }
    };
    let attempts = a.attempts.unwrap_or(1);
    if attempts == 0 {
        return Err("react: `attempts` must be at least 1".into());
    }
    if attempts > 1 && submit.is_none() {
        return Err("react: `attempts` needs the submit tool (`submit: false` was given)".into());
    }
    let tools = a
        .tools
        .into_iter()
        .map(|t| registry.tool_from_yaml(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("react: {e}"))?;
    Ok(Arc::new(React {
        prompt,
        tools,
        attempts,
        incorrect_message: a
            .incorrect_message
            .unwrap_or_else(|| solver::react::DEFAULT_INCORRECT_MESSAGE.to_owned()),
        submit,
        on_continue: a
            .on_continue
            .map_or(OnContinue::Default, OnContinue::Message),
    }))
}

/// `use_tools`: a list of tools, or `{tools, tool_choice, append}`.
fn use_tools(value: Option<Yaml>, registry: &Registry) -> Result<Arc<dyn DynSolver>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct UseArgs {
        #[serde(default)]
        tools: Vec<Yaml>,
        tool_choice: Option<Yaml>,
        #[serde(default)]
        append: bool,
    }
    let a = match value {
        Some(Yaml::Sequence(tools)) => UseArgs {
            tools,
            tool_choice: None,
            append: false,
        },
        Some(Yaml::String(one)) => UseArgs {
            tools: vec![Yaml::String(one)],
            tool_choice: None,
            append: false,
        },
        other => args::<UseArgs>("use_tools", other)?,
    };
    let tools = a
        .tools
        .into_iter()
        .map(|t| registry.tool_from_yaml(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("use_tools: {e}"))?;
    let tool_choice = match a.tool_choice {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) => Some(match s.as_str() {
            "auto" => examen_types::ToolChoice::Auto,
            "any" => examen_types::ToolChoice::Any,
            "none" => examen_types::ToolChoice::None,
            other => {
                return Err(format!(
                    "use_tools: unknown tool_choice `{other}`; expected auto, any, none or {{name: <tool>}}"
                ))
            }
        }),
        Some(other) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Function {
                name: String,
            }
            let f: Function = serde_norway::from_value(other)
                .map_err(|e| format!("use_tools: tool_choice: {e}"))?;
            if !tools.iter().any(|t| t.name() == f.name) {
                return Err(format!(
                    "use_tools: tool_choice names `{}`, which is not among the tools",
                    f.name
                ));
            }
            Some(examen_types::ToolChoice::Function(
                examen_types::ToolFunction { name: f.name },
            ))
        }
    };
    Ok(Arc::new(solver::UseTools {
        tools,
        tool_choice,
        append: a.append,
    }))
}

fn builtin_scorer(
    name: &str,
    value: Option<Yaml>,
    registry: &Registry,
) -> Result<Arc<dyn DynScorer>, String> {
    match name {
        "match" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                location: Option<String>,
                ignore_case: Option<bool>,
                numeric: Option<bool>,
            }
            let a: Args = match value {
                Some(Yaml::String(location)) => Args {
                    location: Some(location),
                    ignore_case: None,
                    numeric: None,
                },
                other => args(name, other)?,
            };
            let location = match a.location.as_deref() {
                None => MatchLocation::End,
                Some(l) => MatchLocation::parse(l).ok_or_else(|| {
                    format!(
                        "match: unknown location `{l}`; expected one of: begin, end, any, exact"
                    )
                })?,
            };
            Ok(Arc::new(scorer::Match {
                location,
                ignore_case: a.ignore_case.unwrap_or(true),
                numeric: a.numeric.unwrap_or(false),
            }))
        }
        "includes" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                ignore_case: Option<bool>,
            }
            let a: Args = args(name, value)?;
            Ok(Arc::new(scorer::Includes {
                ignore_case: a.ignore_case.unwrap_or(true),
            }))
        }
        "exact" => {
            no_args(name, value)?;
            Ok(scorer::exact())
        }
        "choice" => {
            no_args(name, value)?;
            Ok(scorer::choice())
        }
        "f1" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                stop_words: Option<Vec<String>>,
            }
            let a: Args = args(name, value)?;
            Ok(Arc::new(scorer::F1 {
                stop_words: a.stop_words,
            }))
        }
        "pattern" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                pattern: String,
                ignore_case: Option<bool>,
                match_all: Option<bool>,
            }
            let a: Args = match value {
                Some(Yaml::String(pattern)) => Args {
                    pattern,
                    ignore_case: None,
                    match_all: None,
                },
                other => args(name, other)?,
            };
            Ok(Arc::new(scorer::Pattern::new(
                &a.pattern,
                a.ignore_case.unwrap_or(true),
                a.match_all.unwrap_or(false),
            )?))
        }
        "answer" => {
            let kind = match value {
                Some(Yaml::String(kind)) => kind,
                Some(Yaml::Mapping(map)) => {
                    #[derive(Deserialize)]
                    #[serde(deny_unknown_fields)]
                    struct Args {
                        pattern: String,
                    }
                    let a: Args = args(name, Some(Yaml::Mapping(map)))?;
                    a.pattern
                }
                _ => return Err("answer: expected `letter`, `word` or `line`".into()),
            };
            Ok(Arc::new(
                scorer::Pattern::answer(&kind).map_err(|e| format!("answer: {e}"))?,
            ))
        }
        "model_graded_qa" | "model_graded_fact" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                template: Option<String>,
                instructions: Option<String>,
                grade_pattern: Option<String>,
                #[serde(default)]
                include_history: bool,
                #[serde(default)]
                partial_credit: bool,
                model: Option<String>,
                model_role: Option<String>,
            }
            let a: Args = args(name, value)?;
            let scorer = ModelGraded::with_options(
                name == "model_graded_fact",
                a.template,
                a.instructions,
                a.grade_pattern,
                a.include_history,
                a.partial_credit,
                model_ref(a.model, a.model_role, Some("grader")),
            )
            .map_err(|e| format!("{name}: {e}"))?;
            Ok(Arc::new(scorer))
        }
        other => Err(registry.unknown(Kind::Scorer, other)),
    }
}

fn no_args(name: &str, value: Option<Yaml>) -> Result<(), String> {
    match value {
        None | Some(Yaml::Null) => Ok(()),
        Some(Yaml::Mapping(m)) if m.is_empty() => Ok(()),
        Some(_) => Err(format!("{name}: takes no arguments")),
    }
}

fn builtin_metric(
    name: &str,
    value: Option<Yaml>,
    registry: &Registry,
) -> Result<Arc<dyn Metric>, String> {
    match name {
        "accuracy" | "mean" | "stderr" | "std" | "var" => {
            no_args(name, value)?;
            Ok(match name {
                "accuracy" => Arc::new(Accuracy::default()),
                "mean" => Arc::new(Mean::default()),
                "stderr" => Arc::new(Stderr::default()),
                "std" => Arc::new(Std::default()),
                _ => Arc::new(Var::default()),
            })
        }
        "bootstrap_stderr" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                num_samples: Option<usize>,
                seed: Option<u64>,
            }
            let a: Args = args(name, value)?;
            let defaults = BootstrapStderr::default();
            Ok(Arc::new(BootstrapStderr {
                num_samples: a.num_samples.unwrap_or(defaults.num_samples),
                seed: a.seed.unwrap_or(defaults.seed),
                to_float: defaults.to_float,
            }))
        }
        "grouped" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Args {
                metric: Yaml,
                group_key: String,
                all: Option<Yaml>,
                all_label: Option<String>,
            }
            let a: Args = args(name, value)?;
            let inner = match registry_object(&a.metric) {
                // Inspect's (and examen's) logs record the metric in its registry form.
                Some((inner, params)) => registry.build_metric(inner, params.as_ref()),
                None => registry.metric_from_yaml(a.metric),
            }
            .map_err(|e| format!("grouped: {e}"))?;
            let all = match a.all {
                None => GroupedAll::Samples,
                Some(Yaml::Bool(false)) => GroupedAll::None,
                Some(Yaml::String(s)) if s == "samples" => GroupedAll::Samples,
                Some(Yaml::String(s)) if s == "groups" => GroupedAll::Groups,
                Some(_) => {
                    return Err("grouped: `all` must be `samples`, `groups` or `false`".into())
                }
            };
            let mut grouped = Grouped::new(inner, a.group_key);
            grouped.all = all;
            if let Some(label) = a.all_label {
                grouped.all_label = label;
            }
            Ok(Arc::new(grouped))
        }
        other => Err(registry.unknown(Kind::Metric, other)),
    }
}

/// The arguments a task file gives a component (`{match: {numeric: true}}`
/// gives `match` the mapping `{numeric: true}`), as its factory sees them.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    name: &'a str,
    value: Option<&'a Yaml>,
    registry: &'a Registry,
}

impl<'a> Args<'a> {
    /// Arguments `value` (`None` when the task file names the component
    /// alone) for the component `name`, built through `registry`.
    pub fn new(name: &'a str, value: Option<&'a Yaml>, registry: &'a Registry) -> Self {
        Self {
            name,
            value: value.filter(|v| !v.is_null()),
            registry,
        }
    }

    /// The component's name, as the task file wrote it.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The arguments as YAML (`None` when none were given).
    pub fn yaml(&self) -> Option<&'a Yaml> {
        self.value
    }

    /// The arguments as JSON (`null` when none were given).
    pub fn json(&self) -> JsonValue {
        self.value
            .and_then(|v| yaml_to_json(v).ok())
            .unwrap_or(JsonValue::Null)
    }

    /// Whether no arguments (or an empty mapping) were given.
    pub fn is_empty(&self) -> bool {
        match self.value {
            None => true,
            Some(Yaml::Mapping(m)) => m.is_empty(),
            Some(_) => false,
        }
    }

    /// The arguments deserialized into `T` (none given reads as an empty
    /// mapping, so a struct whose fields all have defaults takes none). The
    /// error names the component: `repeat: missing field `times``.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        args(self.name, self.value.cloned())
    }

    /// An error unless no arguments were given.
    pub fn none(&self) -> Result<(), String> {
        no_args(self.name, self.value.cloned())
    }

    /// The registry the component is built through (for components made of
    /// other components, like `chain` or `grouped`).
    pub fn registry(&self) -> &'a Registry {
        self.registry
    }
}

type Factory<T> = Arc<dyn Fn(&Args<'_>) -> Result<T, String> + Send + Sync>;

struct Registered<T> {
    entry: Entry,
    factory: Factory<T>,
}

impl<T> Clone for Registered<T> {
    fn clone(&self) -> Self {
        Self {
            entry: self.entry,
            factory: self.factory.clone(),
        }
    }
}

/// Turns a metric into the engine's `Arc<dyn Metric>`: any [`Metric`], or
/// an `Arc<dyn Metric>` as it is.
pub trait IntoMetric {
    /// The metric, shared.
    fn into_metric(self) -> Arc<dyn Metric>;
}

impl<T: Metric + 'static> IntoMetric for T {
    fn into_metric(self) -> Arc<dyn Metric> {
        Arc::new(self)
    }
}

impl IntoMetric for Arc<dyn Metric> {
    fn into_metric(self) -> Arc<dyn Metric> {
        self
    }
}

/// Matches a reducer name (`pass_at_2`) to a reducer.
type ReducerMatcher = Arc<dyn Fn(&str) -> Option<Reducer> + Send + Sync>;

/// Solvers, scorers, metrics, reducers and tools by name: what task files
/// and `examen score` can name. Cheap to clone. `Default` is
/// [`Registry::builtin`].
#[derive(Clone)]
pub struct Registry {
    solvers: IndexMap<&'static str, Registered<Arc<dyn DynSolver>>>,
    scorers: IndexMap<&'static str, Registered<Arc<dyn DynScorer>>>,
    metrics: IndexMap<&'static str, Registered<Arc<dyn Metric>>>,
    reducers: IndexMap<&'static str, (Entry, ReducerMatcher)>,
    tools: IndexMap<&'static str, Registered<Arc<dyn crate::tool::DynTool>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("solvers", &self.solvers.keys().collect::<Vec<_>>())
            .field("scorers", &self.scorers.keys().collect::<Vec<_>>())
            .field("metrics", &self.metrics.keys().collect::<Vec<_>>())
            .field("reducers", &self.reducers.keys().collect::<Vec<_>>())
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// A registry with nothing in it.
    pub fn empty() -> Self {
        Self {
            solvers: IndexMap::new(),
            scorers: IndexMap::new(),
            metrics: IndexMap::new(),
            reducers: IndexMap::new(),
            tools: IndexMap::new(),
        }
    }

    /// examen's own solvers, scorers, metrics, reducers and tools (what
    /// `examen list` shows).
    pub fn builtin() -> Self {
        Self::builtin_ref().clone()
    }

    /// The built-in registry, shared.
    pub fn builtin_ref() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut registry = Registry::empty();
            for entry in SOLVERS {
                let name = entry.name;
                registry.insert_solver(*entry, move |args| {
                    builtin_solver(name, args.yaml().cloned(), args.registry())
                });
            }
            for entry in SCORERS {
                let name = entry.name;
                registry.insert_scorer(*entry, move |args| {
                    builtin_scorer(name, args.yaml().cloned(), args.registry())
                });
            }
            for entry in METRICS {
                let name = entry.name;
                registry.insert_metric(*entry, move |args| {
                    builtin_metric(name, args.yaml().cloned(), args.registry())
                });
            }
            for (name, description) in REDUCERS {
                let entry = Entry {
                    kind: Kind::Reducer,
                    name,
                    description,
                    args: "",
                };
                // `pass_at_k` stands for `pass_at_1`, `pass_at_2`, ...
                let base = name.strip_suffix("_k").unwrap_or(name);
                let matcher: ReducerMatcher = Arc::new(move |candidate: &str| {
                    let reducer = Reducer::parse(candidate)?;
                    let named = reducer.name();
                    let matches = if base == *name {
                        named == *name
                    } else {
                        named
                            .strip_prefix(base)
                            .and_then(|rest| rest.strip_prefix('_'))
                            .is_some_and(|k| k.chars().all(|c| c.is_ascii_digit()))
                    };
                    matches.then_some(reducer)
                });
                registry.reducers.insert(name, (entry, matcher));
            }
            registry.tool(
                "think",
                "a place for the model to write a thought down (Inspect's think)",
                |_| Ok::<_, String>(crate::tool::builtin::Think),
            );
            registry.insert_tool(
                "bash",
                "run a bash command in the sample's sandbox (Inspect's bash)",
                "{timeout?, user?}",
                |args| {
                    command_tool_args("bash", args)
                        .map(|(timeout, user)| crate::tool::builtin::Bash { timeout, user })
                },
            );
            registry.insert_tool(
                "python",
                "run Python code in the sample's sandbox (Inspect's python)",
                "{timeout?, user?}",
                |args| {
                    command_tool_args("python", args)
                        .map(|(timeout, user)| crate::tool::builtin::Python { timeout, user })
                },
            );
            registry.insert_tool(
                "text_editor",
                "view, create and edit files in the sample's sandbox (Inspect's text_editor)",
                "{timeout?}",
                |args| {
                    command_tool_timeout("text_editor", args)
                        .map(|timeout| crate::tool::builtin::TextEditor { timeout })
                },
            );
            registry
        })
    }

    fn insert_solver(
        &mut self,
        entry: Entry,
        factory: impl Fn(&Args<'_>) -> Result<Arc<dyn DynSolver>, String> + Send + Sync + 'static,
    ) {
        self.solvers.insert(
            entry.name,
            Registered {
                entry,
                factory: Arc::new(factory),
            },
        );
    }

    fn insert_scorer(
        &mut self,
        entry: Entry,
        factory: impl Fn(&Args<'_>) -> Result<Arc<dyn DynScorer>, String> + Send + Sync + 'static,
    ) {
        self.scorers.insert(
            entry.name,
            Registered {
                entry,
                factory: Arc::new(factory),
            },
        );
    }

    fn insert_metric(
        &mut self,
        entry: Entry,
        factory: impl Fn(&Args<'_>) -> Result<Arc<dyn Metric>, String> + Send + Sync + 'static,
    ) {
        self.metrics.insert(
            entry.name,
            Registered {
                entry,
                factory: Arc::new(factory),
            },
        );
    }

    /// Registers a solver: `factory` turns the task file's arguments into
    /// it (any [`Solver`](crate::Solver), or an `Arc<dyn DynSolver>`); its
    /// error is shown at the entry's line in the task file.
    pub fn solver<S, E, F>(
        &mut self,
        name: &'static str,
        description: &'static str,
        factory: F,
    ) -> &mut Self
    where
        S: IntoSolver,
        E: fmt::Display,
        F: Fn(&Args<'_>) -> Result<S, E> + Send + Sync + 'static,
    {
        self.insert_solver(entry(Kind::Solver, name, description, ""), move |args| {
            factory(args)
                .map(IntoSolver::into_solver)
                .map_err(|e| e.to_string())
        });
        self
    }

    /// Registers a scorer (any [`Scorer`](crate::Scorer), or an
    /// `Arc<dyn DynScorer>`), as [`solver`](Self::solver) does.
    pub fn scorer<S, E, F>(
        &mut self,
        name: &'static str,
        description: &'static str,
        factory: F,
    ) -> &mut Self
    where
        S: IntoScorer,
        E: fmt::Display,
        F: Fn(&Args<'_>) -> Result<S, E> + Send + Sync + 'static,
    {
        self.insert_scorer(entry(Kind::Scorer, name, description, ""), move |args| {
            factory(args)
                .map(IntoScorer::into_scorer)
                .map_err(|e| e.to_string())
        });
        self
    }

    /// Registers a metric (any [`Metric`], or an `Arc<dyn Metric>`), as
    /// [`solver`](Self::solver) does.
    pub fn metric<M, E, F>(
        &mut self,
        name: &'static str,
        description: &'static str,
        factory: F,
    ) -> &mut Self
    where
        M: IntoMetric,
        E: fmt::Display,
        F: Fn(&Args<'_>) -> Result<M, E> + Send + Sync + 'static,
    {
        self.insert_metric(entry(Kind::Metric, name, description, ""), move |args| {
            factory(args)
                .map(IntoMetric::into_metric)
                .map_err(|e| e.to_string())
        });
        self
    }

    /// Registers an epoch reducer under its [`ScoreReducer::name`] (reducers
    /// take no arguments).
    pub fn reducer(&mut self, description: &'static str, reducer: impl ScoreReducer) -> &mut Self {
        let reducer: Arc<dyn ScoreReducer> = Arc::new(reducer);
        let name: &'static str = String::leak(reducer.name().to_string());
        let entry = entry(Kind::Reducer, name, description, "");
        let matcher: ReducerMatcher = Arc::new(move |candidate: &str| {
            (candidate == name).then(|| Reducer::Custom(CustomReducer(reducer.clone())))
        });
        self.reducers.insert(name, (entry, matcher));
        self
    }

    /// Registers a tool (any [`Tool`](crate::tool::Tool), or an
    /// `Arc<dyn DynTool>`), as [`solver`](Self::solver) does; the
    /// `use_tools` solver names it.
    pub fn tool<T, E, F>(
        &mut self,
        name: &'static str,
        description: &'static str,
        factory: F,
    ) -> &mut Self
    where
        T: crate::tool::IntoTool,
        E: fmt::Display,
        F: Fn(&Args<'_>) -> Result<T, E> + Send + Sync + 'static,
    {
        self.insert_tool(name, description, "", factory)
    }

    /// [`tool`](Self::tool) with the arguments shown in listings (`{timeout?}`).
    fn insert_tool<T, E, F>(
        &mut self,
        name: &'static str,
        description: &'static str,
        args: &'static str,
        factory: F,
    ) -> &mut Self
    where
        T: crate::tool::IntoTool,
        E: fmt::Display,
        F: Fn(&Args<'_>) -> Result<T, E> + Send + Sync + 'static,
    {
        self.tools.insert(
            name,
            Registered {
                entry: entry(Kind::Tool, name, description, args),
                factory: Arc::new(move |args| {
                    factory(args)
                        .map(crate::tool::IntoTool::into_tool)
                        .map_err(|e| e.to_string())
                }),
            },
        );
        self
    }

    /// Every entry: solvers, scorers, metrics, reducers, then tools, each in
    /// the order registered (built-ins first).
    pub fn entries(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = Vec::new();
        all.extend(self.solvers.values().map(|r| r.entry));
        all.extend(self.scorers.values().map(|r| r.entry));
        all.extend(self.metrics.values().map(|r| r.entry));
        all.extend(self.reducers.values().map(|r| r.0));
        all.extend(self.tools.values().map(|r| r.entry));
        all
    }

    /// An error naming an unknown entry of `kind`, listing the valid names
    /// and the closest one.
    pub fn unknown(&self, kind: Kind, name: &str) -> String {
        let valid: Vec<&str> = match kind {
            Kind::Solver => self.solvers.keys().copied().collect(),
            Kind::Scorer => self.scorers.keys().copied().collect(),
            Kind::Metric => self.metrics.keys().copied().collect(),
            Kind::Reducer => self.reducers.keys().copied().collect(),
            Kind::Tool => self.tools.keys().copied().collect(),
        };
        unknown(kind, name, &valid)
    }

    /// Builds a solver from its name and YAML arguments.
    pub fn build_solver(
        &self,
        name: &str,
        value: Option<&Yaml>,
    ) -> Result<Arc<dyn DynSolver>, String> {
        let registered = self
            .solvers
            .get(name)
            .ok_or_else(|| self.unknown(Kind::Solver, name))?;
        (registered.factory)(&Args::new(name, value, self))
    }

    /// Builds a scorer from its name and YAML arguments.
    pub fn build_scorer(
        &self,
        name: &str,
        value: Option<&Yaml>,
    ) -> Result<Arc<dyn DynScorer>, String> {
        let registered = self
            .scorers
            .get(name)
            .ok_or_else(|| self.unknown(Kind::Scorer, name))?;
        (registered.factory)(&Args::new(name, value, self))
    }

    /// Builds a metric from its name and YAML arguments.
    pub fn build_metric(
        &self,
        name: &str,
        value: Option<&Yaml>,
    ) -> Result<Arc<dyn Metric>, String> {
        let registered = self
            .metrics
            .get(name)
            .ok_or_else(|| self.unknown(Kind::Metric, name))?;
        (registered.factory)(&Args::new(name, value, self))
    }

    /// Builds a tool from its name and YAML arguments.
    pub fn build_tool(
        &self,
        name: &str,
        value: Option<&Yaml>,
    ) -> Result<Arc<dyn crate::tool::DynTool>, String> {
        let registered = self
            .tools
            .get(name)
            .ok_or_else(|| self.unknown(Kind::Tool, name))?;
        (registered.factory)(&Args::new(name, value, self))
    }

    /// Finds a reducer by name (`mean`, `pass_at_2`, or a registered one).
    pub fn build_reducer(&self, name: &str) -> Result<Reducer, String> {
        self.reducers
            .values()
            .rev()
            .find_map(|(_, matcher)| matcher(name))
            .ok_or_else(|| self.unknown(Kind::Reducer, name))
    }

    /// A solver entry: a name, or a one-key mapping `{name: args}`.
    pub fn solver_from_yaml(&self, value: Yaml) -> Result<Arc<dyn DynSolver>, String> {
        let (name, args) = entry_parts(Kind::Solver, value)?;
        self.build_solver(&name, args.as_ref())
    }

    /// A scorer entry: a name, or a one-key mapping `{name: args}`.
    pub fn scorer_from_yaml(&self, value: Yaml) -> Result<Arc<dyn DynScorer>, String> {
        let (name, args) = entry_parts(Kind::Scorer, value)?;
        self.build_scorer(&name, args.as_ref())
    }

    /// A metric entry: a name, or a one-key mapping `{name: args}`.
    pub fn metric_from_yaml(&self, value: Yaml) -> Result<Arc<dyn Metric>, String> {
        let (name, args) = entry_parts(Kind::Metric, value)?;
        self.build_metric(&name, args.as_ref())
    }

    /// A tool entry: a name, or a one-key mapping `{name: args}`.
    pub fn tool_from_yaml(&self, value: Yaml) -> Result<Arc<dyn crate::tool::DynTool>, String> {
        let (name, args) = entry_parts(Kind::Tool, value)?;
        self.build_tool(&name, args.as_ref())
    }

    /// Builds a task from its spec: `dir` is the task file's directory
    /// (relative dataset paths are read from it).
    pub fn build_task(
        &self,
        spec: &TaskSpec,
        dir: &std::path::Path,
    ) -> Result<Task, TaskFileError> {
        spec.build(dir, self)
    }

    /// Reads a task file (with `-T` overrides, see
    /// [`load_task_file_with_args`](crate::taskfile::load_task_file_with_args))
    /// and builds its task through this registry.
    pub fn load_task_file(
        &self,
        path: impl AsRef<std::path::Path>,
        args: &[(String, String)],
    ) -> Result<Task, TaskFileError> {
        crate::taskfile::load_task_file_with(path, args, self)
    }
}

/// A YAML value as it would be written (for error messages).
fn yaml_text(value: &Yaml) -> String {
    serde_norway::to_string(value)
        .map(|text| text.trim_end().to_owned())
        .unwrap_or_else(|_| format!("{value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `grouped` metric as logs record it (Inspect's registry form of its `metric`, with
    /// or without the `inspect_ai/` prefix) is rebuilt, and records itself the same way, so
    /// `examen score` re-scores examen's and Inspect's logs alike.
    #[test]
    fn grouped_is_rebuilt_from_the_form_logs_record() {
        let recorded = |name: &str| -> Yaml {
            serde_norway::from_str(&format!(
                "{{metric: {{type: metric, name: {name}, params: {{}}}}, group_key: level, all: groups}}"
            ))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        for name in ["accuracy", "inspect_ai/accuracy"] {
            let metric = build_metric("grouped", Some(recorded(name)))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let again = serde_json::to_value(metric.params()).unwrap_or_default();
            assert_eq!(
                again,
                serde_json::json!({
                    "metric": {"type": "metric", "name": "accuracy", "params": {}},
                    "group_key": "level",
                    "all": "groups",
                })
            );
            let rebuilt = serde_norway::to_value(metric.params()).unwrap_or(Yaml::Null);
            let round = build_metric("grouped", Some(rebuilt)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                serde_json::to_value(round.params()).unwrap_or_default(),
                again
            );
        }
        // A task file's own form still works.
        let task_form: Yaml = serde_norway::from_str("{metric: accuracy, group_key: level}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(build_metric("grouped", Some(task_form)).is_ok());
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = build_scorer("inclides", None).err().unwrap_or_default();
        assert!(
            err.starts_with("unknown scorer `inclides`; expected one of: match, includes, exact"),
            "{err}"
        );
        assert!(err.ends_with("(did you mean `includes`?)"), "{err}");
        let err = build_reducer("pass_at").err().unwrap_or_default();
        assert!(err.contains("pass_at_k"), "{err}");
        let err = build_solver("generat", None).err().unwrap_or_default();
        assert!(err.contains("did you mean `generate`"), "{err}");
        assert!(build_metric("acuracy", None)
            .err()
            .unwrap_or_default()
            .contains("did you mean `accuracy`"));
    }

    #[test]
    fn generate_config_fields_are_known() {
        let fields = generate_config_fields();
        assert!(fields.contains(&"max_tokens"));
        assert!(fields.contains(&"temperature"));
        let err = generate_config(serde_norway::from_str("{max_token: 3}").ok())
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("unknown generation option `max_token`")
                && err.contains("did you mean `max_tokens`"),
            "{err}"
        );
    }

    #[test]
    fn every_entry_has_a_description() {
        let all = entries();
        assert!(all.len() >= 30);
        assert!(all.iter().all(|e| !e.description.is_empty()));
    }
}
