//! The eval log schema (Inspect's `log/_log.py`, schema version 2), field by field.
//!
//! Optional fields are omitted when `None` (Inspect writes with `exclude_none`);
//! fields with a non-`None` default in Inspect (`{}`, `[]`, `false`) are always
//! written. Header-level types keep fields this version does not model in an
//! `extra` map, so a log read from a newer Inspect converts without loss.

use std::fmt;

use crate::{
    ChatMessage, GenerateConfig, JsonObject, JsonValue, MessageContent, MessageSource, ModelOutput,
    ModelUsage, Score,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::EventsData;
pub use crate::SampleId;

/// The log schema version examen writes.
pub const LOG_SCHEMA_VERSION: u32 = 2;

/// Status of an evaluation (`EvalStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalStatus {
    /// Running, or crashed before finishing.
    #[default]
    Started,
    /// Finished normally.
    Success,
    /// Cancelled by the user.
    Cancelled,
    /// Halted by an error.
    Error,
}

impl EvalStatus {
    /// Inspect's string for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalStatus::Started => "started",
            EvalStatus::Success => "success",
            EvalStatus::Cancelled => "cancelled",
            EvalStatus::Error => "error",
        }
    }
}

impl fmt::Display for EvalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The input of a sample: a prompt, or a conversation (Inspect's `str | list[ChatMessage]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleInput {
    /// A single user prompt.
    Text(String),
    /// Chat messages (system, user, assistant, tool).
    Messages(Vec<ChatMessage>),
}

impl Default for SampleInput {
    fn default() -> Self {
        SampleInput::Text(String::new())
    }
}

impl SampleInput {
    /// The messages a solver chain starts from: a text input becomes one
    /// user message. Every message is marked as coming from the input.
    pub fn to_messages(&self) -> Vec<ChatMessage> {
        match self {
            SampleInput::Text(text) => {
                vec![ChatMessage::user(text.as_str()).with_source(MessageSource::Input)]
            }
            SampleInput::Messages(messages) => messages
                .iter()
                .cloned()
                .map(|m| m.with_source(MessageSource::Input))
                .collect(),
        }
    }

    /// Inspect's `input_text`: the text, or the text of the last user message.
    pub fn text(&self) -> String {
        match self {
            SampleInput::Text(text) => text.clone(),
            SampleInput::Messages(messages) => messages
                .iter()
                .rev()
                .find(|m| matches!(m, ChatMessage::User(_)))
                .map(ChatMessage::text)
                .unwrap_or_default(),
        }
    }
}

impl From<&str> for SampleInput {
    fn from(s: &str) -> Self {
        SampleInput::Text(s.to_owned())
    }
}

impl From<String> for SampleInput {
    fn from(s: String) -> Self {
        SampleInput::Text(s)
    }
}

impl From<Vec<ChatMessage>> for SampleInput {
    fn from(m: Vec<ChatMessage>) -> Self {
        SampleInput::Messages(m)
    }
}

/// The target of a sample: one or more strings (Inspect's `Target`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// A single target (the empty string when the sample has none).
    One(String),
    /// Several acceptable targets.
    Many(Vec<String>),
}

impl Default for Target {
    fn default() -> Self {
        Target::One(String::new())
    }
}

impl Target {
    /// The targets as a list.
    pub fn as_list(&self) -> Vec<String> {
        match self {
            Target::One(t) => vec![t.clone()],
            Target::Many(ts) => ts.clone(),
        }
    }

    /// Inspect's `Target.text`: the targets concatenated.
    pub fn text(&self) -> String {
        match self {
            Target::One(t) => t.clone(),
            Target::Many(ts) => ts.concat(),
        }
    }
}

impl From<&str> for Target {
    fn from(s: &str) -> Self {
        Target::One(s.to_owned())
    }
}

impl From<String> for Target {
    fn from(s: String) -> Self {
        Target::One(s)
    }
}

impl From<Vec<String>> for Target {
    fn from(v: Vec<String>) -> Self {
        Target::Many(v)
    }
}

impl From<Vec<&str>> for Target {
    fn from(v: Vec<&str>) -> Self {
        Target::Many(v.into_iter().map(str::to_owned).collect())
    }
}

