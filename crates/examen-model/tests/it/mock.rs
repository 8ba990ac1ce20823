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
