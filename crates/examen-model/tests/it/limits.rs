//! `max_connections`: a fair limit shared by every model using the same provider, base URL and
//! key, never exceeded, with the wait for it reported apart from working time. Usage totals.

use std::time::Duration;

use examen_model::{ChatMessage, GenerateConfig, ModelUsage};

use crate::model_at;
use crate::server::{openai_ok, TestServer};

#[examen_rt::test]
async fn peak_in_flight_equals_max_connections_under_load() {
    const LIMIT: usize = 4;
    let server = TestServer::start_holding(LIMIT, |_, _| openai_ok("ok")).await;
    let config = GenerateConfig {
        max_connections: Some(LIMIT as u32),
        ..GenerateConfig::default()
    };
    let model = model_at("openai/gpt-4o", &server.url(), config);
    assert_eq!(model.connections(), (0, LIMIT));
    let generations = examen_rt::collect((0..40).map(|i| {
        let model = model.clone();
        move || async move {
            let input = [ChatMessage::user(format!("request {i}"))];
            model
                .generate(&input, &[], &GenerateConfig::default())
                .await
        }
    }))
    .await
    .unwrap();
    assert_eq!(generations.len(), 40);
    assert_eq!(server.requests().len(), 40);
    assert_eq!(server.peak_in_flight(), LIMIT);
    assert_eq!(model.connections(), (0, LIMIT));
    // With 40 callers and 4 slots, callers queued: that wait is reported, not counted as work.
    assert!(generations.iter().any(|g| g.limiter_wait > Duration::ZERO));
    for generation in &generations {
        assert!(generation.retries.is_empty());
    }
}

#[examen_rt::test]
async fn the_limit_is_shared_by_models_with_the_same_provider_url_and_key() {
    let server = TestServer::start_holding(2, |_, _| openai_ok("ok")).await;
    let first = model_at("openai/gpt-4o", &server.url(), GenerateConfig::default());
    let second = model_at(
        "openai/gpt-4o-mini",
        &server.url(),
        GenerateConfig {
            max_connections: Some(2),
            ..GenerateConfig::default()
        },
    );
    // Building the second model resized the limiter both share.
    assert_eq!(first.connections(), (0, 2));
    let models = [first, second];
    examen_rt::collect((0..20).map(|i| {
        let model = models[i % 2].clone();
        move || async move {
            model
                .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
                .await
        }
    }))
    .await
    .unwrap();
    assert_eq!(server.peak_in_flight(), 2);
    // A model with a different key gets its own limiter.
    let other = examen_model::get_model(
        "openai/gpt-4o",
        examen_model::ModelOptions {
            base_url: Some(server.url()),
            api_key: Some(examen_model::Secret::new("another-key")),
            env: examen_model::Env::from_pairs(Vec::<(String, String)>::new()),
            ..examen_model::ModelOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        other.connections(),
        (0, examen_model::DEFAULT_MAX_CONNECTIONS)
    );
}

#[examen_rt::test]
async fn usage_is_totalled_per_model_and_reported_per_call() {
    let server = TestServer::start(|_, _| openai_ok("ok")).await;
    let model = model_at("openai/gpt-4o", &server.url(), GenerateConfig::default());
    let clone = model.clone();
    let mut per_call = ModelUsage::default();
    for handle in [&model, &clone, &model] {
        let generation = handle
            .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
            .await
            .unwrap();
        per_call += generation.output.usage.unwrap();
    }
    assert_eq!(per_call, ModelUsage::new(21, 9));
    assert_eq!(model.usage(), per_call);
    assert_eq!(clone.usage(), per_call);
}
