//! Chat messages (Inspect's `ChatMessage` union, discriminated by `"role"`).

use serde::{Deserialize, Serialize};

use crate::content::MessageContent;
use crate::tool::{ToolCall, ToolCallError};
use crate::{short_uuid, JsonObject};

/// Where a message came from (`source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageSource {
    /// Part of the sample input.
    Input,
    /// Produced by a model generation.
    Generate,
    /// Injected by an operator.
    Operator,
}

/// System message (`ChatMessageSystem`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatMessageSystem {
    /// Unique message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Content.
    pub content: MessageContent,
    /// Source of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<MessageSource>,
    /// Additional metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

/// User message (`ChatMessageUser`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatMessageUser {
    /// Unique message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Content.
    pub content: MessageContent,
    /// Source of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<MessageSource>,
    /// Additional metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Id(s) of tool call(s) this message has the content payload for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<Vec<String>>,
}

/// Assistant message (`ChatMessageAssistant`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatMessageAssistant {
    /// Unique message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Content.
    pub content: MessageContent,
    /// Source of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<MessageSource>,
    /// Additional metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Tool calls made by the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Model that generated the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Tool result message (`ChatMessageTool`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatMessageTool {
    /// Unique message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Content.
    pub content: MessageContent,
    /// Source of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<MessageSource>,
    /// Additional metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Id of the tool call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Name of the function called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Error which occurred during the tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolCallError>,
}

impl ChatMessageAssistant {
    /// An assistant message with text content.
    pub fn new(content: impl Into<MessageContent>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }

    /// The text content (see [`MessageContent::text`]).
    pub fn text(&self) -> String {
        self.content.text()
    }
}

/// A message in a chat conversation, tagged by `"role"`.
///
/// Constructors leave `id` empty so values compare deterministically; call
/// [`ChatMessage::ensure_id`] (as Inspect does on construction) before logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    /// `"system"`.
    System(ChatMessageSystem),
    /// `"user"`.
    User(ChatMessageUser),
    /// `"assistant"`.
    Assistant(ChatMessageAssistant),
    /// `"tool"`.
    Tool(ChatMessageTool),
}

impl ChatMessage {
    /// A system message with the given text.
    pub fn system(text: impl Into<MessageContent>) -> Self {
        ChatMessage::System(ChatMessageSystem {
            content: text.into(),
            ..Default::default()
        })
    }

    /// A user message with the given text.
    pub fn user(text: impl Into<MessageContent>) -> Self {
        ChatMessage::User(ChatMessageUser {
            content: text.into(),
            ..Default::default()
        })
    }

    /// An assistant message with the given text.
    pub fn assistant(text: impl Into<MessageContent>) -> Self {
        ChatMessage::Assistant(ChatMessageAssistant::new(text))
    }

    /// A tool result message answering `tool_call_id` for `function`.
    pub fn tool(
        content: impl Into<MessageContent>,
        tool_call_id: impl Into<String>,
        function: impl Into<String>,
    ) -> Self {
        ChatMessage::Tool(ChatMessageTool {
            content: content.into(),
            tool_call_id: Some(tool_call_id.into()),
            function: Some(function.into()),
            ..Default::default()
        })
    }

    /// The role string: `system`, `user`, `assistant` or `tool`.
    pub fn role(&self) -> &'static str {
        match self {
            ChatMessage::System(_) => "system",
            ChatMessage::User(_) => "user",
            ChatMessage::Assistant(_) => "assistant",
            ChatMessage::Tool(_) => "tool",
        }
    }

    /// The message content.
    pub fn content(&self) -> &MessageContent {
        match self {
            ChatMessage::System(m) => &m.content,
            ChatMessage::User(m) => &m.content,
            ChatMessage::Assistant(m) => &m.content,
            ChatMessage::Tool(m) => &m.content,
        }
    }

    /// The message content, mutably.
    pub fn content_mut(&mut self) -> &mut MessageContent {
        match self {
            ChatMessage::System(m) => &mut m.content,
            ChatMessage::User(m) => &mut m.content,
            ChatMessage::Assistant(m) => &mut m.content,
            ChatMessage::Tool(m) => &mut m.content,
        }
    }

    /// The text content: the string, or the text parts joined by newlines.
    pub fn text(&self) -> String {
        self.content().text()
    }

    /// The message id, if any.
    pub fn id(&self) -> Option<&str> {
        self.id_slot().as_deref()
    }

    fn id_slot(&self) -> &Option<String> {
        match self {
            ChatMessage::System(m) => &m.id,
            ChatMessage::User(m) => &m.id,
            ChatMessage::Assistant(m) => &m.id,
            ChatMessage::Tool(m) => &m.id,
        }
    }

    pub(crate) fn id_slot_mut(&mut self) -> &mut Option<String> {
        match self {
            ChatMessage::System(m) => &mut m.id,
            ChatMessage::User(m) => &mut m.id,
            ChatMessage::Assistant(m) => &mut m.id,
            ChatMessage::Tool(m) => &mut m.id,
        }
    }

    /// Gives the message a fresh [`short_uuid`] id unless it has one.
    pub fn ensure_id(&mut self) -> &str {
        self.id_slot_mut().get_or_insert_with(short_uuid)
    }

    /// Sets the id (builder style).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        *self.id_slot_mut() = Some(id.into());
        self
    }

    /// Sets the source (builder style).
    pub fn with_source(mut self, source: MessageSource) -> Self {
        let slot = match &mut self {
            ChatMessage::System(m) => &mut m.source,
            ChatMessage::User(m) => &mut m.source,
            ChatMessage::Assistant(m) => &mut m.source,
            ChatMessage::Tool(m) => &mut m.source,
        };
        *slot = Some(source);
        self
    }

    /// The message's metadata, if any.
    pub fn metadata(&self) -> Option<&JsonObject> {
        match self {
            ChatMessage::System(m) => m.metadata.as_ref(),
            ChatMessage::User(m) => m.metadata.as_ref(),
            ChatMessage::Assistant(m) => m.metadata.as_ref(),
            ChatMessage::Tool(m) => m.metadata.as_ref(),
        }
    }

    /// The assistant message, if this is one.
    pub fn as_assistant(&self) -> Option<&ChatMessageAssistant> {
        match self {
            ChatMessage::Assistant(m) => Some(m),
            _ => None,
        }
    }
}

impl From<ChatMessageAssistant> for ChatMessage {
    fn from(m: ChatMessageAssistant) -> Self {
        ChatMessage::Assistant(m)
    }
}
