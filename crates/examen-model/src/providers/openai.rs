//! The OpenAI Chat Completions wire format, used by `openai/<model>` and by every
//! OpenAI-compatible server behind `openai-api/<service>/<model>`.
//!
//! Pure mapping, no I/O: examen messages, tools and config to a request body, and a response
//! body back to a [`ModelOutput`].

use examen_types::{
    ChatCompletionChoice, ChatMessage, ChatMessageAssistant, Content, ContentReasoning,
    ContentText, GenerateConfig, JsonObject, JsonValue, Logprobs, MessageContent, MessageSource,
    ModelOutput, ModelUsage, StopReason, ToolCall, ToolChoice, ToolInfo,
};
use serde_json::{json, Map, Value};

/// Differences between OpenAI itself and compatible servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// api.openai.com: `max_completion_tokens`, `reasoning_effort`.
    OpenAi,
    /// vLLM, SGLang, Ollama, Together, Groq, OpenRouter, ...: `max_tokens`, plus the sampling
    /// extensions (`top_k`, `best_of`) those servers accept.
    Compatible,
}

pub(crate) fn request_body(
    flavor: Flavor,
    model: &str,
    input: &[ChatMessage],
    tools: &[ToolInfo],
    tool_choice: &ToolChoice,
    config: &GenerateConfig,
) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        Value::Array(input.iter().map(message).collect()),
    );
    if !tools.is_empty() {
        body.insert(
            "tools".into(),
            Value::Array(tools.iter().map(tool).collect()),
        );
        body.insert("tool_choice".into(), self::tool_choice(tool_choice));
        if let Some(parallel) = config.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.to_owned(), value);
        }
    };
    let max_tokens_key = match flavor {
        Flavor::OpenAi => "max_completion_tokens",
        Flavor::Compatible => "max_tokens",
    };
    set(max_tokens_key, config.max_tokens.map(|v| json!(v)));
    set("temperature", config.temperature.map(|v| json!(v)));
    set("top_p", config.top_p.map(|v| json!(v)));
    set("stop", config.stop_seqs.as_ref().map(|v| json!(v)));
    set("seed", config.seed.map(|v| json!(v)));
    set(
        "frequency_penalty",
        config.frequency_penalty.map(|v| json!(v)),
    );
    set(
        "presence_penalty",
        config.presence_penalty.map(|v| json!(v)),
    );
    set("logit_bias", config.logit_bias.clone().map(Value::Object));
    set("n", config.num_choices.map(|v| json!(v)));
    set("logprobs", config.logprobs.map(|v| json!(v)));
    set("top_logprobs", config.top_logprobs.map(|v| json!(v)));
    set(
        "reasoning_effort",
        config.reasoning_effort.as_ref().map(|v| json!(v)),
    );
    if let Some(schema) = &config.response_schema {
        let mut json_schema = Map::new();
        json_schema.insert("name".into(), json!(schema.name));
        json_schema.insert("schema".into(), schema.json_schema.clone());
        if let Some(description) = &schema.description {
            json_schema.insert("description".into(), json!(description));
        }
        if let Some(strict) = schema.strict {
            json_schema.insert("strict".into(), json!(strict));
        }
        set(
            "response_format",
            Some(json!({"type": "json_schema", "json_schema": Value::Object(json_schema)})),
        );
    }
    if flavor == Flavor::Compatible {
        set("top_k", config.top_k.map(|v| json!(v)));
        set("best_of", config.best_of.map(|v| json!(v)));
    }
    if let Some(extra) = &config.extra_body {
        for (key, value) in extra {
            body.insert(key.clone(), value.clone());
        }
    }
    Value::Object(body)
}

fn message(message: &ChatMessage) -> Value {
    match message {
        ChatMessage::System(system) => {
            json!({"role": "system", "content": system.content.text()})
        }
        ChatMessage::User(user) => json!({"role": "user", "content": user_content(&user.content)}),
        ChatMessage::Assistant(assistant) => {
            let text = assistant.content.text();
            let mut out = Map::new();
            out.insert("role".into(), json!("assistant"));
            let calls = assistant.tool_calls.as_deref().unwrap_or_default();
            out.insert(
                "content".into(),
                if text.is_empty() && !calls.is_empty() {
                    Value::Null
                } else {
                    json!(text)
                },
            );
            if !calls.is_empty() {
                out.insert(
                    "tool_calls".into(),
                    Value::Array(
                        calls
                            .iter()
                            .map(|call| {
                                json!({
                                    "id": call.id,
                                    "type": "function",
                                    "function": {
                                        "name": call.function,
                                        "arguments": serde_json::to_string(&call.arguments).unwrap_or_default(),
                                    },
                                })
                            })
                            .collect(),
                    ),
                );
            }
            Value::Object(out)
        }
        ChatMessage::Tool(tool) => {
            let content = match &tool.error {
                Some(error) => format!("Error: {}", error.message),
                None => tool.content.text(),
            };
            json!({
                "role": "tool",
                "tool_call_id": tool.tool_call_id.clone().unwrap_or_default(),
                "content": content,
            })
        }
    }
}

