//! Tools: functions a model may call (Inspect's `@tool`). A [`Tool`] says
//! what it is (name, description, parameters as JSON Schema, which is what
//! the model is shown) and does the work in [`Tool::call`].
//!
//! Tools are registered by name ([`Registry::tool`](crate::Registry::tool))
//! and offered to the model by the `use_tools` solver; a sample's tools are
//! in [`TaskState::tools`](crate::TaskState::tools) and every `generate`
//! sends them (and the tool choice) to the model, recording both in the
//! model event. Running the tool calls a model makes (the tool loop) is not
//! done yet: `generate` returns the model's answer, tool calls included.
//!
//! ```
//! use examen::tool::{Tool, ToolError};
//! use examen::{JsonObject, ToolParams};
//!
//! #[derive(Debug)]
//! struct Add;
//!
//! impl Tool for Add {
//!     fn name(&self) -> &str {
//!         "add"
//!     }
//!     fn description(&self) -> &str {
//!         "Add two numbers."
//!     }
//!     fn parameters(&self) -> ToolParams {
//!         examen::tool::params(&[("x", "integer", "first"), ("y", "integer", "second")])
//!     }
//!     async fn call(&self, args: JsonObject) -> Result<examen::types::MessageContent, ToolError> {
//!         let get = |k: &str| args.get(k).and_then(|v| v.as_i64()).ok_or_else(|| ToolError::new(format!("`{k}` must be an integer")));
//!         Ok((get("x")? + get("y")?).to_string().into())
//!     }
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use examen_types::{JsonObject, JsonValue, MessageContent, ToolInfo, ToolParams};

use crate::context::BoxFuture;

/// Why a tool call failed: the message goes back to the model (Inspect's
/// `ToolError`). Any error type converts into it with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// What went wrong, for the model.
    pub message: String,
}

impl ToolError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ToolError {
    fn from(error: E) -> Self {
        ToolError::new(error.to_string())
    }
}

/// A function a model may call.
pub trait Tool: Send + Sync + fmt::Debug + 'static {
    /// The name the model calls it by.
    fn name(&self) -> &str;

    /// What it does, for the model.
    fn description(&self) -> &str;

    /// Its parameters, as a JSON Schema object (none by default).
    fn parameters(&self) -> ToolParams {
        ToolParams::default()
    }

    /// What the model is shown: name, description and parameters.
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: self.name().to_string(),
            description: self.description().to_string(),
            parameters: self.parameters(),
            options: None,
        }
    }

    /// Runs the tool with the arguments the model gave.
    fn call(
        &self,
        args: JsonObject,
    ) -> impl Future<Output = Result<MessageContent, ToolError>> + Send;
}

/// The object-safe form of [`Tool`], which the engine holds
/// (`Arc<dyn DynTool>`). Implemented for every [`Tool`].
pub trait DynTool: Send + Sync + fmt::Debug {
    /// [`Tool::name`].
    fn name(&self) -> &str;
    /// [`Tool::info`].
    fn info(&self) -> ToolInfo;
    /// [`Tool::call`], boxed.
    fn call(&self, args: JsonObject) -> BoxFuture<'_, Result<MessageContent, ToolError>>;
}

impl<T: Tool> DynTool for T {
    fn name(&self) -> &str {
        Tool::name(self)
    }
    fn info(&self) -> ToolInfo {
        Tool::info(self)
    }
    fn call(&self, args: JsonObject) -> BoxFuture<'_, Result<MessageContent, ToolError>> {
        Box::pin(Tool::call(self, args))
    }
}

/// Turns a tool into the engine's `Arc<dyn DynTool>`.
pub trait IntoTool {
    /// The tool, shared.
    fn into_tool(self) -> Arc<dyn DynTool>;
}

impl<T: Tool> IntoTool for T {
    fn into_tool(self) -> Arc<dyn DynTool> {
        Arc::new(self)
    }
}

impl IntoTool for Arc<dyn DynTool> {
    fn into_tool(self) -> Arc<dyn DynTool> {
        self
    }
}

/// Parameters from `(name, JSON type, description)` triples, all required.
pub fn params(fields: &[(&str, &str, &str)]) -> ToolParams {
    let mut params = ToolParams::default();
    for (name, kind, description) in fields {
        let mut property = JsonObject::new();
        property.insert("type".into(), JsonValue::from(*kind));
        property.insert("description".into(), JsonValue::from(*description));
        params
            .properties
            .insert((*name).to_string(), JsonValue::Object(property));
        params.required.push((*name).to_string());
    }
    params
}