/// One sample of a dataset (Inspect's `Sample`), as `sample_init` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The input given to the solvers.
    pub input: SampleInput,
    /// Answer choices, for multiple-choice samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// The target(s) the scorers compare against.
    #[serde(default)]
    pub target: Target,
    /// The id (assigned from 1 upward when the dataset has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<SampleId>,
    /// Arbitrary metadata, also available to templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Sandbox spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<JsonValue>,
    /// Files to copy into the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<JsonObject>,
    /// Setup script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
}

impl Sample {
    /// A sample with an input and a target.
    pub fn new(input: impl Into<SampleInput>, target: impl Into<Target>) -> Self {
        Self {
            input: input.into(),
            choices: None,
            target: target.into(),
            id: None,
            metadata: None,
            sandbox: None,
            files: None,
            setup: None,
        }
    }

    /// Sets the id (builder style).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<SampleId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the choices (builder style).
    #[must_use]
    pub fn with_choices<S: Into<String>>(mut self, choices: impl IntoIterator<Item = S>) -> Self {
        self.choices = Some(choices.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the metadata (builder style).
    #[must_use]
    pub fn with_metadata(mut self, metadata: JsonObject) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// A float that reads `null` (a NaN written by an encoder without the `NaN`
/// constant) as NaN.
pub(crate) mod nan_float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Dataset used for the eval (`EvalDataset`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalDataset {
    /// Dataset name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// File path or URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Number of samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// Sample ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_ids: Option<Vec<SampleId>>,
    /// Was the dataset shuffled after reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffled: Option<bool>,
}

/// Eval configuration (`EvalConfig`). Fields not modelled here are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Sample limit: a count or a `[start, end]` range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<JsonValue>,
    /// Specific sample id(s) evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_id: Option<JsonValue>,
    /// Shuffle: a bool or a seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_shuffle: Option<JsonValue>,
    /// Epochs each sample runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
    /// Reducers that combine epoch scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs_reducer: Option<Vec<String>>,
    /// Fail on sample errors: a bool, a proportion or a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_error: Option<JsonValue>,
    /// Continue the eval when `fail_on_error` is met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_on_fail: Option<bool>,
    /// Retries for errored samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on_error: Option<u32>,
    /// Score samples that error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_on_error: Option<bool>,
    /// Maximum messages per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_limit: Option<u64>,
    /// Maximum tokens per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit: Option<u64>,
    /// Maximum turns per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_limit: Option<u64>,
    /// Maximum clock seconds per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<u64>,
    /// Maximum working seconds per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_limit: Option<u64>,
    /// Maximum dollars per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_limit: Option<f64>,
    /// Samples run in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_samples: Option<u64>,
    /// Tasks run in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks: Option<u64>,
    /// Concurrent subprocesses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_subprocesses: Option<u64>,
    /// Samples holding sandboxes at once, per sandbox type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sandboxes: Option<u64>,
    /// Clean up sandboxes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_cleanup: Option<bool>,
    /// Treat sandbox images as prebuilt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_prebuilt: Option<bool>,
    /// Log per-sample detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_samples: Option<bool>,
    /// Log events in realtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_realtime: Option<bool>,
    /// Log base64 images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_images: Option<bool>,
    /// Log raw model API calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_model_api: Option<bool>,
    /// Samples buffered before a log flush.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_buffer: Option<u64>,
    /// Display scoring metrics live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_display: Option<bool>,
    /// Fields not modelled above (kept verbatim).
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Source revision (`EvalRevision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRevision {
    /// Always `"git"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Origin URL.
    pub origin: String,
    /// Commit hash.
    pub commit: String,
    /// Uncommitted changes present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
}

/// A scorer and its metrics as declared (`EvalScorer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalScorer {
    /// Scorer name.
    pub name: String,
    /// Scorer arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JsonObject>,
    /// Metric definitions: a list of `{name, options}` or a dict of such lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<JsonValue>,
    /// Scorer metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

/// Eval identity and configuration (`EvalSpec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSpec {
    /// Eval set id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_set_id: Option<String>,
    /// Globally unique eval id (22-character base57).
    #[serde(default)]
    pub eval_id: String,
    /// Run id shared by the evals of one run.
    #[serde(default)]
    pub run_id: String,
    /// Creation time, ISO 8601 with offset (`2025-01-01T12:00:00+00:00`).
    pub created: String,
    /// Task name.
    pub task: String,
    /// Unique task id.
    #[serde(default)]
    pub task_id: String,
    /// Task version (int or string).
    #[serde(default = "zero_version")]
    pub task_version: JsonValue,
    /// Task source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_file: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_display_name: Option<String>,
    /// Registry name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_registry_name: Option<String>,
    /// Attributes of the task.
    #[serde(default)]
    pub task_attribs: JsonObject,
    /// Task arguments (including defaults).
    #[serde(default)]
    pub task_args: JsonObject,
    /// Task arguments passed explicitly.
    #[serde(default)]
    pub task_args_passed: JsonObject,
    /// Solver name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Dataset.
    pub dataset: EvalDataset,
    /// Sandbox spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<JsonValue>,
    /// Model name, e.g. `openai/gpt-4o`.
    pub model: String,
    /// Generate config of the model instance.
    #[serde(default)]
    pub model_generate_config: GenerateConfig,
    /// Model base URL override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_base_url: Option<String>,
    /// Model arguments.
    #[serde(default)]
    pub model_args: JsonObject,
    /// Model roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_roles: Option<JsonObject>,
    /// Eval configuration.
    pub config: EvalConfig,
    /// Git revision, when run in a checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<EvalRevision>,
    /// Package versions.
    #[serde(default)]
    pub packages: IndexMap<String, String>,
    /// Eval metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Scorers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorers: Option<Vec<EvalScorer>>,
    /// Fields not modelled above (kept verbatim).
    #[serde(flatten)]
    pub extra: JsonObject,
}

fn zero_version() -> JsonValue {
    JsonValue::from(0)
}

impl EvalSpec {
    /// A spec with fresh ids, `created` now, and the given task, model and dataset.
    pub fn new(task: impl Into<String>, model: impl Into<String>, dataset: EvalDataset) -> Self {
        Self {
            eval_set_id: None,
            eval_id: crate::short_uuid(),
            run_id: crate::short_uuid(),
            created: crate::time::iso_now(),
            task: task.into(),
            task_id: crate::short_uuid(),
            task_version: zero_version(),
            task_file: None,
            task_display_name: None,
            task_registry_name: None,
            task_attribs: JsonObject::new(),
            task_args: JsonObject::new(),
            task_args_passed: JsonObject::new(),
            solver: None,
            tags: None,
            dataset,
            sandbox: None,
            model: model.into(),
            model_generate_config: GenerateConfig::default(),
            model_base_url: None,
            model_args: JsonObject::new(),
            model_roles: None,
            config: EvalConfig::default(),
            revision: None,
            packages: IndexMap::new(),
            metadata: None,
            scorers: None,
            extra: JsonObject::new(),
        }
    }
}

/// One solver step (`EvalPlanStep`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPlanStep {
    /// Solver name.
    pub solver: String,
    /// Solver parameters.
    #[serde(default)]
    pub params: JsonObject,
    /// Parameters passed explicitly.
    #[serde(default)]
    pub params_passed: JsonObject,
}

impl EvalPlanStep {
    /// A step with no parameters.
    pub fn new(solver: impl Into<String>) -> Self {
        Self {
            solver: solver.into(),
            params: JsonObject::new(),
            params_passed: JsonObject::new(),
        }
    }
}

/// The solver plan (`EvalPlan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPlan {
    /// Plan name (`"plan"`).
    #[serde(default = "plan_name")]
    pub name: String,
    /// Steps.
    #[serde(default)]
    pub steps: Vec<EvalPlanStep>,
    /// Step always run at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<EvalPlanStep>,
    /// Generate config.
    #[serde(default)]
    pub config: GenerateConfig,
}

fn plan_name() -> String {
    "plan".to_owned()
}

impl Default for EvalPlan {
    fn default() -> Self {
        Self {
            name: plan_name(),
            steps: Vec::new(),
            finish: None,
            config: GenerateConfig::default(),
        }
    }
}

/// A metric value (`EvalMetric`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetric {
    /// Metric name.
    pub name: String,
    /// Group when one metric function yields several values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Value (NaN when undefined, e.g. stderr of one sample).
    #[serde(with = "nan_float")]
    pub value: f64,
    /// Metric parameters.
    #[serde(default)]
    pub params: JsonObject,
    /// Metric metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

impl EvalMetric {
    /// A metric with a name and value.
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            group: None,
            value,
            params: JsonObject::new(),
            metadata: None,
        }
    }
}

