//! The Anthropic Messages wire format (`anthropic/<model>`).
//!
//! Pure mapping, no I/O. System messages go to the top-level `system` blocks; tool results
//! become `tool_result` blocks in a user turn; consecutive turns of the same role are merged,
//! since the API requires user and assistant to alternate.

use examen_types::{
    ChatCompletionChoice, ChatMessage, ChatMessageAssistant, Content, ContentReasoning,
    GenerateConfig, MessageContent, MessageSource, ModelOutput, ModelUsage, StopReason, ToolCall,
    ToolChoice, ToolInfo,
};
use serde_json::{json, Map, Value};

/// The API version header value the request shape follows.
pub(crate) const API_VERSION: &str = "2023-06-01";

/// Inspect's default `max_tokens` (the API requires one): 4096 for Claude 3 and 3.5, 32000
/// for later models.
pub(crate) fn default_max_tokens(model: &str) -> u64 {
    if model.starts_with("claude-3-") && !model.starts_with("claude-3-7") {
        4096
    } else {
        32_000
    }
}

pub(crate) fn request_body(
    model: &str,
    input: &[ChatMessage],
    tools: &[ToolInfo],
    tool_choice: &ToolChoice,
    config: &GenerateConfig,
) -> Value {
    let mut system_blocks = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in input {
        let (role, blocks) = match message {
            ChatMessage::System(system) => {
                let text = system.content.text();
                if !text.is_empty() {
                    system_blocks.push(json!({"type": "text", "text": text}));
                }
                continue;
            }
            ChatMessage::User(user) => ("user", content_blocks(&user.content)),
            ChatMessage::Assistant(assistant) => {
                let mut blocks = content_blocks(&assistant.content);
                for call in assistant.tool_calls.as_deref().unwrap_or_default() {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.function,
                        "input": Value::Object(call.arguments.clone()),
                    }));
                }
                ("assistant", blocks)
            }
            ChatMessage::Tool(tool) => {
                let (text, is_error) = match &tool.error {
                    Some(error) => (error.message.clone(), true),
                    None => (tool.content.text(), false),
                };
                let mut block = json!({
                    "type": "tool_result",
                    "tool_use_id": tool.tool_call_id.clone().unwrap_or_default(),
                    "content": [{"type": "text", "text": text}],
                });
                if is_error {
                    block["is_error"] = json!(true);
                }
                ("user", vec![block])
            }
        };
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "max_tokens".into(),
        json!(config
            .max_tokens
            .unwrap_or_else(|| default_max_tokens(model))),
    );
    if !system_blocks.is_empty() {
        body.insert("system".into(), Value::Array(system_blocks));
    }
    body.insert(
        "messages".into(),
        Value::Array(
            turns
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
        ),
    );
    if !tools.is_empty() {
        body.insert(
            "tools".into(),
            Value::Array(
                tools
                    .iter()
                    .map(|tool| {
                        json!({
                            "name": tool.name,
                            "description": tool.description,
                            "input_schema": tool.parameters.to_json(),
                        })
                    })
                    .collect(),
            ),
        );
        let mut choice = match tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::Any => json!({"type": "any"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Function(function) => json!({"type": "tool", "name": function.name}),
        };
        if config.parallel_tool_calls == Some(false) && !matches!(tool_choice, ToolChoice::None) {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), choice);
    }
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.to_owned(), value);
        }
    };
    set("temperature", config.temperature.map(|v| json!(v)));
    set("top_p", config.top_p.map(|v| json!(v)));
    set("top_k", config.top_k.map(|v| json!(v)));
    set(
        "stop_sequences",
        config.stop_seqs.as_ref().map(|v| json!(v)),
    );
    set(
        "thinking",
        config
            .reasoning_tokens
            .map(|budget| json!({"type": "enabled", "budget_tokens": budget})),
    );
    if let Some(extra) = &config.extra_body {
        for (key, value) in extra {
            body.insert(key.clone(), value.clone());
        }
    }
    Value::Object(body)
}

fn content_blocks(content: &MessageContent) -> Vec<Value> {
    match content {
        MessageContent::Text(text) if text.is_empty() => Vec::new(),
        MessageContent::Text(text) => vec![json!({"type": "text", "text": text})],
        MessageContent::Parts(parts) => parts.iter().filter_map(content_block).collect(),
    }
}