fn user_content(content: &MessageContent) -> Value {
    match content {
        MessageContent::Text(text) => json!(text),
        MessageContent::Parts(parts) => Value::Array(
            parts
                .iter()
                .filter_map(|part| match part {
                    Content::Text(text) => Some(json!({"type": "text", "text": text.text})),
                    Content::Image(image) => Some(json!({
                        "type": "image_url",
                        "image_url": {"url": image.image, "detail": image.detail},
                    })),
                    Content::Audio(audio) => Some(json!({
                        "type": "input_audio",
                        "input_audio": {"data": strip_data_uri(&audio.audio), "format": audio.format},
                    })),
                    // Chat Completions has no part for these; they are left out.
                    _ => None,
                })
                .collect(),
        ),
    }
}

fn strip_data_uri(uri: &str) -> &str {
    match uri.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => uri,
    }
}

fn tool(tool: &ToolInfo) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters.to_json(),
        },
    })
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Any => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Function(function) => {
            json!({"type": "function", "function": {"name": function.name}})
        }
    }
}

/// Maps a Chat Completions response; the error says which field was missing or malformed.
pub(crate) fn parse_response(body: &Value) -> Result<ModelOutput, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let choices = body
        .get("choices")
        .and_then(Value::as_array)
        .ok_or("no `choices` array")?;
    let choices = choices
        .iter()
        .map(|choice| parse_choice(model, choice))
        .collect::<Result<Vec<_>, _>>()?;
    let mut output = ModelOutput {
        model: model.to_owned(),
        choices,
        usage: body.get("usage").and_then(parse_usage),
        response_id: body.get("id").and_then(Value::as_str).map(str::to_owned),
        ..ModelOutput::default()
    };
    output.sync_completion();
    Ok(output)
}

fn parse_choice(model: &str, choice: &Value) -> Result<ChatCompletionChoice, String> {
    let message = choice.get("message").ok_or("a choice has no `message`")?;
    let text = message.get("content").and_then(Value::as_str);
    let refusal = message.get("refusal").and_then(Value::as_str);
    // Reasoning servers (DeepSeek, vLLM, SGLang, OpenRouter) put chain of thought beside the
    // content under one of two names.
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|key| message.get(*key).and_then(Value::as_str))
        .filter(|r| !r.is_empty());
    let content = match (reasoning, refusal, text) {
        (None, None, text) => MessageContent::Text(text.unwrap_or_default().to_owned()),
        (reasoning, refusal, text) => {
            let mut parts = Vec::new();
            if let Some(reasoning) = reasoning {
                parts.push(Content::Reasoning(ContentReasoning::new(reasoning)));
            }
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                parts.push(Content::text(text));
            }
            if let Some(refusal) = refusal {
                let mut part = ContentText::new(refusal);
                part.refusal = Some(true);
                parts.push(Content::Text(part));
            }
            MessageContent::Parts(parts)
        }
    };
    let tool_calls = match message.get("tool_calls").and_then(Value::as_array) {
        Some(calls) if !calls.is_empty() => Some(
            calls
                .iter()
                .map(parse_tool_call)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    let stop_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map_or(StopReason::Unknown, StopReason::from_provider);
    let mut out = ChatCompletionChoice::new(
        ChatMessageAssistant {
            content,
            source: Some(MessageSource::Generate),
            tool_calls,
            model: Some(model.to_owned()),
            ..ChatMessageAssistant::default()
        },
        stop_reason,
    );
    out.logprobs = choice
        .get("logprobs")
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value::<Logprobs>(v.clone()).ok());
    Ok(out)
}

fn parse_tool_call(call: &Value) -> Result<ToolCall, String> {
    let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
    let function = call
        .get("function")
        .ok_or("a tool call has no `function`")?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a tool call has no function `name`")?;
    let raw = function.get("arguments");
    let (arguments, parse_error) = parse_arguments(raw);
    let mut tool_call = ToolCall::new(id, name, arguments);
    tool_call.parse_error = parse_error;
    Ok(tool_call)
}

/// Tool arguments arrive as a JSON string (OpenAI) or, from some servers, as an object. A string
/// that is not a JSON object is kept as a parse error for the agent to report back to the model,
/// in Inspect's words (`parse_tool_call`), since the model reads them.
pub(crate) fn parse_arguments(raw: Option<&Value>) -> (JsonObject, Option<String>) {
    match raw {
        None | Some(Value::Null) => (JsonObject::new(), None),
        Some(Value::Object(map)) => (map.clone(), None),
        Some(Value::String(text)) if text.trim().is_empty() => (JsonObject::new(), None),
        Some(Value::String(text)) => match serde_json::from_str::<JsonValue>(text) {
            Ok(Value::Object(map)) => (map, None),
            Ok(other) => (
                JsonObject::new(),
                Some(format!(
                    "tool arguments must be a JSON object, got: {other}"
                )),
            ),
            Err(err) => (
                JsonObject::new(),
                Some(format!(
                    "Error parsing the following tool call arguments:\n\n{text}\n\nError details: {err}"
                )),
            ),
        },
        Some(other) => (
            JsonObject::new(),
            Some(format!(
                "tool arguments must be a JSON object, got: {other}"
            )),
        ),
    }
}