/// Results of one scorer (`EvalScore`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalScore {
    /// Score name.
    pub name: String,
    /// Scorer name.
    pub scorer: String,
    /// Reducer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reducer: Option<String>,
    /// Samples scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scored_samples: Option<u64>,
    /// Samples not scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unscored_samples: Option<u64>,
    /// Scorer parameters.
    #[serde(default)]
    pub params: JsonObject,
    /// Metrics by name.
    #[serde(default)]
    pub metrics: IndexMap<String, EvalMetric>,
    /// Scorer metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

/// Headline metric reference (`HeadlineMetric`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HeadlineMetric {
    /// Scorer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer: Option<String>,
    /// Score name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    /// Metric name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Reducer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reducer: Option<String>,
}

/// Scoring results (`EvalResults`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalResults {
    /// Total samples (dataset samples × epochs).
    #[serde(default)]
    pub total_samples: u64,
    /// Samples completed without error.
    #[serde(default)]
    pub completed_samples: u64,
    /// Scores, one per scorer (and reducer).
    #[serde(default)]
    pub scores: Vec<EvalScore>,
    /// Headline metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<HeadlineMetric>,
    /// Results metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Fields not modelled above (kept verbatim).
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl EvalResults {
    /// The value of `metric` for the first score named `scorer`.
    pub fn metric(&self, scorer: &str, metric: &str) -> Option<f64> {
        self.scores
            .iter()
            .find(|s| s.name == scorer)
            .and_then(|s| s.metrics.get(metric))
            .map(|m| m.value)
    }
}

