//! The exact request each provider sends (path, headers, body) and how its answer is read.

use examen_model::{
    ChatMessage, Env, GenerateConfig, ModelOptions, StopReason, ToolChoice, ToolInfo,
};
use serde_json::json;

use crate::server::{anthropic_ok, openai_ok, Reply, TestServer};
use crate::{model_at, TEST_KEY};

fn input() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("Say hi."),
    ]
}

fn search_tool() -> ToolInfo {
    serde_json::from_value(json!({
        "name": "search",
        "description": "Search the web",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    }))
    .unwrap()
}

#[examen_rt::test]
async fn openai_request_shape() {
    let server = TestServer::start(|_, _| openai_ok("hi")).await;
    let model = examen_model::get_model(
        "openai/gpt-4o-mini",
        ModelOptions {
            env: Env::from_pairs([
                ("OPENAI_API_KEY", TEST_KEY.to_owned()),
                ("OPENAI_BASE_URL", format!("{}/v1/", server.url())),
            ]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    let config = GenerateConfig {
        max_tokens: Some(64),
        temperature: Some(0.25),
        ..GenerateConfig::default()
    };
    let generation = model
        .generate(&input(), &[search_tool()], &config)
        .await
        .unwrap();
    assert_eq!(generation.output.completion, "hi");
    assert_eq!(generation.output.stop_reason(), StopReason::Stop);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TEST_KEY}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("host"),
        Some(server.addr.to_string().as_str())
    );
    assert!(request.header("user-agent").unwrap().starts_with("examen/"));
    assert_eq!(
        request.json(),
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hi."},
            ],
            "tools": [{"type": "function", "function": {
                "name": "search",
                "description": "Search the web",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                               "required": ["q"], "additionalProperties": false},
            }}],
            "tool_choice": "auto",
            "max_completion_tokens": 64,
            "temperature": 0.25,
        })
    );
    // The call record carries the same body (and never the key).
    let call = generation.call.unwrap();
    assert_eq!(call.request, request.json());
    assert_eq!(call.response["id"], json!("chatcmpl-test"));
}

#[examen_rt::test]
async fn openai_compatible_service_request_shape() {
    let server = TestServer::start(|_, _| openai_ok("served")).await;
    let model = examen_model::get_model(
        "openai-api/my-vllm/meta-llama/Llama-3.1-8B",
        ModelOptions {
            env: Env::from_pairs([
                ("MY_VLLM_API_KEY", TEST_KEY.to_owned()),
                ("MY_VLLM_BASE_URL", format!("{}/v1", server.url())),
            ]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    assert_eq!(model.api_name(), "openai-api");
    let config = GenerateConfig {
        max_tokens: Some(10),
        top_k: Some(3),
        ..GenerateConfig::default()
    };
    let generation = model.generate(&input(), &[], &config).await.unwrap();
    assert_eq!(generation.output.completion, "served");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TEST_KEY}").as_str())
    );
    assert_eq!(
        request.json(),
        json!({
            "model": "meta-llama/Llama-3.1-8B",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hi."},
            ],
            "max_tokens": 10,
            "top_k": 3,
        })
    );
}

#[examen_rt::test]
async fn anthropic_request_shape() {
    let server = TestServer::start(|_, _| anthropic_ok("hello")).await;
    let model = examen_model::get_model(
        "anthropic/claude-sonnet-4-5",
        ModelOptions {
            env: Env::from_pairs([
                ("ANTHROPIC_API_KEY", TEST_KEY.to_owned()),
                ("ANTHROPIC_BASE_URL", server.url()),
            ]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    let generation = model
        .generate_with_tool_choice(
            &input(),
            &[search_tool()],
            &ToolChoice::Function(examen_model::ToolFunction {
                name: "search".into(),
            }),
            &GenerateConfig::default(),
        )
        .await
        .unwrap();
    assert_eq!(generation.output.completion, "hello");
    let usage = generation.output.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (11, 2, 13)
    );

    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(TEST_KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hi."}]}],
            "tools": [{"name": "search", "description": "Search the web", "input_schema": {
                "type": "object", "properties": {"q": {"type": "string"}},
                "required": ["q"], "additionalProperties": false,
            }}],
            "tool_choice": {"type": "tool", "name": "search"},
        })
    );
}

