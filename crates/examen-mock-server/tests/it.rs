//! The mock server as its users meet it: examen's own OpenAI-compatible and Anthropic
//! providers, raw keep-alive HTTP/1.1 connections by the thousand, scripted tool-calling
//! conversations in both wire formats and the pairing errors of the real APIs, the stats
//! endpoints, and the binary driven through its stdin and stdout. Async tests run on tokio and
//! on smol.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use examen_mock_server::{read_script, Config, MockServer, ScriptToolCall, ScriptTurn, Stats};
use examen_model::{
    get_model, ChatMessage, Env, GenerateConfig, Model, ModelOptions, Secret, StopReason, ToolInfo,
    ToolParams,
};
use examen_rt::net::TcpStream;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use serde_json::{json, Value};

/// Sends one request on `stream` and reads one response: (status, JSON body).
async fn exchange(stream: &mut TcpStream, method: &str, path: &str, body: &str) -> (u16, Value) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection before answering");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length header");
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection mid-body");
        buffer.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(
        buffer.len(),
        head_end + length,
        "no bytes beyond one response"
    );
    (status, serde_json::from_slice(&buffer[head_end..]).unwrap())
}

async fn connect(server: &MockServer) -> TcpStream {
    TcpStream::connect_addr(server.addr()).await.unwrap()
}

fn chat_body(model: &str, text: &str) -> String {
    json!({"model": model, "messages": [{"role": "user", "content": text}]}).to_string()
}

#[examen_rt::test]
async fn examen_openai_compatible_provider_gets_the_configured_reply() {
    let server = MockServer::start(Config {
        reply: "ANSWER: 42".to_owned(),
        latency: Duration::from_millis(5),
        ..Config::default()
    })
    .await
    .unwrap();
    let model = get_model(
        "openai-api/mock/bench-model",
        ModelOptions {
            base_url: Some(server.base_url()),
            api_key: Some(Secret::new("mock-key")),
            env: Env::from_pairs(Vec::<(String, String)>::new()),
            config: GenerateConfig {
                max_retries: Some(0),
                ..GenerateConfig::default()
            },
            ..ModelOptions::default()
        },
    )
    .unwrap();
    for _ in 0..3 {
        let generation = model
            .generate(
                &[ChatMessage::user("What is 6 times 7?")],
                &[],
                &GenerateConfig::default(),
            )
            .await
            .unwrap();
        assert_eq!(generation.output.completion, "ANSWER: 42");
        let usage = generation.output.usage.expect("usage is reported");
        // "What is 6 times 7?" is 18 bytes: 5 tokens at 4 bytes a token; the reply 10 bytes: 3.
        assert_eq!((usage.input_tokens, usage.output_tokens), (5, 3));
        assert_eq!(generation.output.model, "bench-model");
    }
    let stats = server.stats();
    assert_eq!((stats.requests, stats.completions, stats.errors), (3, 3, 0));
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.max_in_flight, 1, "the requests were sequential");
    assert_eq!(
        stats.connections_total, 1,
        "the client kept its connection alive"
    );
}

#[examen_rt::test]
async fn a_thousand_keep_alive_connections_are_served_and_reused() {
    const CONNECTIONS: usize = 1000;
    let server = MockServer::start(Config {
        latency: Duration::from_millis(2),
        ..Config::default()
    })
    .await
    .unwrap();
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        streams.push(connect(&server).await);
    }
    for round in 0..2 {
        let tasks = streams.drain(..).enumerate().map(|(index, mut stream)| {
            move || async move {
                let (status, body) = exchange(
                    &mut stream,
                    "POST",
                    "/v1/chat/completions",
                    &chat_body("m", &format!("request {index} of round {round}")),
                )
                .await;
                assert_eq!(status, 200);
                assert_eq!(body["choices"][0]["message"]["content"], "ANSWER: 4");
                assert_eq!(body["choices"][0]["finish_reason"], "stop");
                Ok::<_, std::io::Error>(stream)
            }
        });
        streams = examen_rt::collect(tasks).await.unwrap();
    }
    let stats = server.stats();
    assert_eq!(stats.requests, 2 * CONNECTIONS as u64);
    assert_eq!(stats.completions, 2 * CONNECTIONS as u64);
    assert_eq!(
        stats.connections_total, CONNECTIONS as u64,
        "second round reused the connections"
    );
    assert_eq!(stats.connections_open, CONNECTIONS as u64);
    assert_eq!(stats.max_connections_open, CONNECTIONS as u64);
    assert_eq!(stats.in_flight, 0);
}