/// Timing and usage (`EvalStats`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalStats {
    /// Start time (ISO 8601), empty if never started.
    #[serde(default)]
    pub started_at: String,
    /// Completion time (ISO 8601), empty while running.
    #[serde(default)]
    pub completed_at: String,
    /// Token usage by model.
    #[serde(default)]
    pub model_usage: IndexMap<String, ModelUsage>,
    /// Token usage by role.
    #[serde(default)]
    pub role_usage: IndexMap<String, ModelUsage>,
    /// Adaptive connection limit changes.
    #[serde(default)]
    pub connection_limit_history: Vec<JsonValue>,
}

/// Error details (`EvalError`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalError {
    /// Error message.
    pub message: String,
    /// Traceback.
    pub traceback: String,
    /// Traceback with ANSI colours.
    pub traceback_ansi: String,
}

impl EvalError {
    /// An error with a message and a plain traceback (used for both fields).
    pub fn new(message: impl Into<String>, traceback: impl Into<String>) -> Self {
        let traceback = traceback.into();
        Self {
            message: message.into(),
            traceback_ansi: traceback.clone(),
            traceback,
        }
    }
}

/// Error of a retried sample attempt (`EvalRetryError`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRetryError {
    /// Error message.
    pub message: String,
    /// Traceback.
    pub traceback: String,
    /// Traceback with ANSI colours.
    pub traceback_ansi: String,
    /// Events before the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
}

/// The limit that halted a sample (`EvalSampleLimit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSampleLimit {
    /// `context`, `time`, `working`, `message`, `token`, `turn`, `cost`,
    /// `operator` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Limit value.
    pub limit: f64,
    /// Why it fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One sample of the eval (`EvalSample`), stored as `samples/{id}_epoch_{epoch}.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSample {
    /// Sample id.
    pub id: SampleId,
    /// Epoch (from 1).
    pub epoch: u32,
    /// Input.
    pub input: SampleInput,
    /// Choices (multiple choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// Target.
    #[serde(default)]
    pub target: Target,
    /// Short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sandbox spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<JsonValue>,
    /// Files copied to the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Setup script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    /// Conversation.
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    /// Final model output.
    #[serde(default)]
    pub output: ModelOutput,
    /// Scores by scorer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<IndexMap<String, Score>>,
    /// Sample metadata.
    #[serde(default)]
    pub metadata: JsonObject,
    /// Store at the end of the sample.
    #[serde(default)]
    pub store: JsonObject,
    /// Events (transcript).
    #[serde(default)]
    pub events: Vec<Event>,
    /// Custom timelines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timelines: Option<Vec<JsonValue>>,
    /// Token usage by model.
    #[serde(default)]
    pub model_usage: IndexMap<String, ModelUsage>,
    /// Token usage by role.
    #[serde(default)]
    pub role_usage: IndexMap<String, ModelUsage>,
    /// Model fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_fallbacks: Option<Vec<JsonValue>>,
    /// Start time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Completion time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Seconds the sample ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_time: Option<f64>,
    /// Seconds spent working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<f64>,
    /// Globally unique id of this sample run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Invalidation provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidation: Option<JsonValue>,
    /// Error that halted the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EvalError>,
    /// Errors of retried attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_retries: Option<Vec<EvalRetryError>>,
    /// Attachments referenced as `attachment://<hash>`.
    #[serde(default)]
    pub attachments: IndexMap<String, String>,
    /// Pooled model-event inputs and call messages the events point into by
    /// `input_refs` / `call_refs` (see [`EvalSample::condensed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_data: Option<EventsData>,
    /// Limit that halted the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<EvalSampleLimit>,
    /// Top-level generations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_count: Option<u64>,
    /// Token limit in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit: Option<u64>,
    /// What the token limit meters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit_type: Option<String>,
    /// Metered usage for the token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit_usage: Option<u64>,
    /// Message limit in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_limit: Option<u64>,
    /// Time limit in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<u64>,
}