fn content_block(part: &Content) -> Option<Value> {
    match part {
        // The API rejects empty text blocks.
        Content::Text(text) if text.text.is_empty() => None,
        Content::Text(text) => Some(json!({"type": "text", "text": text.text})),
        Content::Reasoning(reasoning) if reasoning.redacted => {
            Some(json!({"type": "redacted_thinking", "data": reasoning.reasoning}))
        }
        Content::Reasoning(reasoning) => Some(json!({
            "type": "thinking",
            "thinking": reasoning.reasoning,
            "signature": reasoning.signature.clone().unwrap_or_default(),
        })),
        Content::Image(image) => {
            Some(json!({"type": "image", "source": media_source(&image.image)}))
        }
        Content::Document(document) => {
            Some(json!({"type": "document", "source": media_source(&document.document)}))
        }
        // Audio, video and provider-internal parts have no Messages API block.
        _ => None,
    }
}

fn media_source(uri: &str) -> Value {
    match uri
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        Some((media_type, data)) => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
        None => json!({"type": "url", "url": uri}),
    }
}

/// Maps a Messages response; the error says which field was missing.
pub(crate) fn parse_response(body: &Value) -> Result<ModelOutput, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no `content` array")?;
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        let text_of = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(Content::text(text_of("text"))),
            Some("thinking") => {
                let mut reasoning = ContentReasoning::new(text_of("thinking"));
                reasoning.signature = block
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                parts.push(Content::Reasoning(reasoning));
            }
            Some("redacted_thinking") => {
                let mut reasoning = ContentReasoning::new(text_of("data"));
                reasoning.redacted = true;
                parts.push(Content::Reasoning(reasoning));
            }
            Some("tool_use") => {
                let (arguments, parse_error) = super::openai::parse_arguments(block.get("input"));
                let mut call = ToolCall::new(text_of("id"), text_of("name"), arguments);
                call.parse_error = parse_error;
                calls.push(call);
            }
            _ => {}
        }
    }
    // A list of blocks, even one text block, as Inspect's provider makes it: what follows
    // (react appending the answer as a block of its own) and the log depend on it.
    let content = MessageContent::Parts(parts);
    let stop_reason = match body.get("stop_reason").and_then(Value::as_str) {
        Some("end_turn" | "stop_sequence") => StopReason::Stop,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("tool_use") => StopReason::ToolCalls,
        Some("refusal") => StopReason::ContentFilter,
        Some("model_context_window_exceeded") => StopReason::ModelLength,
        _ => StopReason::Unknown,
    };
    let message = ChatMessageAssistant {
        content,
        source: Some(MessageSource::Generate),
        tool_calls: (!calls.is_empty()).then_some(calls),
        model: Some(model.to_owned()),
        ..ChatMessageAssistant::default()
    };
    let mut output = ModelOutput {
        model: model.to_owned(),
        choices: vec![ChatCompletionChoice::new(message, stop_reason)],
        usage: body.get("usage").and_then(parse_usage),
        response_id: body.get("id").and_then(Value::as_str).map(str::to_owned),
        ..ModelOutput::default()
    };
    output.sync_completion();
    Ok(output)
}