#[examen_rt::test]
async fn stats_endpoints_report_and_reset_the_counters() {
    let server = MockServer::start(Config::default()).await.unwrap();
    let mut stream = connect(&server).await;
    for _ in 0..2 {
        let (status, _) = exchange(
            &mut stream,
            "POST",
            "/v1/chat/completions",
            &chat_body("m", "hi"),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, stats) = exchange(&mut stream, "GET", "/stats", "").await;
    assert_eq!(status, 200);
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["completions"], 2);
    assert_eq!(stats["connections_open"], 1);

    let (status, before) = exchange(&mut stream, "POST", "/stats/reset", "").await;
    assert_eq!(status, 200);
    assert_eq!(before["requests"], 2);
    let after = server.stats();
    assert_eq!(
        after,
        Stats {
            connections_open: 1,
            max_connections_open: 1,
            ..Stats::default()
        }
    );
}

#[examen_rt::test]
async fn bad_requests_get_openai_style_errors_and_are_counted() {
    let server = MockServer::start(Config::default()).await.unwrap();
    let mut stream = connect(&server).await;

    let (status, body) = exchange(&mut stream, "POST", "/v1/chat/completions", "{not json").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));

    let streaming = json!({"model": "m", "messages": [], "stream": true}).to_string();
    let (status, body) = exchange(&mut stream, "POST", "/v1/chat/completions", &streaming).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("streaming"));

    let (status, body) = exchange(&mut stream, "POST", "/v1/embeddings", "{}").await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/embeddings"));

    let (status, body) = exchange(&mut stream, "GET", "/v1/models", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["id"], "mock");

    let stats = server.stats();
    assert_eq!((stats.requests, stats.completions, stats.errors), (2, 0, 3));
}

#[examen_rt::test]
async fn dropping_the_server_closes_its_connections() {
    let server = MockServer::start(Config::default()).await.unwrap();
    let mut stream = connect(&server).await;
    let (status, _) = exchange(
        &mut stream,
        "POST",
        "/v1/chat/completions",
        &chat_body("m", "hi"),
    )
    .await;
    assert_eq!(status, 200);
    drop(server);
    let mut rest = Vec::new();
    let outcome = stream.read_to_end(&mut rest).await;
    // Closed: either an orderly end of stream or a reset, never more data.
    assert!(
        outcome.is_err() || rest.is_empty(),
        "unexpected bytes: {rest:?}"
    );
}