impl EvalSample {
    /// A sample with the given id, epoch, input and target and everything else empty.
    pub fn new(
        id: impl Into<SampleId>,
        epoch: u32,
        input: impl Into<SampleInput>,
        target: impl Into<Target>,
    ) -> Self {
        Self {
            id: id.into(),
            epoch,
            input: input.into(),
            choices: None,
            target: target.into(),
            description: None,
            sandbox: None,
            files: None,
            setup: None,
            messages: Vec::new(),
            output: ModelOutput::default(),
            scores: None,
            metadata: JsonObject::new(),
            store: JsonObject::new(),
            events: Vec::new(),
            timelines: None,
            model_usage: IndexMap::new(),
            role_usage: IndexMap::new(),
            model_fallbacks: None,
            started_at: None,
            completed_at: None,
            total_time: None,
            working_time: None,
            uuid: None,
            invalidation: None,
            error: None,
            error_retries: None,
            attachments: IndexMap::new(),
            events_data: None,
            limit: None,
            turn_count: None,
            token_limit: None,
            token_limit_type: None,
            token_limit_usage: None,
            message_limit: None,
            time_limit: None,
        }
    }

    /// The member name of this sample in an `.eval` file.
    pub fn member_name(&self) -> String {
        format!("samples/{}_epoch_{}.json", self.id, self.epoch)
    }

    /// The sample's summary as Inspect computes it (`EvalSample.summary()`):
    /// large inputs, targets, metadata and score texts are thinned.
    pub fn summary(&self) -> EvalSampleSummary {
        let scores = self.scores.as_ref().map(|scores| {
            scores
                .iter()
                .map(|(k, s)| {
                    let thin = Score {
                        value: s.value.clone(),
                        answer: s.answer.as_deref().map(thin_text),
                        explanation: s.explanation.as_deref().map(thin_text),
                        reason: s.reason.as_deref().map(thin_text),
                        metadata: s.metadata.as_ref().map(thin_metadata),
                        history: Vec::new(),
                    };
                    (k.clone(), thin)
                })
                .collect()
        });
        EvalSampleSummary {
            id: self.id.clone(),
            epoch: self.epoch,
            input: thin_input(&self.input),
            choices: self.choices.clone(),
            target: match &self.target {
                Target::One(t) => Target::One(truncate_text(t)),
                Target::Many(l) => Target::Many(l.iter().map(|t| truncate_text(t)).collect()),
            },
            description: self.description.clone(),
            metadata: thin_metadata(&self.metadata),
            scores,
            model_usage: self.model_usage.clone(),
            role_usage: self.role_usage.clone(),
            model_fallbacks: self.model_fallbacks.clone(),
            started_at: self.started_at.clone(),
            completed_at: self.completed_at.clone(),
            total_time: self.total_time,
            working_time: self.working_time,
            uuid: self.uuid.clone(),
            error: self.error.as_ref().map(|e| e.message.clone()),
            limit: self.limit.as_ref().map(|l| l.kind.clone()),
            limit_reason: self.limit.as_ref().and_then(|l| l.reason.clone()),
            retries: self.error_retries.as_ref().map(|r| r.len() as u64),
            completed: true,
            message_count: Some(self.messages.len() as u64),
            turn_count: self.turn_count,
            token_limit: self.token_limit,
            token_limit_type: self.token_limit_type.clone(),
            token_limit_usage: self.token_limit_usage,
            message_limit: self.message_limit,
            time_limit: self.time_limit,
        }
    }
}

