//! A custom model API, in process: `echo/<anything>` answers with the last
//! user message, and says which tools it was offered in its output's metadata.

use examen::{ApiError, ChatMessage, GenerateConfig, ModelApi, ModelOutput, ModelSpec};
use examen::{JsonValue, ToolChoice, ToolInfo};

/// Echoes the prompt.
#[derive(Debug)]
pub struct Echo {
    /// The full model name (`echo/model`).
    pub name: String,
}

impl ModelApi for Echo {
    async fn generate(
        &self,
        input: &[ChatMessage],
        tools: &[ToolInfo],
        tool_choice: &ToolChoice,
        _config: &GenerateConfig,
    ) -> Result<ModelOutput, ApiError> {
        let last = input.last().ok_or("echo: no messages")?;
        let mut output = ModelOutput::from_text(&self.name, last.text());
        let offered: Vec<JsonValue> = tools.iter().map(|t| t.name.as_str().into()).collect();
        let mut metadata = examen::JsonObject::new();
        metadata.insert("tools".into(), offered.into());
        metadata.insert("tool_choice".into(), serde_choice(tool_choice).into());
        output.metadata = Some(metadata);
        Ok(output)
    }
}

fn serde_choice(choice: &ToolChoice) -> &'static str {
    match choice {
        ToolChoice::Auto => "auto",
        ToolChoice::Any => "any",
        ToolChoice::None => "none",
        ToolChoice::Function(_) => "function",
    }
}

/// Registered as `echo`: `get_model("echo/model", ..)` builds one.
pub fn factory(spec: &ModelSpec<'_>) -> Result<Echo, ApiError> {
    Ok(Echo {
        name: spec.name.to_string(),
    })
}
