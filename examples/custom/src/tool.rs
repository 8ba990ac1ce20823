//! A custom tool definition: adds two integers.

use examen::tool::{params, Tool, ToolError};
use examen::types::MessageContent;
use examen::{Args, JsonObject, ToolParams};

/// `add(x, y)`.
#[derive(Debug)]
pub struct Add;

impl Tool for Add {
    fn name(&self) -> &str {
        "add"
    }

    fn description(&self) -> &str {
        "Add two integers."
    }

    fn parameters(&self) -> ToolParams {
        params(&[
            ("x", "integer", "the first"),
            ("y", "integer", "the second"),
        ])
    }

    async fn call(&self, args: JsonObject) -> Result<MessageContent, ToolError> {
        let get = |key: &str| {
            let value = args.get(key).and_then(|v| v.as_i64());
            value.ok_or_else(|| ToolError::new(format!("`{key}` must be an integer")))
        };
        Ok((get("x")? + get("y")?).to_string().into())
    }
}

/// Takes no arguments.
pub fn factory(args: &Args<'_>) -> Result<Add, String> {
    args.none()?;
    Ok(Add)
}