/// Summary of a sample (`EvalSampleSummary`), as journaled in
/// `_journal/summaries/{k}.json` and collected in `summaries.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSampleSummary {
    /// Sample id.
    pub id: SampleId,
    /// Epoch.
    pub epoch: u32,
    /// Input (thinned).
    pub input: SampleInput,
    /// Choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// Target (thinned).
    #[serde(default)]
    pub target: Target,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Metadata (thinned).
    #[serde(default)]
    pub metadata: JsonObject,
    /// Scores (thinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<IndexMap<String, Score>>,
    /// Token usage by model.
    #[serde(default)]
    pub model_usage: IndexMap<String, ModelUsage>,
    /// Token usage by role.
    #[serde(default)]
    pub role_usage: IndexMap<String, ModelUsage>,
    /// Model fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_fallbacks: Option<Vec<JsonValue>>,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Total seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_time: Option<f64>,
    /// Working seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<f64>,
    /// Sample run uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Limit type that halted the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Why the limit fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_reason: Option<String>,
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Is the sample complete.
    #[serde(default)]
    pub completed: bool,
    /// Messages in the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_count: Option<u64>,
    /// Top-level generations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_count: Option<u64>,
    /// Token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit: Option<u64>,
    /// Token limit type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit_type: Option<String>,
    /// Token limit usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_limit_usage: Option<u64>,
    /// Message limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_limit: Option<u64>,
    /// Time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<u64>,
}

/// A reduced score of one sample (`EvalSampleScore`: a `Score` plus `sample_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSampleScore {
    /// The score.
    #[serde(flatten)]
    pub score: Score,
    /// Sample id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_id: Option<SampleId>,
}

/// Scores reduced across epochs for one scorer (`EvalSampleReductions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSampleReductions {
    /// Scorer name.
    pub scorer: String,
    /// Reducer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reducer: Option<String>,
    /// Reduced scores.
    pub samples: Vec<EvalSampleScore>,
}

/// What `_journal/start.json` holds (`LogStart`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogStart {
    /// Schema version (2).
    pub version: u32,
    /// Eval spec.
    pub eval: EvalSpec,
    /// Plan.
    pub plan: EvalPlan,
}

/// How a run ended: what a log's header records beside its [`LogStart`] once
/// the samples are written (`status`, `results`, `stats`, `error`,
/// `invalidated`), and the epoch reductions written after the samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFinish {
    /// Final status.
    pub status: EvalStatus,
    /// Scores and metrics.
    pub results: Option<EvalResults>,
    /// Timing and usage.
    pub stats: EvalStats,
    /// Error that halted the eval.
    pub error: Option<EvalError>,
    /// Scores reduced across epochs (none: no `reductions` written).
    pub reductions: Option<Vec<EvalSampleReductions>>,
    /// Whether any sample was invalidated.
    pub invalidated: bool,
}

/// An eval log (`EvalLog`). `header.json` is this without `samples` and
/// `reductions`; a `.json` log is all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalLog {
    /// Schema version (2).
    #[serde(default = "schema_version")]
    pub version: u32,
    /// Status.
    #[serde(default)]
    pub status: EvalStatus,
    /// Eval spec.
    pub eval: EvalSpec,
    /// Plan.
    #[serde(default)]
    pub plan: EvalPlan,
    /// Results (absent while running or on error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<EvalResults>,
    /// Stats.
    #[serde(default)]
    pub stats: EvalStats,
    /// Error that halted the eval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EvalError>,
    /// Whether any sample was invalidated.
    #[serde(default)]
    pub invalidated: bool,
    /// Post-eval edits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_updates: Option<Vec<JsonValue>>,
    /// Mid-run configuration changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_updates: Option<Vec<JsonValue>>,
    /// Current tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Current metadata.
    #[serde(default)]
    pub metadata: JsonObject,
    /// Samples (absent in a header-only read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<Vec<EvalSample>>,
    /// Reductions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reductions: Option<Vec<EvalSampleReductions>>,
}

fn schema_version() -> u32 {
    LOG_SCHEMA_VERSION
}