#[test]
fn the_binary_reports_its_address_and_final_stats_on_both_backends() {
    for backend in ["tokio", "smol"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_examen-mock-server"))
            .args([
                "--latency-ms",
                "1",
                "--reply",
                "hello",
                "--async-backend",
                backend,
                "--exit-on-stdin-eof",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let addr = url.strip_suffix("/v1").unwrap();

        let body = chat_body("m", "hi");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains(r#""content":"hello""#), "{response}");

        drop(child.stdin.take());
        let mut last = String::new();
        stdout.read_line(&mut last).unwrap();
        let stats: Value = serde_json::from_str(last.trim()).unwrap();
        assert_eq!(stats["requests"], 1, "{backend}");
        assert_eq!(stats["completions"], 1, "{backend}");
        assert!(child.wait().unwrap().success(), "{backend}");
    }
}

#[test]
fn the_binary_rejects_bad_arguments_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_examen-mock-server"))
        .args(["--latency-ms", "soon"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--latency-ms"), "{stderr}");
    assert!(stderr.contains("\"soon\""), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Scripts, tool calls and pairing.

fn call(function: &str, arguments: Value, id: Option<&str>) -> ScriptToolCall {
    ScriptToolCall {
        function: function.to_owned(),
        arguments: arguments.as_object().cloned().unwrap_or_default(),
        id: id.map(str::to_owned),
    }
}

/// Two parallel `think` calls (default ids), one `add` call with an id of its own, the answer.
fn agent_script() -> Vec<ScriptTurn> {
    vec![
        ScriptTurn {
            content: None,
            tool_calls: vec![
                call("think", json!({"thought": "first"}), None),
                call("think", json!({"thought": "second"}), None),
            ],
        },
        ScriptTurn {
            content: Some("Adding.".to_owned()),
            tool_calls: vec![call("add", json!({"x": 2, "y": 2}), Some("call_mine"))],
        },
        ScriptTurn::text("ANSWER: 4"),
    ]
}

async fn script_server(script: Vec<ScriptTurn>) -> MockServer {
    MockServer::start(Config {
        script: Some(script),
        ..Config::default()
    })
    .await
    .unwrap()
}

/// A Chat Completions conversation that has played the first `turns` turns of
/// [`agent_script`], answering every call.
fn openai_conversation(turns: usize) -> Vec<Value> {
    let mut messages = vec![json!({"role": "user", "content": "What is 2 + 2?"})];
    let calls: [&[&str]; 2] = [&["call_0_0", "call_0_1"], &["call_mine"]];
    for ids in calls.iter().take(turns) {
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": ids
            .iter()
            .map(|id| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}}))
            .collect::<Vec<_>>()}));
        for id in *ids {
            messages.push(json!({"role": "tool", "tool_call_id": id, "content": "ok"}));
        }
    }
    messages
}

/// The same conversation in Messages form.
fn anthropic_conversation(turns: usize) -> Vec<Value> {
    let mut messages = vec![json!({"role": "user", "content": "What is 2 + 2?"})];
    let calls: [&[&str]; 2] = [&["call_0_0", "call_0_1"], &["call_mine"]];
    for ids in calls.iter().take(turns) {
        let uses: Vec<Value> = ids
            .iter()
            .map(|id| json!({"type": "tool_use", "id": id, "name": "f", "input": {}}))
            .collect();
        let results: Vec<Value> = ids
            .iter()
            .map(|id| json!({"type": "tool_result", "tool_use_id": id, "content": "ok"}))
            .collect();
        messages.push(json!({"role": "assistant", "content": uses}));
        messages.push(json!({"role": "user", "content": results}));
    }
    messages
}

async fn chat(stream: &mut TcpStream, messages: &[Value]) -> (u16, Value) {
    let body = json!({"model": "m", "messages": messages}).to_string();
    exchange(stream, "POST", "/v1/chat/completions", &body).await
}

async fn anthropic(stream: &mut TcpStream, messages: &[Value]) -> (u16, Value) {
    let body = json!({"model": "claude-mock", "max_tokens": 100, "system": "Be brief.", "messages": messages})
        .to_string();
    exchange(stream, "POST", "/v1/messages", &body).await
}

fn openai_error(body: &Value) -> (&str, &Value) {
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert_eq!(body["error"]["code"], Value::Null, "{body}");
    (
        body["error"]["message"].as_str().unwrap(),
        &body["error"]["param"],
    )
}

fn anthropic_error(body: &Value) -> &str {
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    body["error"]["message"].as_str().unwrap()
}

