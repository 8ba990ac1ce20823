//! `TaskState`: what solvers and scorers read and change while one sample
//! runs (Inspect's `TaskState` and `Choices`).

use std::sync::Arc;

use examen_types::{ChatMessage, JsonObject, JsonValue, ModelOutput, ModelUsage, ToolChoice};

use crate::sample::{SampleId, SampleInput, Target};

/// One answer choice of a multiple-choice sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The choice text.
    pub value: String,
    /// Whether the model picked it (`None` until a solver decides).
    pub correct: Option<bool>,
    /// Its position in the sample's choices, before any shuffle.
    pub original_position: usize,
}

/// The answer choices of a sample, in presentation order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Choices(pub Vec<Choice>);

impl Choices {
    /// Choices in their original order, none marked.
    pub fn new<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Self {
        Choices(
            values
                .into_iter()
                .enumerate()
                .map(|(original_position, value)| Choice {
                    value: value.into(),
                    correct: None,
                    original_position,
                })
                .collect(),
        )
    }

    /// Number of choices.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Marks choice `index` as picked or not.
    pub fn mark(&mut self, index: usize, correct: bool) {
        if let Some(choice) = self.0.get_mut(index) {
            choice.correct = Some(correct);
        }
    }

    /// Whether the choices are not in their original order.
    pub fn are_shuffled(&self) -> bool {
        self.0
            .iter()
            .enumerate()
            .any(|(i, c)| i != c.original_position)
    }

    /// The choices back in their original order.
    pub fn unshuffled(&self) -> Choices {
        let mut choices = self.0.clone();
        choices.sort_by_key(|c| c.original_position);
        Choices(choices)
    }
}

/// The state of one sample as it moves through solvers and scorers.
#[derive(Debug, Clone)]
pub struct TaskState {
    /// Name of the model being evaluated (`provider/model`).
    pub model: String,
    /// The sample's id.
    pub sample_id: SampleId,
    /// The epoch, from 1.
    pub epoch: usize,
    /// The sample input (do not change it: solvers change `messages`).
    pub input: SampleInput,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// The latest model output.
    pub output: ModelOutput,
    /// The target(s).
    pub target: Target,
    /// The choices (empty unless the sample has choices).
    pub choices: Choices,
    /// The sample metadata (solvers may add to it).
    pub metadata: JsonObject,
    /// Free-form data shared by solvers and scorers (recorded in the log).
    pub store: JsonObject,
    /// Set by a solver to stop the remaining solvers.
    pub completed: bool,
    /// Limit on messages in the conversation.
    pub message_limit: Option<usize>,
    /// Limit on tokens used by the sample.
    pub token_limit: Option<u64>,
    /// Tokens used so far by every model call of the sample.
    pub token_usage: ModelUsage,
    /// The tools offered to the model by [`SampleContext::generate`](crate::SampleContext::generate)
    /// (set by the `use_tools` solver).
    pub tools: Vec<Arc<dyn crate::tool::DynTool>>,
    /// The tool choice sent with the tools (Inspect's default, `auto`). With
    /// no tools, `none` is sent and recorded, as Inspect does.
    pub tool_choice: ToolChoice,
}

impl TaskState {
    /// Inspect's `input_text`: the input, or the last user message of a chat input.
    pub fn input_text(&self) -> String {
        self.input.text()
    }

    /// The last user message (Inspect's `user_prompt`), if any.
    pub fn user_prompt_mut(&mut self) -> Option<&mut ChatMessage> {
        self.messages
            .iter_mut()
            .rev()
            .find(|m| matches!(m, ChatMessage::User(_)))
    }

    /// The text of the last user message.
    pub fn user_prompt_text(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| matches!(m, ChatMessage::User(_)))
            .map(ChatMessage::text)
    }

    /// Total tokens used so far.
    pub fn total_tokens(&self) -> u64 {
        self.token_usage.total_tokens
    }

    /// Template values: the metadata, then the store, then `extra` (later wins).
    pub fn template_params(&self, extra: &JsonObject) -> JsonObject {
        let mut params = self.metadata.clone();
        for (k, v) in &self.store {
            params.insert(k.clone(), v.clone());
        }
        for (k, v) in extra {
            params.insert(k.clone(), v.clone());
        }
        params
    }

    /// Sets a store value.
    pub fn store_set(&mut self, key: impl Into<String>, value: impl Into<JsonValue>) {
        self.store.insert(key.into(), value.into());
    }
}