#[examen_rt::test]
async fn parallel_tool_calls_come_back_in_both_formats() {
    // Two calls in one answer, as models make them when `parallel_tool_calls` is on: both are
    // kept, in the order the server sent them, with their own ids and arguments.
    let openai = TestServer::start(|_, _| {
        Reply::json(
            200,
            json!({
                "model": "m",
                "choices": [{"finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "Searching twice.",
                    "tool_calls": [
                        {"id": "call_7", "type": "function",
                         "function": {"name": "search", "arguments": "{\"q\":\"rust\"}"}},
                        {"id": "call_8", "type": "function",
                         "function": {"name": "search", "arguments": "{\"q\":\"smol\"}"}},
                    ],
                }}],
            }),
        )
    })
    .await;
    let anthropic = TestServer::start(|_, _| {
        Reply::json(
            200,
            json!({
                "model": "m", "stop_reason": "tool_use",
                "content": [
                    {"type": "text", "text": "Searching twice."},
                    {"type": "tool_use", "id": "toolu_7", "name": "search", "input": {"q": "rust"}},
                    {"type": "tool_use", "id": "toolu_8", "name": "search", "input": {"q": "smol"}},
                ],
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }),
        )
    })
    .await;
    for (name, server, ids) in [
        ("openai/gpt-4o", &openai, ["call_7", "call_8"]),
        ("anthropic/claude-x", &anthropic, ["toolu_7", "toolu_8"]),
    ] {
        let model = model_at(name, &server.url(), GenerateConfig::default());
        let output = model
            .generate(&input(), &[search_tool()], &GenerateConfig::default())
            .await
            .unwrap()
            .output;
        assert_eq!(output.stop_reason(), StopReason::ToolCalls, "{name}");
        assert_eq!(output.completion, "Searching twice.", "{name}");
        let calls = output.message().unwrap().tool_calls.clone().unwrap();
        let got: Vec<(&str, &str, &serde_json::Value)> = calls
            .iter()
            .map(|c| (c.id.as_str(), c.function.as_str(), &c.arguments["q"]))
            .collect();
        assert_eq!(
            got,
            vec![
                (ids[0], "search", &json!("rust")),
                (ids[1], "search", &json!("smol")),
            ],
            "{name}"
        );
        assert!(calls.iter().all(|c| c.parse_error.is_none()), "{name}");
    }
}

/// The conversation after the model called `search` twice in one turn, with `answered` of the
/// two calls answered (results in the calls' order).
fn after_two_calls(ids: [&str; 2], answered: usize) -> Vec<ChatMessage> {
    let mut assistant = examen_model::ChatMessageAssistant::new("Searching twice.");
    assistant.tool_calls = Some(
        ids.iter()
            .zip(["rust", "smol"])
            .map(|(id, q)| {
                let arguments = json!({ "q": q }).as_object().unwrap().clone();
                examen_model::ToolCall::new(*id, "search", arguments)
            })
            .collect(),
    );
    let mut messages = input();
    messages.push(ChatMessage::Assistant(assistant));
    for (id, result) in ids
        .iter()
        .zip(["Rust is a language.", "smol is small."])
        .take(answered)
    {
        messages.push(ChatMessage::tool(result, *id, "search"));
    }
    messages
}

