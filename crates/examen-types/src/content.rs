//! Message content: a plain string or a list of typed parts (Inspect's `Content`).

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{JsonObject, JsonValue};

/// Text content (`ContentText`, `"type": "text"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentText {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// Text content.
    pub text: String,
    /// Was this a refusal message?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<bool>,
    /// Citations supporting the text block (kept as raw JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<JsonValue>>,
    /// Explicit prompt-cache boundary after this block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_breakpoint: Option<bool>,
}

impl ContentText {
    /// A plain text part.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            internal: None,
            text: text.into(),
            refusal: None,
            citations: None,
            cache_breakpoint: None,
        }
    }
}

/// Reasoning content (`ContentReasoning`, `"type": "reasoning"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentReasoning {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// Reasoning content.
    pub reasoning: String,
    /// Reasoning summary or readable reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Signature for replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Whether the reasoning text is redacted (Inspect always emits it).
    #[serde(default)]
    pub redacted: bool,
}

impl ContentReasoning {
    /// A reasoning part with the given text.
    pub fn new(reasoning: impl Into<String>) -> Self {
        Self {
            internal: None,
            reasoning: reasoning.into(),
            summary: None,
            signature: None,
            redacted: false,
        }
    }
}

/// Image content (`ContentImage`, `"type": "image"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentImage {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// URL or base64 data URI of the image.
    pub image: String,
    /// Detail level: `auto`, `low`, `high` or `original` (Inspect always emits it).
    #[serde(default = "default_detail")]
    pub detail: String,
}

fn default_detail() -> String {
    "auto".to_owned()
}

/// Audio content (`ContentAudio`, `"type": "audio"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentAudio {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// Audio file path or base64 data URI.
    pub audio: String,
    /// `wav` or `mp3`.
    pub format: String,
}

/// Video content (`ContentVideo`, `"type": "video"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentVideo {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// Video file path or base64 data URI.
    pub video: String,
    /// `mp4`, `mpeg` or `mov`.
    pub format: String,
}

/// Document content (`ContentDocument`, `"type": "document"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentDocument {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// Document file path or base64 data URI.
    pub document: String,
    /// Document file name.
    #[serde(default)]
    pub filename: String,
    /// Document mime type.
    #[serde(default)]
    pub mime_type: String,
    /// Enable model-generated citations.
    #[serde(default)]
    pub citations: bool,
}

/// Model internal data (`ContentData`, `"type": "data"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentData {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// Provider payload.
    pub data: JsonObject,
}

/// Server side tool use (`ContentToolUse`, `"type": "tool_use"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentToolUse {
    /// Model provider specific payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<JsonValue>,
    /// `web_search`, `mcp_call` or `code_execution`.
    pub tool_type: String,
    /// Tool call id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Tool context (e.g. MCP server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Arguments passed to the tool.
    pub arguments: String,
    /// Result of the tool call.
    pub result: String,
    /// Error from the tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One part of a message's content, discriminated by `"type"`.
///
/// Parts of a type this version does not know are kept verbatim in
/// [`Content::Other`], so reading and re-writing a log loses nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// `"text"`.
    Text(ContentText),
    /// `"reasoning"`.
    Reasoning(ContentReasoning),
    /// `"image"`.
    Image(ContentImage),
    /// `"audio"`.
    Audio(ContentAudio),
    /// `"video"`.
    Video(ContentVideo),
    /// `"document"`.
    Document(ContentDocument),
    /// `"data"`.
    Data(ContentData),
    /// `"tool_use"`.
    ToolUse(ContentToolUse),
    /// Any other part, kept as the JSON object it was read from.
    Other(JsonValue),
}

impl Content {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Content::Text(ContentText::new(text))
    }

    /// The part's `"type"` string.
    pub fn kind(&self) -> &str {
        match self {
            Content::Text(_) => "text",
            Content::Reasoning(_) => "reasoning",
            Content::Image(_) => "image",
            Content::Audio(_) => "audio",
            Content::Video(_) => "video",
            Content::Document(_) => "document",
            Content::Data(_) => "data",
            Content::ToolUse(_) => "tool_use",
            Content::Other(v) => v.get("type").and_then(JsonValue::as_str).unwrap_or(""),
        }
    }
}