#[examen_rt::test]
async fn chat_completions_play_the_script_turn_by_turn_with_tool_calls() {
    let server = script_server(agent_script()).await;
    let mut stream = connect(&server).await;

    let (status, body) = chat(&mut stream, &openai_conversation(0)).await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let message = &choice["message"];
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"], Value::Null);
    assert_eq!(
        message["tool_calls"],
        json!([
            {"id": "call_0_0", "type": "function",
             "function": {"name": "think", "arguments": "{\"thought\":\"first\"}"}},
            {"id": "call_0_1", "type": "function",
             "function": {"name": "think", "arguments": "{\"thought\":\"second\"}"}},
        ])
    );

    let (status, body) = chat(&mut stream, &openai_conversation(1)).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "Adding.");
    assert_eq!(message["tool_calls"][0]["id"], "call_mine");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"], r#"{"x":2,"y":2}"#,
        "arguments in the script's order"
    );

    let (status, body) = chat(&mut stream, &openai_conversation(2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["choices"][0]["message"]["content"], "ANSWER: 4");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());
    // "ANSWER: 4" is 9 bytes: 3 tokens.
    assert_eq!(body["usage"]["completion_tokens"], 3);

    let stats = server.stats();
    assert_eq!((stats.requests, stats.completions, stats.errors), (3, 3, 0));
}

#[examen_rt::test]
async fn the_messages_endpoint_plays_the_script_in_anthropic_form() {
    let server = script_server(agent_script()).await;
    let mut stream = connect(&server).await;

    let (status, body) = anthropic(&mut stream, &anthropic_conversation(0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-mock");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"), "{body}");
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert_eq!(
        body["content"],
        json!([
            {"type": "tool_use", "id": "call_0_0", "name": "think", "input": {"thought": "first"}},
            {"type": "tool_use", "id": "call_0_1", "name": "think", "input": {"thought": "second"}},
        ]),
        "no text block for a turn without content"
    );
    // "What is 2 + 2?" (14 bytes) and the system prompt "Be brief." (9): 6 tokens.
    assert_eq!(body["usage"]["input_tokens"], 6);
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let (status, body) = anthropic(&mut stream, &anthropic_conversation(1)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["content"],
        json!([
            {"type": "text", "text": "Adding."},
            {"type": "tool_use", "id": "call_mine", "name": "add", "input": {"x": 2, "y": 2}},
        ])
    );

    let (status, body) = anthropic(&mut stream, &anthropic_conversation(2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "ANSWER: 4"}])
    );

    let stats = server.stats();
    assert_eq!((stats.requests, stats.completions, stats.errors), (3, 3, 0));
}