fn parse_usage(usage: &Value) -> Option<ModelUsage> {
    let number = |key: &str| usage.get(key).and_then(Value::as_u64);
    let input = number("input_tokens")?;
    let output = number("output_tokens").unwrap_or(0);
    let cache_write = number("cache_creation_input_tokens");
    let cache_read = number("cache_read_input_tokens");
    Some(ModelUsage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output + cache_write.unwrap_or(0) + cache_read.unwrap_or(0),
        input_tokens_cache_write: cache_write,
        input_tokens_cache_read: cache_read,
        reasoning_tokens: None,
        total_cost: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use examen_types::JsonObject;

    #[test]
    fn system_tool_results_and_turn_merging() {
        let mut args = JsonObject::new();
        args.insert("q".into(), json!("rust"));
        let assistant = ChatMessageAssistant {
            tool_calls: Some(vec![ToolCall::new("toolu_1", "search", args)]),
            ..ChatMessageAssistant::new("Searching.")
        };
        let input = vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Find rust."),
            ChatMessage::Assistant(assistant),
            ChatMessage::tool("found it", "toolu_1", "search"),
            ChatMessage::user("Thanks."),
        ];
        let tool: ToolInfo = serde_json::from_value(json!({
            "name": "search", "description": "Web search",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        }))
        .unwrap();
        let config = GenerateConfig {
            temperature: Some(0.5),
            parallel_tool_calls: Some(false),
            ..GenerateConfig::default()
        };
        let body = request_body(
            "claude-sonnet-4-5",
            &input,
            &[tool],
            &ToolChoice::Any,
            &config,
        );
        assert_eq!(
            body,
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 32000,
                "system": [{"type": "text", "text": "You are terse."}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Find rust."}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Searching."},
                        {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "rust"}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1",
                         "content": [{"type": "text", "text": "found it"}]},
                        {"type": "text", "text": "Thanks."},
                    ]},
                ],
                "tools": [{"name": "search", "description": "Web search", "input_schema": {
                    "type": "object", "properties": {"q": {"type": "string"}},
                    "required": ["q"], "additionalProperties": false,
                }}],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
                "temperature": 0.5,
            })
        );
        assert_eq!(default_max_tokens("claude-3-5-haiku-latest"), 4096);
        assert_eq!(default_max_tokens("claude-3-7-sonnet-latest"), 32_000);
    }

    #[test]
    fn tool_choice_in_anthropic_form() {
        let tool: ToolInfo = serde_json::from_value(json!({
            "name": "submit", "description": "Submit an answer",
            "parameters": {"type": "object", "properties": {}},
        }))
        .unwrap();
        let choice_for = |choice: &ToolChoice, parallel: Option<bool>| {
            let config = GenerateConfig {
                parallel_tool_calls: parallel,
                ..GenerateConfig::default()
            };
            let input = [ChatMessage::user("Go.")];
            request_body(
                "claude-sonnet-4-5",
                &input,
                std::slice::from_ref(&tool),
                choice,
                &config,
            )["tool_choice"]
                .clone()
        };
        let forced = ToolChoice::Function(examen_types::ToolFunction {
            name: "submit".into(),
        });
        assert_eq!(
            choice_for(&forced, None),
            json!({"type": "tool", "name": "submit"})
        );
        assert_eq!(
            choice_for(&forced, Some(false)),
            json!({"type": "tool", "name": "submit", "disable_parallel_tool_use": true})
        );
        assert_eq!(
            choice_for(&ToolChoice::Auto, Some(true)),
            json!({"type": "auto"})
        );
        // Anthropic's `none` choice has no `disable_parallel_tool_use` field.
        assert_eq!(
            choice_for(&ToolChoice::None, Some(false)),
            json!({"type": "none"})
        );
        // No tools: no `tools` and no `tool_choice` on the wire.
        let body = request_body(
            "claude-sonnet-4-5",
            &[ChatMessage::user("Go.")],
            &[],
            &forced,
            &GenerateConfig::default(),
        );
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
    }

    #[test]
    fn response_blocks_map_to_parts_and_tool_calls() {
        let body = json!({
            "id": "msg_1",
            "model": "claude-sonnet-4-5",
            "stop_reason": "tool_use",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_9", "name": "search", "input": {"q": "x"}},
            ],
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100},
        });
        let output = parse_response(&body).unwrap();
        assert_eq!(output.completion, "Let me look.");
        assert_eq!(output.stop_reason(), StopReason::ToolCalls);
        let message = output.message().unwrap();
        assert_eq!(
            message.tool_calls.as_ref().unwrap()[0].arguments["q"],
            json!("x")
        );
        let usage = output.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.total_tokens), (10, 115));
        assert_eq!(usage.input_tokens_cache_read, Some(100));

        let plain = parse_response(&json!({
            "model": "m", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "hi"}],
        }))
        .unwrap();
        // One text block stays a list, as in Inspect's provider.
        assert_eq!(
            plain.message().unwrap().content,
            MessageContent::Parts(vec![Content::text("hi")])
        );
        assert_eq!(plain.completion, "hi");
    }
}
