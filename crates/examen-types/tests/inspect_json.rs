//! examen-types against JSON written by Inspect itself.
//!
//! The fixtures in `tests/fixtures/` were produced by `gen_fixtures.py` with the
//! pinned Inspect (its log recorders' `to_json_safe`, i.e. `exclude_none=True`).
//! Each test parses the fixture, checks the parsed values a caller relies on, and
//! re-serializes: the output must equal Inspect's JSON as a JSON value.

use examen_types::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Round-trips `text` through `T` and compares with the original as JSON values.
fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(text: &str) -> T {
    let parsed: T = serde_json::from_str(text).expect("parse Inspect JSON");
    let again = serde_json::to_value(&parsed).unwrap();
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(again, original, "re-serialized JSON differs from Inspect's");
    parsed
}

#[test]
fn messages_roundtrip() {
    let msgs: Vec<ChatMessage> = roundtrip(&fixture("messages"));
    assert_eq!(msgs.len(), 7);
    assert_eq!(msgs[0].role(), "system");
    assert_eq!(msgs[0].text(), "You are helpful.");
    assert_eq!(msgs[1].id(), Some("usr1"));
    // list content: text() joins only text parts
    assert_eq!(msgs[2].text(), "look");
    match &msgs[2] {
        ChatMessage::User(u) => match &u.content {
            MessageContent::Parts(p) => {
                assert!(matches!(&p[1], Content::Image(i) if i.detail == "auto"));
            }
            other => panic!("expected parts, got {other:?}"),
        },
        other => panic!("expected user, got {other:?}"),
    }
    let ChatMessage::Assistant(a) = &msgs[3] else {
        panic!("expected assistant")
    };
    assert_eq!(a.text(), "Calling tool.");
    assert_eq!(a.model.as_deref(), Some("mockllm/model"));
    let calls = a.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].function, "add");
    assert_eq!(calls[0].arguments["b"], serde_json::json!(1.5));
    assert_eq!(calls[0].kind, ToolCallType::Function);
    let MessageContent::Parts(parts) = &a.content else {
        panic!("expected parts")
    };
    assert!(matches!(&parts[0], Content::Reasoning(r) if r.reasoning == "think hard"));
    let ChatMessage::Tool(t) = &msgs[5] else {
        panic!("expected tool")
    };
    assert_eq!(t.error.as_ref().unwrap().kind, ToolCallErrorType::Timeout);
}

#[test]
fn unknown_content_parts_are_kept() {
    let text = r#"{"role":"user","content":[{"type":"hologram","beam":[1,2],"internal":null},{"type":"text","text":"hi"}]}"#;
    let m: ChatMessage = serde_json::from_str(text).unwrap();
    assert_eq!(m.text(), "hi");
    let again = serde_json::to_value(&m).unwrap();
    assert_eq!(
        again["content"][0],
        serde_json::json!({"type":"hologram","beam":[1,2],"internal":null})
    );
}

#[test]
fn model_output_roundtrip() {
    let out: ModelOutput = roundtrip(&fixture("model_output"));
    assert_eq!(out.completion, "hello world");
    assert_eq!(out.stop_reason(), StopReason::Stop);
    assert_eq!(out.usage.as_ref().unwrap().total_tokens, 12);
    assert_eq!(out.usage.as_ref().unwrap().reasoning_tokens, Some(0));
    assert_eq!(out.time, Some(0.25));
    let lp = out.choices[0].logprobs.as_ref().unwrap();
    assert_eq!(lp.content[0].bytes.as_deref(), Some(&[104, 101][..]));

    let tool: ModelOutput = roundtrip(&fixture("model_output_tool"));
    assert_eq!(tool.stop_reason(), StopReason::ToolCalls);
    assert_eq!(tool.completion, "tool call for tool add");
}

#[test]
fn model_output_constructors_match_inspect() {
    // ModelOutput.for_tool_call("mockllm/model", "add", {"a": 1}, tool_call_id="c1")
    let mut args = JsonObject::new();
    args.insert("a".into(), 1.into());
    let mut out =
        ModelOutput::for_tool_call("mockllm/model", ToolCall::new("c1", "add", args), None);
    out.choices[0].message.id = Some("tc1".into());
    let expected: serde_json::Value = serde_json::from_str(&fixture("model_output_tool")).unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap(), expected);

    let text = ModelOutput::from_text("m", "hello");
    assert_eq!(text.completion, "hello");
    assert_eq!(
        text.message().unwrap().source,
        Some(MessageSource::Generate)
    );
}

#[test]
fn completion_is_filled_from_first_choice() {
    let text = r#"{"model":"m","choices":[{"message":{"role":"assistant","content":"x"},"stop_reason":"length"}]}"#;
    let out: ModelOutput = serde_json::from_str(text).unwrap();
    assert_eq!(out.completion, "x");
    // legacy "length" is read as max_tokens, as Inspect migrates it
    assert_eq!(out.stop_reason(), StopReason::MaxTokens);
    let empty: ModelOutput = serde_json::from_str("{}").unwrap();
    assert_eq!(empty.completion, "");
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"model":"","choices":[],"completion":""}"#
    );
}