#[examen_rt::test]
async fn a_request_past_the_end_of_the_script_is_refused_in_either_format() {
    let server = script_server(agent_script()).await;
    let mut stream = connect(&server).await;

    let mut messages = openai_conversation(2);
    messages.push(json!({"role": "assistant", "content": "ANSWER: 4"}));
    messages.push(json!({"role": "user", "content": "And again?"}));
    let (status, body) = chat(&mut stream, &messages).await;
    assert_eq!(status, 400);
    let (message, param) = openai_error(&body);
    assert!(
        message.contains("the script has 3 turns and the request had 3 assistant messages"),
        "{message}"
    );
    assert_eq!(param, &Value::Null);

    let mut messages = anthropic_conversation(2);
    messages.push(json!({"role": "assistant", "content": "ANSWER: 4"}));
    messages.push(json!({"role": "user", "content": "And again?"}));
    let (status, body) = anthropic(&mut stream, &messages).await;
    assert_eq!(status, 400);
    let message = anthropic_error(&body);
    assert!(
        message.contains("the script has 3 turns and the request had 3 assistant messages"),
        "{message}"
    );

    let one_turn = script_server(vec![ScriptTurn::text("only")]).await;
    let mut stream = connect(&one_turn).await;
    let (status, body) = chat(
        &mut stream,
        &[
            json!({"role": "user", "content": "hi"}),
            json!({"role": "assistant", "content": "only"}),
            json!({"role": "user", "content": "more"}),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let (message, _) = openai_error(&body);
    assert!(
        message.contains("the script has 1 turn and the request had 1 assistant message "),
        "{message}"
    );

    let stats = server.stats();
    assert_eq!((stats.requests, stats.completions, stats.errors), (2, 0, 2));
}

#[examen_rt::test]
async fn concurrent_conversations_each_play_the_whole_script_with_the_same_ids() {
    const CONVERSATIONS: usize = 50;
    let server = MockServer::start(Config {
        script: Some(agent_script()),
        latency: Duration::from_millis(2),
        ..Config::default()
    })
    .await
    .unwrap();
    let addr = server.addr();
    let tasks = (0..CONVERSATIONS).map(|index| {
        move || async move {
            let mut stream = TcpStream::connect_addr(addr).await?;
            let mut seen = Vec::new();
            for turn in 0..3 {
                let (status, body) = if index % 2 == 0 {
                    chat(&mut stream, &openai_conversation(turn)).await
                } else {
                    anthropic(&mut stream, &anthropic_conversation(turn)).await
                };
                assert_eq!(status, 200, "{body}");
                let ids: Vec<String> = if index % 2 == 0 {
                    body["choices"][0]["message"]["tool_calls"]
                        .as_array()
                        .map_or(Vec::new(), |calls| {
                            calls
                                .iter()
                                .map(|c| c["id"].as_str().unwrap().to_owned())
                                .collect()
                        })
                } else {
                    body["content"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|block| block["id"].as_str().map(str::to_owned))
                        .collect()
                };
                seen.push(ids);
            }
            Ok::<_, std::io::Error>(seen)
        }
    });
    let conversations = examen_rt::collect(tasks).await.unwrap();
    for seen in conversations {
        assert_eq!(
            seen,
            [vec!["call_0_0", "call_0_1"], vec!["call_mine"], vec![]]
        );
    }
    let stats = server.stats();
    assert_eq!(stats.completions, 3 * CONVERSATIONS as u64);
    assert_eq!(stats.errors, 0);
}

#[examen_rt::test]
async fn chat_completions_refuse_broken_pairing_with_openai_errors() {
    let server = MockServer::start(Config::default()).await.unwrap();
    let mut stream = connect(&server).await;

    // The second parallel call is never answered, and a user message comes instead.
    let mut messages = openai_conversation(1);
    messages.remove(3);
    messages.push(json!({"role": "user", "content": "go on"}));
    let (status, body) = chat(&mut stream, &messages).await;
    assert_eq!(status, 400);
    let (message, param) = openai_error(&body);
    assert_eq!(
        message,
        "An assistant message with 'tool_calls' must be followed by tool messages responding \
         to each 'tool_call_id'. The following tool_call_ids did not have response messages: \
         call_0_1"
    );
    assert_eq!(param, "messages.[3].role");

    // Neither call answered and nothing after: both named, the whole list blamed.
    let (status, body) = chat(&mut stream, &openai_conversation(1)[..2]).await;
    assert_eq!(status, 400);
    let (message, param) = openai_error(&body);
    assert!(message.ends_with(": call_0_0, call_0_1"), "{message}");
    assert_eq!(param, "messages");

    // A tool message with no call before it.
    let messages = [
        json!({"role": "user", "content": "hi"}),
        json!({"role": "tool", "tool_call_id": "call_x", "content": "ok"}),
    ];
    let (status, body) = chat(&mut stream, &messages).await;
    assert_eq!(status, 400);
    let (message, param) = openai_error(&body);
    assert_eq!(
        message,
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding \
         message with 'tool_calls'."
    );
    assert_eq!(param, "messages.[1].role");

    // A tool message answering a call the assistant did not make.
    let mut messages = openai_conversation(1);
    messages[3]["tool_call_id"] = json!("call_x");
    let (status, body) = chat(&mut stream, &messages).await;
    assert_eq!(status, 400);
    let (message, _) = openai_error(&body);
    assert_eq!(
        message,
        "Invalid parameter: 'tool_call_id' of 'call_x' not found in 'tool_calls' of previous \
         message."
    );

    let stats = server.stats();
    assert_eq!((stats.requests, stats.completions, stats.errors), (4, 0, 4));
}

#[examen_rt::test]
async fn messages_refuse_broken_pairing_with_anthropic_errors() {
    let server = MockServer::start(Config::default()).await.unwrap();
    let mut stream = connect(&server).await;

    // The second parallel use gets no result.
    let mut messages = anthropic_conversation(1);
    messages[2]["content"].as_array_mut().unwrap().remove(1);
    let (status, body) = anthropic(&mut stream, &messages).await;
    assert_eq!(status, 400);
    assert_eq!(
        anthropic_error(&body),
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: \
         call_0_1. Each `tool_use` block must have a corresponding `tool_result` block in the \
         next message."
    );

    // A result for a use that the message before did not make.
    let mut messages = anthropic_conversation(1);
    messages[2]["content"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}));
    let (status, body) = anthropic(&mut stream, &messages).await;
    assert_eq!(status, 400);
    assert_eq!(
        anthropic_error(&body),
        "messages.2.content.2: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x. \
         Each `tool_result` block must have a corresponding `tool_use` block in the previous \
         message."
    );

    // Streaming and bad JSON get Anthropic's error shape too.
    let streaming = json!({"model": "m", "messages": [], "stream": true}).to_string();
    let (status, body) = exchange(&mut stream, "POST", "/v1/messages", &streaming).await;
    assert_eq!(status, 400);
    assert!(anthropic_error(&body).contains("streaming"));
    let (status, body) = exchange(&mut stream, "POST", "/v1/messages", "{oops").await;
    assert_eq!(status, 400);
    assert!(anthropic_error(&body).contains("a Messages request"));

    let stats = server.stats();
    assert_eq!((stats.requests, stats.completions, stats.errors), (4, 0, 4));
}

