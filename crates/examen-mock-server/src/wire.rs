//! The two wire formats the server speaks, OpenAI Chat Completions and Anthropic Messages: the
//! answers, the error bodies, and the checks the real APIs make on tool-call pairing.
//!
//! The checks borrow from the parsed request and allocate only to describe a failure.

use serde_json::{json, Map, Value};

use crate::script::{default_call_id, ScriptTurn};

/// Which API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `POST …/chat/completions`.
    OpenAi,
    /// `POST …/messages`.
    Anthropic,
}

impl Wire {
    /// What the request should have been, for "not JSON" messages.
    pub(crate) fn request_name(self) -> &'static str {
        match self {
            Wire::OpenAi => "a Chat Completions request",
            Wire::Anthropic => "a Messages request",
        }
    }

    /// The error body this API sends with a 4xx.
    pub(crate) fn error_body(self, message: &str, param: Option<&str>) -> Value {
        match self {
            Wire::OpenAi => json!({"error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": null,
            }}),
            Wire::Anthropic => json!({
                "type": "error",
                "error": {"type": "invalid_request_error", "message": message},
            }),
        }
    }
}

/// A request the real API would refuse: its error message and (OpenAI) the parameter named.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) message: String,
    pub(crate) param: Option<String>,
}

/// A turn ready to send: ids given, arguments encoded once, output tokens counted once.
#[derive(Debug)]
pub(crate) struct Turn {
    content: Option<String>,
    calls: Vec<Call>,
    pub(crate) output_tokens: u64,
}

#[derive(Debug)]
struct Call {
    id: String,
    name: String,
    input: Value,
    /// `input` as the JSON-encoded string Chat Completions sends.
    arguments: String,
}

impl Turn {
    /// Turn `index` of a script.
    pub(crate) fn new(index: usize, turn: &ScriptTurn) -> Turn {
        let calls: Vec<Call> = turn
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let input = Value::Object(call.arguments.clone());
                Call {
                    id: call.id.clone().unwrap_or_else(|| default_call_id(index, i)),
                    name: call.function.clone(),
                    arguments: input.to_string(),
                    input,
                }
            })
            .collect();
        let bytes = turn.content.as_deref().map_or(0, str::len)
            + calls
                .iter()
                .map(|call| call.name.len() + call.arguments.len())
                .sum::<usize>();
        Turn {
            content: turn.content.clone(),
            calls,
            output_tokens: tokens(bytes),
        }
    }

    /// The `chat.completion` for this turn.
    pub(crate) fn openai(&self, id: u64, created: u64, model: &str, prompt_tokens: u64) -> Value {
        let mut message = Map::new();
        message.insert("role".into(), json!("assistant"));
        let content = match &self.content {
            Some(text) => json!(text),
            None if self.calls.is_empty() => json!(""),
            None => Value::Null,
        };
        message.insert("content".into(), content);
        if !self.calls.is_empty() {
            let calls = self
                .calls
                .iter()
                .map(|call| {
                    json!({
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    })
                })
                .collect();
            message.insert("tool_calls".into(), Value::Array(calls));
        }
        let finish_reason = if self.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        json!({
            "id": format!("chatcmpl-mock-{id}"),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": self.output_tokens,
                "total_tokens": prompt_tokens + self.output_tokens,
            },
        })
    }

    /// The Messages API `message` for this turn.
    pub(crate) fn anthropic(&self, id: u64, model: &str, input_tokens: u64) -> Value {
        let mut content = Vec::with_capacity(self.calls.len() + 1);
        // The real API sends no empty text blocks (and refuses them in requests); an answer
        // without calls keeps its text block, empty or not, so that it has some content.
        match &self.content {
            Some(text) if !text.is_empty() || self.calls.is_empty() => {
                content.push(json!({"type": "text", "text": text}));
            }
            None if self.calls.is_empty() => content.push(json!({"type": "text", "text": ""})),
            _ => {}
        }
        for call in &self.calls {
            content.push(json!({
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": call.input,
            }));
        }
        let stop_reason = if self.calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        };
        json!({
            "id": format!("msg_mock_{id}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": self.output_tokens},
        })
    }
}

