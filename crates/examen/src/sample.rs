//! Samples: one input with its target(s), choices, id and metadata
//! (Inspect's `Sample` and `Target`).

use examen_types::{ChatMessage, JsonObject, MessageSource};
use serde::{Deserialize, Serialize};

pub use examen_types::SampleId;

/// The input of a sample: a prompt, or a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleInput {
    /// A single user prompt.
    Text(String),
    /// Chat messages (system, user, assistant, tool).
    Messages(Vec<ChatMessage>),
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
        SampleInput::Text(s.to_string())
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
        Target::One(s.to_string())
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
        Target::Many(v.into_iter().map(str::to_string).collect())
    }
}

/// One sample of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The input given to the solvers.
    pub input: SampleInput,
    /// The target(s) the scorers compare against.
    #[serde(default)]
    pub target: Target,
    /// Answer choices, for multiple-choice samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// The id (assigned from 1 upward when the dataset has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<SampleId>,
    /// Arbitrary metadata, also available to templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

impl Sample {
    /// A sample with an input and a target.
    pub fn new(input: impl Into<SampleInput>, target: impl Into<Target>) -> Self {
        Self {
            input: input.into(),
            target: target.into(),
            choices: None,
            id: None,
            metadata: None,
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

    /// A digest of what the sample asks and expects (input, target, choices, metadata), as
    /// 16 hex digits: a retry compares it with the one its log recorded, so that a sample
    /// changed since the run is not carried over as if it were the same (FNV-1a 64 of the
    /// fields' JSON; stable across runs, platforms and versions).
    ///
    /// The order of the choices does not count: with `shuffle_choices` and no seed, each
    /// load orders them anew (and remaps letter targets to match), and a sample with its
    /// choices in another order is still the same question. Letter targets are taken as the
    /// choices they name.
    pub fn digest(&self) -> String {
        #[derive(Serialize)]
        struct Canonical<'a> {
            input: &'a SampleInput,
            target: Vec<String>,
            choices: Option<Vec<&'a str>>,
            metadata: &'a Option<JsonObject>,
        }
        let mut target = self.target.as_list();
        let mut choices = None;
        if let Some(list) = &self.choices {
            for t in &mut target {
                let chosen = crate::scorer::rules::answer_index(t)
                    .ok()
                    .and_then(|i| list.get(i));
                if let Some(chosen) = chosen {
                    *t = format!("choice:{chosen}");
                }
            }
            target.sort();
            let mut sorted: Vec<&str> = list.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            choices = Some(sorted);
        }
        let canonical = Canonical {
            input: &self.input,
            target,
            choices,
            metadata: &self.metadata,
        };
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        // Serializing these plain values cannot fail; an empty text would still hash.
        for byte in serde_json::to_vec(&canonical).unwrap_or_default() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_change_with_the_sample_and_not_with_choice_order() {
        let base = Sample::new("q", "A").with_choices(["right", "wrong"]);
        let digest = base.digest();
        assert_eq!(digest.len(), 16);
        assert_eq!(digest, base.clone().digest());
        // The same question with its choices shuffled (and its letter target remapped).
        let shuffled = Sample::new("q", "B").with_choices(["wrong", "right"]);
        assert_eq!(digest, shuffled.digest());
        for changed in [
            Sample::new("q2", "A").with_choices(["right", "wrong"]),
            Sample::new("q", "B").with_choices(["right", "wrong"]),
            Sample::new("q", "A").with_choices(["right", "other"]),
            base.clone().with_metadata(JsonObject::new()),
        ] {
            assert_ne!(digest, changed.digest(), "{changed:?}");
        }
        // The id is not part of it (a retry matches samples by id).
        assert_eq!(digest, base.clone().with_id(7).digest());
    }
}