fn examen_model(name: &str, server: &MockServer) -> Model {
    get_model(
        name,
        ModelOptions {
            base_url: Some(server.base_url()),
            api_key: Some(Secret::new("mock-key")),
            env: Env::from_pairs(Vec::<(String, String)>::new()),
            config: GenerateConfig {
                max_retries: Some(0),
                ..GenerateConfig::default()
            },
            ..ModelOptions::default()
        },
    )
    .unwrap()
}

#[examen_rt::test]
async fn examen_providers_play_the_script_in_both_formats() {
    let server = script_server(agent_script()).await;
    let tools: Vec<ToolInfo> = ["think", "add"]
        .into_iter()
        .map(|name| ToolInfo {
            name: name.to_owned(),
            description: format!("The {name} tool."),
            parameters: ToolParams::default(),
            options: None,
        })
        .collect();
    for name in ["openai-api/mock/bench-model", "anthropic/claude-mock"] {
        let model = examen_model(name, &server);
        let config = GenerateConfig::default();
        let mut input = vec![ChatMessage::user("What is 2 + 2?")];
        let mut ids = Vec::new();
        for _ in 0..2 {
            let output = model
                .generate(&input, &tools, &config)
                .await
                .unwrap()
                .output;
            assert_eq!(output.stop_reason(), StopReason::ToolCalls, "{name}");
            let assistant = output.message().unwrap().clone();
            let calls = assistant.tool_calls.clone().unwrap();
            input.push(ChatMessage::Assistant(assistant));
            for call in &calls {
                ids.push(call.id.clone());
                input.push(ChatMessage::tool(
                    "ok",
                    call.id.clone(),
                    call.function.clone(),
                ));
            }
        }
        assert_eq!(ids, ["call_0_0", "call_0_1", "call_mine"], "{name}");
        let output = model
            .generate(&input, &tools, &config)
            .await
            .unwrap()
            .output;
        assert_eq!(output.completion, "ANSWER: 4", "{name}");
        assert_eq!(output.stop_reason(), StopReason::Stop, "{name}");

        // Dropping a tool result fails as the real API would.
        input.remove(3);
        let err = model
            .generate(&input[..4], &tools, &config)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("call_0_1"), "{name}: {err}");
    }
    let stats = server.stats();
    assert_eq!((stats.completions, stats.errors), (6, 2));
}