/// The usual rule of thumb for English text: four bytes a token, at least one.
pub(crate) fn tokens(bytes: usize) -> u64 {
    u64::try_from(bytes.div_ceil(4).max(1)).unwrap_or(u64::MAX)
}

/// Bytes of text in a message's `content` (or Anthropic's `system`): a string, or the `text`
/// of its parts, looking into parts that hold content of their own (`tool_result` blocks).
pub(crate) fn text_len(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(text)) => text.len(),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|part| match part.get("text") {
                Some(Value::String(text)) => text.len(),
                _ => text_len(part.get("content")),
            })
            .sum(),
        _ => 0,
    }
}

fn role(message: &Value) -> Option<&str> {
    message.get("role").and_then(Value::as_str)
}

/// The number of assistant messages: the turn a request asks for.
pub(crate) fn assistant_messages(messages: &[Value]) -> usize {
    messages
        .iter()
        .filter(|message| role(message) == Some("assistant"))
        .count()
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn id_of<'a>(value: &'a Value, key: &str) -> &'a str {
    str_field(value, key).unwrap_or_default()
}

fn tool_call_id(message: &Value) -> &str {
    id_of(message, "tool_call_id")
}

fn call_id(call: &Value) -> &str {
    id_of(call, "id")
}

/// A message's content blocks of one `type`, with their index.
fn blocks_of<'a>(
    message: &'a Value,
    kind: &'static str,
) -> impl Iterator<Item = (usize, &'a Value)> + 'a {
    list(message, "content")
        .iter()
        .enumerate()
        .filter(move |(_, block)| str_field(block, "type") == Some(kind))
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Chat Completions' pairing rules: an assistant message with `tool_calls` is followed at once
/// by `tool` messages answering each call, and a `tool` message answers a call of the
/// assistant message before its run of tool messages. The texts are OpenAI's, typo included.
pub(crate) fn check_openai(messages: &[Value]) -> Result<(), Invalid> {
    // The request schema comes first: a tool message must name the call it answers.
    for (index, message) in messages.iter().enumerate() {
        if role(message) == Some("tool") && str_field(message, "tool_call_id").is_none() {
            return Err(Invalid {
                message: "Missing parameter 'tool_call_id': messages with role 'tool' must \
                          have a 'tool_call_id'."
                    .to_owned(),
                param: Some(format!("messages.[{index}].tool_call_id")),
            });
        }
    }
    let mut index = 0;
    while index < messages.len() {
        let message = &messages[index];
        match role(message) {
            Some("assistant") if !list(message, "tool_calls").is_empty() => {
                let calls = list(message, "tool_calls");
                let mut next = index + 1;
                while messages.get(next).and_then(role) == Some("tool") {
                    let id = tool_call_id(&messages[next]);
                    if !calls.iter().any(|call| call_id(call) == id) {
                        return Err(Invalid {
                            message: format!(
                                "Invalid parameter: 'tool_call_id' of '{id}' not found in \
                                 'tool_calls' of previous message."
                            ),
                            param: None,
                        });
                    }
                    next += 1;
                }
                let answers = &messages[index + 1..next];
                let missing: Vec<&str> = calls
                    .iter()
                    .map(call_id)
                    .filter(|id| !answers.iter().any(|tool| tool_call_id(tool) == *id))
                    .collect();
                if !missing.is_empty() {
                    return Err(Invalid {
                        message: format!(
                            "An assistant message with 'tool_calls' must be followed by tool \
                             messages responding to each 'tool_call_id'. The following \
                             tool_call_ids did not have response messages: {}",
                            missing.join(", ")
                        ),
                        // The message that came instead of an answer; none when the list ended.
                        param: Some(if next < messages.len() {
                            format!("messages.[{next}].role")
                        } else {
                            "messages".to_owned()
                        }),
                    });
                }
                index = next;
            }
            Some("tool") => {
                return Err(Invalid {
                    message: "Invalid parameter: messages with role 'tool' must be a response \
                              to a preceeding message with 'tool_calls'."
                        .to_owned(),
                    param: Some(format!("messages.[{index}].role")),
                })
            }
            _ => index += 1,
        }
    }
    Ok(())
}

/// Messages' pairing rules: every `tool_use` block of an assistant message is answered by a
/// `tool_result` block in the next message, a user message, and every `tool_result` block
/// answers a `tool_use` block of the message before. The texts are Anthropic's.
pub(crate) fn check_anthropic(messages: &[Value]) -> Result<(), Invalid> {
    for (index, message) in messages.iter().enumerate() {
        match role(message) {
            Some("user") => {
                let previous = index
                    .checked_sub(1)
                    .map(|previous| &messages[previous])
                    .filter(|previous| role(previous) == Some("assistant"));
                for (block_index, block) in blocks_of(message, "tool_result") {
                    let id = id_of(block, "tool_use_id");
                    let used = previous.is_some_and(|previous| {
                        blocks_of(previous, "tool_use").any(|(_, usage)| id_of(usage, "id") == id)
                    });
                    if !used {
                        return Err(Invalid {
                            message: format!(
                                "messages.{index}.content.{block_index}: unexpected \
                                 `tool_use_id` found in `tool_result` blocks: {id}. Each \
                                 `tool_result` block must have a corresponding `tool_use` \
                                 block in the previous message."
                            ),
                            param: None,
                        });
                    }
                }
            }
            Some("assistant") => {
                let next = messages
                    .get(index + 1)
                    .filter(|next| role(next) == Some("user"));
                let missing: Vec<&str> = blocks_of(message, "tool_use")
                    .map(|(_, usage)| id_of(usage, "id"))
                    .filter(|id| {
                        !next.is_some_and(|next| {
                            blocks_of(next, "tool_result")
                                .any(|(_, result)| id_of(result, "tool_use_id") == *id)
                        })
                    })
                    .collect();
                if !missing.is_empty() {
                    return Err(Invalid {
                        message: format!(
                            "messages.{index}: `tool_use` ids were found without `tool_result` \
                             blocks immediately after: {}. Each `tool_use` block must have a \
                             corresponding `tool_result` block in the next message.",
                            missing.join(", ")
                        ),
                        param: None,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptToolCall;

    fn messages(value: Value) -> Vec<Value> {
        match value {
            Value::Array(messages) => messages,
            _ => unreachable!("a list of messages"),
        }
    }

    #[test]
    fn tokens_round_up_and_never_reach_zero() {
        assert_eq!(tokens(0), 1);
        assert_eq!(tokens(4), 1);
        assert_eq!(tokens(5), 2);
    }

    #[test]
    fn text_length_counts_text_parts_and_tool_results() {
        let content = json!([
            {"type": "text", "text": "abc"},
            {"type": "image_url", "image_url": {"url": "data:..."}},
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "de"}]},
            {"type": "tool_result", "tool_use_id": "u", "content": "fgh"},
        ]);
        assert_eq!(text_len(Some(&content)), 8);
        assert_eq!(text_len(Some(&json!("hello"))), 5);
        assert_eq!(text_len(None), 0);
    }

    #[test]
    fn turns_get_default_ids_and_encoded_arguments() {
        let turn = Turn::new(
            3,
            &ScriptTurn {
                content: None,
                tool_calls: vec![
                    ScriptToolCall {
                        function: "f".into(),
                        arguments: json!({"b": 1, "a": 2}).as_object().unwrap().clone(),
                        id: None,
                    },
                    ScriptToolCall {
                        function: "g".into(),
                        id: Some("mine".into()),
                        ..ScriptToolCall::default()
                    },
                ],
            },
        );
        let ids: Vec<&str> = turn.calls.iter().map(|call| call.id.as_str()).collect();
        assert_eq!(ids, ["call_3_0", "mine"]);
        assert_eq!(turn.calls[0].arguments, r#"{"b":1,"a":2}"#);
        assert_eq!(turn.calls[1].arguments, "{}");
        // "f" + 13 bytes of arguments + "g" + "{}": 17 bytes.
        assert_eq!(turn.output_tokens, 5);
    }

    #[test]
    fn openai_accepts_answered_calls_and_plain_conversations() {
        let ok = messages(json!([
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "a"}, {"id": "b"}]},
            {"role": "tool", "tool_call_id": "b", "content": "2"},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "assistant", "content": "done"},
            {"role": "user", "content": "again"},
        ]));
        assert_eq!(check_openai(&ok), Ok(()));
        assert_eq!(check_openai(&[]), Ok(()));
    }

    #[test]
    fn openai_names_the_unanswered_calls_and_where_an_answer_was_due() {
        let interrupted = messages(json!([
            {"role": "user", "content": "u"},
            {"role": "assistant", "tool_calls": [{"id": "a"}, {"id": "b"}, {"id": "c"}]},
            {"role": "tool", "tool_call_id": "b", "content": "2"},
            {"role": "user", "content": "where are a and c?"},
        ]));
        let invalid = check_openai(&interrupted).unwrap_err();
        assert!(
            invalid
                .message
                .ends_with("did not have response messages: a, c"),
            "{}",
            invalid.message
        );
        assert_eq!(invalid.param.as_deref(), Some("messages.[3].role"));
        let ended = &interrupted[..2];
        assert_eq!(
            check_openai(ended).unwrap_err().param.as_deref(),
            Some("messages")
        );
    }

    #[test]
    fn openai_refuses_stray_and_unknown_tool_messages() {
        let stray = messages(json!([
            {"role": "user", "content": "u"},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
        ]));
        let invalid = check_openai(&stray).unwrap_err();
        assert!(
            invalid.message.contains("preceeding"),
            "{}",
            invalid.message
        );
        assert_eq!(invalid.param.as_deref(), Some("messages.[1].role"));

        let unknown = messages(json!([
            {"role": "assistant", "tool_calls": [{"id": "a"}]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "tool", "tool_call_id": "z", "content": "?"},
        ]));
        assert_eq!(
            check_openai(&unknown).unwrap_err().message,
            "Invalid parameter: 'tool_call_id' of 'z' not found in 'tool_calls' of previous message."
        );

        let anonymous = messages(json!([{"role": "tool", "content": "1"}]));
        assert_eq!(
            check_openai(&anonymous).unwrap_err().param.as_deref(),
            Some("messages.[0].tool_call_id")
        );
    }

    #[test]
    fn anthropic_accepts_answered_uses() {
        let ok = messages(json!([
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "let me see"},
                {"type": "tool_use", "id": "a", "name": "f", "input": {}},
                {"type": "tool_use", "id": "b", "name": "f", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "b", "content": "2"},
                {"type": "tool_result", "tool_use_id": "a", "content": "1"},
                {"type": "text", "text": "and then?"},
            ]},
            {"role": "assistant", "content": "done"},
        ]));
        assert_eq!(check_anthropic(&ok), Ok(()));
    }

    #[test]
    fn anthropic_names_unanswered_uses_and_unexpected_results() {
        let unanswered = messages(json!([
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "a", "name": "f", "input": {}},
                {"type": "tool_use", "id": "b", "name": "f", "input": {}},
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a"}]},
        ]));
        assert_eq!(
            check_anthropic(&unanswered).unwrap_err().message,
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately \
             after: b. Each `tool_use` block must have a corresponding `tool_result` block in \
             the next message."
        );
        let last = &unanswered[..2];
        assert!(check_anthropic(last)
            .unwrap_err()
            .message
            .starts_with("messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: a, b."));

        let unexpected = messages(json!([
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "no tools"},
            {"role": "user", "content": [
                {"type": "text", "text": "x"},
                {"type": "tool_result", "tool_use_id": "t"},
            ]},
        ]));
        assert_eq!(
            check_anthropic(&unexpected).unwrap_err().message,
            "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: t. \
             Each `tool_result` block must have a corresponding `tool_use` block in the \
             previous message."
        );
    }
}