/// What a strict server says about a request whose tool calls and results do not pair up, in
/// the words of the real APIs (the OpenAI and Anthropic errors for this mistake), or `None`
/// when every call made is answered in the next turn(s) and every result answers a call.
fn unpaired_tool_calls(anthropic: bool, request: &serde_json::Value) -> Option<String> {
    let messages = request["messages"].as_array()?;
    for (index, message) in messages.iter().enumerate() {
        let calls: Vec<&str> = if anthropic {
            message["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|b| b["type"] == "tool_use")
                .filter_map(|b| b["id"].as_str())
                .collect()
        } else {
            message["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str())
                .collect()
        };
        if calls.is_empty() {
            continue;
        }
        let answered: Vec<&str> = if anthropic {
            // Anthropic: every result in the single user turn that follows.
            messages
                .get(index + 1)
                .and_then(|m| m["content"].as_array())
                .into_iter()
                .flatten()
                .filter(|b| b["type"] == "tool_result")
                .filter_map(|b| b["tool_use_id"].as_str())
                .collect()
        } else {
            // OpenAI: one `tool` message per call, right after the assistant message.
            messages[index + 1..]
                .iter()
                .take_while(|m| m["role"] == "tool")
                .filter_map(|m| m["tool_call_id"].as_str())
                .collect()
        };
        let missing: Vec<&str> = calls
            .into_iter()
            .filter(|id| !answered.contains(id))
            .collect();
        if !missing.is_empty() {
            return Some(if anthropic {
                format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    index,
                    missing.join(", ")
                )
            } else {
                format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                    missing.join(", ")
                )
            });
        }
    }
    None
}

/// A server for `anthropic` or OpenAI Chat that answers "Found." when the tool calls pair up
/// and otherwise refuses the request with a 400, as the real ones do.
async fn strict_server(anthropic: bool) -> TestServer {
    TestServer::start(move |_, request| match unpaired_tool_calls(anthropic, &request.json()) {
        None if anthropic => anthropic_ok("Found."),
        None => openai_ok("Found."),
        Some(message) if anthropic => Reply::json(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
        ),
        Some(message) => Reply::json(
            400,
            json!({"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": null}}),
        ),
    })
    .await
}