#[test]
fn generate_config_roundtrip_and_merge() {
    let cfg: GenerateConfig = roundtrip(&fixture("generate_config"));
    assert_eq!(cfg.max_tokens, Some(100));
    assert_eq!(cfg.temperature, Some(0.5));
    assert_eq!(cfg.reasoning_effort.as_deref(), Some("high"));
    assert_eq!(
        serde_json::to_string(&GenerateConfig::default()).unwrap(),
        "{}"
    );

    let overrides = GenerateConfig {
        temperature: Some(0.0),
        max_connections: Some(10),
        ..Default::default()
    };
    let merged = cfg.merge(&overrides);
    assert_eq!(merged.temperature, Some(0.0));
    assert_eq!(merged.max_connections, Some(10));
    assert_eq!(merged.max_tokens, Some(100));
    assert_eq!(merged.stop_seqs, cfg.stop_seqs);
    // merging an empty config changes nothing
    assert_eq!(cfg.merge(&GenerateConfig::default()), cfg);
    assert!(GenerateConfig::default().is_empty());
    assert!(!cfg.is_empty());
}

#[test]
fn generate_config_debug_redacts_headers() {
    let cfg: GenerateConfig = serde_json::from_str(
        r#"{"extra_headers":{"Authorization":"Bearer sk-secret"},"max_tokens":5}"#,
    )
    .unwrap();
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("sk-secret"), "{dbg}");
    assert!(dbg.contains("Authorization"), "{dbg}");
    assert!(dbg.contains("max_tokens: 5"), "{dbg}");
}

#[test]
fn generate_config_reads_legacy_reasoning_history() {
    let cfg: GenerateConfig = serde_json::from_str(r#"{"reasoning_history":true}"#).unwrap();
    assert_eq!(cfg.reasoning_history.as_deref(), Some("all"));
}

#[test]
fn scores_roundtrip() {
    // The fixture holds Inspect's NaN constant, which serde_json cannot parse;
    // examen-log translates it. Here check the finite ones byte-for-byte and the
    // NaN one through its `null` spelling.
    let text = fixture("scores").replace("NaN", "null");
    let scores: indexmap::IndexMap<String, Score> = serde_json::from_str(&text).unwrap();
    assert_eq!(scores["c"].value, Value::from("C"));
    assert_eq!(scores["c"].answer.as_deref(), Some("2"));
    assert_eq!(scores["c"].as_float(), 1.0);
    assert!(matches!(scores["f"].value, Value::Float(f) if f == 0.75));
    assert!(matches!(scores["i"].value, Value::Int(1)));
    assert!(matches!(scores["b"].value, Value::Bool(true)));
    assert!(matches!(&scores["l"].value, Value::List(l) if l.len() == 4));
    assert!(matches!(&scores["d"].value, Value::Dict(d) if d["z"].is_none()));
    assert!(scores["nan"].value.is_nan());
    assert_eq!(scores["nan"].reason.as_deref(), Some("grader_failed"));
    let again = serde_json::to_value(&scores).unwrap();
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(again, original);
}

#[test]
fn tool_info_roundtrip() {
    let info: ToolInfo = roundtrip(&fixture("tool_info"));
    assert_eq!(info.parameters.required, vec!["a", "b"]);
    assert_eq!(info.parameters.properties["a"]["type"], "integer");
}

#[test]
fn tool_choice_forms() {
    for (json, choice) in [
        (r#""auto""#, ToolChoice::Auto),
        (r#""any""#, ToolChoice::Any),
        (r#""none""#, ToolChoice::None),
        (
            r#"{"name":"add"}"#,
            ToolChoice::Function(ToolFunction { name: "add".into() }),
        ),
    ] {
        let parsed: ToolChoice = serde_json::from_str(json).unwrap();
        assert_eq!(parsed, choice);
        assert_eq!(serde_json::to_string(&choice).unwrap(), json);
    }
    assert!(serde_json::from_str::<ToolChoice>(r#""sometimes""#).is_err());
}

#[test]
fn usage_sum_matches_inspect() {
    let a = ModelUsage {
        input_tokens: 1,
        output_tokens: 2,
        total_tokens: 3,
        input_tokens_cache_read: Some(4),
        ..Default::default()
    };
    let b = ModelUsage {
        input_tokens: 10,
        output_tokens: 20,
        total_tokens: 30,
        reasoning_tokens: Some(5),
        total_cost: Some(0.5),
        ..Default::default()
    };
    let expected: ModelUsage = roundtrip(&fixture("usage_sum"));
    assert_eq!(a.clone() + b.clone(), expected);
    let mut c = a;
    c += &b;
    assert_eq!(c, expected);
    assert_eq!(expected.all_input_tokens(), 15);
}

#[test]
fn message_helpers() {
    let mut m = ChatMessage::user("hi");
    assert_eq!(m.id(), None);
    let id = m.ensure_id().to_owned();
    assert_eq!(id.len(), 22);
    assert_eq!(m.ensure_id(), id, "ensure_id keeps an existing id");
    assert_eq!(
        serde_json::to_value(ChatMessage::system("s").with_id("x")).unwrap(),
        serde_json::json!({"role": "system", "id": "x", "content": "s"})
    );
    let mut parts = MessageContent::Parts(vec![
        Content::text("a"),
        Content::Reasoning(ContentReasoning::new("r")),
        Content::text("b"),
    ]);
    assert_eq!(parts.text(), "a\nb");
    parts.set_text("z");
    assert_eq!(parts.text(), "z");
    assert!(matches!(&parts, MessageContent::Parts(p) if p.len() == 2));
    assert!(serde_json::from_str::<ChatMessage>(r#"{"role":"robot","content":"x"}"#).is_err());
}