impl EvalLog {
    /// A header-only log in status `started` for the given start record.
    pub fn from_start(start: &LogStart) -> Self {
        let mut tags = start.eval.tags.clone().unwrap_or_default();
        tags.sort();
        Self {
            version: start.version,
            status: EvalStatus::Started,
            eval: start.eval.clone(),
            plan: start.plan.clone(),
            results: None,
            stats: EvalStats::default(),
            error: None,
            invalidated: false,
            log_updates: None,
            config_updates: None,
            tags,
            metadata: start.eval.metadata.clone().unwrap_or_default(),
            samples: None,
            reductions: None,
        }
    }
}

/// Length beyond which summary inputs and targets are truncated.
const MAX_TEXT_LENGTH: usize = 5120;
/// Width that summary score texts and metadata strings are shortened to.
const THIN_TEXT_WIDTH: usize = 1024;

fn truncate_text(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_LENGTH) {
        Some((cut, _)) => format!("{}...\n(content truncated)", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Python's `textwrap.shorten(text, width=1024, placeholder="...")`: collapse
/// whitespace, then keep whole words that fit with the placeholder.
fn thin_text(text: &str) -> String {
    let scanned: String = text.chars().take(THIN_TEXT_WIDTH * 8).collect();
    let words: Vec<&str> = scanned.split_whitespace().collect();
    let collapsed = words.join(" ");
    if collapsed.chars().count() <= THIN_TEXT_WIDTH {
        return collapsed;
    }
    let budget = THIN_TEXT_WIDTH - 3;
    let mut out = String::new();
    let mut len = 0;
    for w in words {
        let extra = if out.is_empty() { 0 } else { 1 } + w.chars().count();
        if len + extra > budget {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
        len += extra;
    }
    out.push_str("...");
    out
}

fn thin_metadata(metadata: &JsonObject) -> JsonObject {
    metadata
        .iter()
        .map(|(k, v)| {
            let thinned = match v {
                JsonValue::Number(_) | JsonValue::Bool(_) => v.clone(),
                JsonValue::String(s) => JsonValue::String(thin_text(s)),
                other => {
                    let size = serde_json::to_vec(other).map(|b| b.len()).unwrap_or(0);
                    if size <= THIN_TEXT_WIDTH {
                        other.clone()
                    } else {
                        JsonValue::String("Key removed from summary (> 1k)".into())
                    }
                }
            };
            (k.clone(), thinned)
        })
        .collect()
}

fn thin_input(input: &SampleInput) -> SampleInput {
    use crate::Content;
    match input {
        SampleInput::Text(t) => SampleInput::Text(truncate_text(t)),
        SampleInput::Messages(msgs) => SampleInput::Messages(
            msgs.iter()
                .map(|m| {
                    let mut m = m.clone();
                    let content = match m.content() {
                        MessageContent::Text(t) => MessageContent::Text(truncate_text(t)),
                        MessageContent::Parts(parts) => MessageContent::Parts(
                            parts
                                .iter()
                                .map(|p| match p {
                                    Content::Text(t) => {
                                        let mut t = t.clone();
                                        t.text = truncate_text(&t.text);
                                        Content::Text(t)
                                    }
                                    other => {
                                        let kind = other.kind();
                                        let mut cap = kind.chars();
                                        let label = match cap.next() {
                                            Some(c) => {
                                                c.to_uppercase().collect::<String>() + cap.as_str()
                                            }
                                            None => String::new(),
                                        };
                                        Content::text(format!("({label})"))
                                    }
                                })
                                .collect(),
                        ),
                    };
                    *m.content_mut() = content;
                    m
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_text_matches_textwrap_shorten() {
        assert_eq!(thin_text("a  b\n c"), "a b c");
        let long = "word ".repeat(400);
        let short = thin_text(&long);
        assert!(short.ends_with("word..."), "{short}");
        assert!(short.chars().count() <= 1024);
        // 204 words of 4 chars + 203 spaces = 1019 chars; one more would exceed 1021
        assert_eq!(short.matches("word").count(), 204);
    }

    #[test]
    fn truncate_text_appends_marker() {
        let long = "x".repeat(6000);
        let t = truncate_text(&long);
        assert!(t.ends_with("...\n(content truncated)"));
        assert_eq!(t.len(), 5120 + "...\n(content truncated)".len());
        assert_eq!(truncate_text("short"), "short");
    }

    #[test]
    fn sample_id_sort_key_matches_inspect() {
        assert_eq!(SampleId::Int(7).sort_key(), "00000000000000000007");
        assert_eq!(SampleId::from("b").sort_key(), "b");
    }
}