/// Serializes `inner` (a struct) with `"type": kind` placed first.
fn serialize_tagged<S: Serializer, T: Serialize>(
    serializer: S,
    kind: &'static str,
    inner: &T,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Tagged<'a, T> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        inner: &'a T,
    }
    Tagged { kind, inner }.serialize(serializer)
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(c) => serialize_tagged(serializer, "text", c),
            Content::Reasoning(c) => serialize_tagged(serializer, "reasoning", c),
            Content::Image(c) => serialize_tagged(serializer, "image", c),
            Content::Audio(c) => serialize_tagged(serializer, "audio", c),
            Content::Video(c) => serialize_tagged(serializer, "video", c),
            Content::Document(c) => serialize_tagged(serializer, "document", c),
            Content::Data(c) => serialize_tagged(serializer, "data", c),
            Content::ToolUse(c) => serialize_tagged(serializer, "tool_use", c),
            Content::Other(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = JsonValue::deserialize(deserializer)?;
        let kind = match value.get("type") {
            Some(JsonValue::String(kind)) => kind.clone(),
            Some(_) => return Err(de::Error::custom("content part `type` is not a string")),
            None => return Err(de::Error::missing_field("type")),
        };
        fn parse<T: serde::de::DeserializeOwned, E: de::Error>(
            kind: &str,
            value: JsonValue,
        ) -> Result<T, E> {
            serde_json::from_value(value)
                .map_err(|e| E::custom(format_args!("invalid `{kind}` content part: {e}")))
        }
        Ok(match kind.as_str() {
            "text" => Content::Text(parse(&kind, value)?),
            "reasoning" => Content::Reasoning(parse(&kind, value)?),
            "image" => Content::Image(parse(&kind, value)?),
            "audio" => Content::Audio(parse(&kind, value)?),
            "video" => Content::Video(parse(&kind, value)?),
            "document" => Content::Document(parse(&kind, value)?),
            "data" => Content::Data(parse(&kind, value)?),
            "tool_use" => Content::ToolUse(parse(&kind, value)?),
            _ => Content::Other(value),
        })
    }
}

/// A message's `content`: a plain string or a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// Plain string content.
    Text(String),
    /// A list of content parts.
    Parts(Vec<Content>),
}

impl MessageContent {
    /// The text of the content: the string itself, or the `text` parts joined by
    /// newlines (Inspect's `ChatMessage.text`).
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(s) => s.clone(),
            MessageContent::Parts(parts) => {
                let texts: Vec<&str> = parts
                    .iter()
                    .filter_map(|p| match p {
                        Content::Text(t) => Some(t.text.as_str()),
                        _ => None,
                    })
                    .collect();
                texts.join("\n")
            }
        }
    }

    /// The content as a list of parts (a string becomes one text part).
    pub fn to_parts(&self) -> Vec<Content> {
        match self {
            MessageContent::Text(s) => vec![Content::text(s.clone())],
            MessageContent::Parts(parts) => parts.clone(),
        }
    }

    /// Replaces the text (Inspect's `text` setter): a string is replaced; in a list
    /// the first text part takes the new text, other text parts are dropped, and a
    /// text part is appended when there was none.
    pub fn set_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        match self {
            MessageContent::Text(s) => *s = text,
            MessageContent::Parts(parts) => {
                let mut out = Vec::with_capacity(parts.len() + 1);
                let mut placed = false;
                for part in parts.drain(..) {
                    match part {
                        Content::Text(_) if placed => {}
                        Content::Text(_) => {
                            out.push(Content::text(text.clone()));
                            placed = true;
                        }
                        other => out.push(other),
                    }
                }
                if !placed {
                    out.push(Content::text(text));
                }
                *parts = out;
            }
        }
    }
}

impl Default for MessageContent {
    fn default() -> Self {
        MessageContent::Text(String::new())
    }
}

impl From<String> for MessageContent {
    fn from(s: String) -> Self {
        MessageContent::Text(s)
    }
}

impl From<&str> for MessageContent {
    fn from(s: &str) -> Self {
        MessageContent::Text(s.to_owned())
    }
}

impl From<Vec<Content>> for MessageContent {
    fn from(parts: Vec<Content>) -> Self {
        MessageContent::Parts(parts)
    }
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MessageContent::Text(s) => serializer.serialize_str(s),
            MessageContent::Parts(p) => p.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessageContent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(part) = seq.next_element::<Content>()? {
                    parts.push(part);
                }
                Ok(MessageContent::Parts(parts))
            }
        }
        deserializer.deserialize_any(V)
    }
}
