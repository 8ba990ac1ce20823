//! `mockllm/model`: the default answer, scripted outputs, output functions and latency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examen_model::{
    get_model, ChatMessage, GenerateConfig, MockLlm, Model, ModelOptions, ModelOutput, StopReason,
    DEFAULT_OUTPUT,
};

#[examen_rt::test]
async fn default_output_without_network() {
    let model = get_model("mockllm/model", ModelOptions::default()).unwrap();
    let generation = model
        .generate(
            &[ChatMessage::user("Hello there")],
            &[],
            &GenerateConfig::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        generation.output.completion,
        "Default output from mockllm/model"
    );
    assert_eq!(DEFAULT_OUTPUT, "Default output from mockllm/model");
    assert_eq!(generation.output.model, "mockllm");
    assert_eq!(generation.output.stop_reason(), StopReason::Stop);
    // Inspect's MockLLM call record: the request's model and messages, the completion.
    let call = generation.call.clone().unwrap();
    assert_eq!(
        call.request,
        serde_json::json!({"model": "model", "messages": [{"role": "user", "content": "Hello there"}]})
    );
    assert_eq!(
        call.response,
        serde_json::json!({"content": "Default output from mockllm/model"})
    );
    assert!(generation.retries.is_empty());
    let usage = generation.output.usage.clone().unwrap();
    assert_eq!(usage.output_tokens, DEFAULT_OUTPUT.len() as u64);
    assert!(usage.input_tokens >= 1);
    assert_eq!(model.usage(), usage);
    assert_eq!(model.connections(), (0, 0));
}

#[examen_rt::test]
async fn scripted_outputs_in_order_then_an_error() {
    let model = Model::from_mock(MockLlm::outputs([
        ModelOutput::from_text("mockllm/model", "first"),
        ModelOutput::from_text("mockllm/model", "second"),
    ]));
    let input = [ChatMessage::user("q")];
    let config = GenerateConfig::default();
    assert_eq!(
        model
            .generate(&input, &[], &config)
            .await
            .unwrap()
            .output
            .completion,
        "first"
    );
    assert_eq!(
        model
            .generate(&input, &[], &config)
            .await
            .unwrap()
            .output
            .completion,
        "second"
    );
    let err = model.generate(&input, &[], &config).await.unwrap_err();
    assert_eq!(err.to_string(), "mockllm: custom_outputs ran out of values");
}

#[examen_rt::test]
async fn output_function_sees_the_input() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let model = Model::from_mock(MockLlm::from_fn(move |input| {
        seen.fetch_add(1, Ordering::SeqCst);
        let last = input.last().map(ChatMessage::text).unwrap_or_default();
        ModelOutput::from_text("mockllm/model", format!("echo: {last}"))
    }));
    let output = model
        .generate(
            &[ChatMessage::user("ping")],
            &[],
            &GenerateConfig::default(),
        )
        .await
        .unwrap()
        .output;
    assert_eq!(output.completion, "echo: ping");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[examen_rt::test]
async fn latency_argument_delays_on_the_runtime_timer() {
    let model = Model::from_mock(MockLlm::new().with_latency(Duration::from_millis(20)));
    // Cancelling a slow mock call by timeout proves the wait is on the runtime's timer.
    let result = examen_rt::timeout(
        Duration::from_millis(1),
        model.generate(&[ChatMessage::user("q")], &[], &GenerateConfig::default()),
    )
    .await;
    assert!(result.is_err());
    let generation = model
        .generate(&[ChatMessage::user("q")], &[], &GenerateConfig::default())
        .await
        .unwrap();
    assert_eq!(generation.output.completion, DEFAULT_OUTPUT);
}

/// The engine spawns generate calls on worker threads: the futures must be `Send`, and models
/// shareable between tasks.
#[test]
fn generate_futures_are_send_and_models_are_shareable() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Model>();
    let model = Model::from_mock(MockLlm::new());
    let input = [ChatMessage::user("q")];
    let config = GenerateConfig::default();
    let future = model.generate(&input, &[], &config);
    assert_send(&future);
    let http = get_model(
        "openai/gpt-4o",
        ModelOptions {
            api_key: Some(examen_model::Secret::new("k")),
            env: examen_model::Env::from_pairs(Vec::<(String, String)>::new()),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    let future = http.generate(&input, &[], &config);
    assert_send(&future);
}

/// A script file in a temporary directory.
fn script_file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[examen_rt::test]
async fn a_script_plays_each_conversation_turn_by_turn() {
    // Issue 14: `-M script=FILE` scripts tool calls; every sample gets the whole script, by
    // the number of assistant turns in its conversation.
    let (_dir, path) = script_file(
        "s.jsonl",
        "{\"content\": \"Thinking.\", \"tool_calls\": [{\"function\": \"think\", \"arguments\": {\"thought\": \"hm\"}}, {\"function\": \"add\", \"arguments\": {\"x\": 1}, \"id\": \"mine\"}]}\n\n\"Done.\"\n",
    );
    let mut args = std::collections::BTreeMap::new();
    args.insert("script".to_owned(), path.display().to_string());
    let model = get_model(
        "mockllm/model",
        ModelOptions {
            args,
            ..ModelOptions::default()
        },
    )
    .unwrap();
    let config = GenerateConfig::default();
    for _sample in 0..2 {
        let first = model
            .generate(&[ChatMessage::user("go")], &[], &config)
            .await
            .unwrap()
            .output;
        assert_eq!(first.stop_reason(), StopReason::ToolCalls);
        let message = first.message().unwrap().clone();
        let calls = message.tool_calls.clone().unwrap();
        let named: Vec<(&str, &str)> = calls
            .iter()
            .map(|c| (c.id.as_str(), c.function.as_str()))
            .collect();
        assert_eq!(named, [("call_1_1", "think"), ("mine", "add")]);
        assert_eq!(first.completion, "Thinking.");
        let conversation = [
            ChatMessage::user("go"),
            ChatMessage::Assistant(message),
            ChatMessage::tool("", "call_1_1", "think"),
        ];
        let second = model
            .generate(&conversation, &[], &config)
            .await
            .unwrap()
            .output;
        assert_eq!(second.completion, "Done.");
    }
    let past_the_end = [
        ChatMessage::user("go"),
        ChatMessage::assistant("a"),
        ChatMessage::assistant("b"),
    ];
    let error = model
        .generate(&past_the_end, &[], &config)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the script has 2 turns; this conversation is at turn 3"),
        "{error}"
    );
}

#[test]
fn a_bad_script_names_the_file_and_line() {
    let (_dir, path) = script_file(
        "s.jsonl",
        "\"ok\"\n{\"tool_calls\": [{\"arguments\": {}}]}\n",
    );
    let error = MockLlm::read_script(&path).unwrap_err();
    assert!(
        error.ends_with("s.jsonl:2: tool_calls[0] has no `function` name"),
        "{error}"
    );
    let (_dir, path) = script_file("s.json", "[\"ok\", {\"contents\": \"x\"}]");
    let error = MockLlm::read_script(&path).unwrap_err();
    assert!(
        error.ends_with("s.json: turn 2: unknown field `contents`; expected content or tool_calls"),
        "{error}"
    );
    let (_dir, path) = script_file("s.jsonl", "{oops\n");
    assert!(MockLlm::read_script(&path)
        .unwrap_err()
        .contains("s.jsonl:1:"));
    let missing = std::path::Path::new("/nonexistent/script.jsonl");
    assert!(MockLlm::read_script(missing)
        .unwrap_err()
        .starts_with("cannot read the mockllm script /nonexistent/script.jsonl"));
}