fn parse_usage(usage: &Value) -> Option<ModelUsage> {
    let number = |value: Option<&Value>| value.and_then(Value::as_u64);
    let prompt = number(usage.get("prompt_tokens"))?;
    let completion = number(usage.get("completion_tokens")).unwrap_or(0);
    let details = usage.get("prompt_tokens_details");
    let cached = details.and_then(|d| number(d.get("cached_tokens")));
    let cache_write = details.and_then(|d| number(d.get("cache_write_tokens")));
    let reasoning = usage
        .get("completion_tokens_details")
        .and_then(|d| number(d.get("reasoning_tokens")));
    // Inspect counts cached prompt tokens separately from full-price input tokens.
    let input = prompt
        .saturating_sub(cached.unwrap_or(0))
        .saturating_sub(cache_write.unwrap_or(0));
    Some(ModelUsage {
        input_tokens: input,
        output_tokens: completion,
        total_tokens: number(usage.get("total_tokens")).unwrap_or(prompt + completion),
        input_tokens_cache_read: cached,
        input_tokens_cache_write: cache_write,
        reasoning_tokens: reasoning,
        total_cost: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use examen_types::{ChatMessageTool, ToolCallError, ToolCallErrorType, ToolFunction};

    fn weather_tool() -> ToolInfo {
        serde_json::from_value(json!({
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }))
        .unwrap()
    }

    #[test]
    fn conversation_with_tools_maps_to_chat_completions() {
        let mut args = JsonObject::new();
        args.insert("city".into(), json!("Paris"));
        let assistant = ChatMessageAssistant {
            tool_calls: Some(vec![ToolCall::new("call_1", "get_weather", args)]),
            ..ChatMessageAssistant::new("")
        };
        let failed = ChatMessageTool {
            content: MessageContent::Text(String::new()),
            tool_call_id: Some("call_2".into()),
            error: Some(ToolCallError::new(
                ToolCallErrorType::Timeout,
                "took too long",
            )),
            ..ChatMessageTool::default()
        };
        let input = vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user("Weather?"),
            ChatMessage::Assistant(assistant),
            ChatMessage::tool("Sunny", "call_1", "get_weather"),
            ChatMessage::Tool(failed),
        ];
        let config = GenerateConfig {
            max_tokens: Some(50),
            temperature: Some(0.0),
            stop_seqs: Some(vec!["END".into()]),
            top_k: Some(5),
            ..GenerateConfig::default()
        };
        let choice = ToolChoice::Function(ToolFunction {
            name: "get_weather".into(),
        });
        let body = request_body(
            Flavor::OpenAi,
            "gpt-4o",
            &input,
            &[weather_tool()],
            &choice,
            &config,
        );
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather?"},
                    {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                    }]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
                    {"role": "tool", "tool_call_id": "call_2", "content": "Error: took too long"},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                        "additionalProperties": false,
                    },
                }}],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "max_completion_tokens": 50,
                "temperature": 0.0,
                "stop": ["END"],
            })
        );
        let compatible = request_body(
            Flavor::Compatible,
            "m",
            &input[..2],
            &[],
            &ToolChoice::Auto,
            &config,
        );
        assert_eq!(compatible["max_tokens"], json!(50));
        assert_eq!(compatible["top_k"], json!(5));
        assert!(compatible.get("tools").is_none());
    }

    #[test]
    fn response_with_tool_calls_reasoning_and_cached_usage() {
        let body = json!({
            "id": "chatcmpl-1",
            "model": "gpt-4o-2024",
            "choices": [{
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": null,
                    "reasoning_content": "think",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
                        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{oops"}},
                    ],
                },
            }],
            "usage": {
                "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 60},
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
        });
        let output = parse_response(&body).unwrap();
        assert_eq!(output.model, "gpt-4o-2024");
        assert_eq!(output.stop_reason(), StopReason::ToolCalls);
        let message = output.message().unwrap();
        let calls = message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].arguments["x"], json!(1));
        // In Inspect's words: the model reads them to correct its call.
        let parse_error = calls[1].parse_error.as_ref().unwrap();
        assert!(
            parse_error.starts_with("Error parsing the following tool call arguments:\n\n{oops")
                && parse_error.contains("\n\nError details: "),
            "{parse_error}"
        );
        assert!(
            matches!(&message.content, MessageContent::Parts(p) if matches!(&p[0], Content::Reasoning(r) if r.reasoning == "think"))
        );
        let usage = output.usage.unwrap();
        assert_eq!(
            (usage.input_tokens, usage.input_tokens_cache_read),
            (40, Some(60))
        );
        assert_eq!(
            (
                usage.output_tokens,
                usage.total_tokens,
                usage.reasoning_tokens
            ),
            (20, 120, Some(5))
        );
        assert_eq!(output.response_id.as_deref(), Some("chatcmpl-1"));

        assert!(parse_response(&json!({"object": "error"}))
            .unwrap_err()
            .contains("choices"));
    }
}
