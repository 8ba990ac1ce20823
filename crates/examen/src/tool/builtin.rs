//! examen's built-in tools, with Inspect's names, descriptions and parameters so that models see
//! the same tools: `think` (more to come with the sandbox: `bash`, `python`, `text_editor`).

use examen_types::{JsonObject, JsonValue, MessageContent, ToolParams};

use super::{Tool, ToolError};

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
        let mut thought = JsonObject::new();
        thought.insert("type".into(), JsonValue::from("string"));
        thought.insert(
            "description".into(),
            JsonValue::from("A thought to think about."),
        );
        let mut params = ToolParams::default();
        params
            .properties
            .insert("thought".into(), JsonValue::Object(thought));
        params.required.push("thought".into());
        params
    }

    fn parallel(&self) -> bool {
        true
    }

    async fn call(&self, _args: JsonObject) -> Result<MessageContent, ToolError> {
        Ok(MessageContent::Text(String::new()))
    }
}