#[examen_rt::test]
async fn a_strict_server_accepts_answered_parallel_calls_and_its_refusal_of_unpaired_ones_is_reported(
) {
    for (name, anthropic, ids) in [
        ("openai/gpt-4o", false, ["call_7", "call_8"]),
        ("anthropic/claude-x", true, ["toolu_7", "toolu_8"]),
    ] {
        let server = strict_server(anthropic).await;
        let model = model_at(name, &server.url(), GenerateConfig::default());

        // Both results, as examen's tool loop sends them: the server accepts the pairing
        // (Anthropic: both `tool_result` blocks merged into one user turn).
        let output = model
            .generate(
                &after_two_calls(ids, 2),
                &[search_tool()],
                &GenerateConfig::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .output;
        assert_eq!(output.completion, "Found.", "{name}");
        let sent = server.requests()[0].json();
        if anthropic {
            let turn = &sent["messages"][2];
            assert_eq!(turn["role"], "user", "{name}");
            let results: Vec<&str> = turn["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b["tool_use_id"].as_str())
                .collect();
            assert_eq!(results, ids, "{name}");
        }

        // One result missing: the server's refusal reaches the caller in its own words, and
        // a 400 is not retried (asking again would be refused again).
        let error = model
            .generate(
                &after_two_calls(ids, 1),
                &[search_tool()],
                &GenerateConfig::default(),
            )
            .await
            .map(|g| g.output.completion)
            .expect_err(name);
        let text = error.to_string();
        assert!(text.contains("400"), "{name}: {text}");
        assert!(
            text.contains(ids[1]) && !text.contains(&format!("{}, ", ids[0])),
            "{name}: {text}"
        );
        assert!(
            text.contains("did not have response messages")
                || text.contains("without `tool_result` blocks immediately after"),
            "{name}: {text}"
        );
        assert_eq!(server.requests().len(), 2, "{name}: the 400 was retried");
    }
}

#[examen_rt::test]
async fn model_base_url_option_beats_the_environment() {
    let server = TestServer::start(|_, _| openai_ok("override")).await;
    let model = examen_model::get_model(
        "openai/gpt-4o",
        ModelOptions {
            base_url: Some(server.url()),
            env: Env::from_pairs([
                ("OPENAI_API_KEY", TEST_KEY),
                ("OPENAI_BASE_URL", "http://127.0.0.1:9/unused"),
            ]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    assert_eq!(model.base_url(), Some(server.url().as_str()));
    let output = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap()
        .output;
    assert_eq!(output.completion, "override");
    // A base URL without a path is given the API version.
    assert_eq!(server.requests()[0].path, "/v1/chat/completions");
}

/// Answers only at the versioned routes, 404 with a bare body elsewhere (as servers do).
async fn versioned_server() -> TestServer {
    TestServer::start(|_, request| match request.path.as_str() {
        "/v1/chat/completions" => openai_ok("routed"),
        "/v1/messages" => anthropic_ok("routed"),
        _ => Reply::Respond(404, vec![], b"Not Found".to_vec()),
    })
    .await
}

#[examen_rt::test]
async fn base_urls_are_accepted_with_or_without_the_version() {
    let server = versioned_server().await;
    for name in ["openai/gpt-4o", "openai-api/vllm/m", "anthropic/claude-x"] {
        for base in [
            server.url(),
            format!("{}/v1", server.url()),
            format!("{}/v1/", server.url()),
        ] {
            let model = model_at(name, &base, GenerateConfig::default());
            let output = model
                .generate(&input(), &[], &GenerateConfig::default())
                .await
                .unwrap_or_else(|err| panic!("{name} at {base}: {err}"))
                .output;
            assert_eq!(output.completion, "routed", "{name} at {base}");
        }
    }
}

#[examen_rt::test]
async fn a_404_names_the_url_requested() {
    let server = versioned_server().await;
    let base = format!("{}/api", server.url());
    let model = model_at("anthropic/claude-x", &base, GenerateConfig::default());
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.to_string(),
        format!(
            "anthropic: request rejected (HTTP 404): Not Found (POST {base}/v1/messages); hint: \
             check the base URL (ANTHROPIC_BASE_URL)"
        )
    );
}

#[examen_rt::test]
async fn options_a_provider_does_not_send_are_warned_about_once() {
    let server = versioned_server().await;
    let config = GenerateConfig {
        top_k: Some(5),
        best_of: Some(2),
        temperature: Some(0.5),
        seed: Some(1),
        ..GenerateConfig::default()
    };
    let openai = model_at("openai/gpt-4o", &server.url(), GenerateConfig::default());
    for _ in 0..3 {
        openai.generate(&input(), &[], &config).await.unwrap();
    }
    assert_eq!(
        openai.take_warnings(),
        [
            "openai: generation option `top_k` is not supported by this provider and is not sent",
            "openai: generation option `best_of` is not supported by this provider and is not sent",
        ]
    );
    assert!(openai.take_warnings().is_empty(), "once per option");
    openai.generate(&input(), &[], &config).await.unwrap();
    assert!(openai.take_warnings().is_empty(), "once per option");
    let body = server.requests()[0].json();
    assert!(body.get("top_k").is_none(), "{body}");

    // Compatible servers take both; Anthropic takes top_k but not the seed or best_of.
    let vllm = model_at(
        "openai-api/vllm/m",
        &server.url(),
        GenerateConfig::default(),
    );
    vllm.generate(&input(), &[], &config).await.unwrap();
    assert!(vllm.take_warnings().is_empty());
    let claude = model_at(
        "anthropic/claude-x",
        &server.url(),
        GenerateConfig::default(),
    );
    claude.generate(&input(), &[], &config).await.unwrap();
    let warnings = claude.take_warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("`seed`") && warnings[1].contains("`best_of`"),
        "{warnings:?}"
    );
    assert!(warnings[0].starts_with("anthropic: "), "{warnings:?}");
}
