//! Tool calls, tool call errors, tool descriptions and tool choice.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::{JsonObject, JsonValue};

/// Kind of tool call (`ToolCall.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallType {
    /// A function tool call (the default).
    #[default]
    Function,
    /// A custom (free-form input) tool call.
    Custom,
}

fn tool_call_type_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<ToolCallType, D::Error> {
    // Inspect migrates a `null` type from older logs to "function".
    Ok(Option::<ToolCallType>::deserialize(d)?.unwrap_or_default())
}

/// Content shown in a custom tool call view (`ToolCallContent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallContent {
    /// Optional plain-text title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `text` or `markdown`.
    pub format: String,
    /// Text or markdown content.
    #[serde(default)]
    pub content: String,
}

/// A tool call requested by the model (`ToolCall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Unique identifier for the call.
    pub id: String,
    /// Function called.
    pub function: String,
    /// Arguments to the function.
    pub arguments: JsonObject,
    /// Error which occurred parsing the tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Custom view of the tool call input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<ToolCallContent>,
    /// Type of tool call (always emitted).
    #[serde(
        rename = "type",
        default,
        deserialize_with = "tool_call_type_or_default"
    )]
    pub kind: ToolCallType,
}

impl ToolCall {
    /// A function call with the given id, function name and arguments.
    pub fn new(id: impl Into<String>, function: impl Into<String>, arguments: JsonObject) -> Self {
        Self {
            id: id.into(),
            function: function.into(),
            arguments,
            parse_error: None,
            view: None,
            kind: ToolCallType::Function,
        }
    }
}

/// Type of a tool call error (`ToolCallError.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallErrorType {
    /// Arguments could not be parsed.
    Parsing,
    /// The call timed out.
    Timeout,
    /// Output could not be decoded.
    UnicodeDecode,
    /// Permission denied.
    Permission,
    /// File not found.
    FileNotFound,
    /// Path is a directory.
    IsADirectory,
    /// A limit was exceeded.
    Limit,
    /// Approval was denied.
    Approval,
    /// The call was cancelled.
    Cancelled,
    /// The sandbox was unavailable.
    SandboxUnavailable,
    /// Any other error.
    Unknown,
    /// Legacy value from older Inspect logs.
    OutputLimit,
}

/// Error raised by a tool call (`ToolCallError`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallError {
    /// Error type.
    #[serde(rename = "type")]
    pub kind: ToolCallErrorType,
    /// Error message.
    pub message: String,
}

impl ToolCallError {
    /// An error of the given type.
    pub fn new(kind: ToolCallErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// JSON Schema of a tool's parameters object (`ToolParams`).
///
/// Property schemas are kept as raw JSON Schema objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolParams {
    /// Always `"object"`.
    #[serde(rename = "type", default = "object_type")]
    pub kind: String,
    /// Parameter schemas by name.
    #[serde(default)]
    pub properties: JsonObject,
    /// Required parameter names.
    #[serde(default)]
    pub required: Vec<String>,
    /// `false`, `true` or a schema for additional properties.
    #[serde(
        rename = "additionalProperties",
        default = "additional_properties_default"
    )]
    pub additional_properties: JsonValue,
}

fn object_type() -> String {
    "object".to_owned()
}

fn additional_properties_default() -> JsonValue {
    JsonValue::Bool(false)
}

impl ToolParams {
    /// The schema as a JSON value, as it serializes (a provider puts it in each request).
    /// Built field by field: going through `serde_json::to_value` cost an agent eval a
    /// twentieth of its CPU, since the tools are sent again on every turn.
    pub fn to_json(&self) -> JsonValue {
        let mut map = JsonObject::with_capacity(4);
        map.insert("type".to_owned(), JsonValue::String(self.kind.clone()));
        map.insert(
            "properties".to_owned(),
            JsonValue::Object(self.properties.clone()),
        );
        map.insert(
            "required".to_owned(),
            JsonValue::Array(
                self.required
                    .iter()
                    .cloned()
                    .map(JsonValue::String)
                    .collect(),
            ),
        );
        map.insert(
            "additionalProperties".to_owned(),
            self.additional_properties.clone(),
        );
        JsonValue::Object(map)
    }
}

impl Default for ToolParams {
    fn default() -> Self {
        Self {
            kind: object_type(),
            properties: JsonObject::new(),
            required: Vec::new(),
            additional_properties: additional_properties_default(),
        }
    }
}

/// Specification of a tool offered to a model (`ToolInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Tool name.
    pub name: String,
    /// Short description.
    pub description: String,
    /// JSON Schema of the parameters.
    #[serde(default)]
    pub parameters: ToolParams,
    /// Provider-specific options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JsonObject>,
}

/// A specific function the model must call (`ToolFunction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolFunction {
    /// Name of the function.
    pub name: String,
}

/// Which tool the model may call (`ToolChoice`): `"auto"`, `"any"`, `"none"` or
/// `{"name": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// The model must call at least one tool.
    Any,
    /// The model must not call tools.
    None,
    /// The model must call this function.
    Function(ToolFunction),
}

impl Serialize for ToolChoice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolChoice::Auto => serializer.serialize_str("auto"),
            ToolChoice::Any => serializer.serialize_str("any"),
            ToolChoice::None => serializer.serialize_str("none"),
            ToolChoice::Function(f) => f.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match JsonValue::deserialize(deserializer)? {
            JsonValue::String(s) => match s.as_str() {
                "auto" => Ok(ToolChoice::Auto),
                "any" => Ok(ToolChoice::Any),
                "none" => Ok(ToolChoice::None),
                other => Err(de::Error::unknown_variant(other, &["auto", "any", "none"])),
            },
            v @ JsonValue::Object(_) => serde_json::from_value(v)
                .map(ToolChoice::Function)
                .map_err(de::Error::custom),
            _ => Err(de::Error::custom(
                "expected \"auto\", \"any\", \"none\" or {\"name\": ...}",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a provider sends is what the schema serializes to, key order included.
    #[test]
    fn params_to_json_is_their_serialization() {
        let params: ToolParams = serde_json::from_str(
            r#"{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer","description":"n"}},"required":["b"],"additionalProperties":{"type":"string"}}"#,
        )
        .unwrap();
        let json = params.to_json();
        assert_eq!(json, serde_json::to_value(&params).unwrap());
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            serde_json::to_string(&params).unwrap()
        );
        let default = ToolParams::default();
        assert_eq!(default.to_json(), serde_json::to_value(&default).unwrap());
    }
}