/// A file under the system's temporary directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("examen-mock-server-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn read_script_reads_json_and_jsonl_in_mockllm_format() {
    let json = TempFile::new(
        "ok.json",
        r#"["plain", {"content": "c", "tool_calls": [{"function": "f", "arguments": {"a": 1}, "id": "x"}]},
            {"tool_calls": [{"function": "g"}]}]"#,
    );
    let turns = read_script(&json.0).unwrap();
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[0], ScriptTurn::text("plain"));
    assert_eq!(turns[1].content.as_deref(), Some("c"));
    assert_eq!(turns[1].tool_calls, [call("f", json!({"a": 1}), Some("x"))]);
    assert_eq!(turns[2].tool_calls, [call("g", json!({}), None)]);

    let jsonl = TempFile::new(
        "ok.jsonl",
        "\"first\"\n\n{\"tool_calls\": [{\"function\": \"think\", \"arguments\": {}}]}\n",
    );
    let turns = read_script(&jsonl.0).unwrap();
    assert_eq!(turns.len(), 2, "blank lines are skipped");
    assert_eq!(turns[1].tool_calls[0].function, "think");
}

#[test]
fn read_script_errors_name_the_file_and_the_line_or_turn() {
    let jsonl = TempFile::new(
        "bad.jsonl",
        "\"first\"\n\n{\"tool_calls\": [{\"arguments\": {}}]}\n",
    );
    let shown = jsonl.0.display().to_string();
    assert_eq!(
        read_script(&jsonl.0).unwrap_err(),
        format!("{shown}:3: tool_calls[0] has no `function` name")
    );

    let syntax = TempFile::new("syntax.jsonl", "\"ok\"\n{not json\n");
    let err = read_script(&syntax.0).unwrap_err();
    assert!(
        err.starts_with(&format!("{}:2: ", syntax.0.display())),
        "{err}"
    );

    let json = TempFile::new("bad.json", "[\"fine\", {\"content\": 7}]");
    assert_eq!(
        read_script(&json.0).unwrap_err(),
        format!("{}: turn 2: `content` must be a string", json.0.display())
    );

    let broken = TempFile::new("broken.json", "[\n\"a\",\n{\n");
    let err = read_script(&broken.0).unwrap_err();
    assert!(
        err.starts_with(&format!("{}:4: ", broken.0.display())),
        "{err}"
    );

    let object = TempFile::new("object.json", "{\"content\": \"x\"}");
    assert_eq!(
        read_script(&object.0).unwrap_err(),
        format!("{}: expected a JSON list of turns", object.0.display())
    );

    let missing = std::env::temp_dir().join("examen-mock-server-no-such-script.json");
    let err = read_script(&missing).unwrap_err();
    assert!(
        err.starts_with(&format!("cannot read the script {}", missing.display())),
        "{err}"
    );
}

#[test]
fn the_binary_plays_a_script_file() {
    let script = TempFile::new(
        "binary.jsonl",
        "{\"tool_calls\": [{\"function\": \"think\", \"arguments\": {\"thought\": \"t\"}}]}\n\"done\"\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_examen-mock-server"))
        .arg("--script")
        .arg(&script.0)
        .arg("--exit-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|url| url.strip_suffix("/v1"))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();

    let body = chat_body("m", "hi");
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""id":"call_0_0""#), "{response}");
    assert!(
        response.contains(r#""finish_reason":"tool_calls""#),
        "{response}"
    );

    drop(child.stdin.take());
    let mut last = String::new();
    stdout.read_line(&mut last).unwrap();
    let stats: Value = serde_json::from_str(last.trim()).unwrap();
    assert_eq!(stats["completions"], 1);
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_binary_rejects_a_bad_script_naming_its_line() {
    let script = TempFile::new("binary-bad.jsonl", "\"ok\"\n[1]\n");
    let output = Command::new(env!("CARGO_BIN_EXE_examen-mock-server"))
        .arg("--script")
        .arg(&script.0)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "--script: {}:2: a turn is a string or {{content, tool_calls}}",
        script.0.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_examen-mock-server"))
        .args(["--reply", "x", "--script"])
        .arg(&script.0)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
