//! Every retry path, and the failures that must not be retried.

use std::time::Duration;

use examen_model::{ChatMessage, GenerateConfig};
use serde_json::json;

use crate::server::{openai_ok, Reply, TestServer};
use crate::{model_at, model_with_backoff};

fn input() -> Vec<ChatMessage> {
    vec![ChatMessage::user("hello")]
}

/// Fails the first `failures` requests with `failure()`, then answers.
async fn flaky(failures: usize, failure: fn() -> Reply) -> TestServer {
    TestServer::start(move |index, _| {
        if index < failures {
            failure()
        } else {
            openai_ok("recovered")
        }
    })
    .await
}

async fn generate_once(server: &TestServer, config: GenerateConfig) -> examen_model::Generation {
    let model = model_at("openai/gpt-4o", &server.url(), config);
    let generation = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap();
    assert_eq!(generation.output.completion, "recovered");
    assert_eq!(model.retries(), generation.retries.len() as u64);
    generation
}

#[examen_rt::test]
async fn server_error_then_success() {
    let server = flaky(1, || {
        Reply::json(500, json!({"error": {"message": "boom"}}))
    })
    .await;
    let generation = generate_once(&server, GenerateConfig::default()).await;
    assert_eq!(generation.retries.len(), 1);
    assert_eq!(generation.retries[0].attempt, 1);
    assert_eq!(
        generation.retries[0].reason,
        "HTTP 500 Internal Server Error"
    );
    assert_eq!(server.requests().len(), 2);
}

#[examen_rt::test]
async fn every_retryable_status_is_retried() {
    let statuses = [408u16, 409, 429, 502, 503, 504, 529];
    let server = TestServer::start(move |index, _| match statuses.get(index) {
        Some(&status) => Reply::Respond(status, vec![], b"busy".to_vec()),
        None => openai_ok("recovered"),
    })
    .await;
    let generation = generate_once(&server, GenerateConfig::default()).await;
    let reasons: Vec<_> = generation
        .retries
        .iter()
        .map(|r| r.reason.split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["408", "409", "429", "502", "503", "504", "529"]);
}

#[examen_rt::test]
async fn rate_limit_honours_retry_after_seconds() {
    let server = flaky(1, || {
        Reply::Respond(429, vec![("retry-after", "1".to_owned())], b"{}".to_vec())
    })
    .await;
    let generation = generate_once(&server, GenerateConfig::default()).await;
    assert_eq!(generation.retries.len(), 1);
    assert_eq!(generation.retries[0].reason, "HTTP 429 Too Many Requests");
    // The backoff alone would wait at most 5 ms; the server asked for a second.
    assert!(
        generation.retries[0].wait >= Duration::from_secs(1),
        "{:?}",
        generation.retries
    );
}

#[examen_rt::test]
async fn dropped_connection_then_success() {
    let server = flaky(1, || Reply::Drop).await;
    let generation = generate_once(&server, GenerateConfig::default()).await;
    assert_eq!(generation.retries.len(), 1);
    assert_eq!(
        generation.retries[0].reason,
        "connection dropped before the response completed"
    );
}

#[examen_rt::test]
async fn hang_past_attempt_timeout_then_success() {
    let server = flaky(1, || Reply::Hang).await;
    let config = GenerateConfig {
        attempt_timeout: Some(0.25),
        ..GenerateConfig::default()
    };
    let generation = generate_once(&server, config).await;
    assert_eq!(generation.retries.len(), 1);
    assert_eq!(
        generation.retries[0].reason,
        "attempt timed out after 250ms"
    );
}

#[examen_rt::test]
async fn garbage_json_then_success() {
    let server = flaky(1, || {
        Reply::Respond(
            200,
            vec![("content-type", "application/json".into())],
            b"{\"choi".to_vec(),
        )
    })
    .await;
    let generation = generate_once(&server, GenerateConfig::default()).await;
    assert_eq!(generation.retries.len(), 1);
    assert_eq!(
        generation.retries[0].reason,
        "HTTP 200 with a body that is not valid JSON"
    );
}

#[examen_rt::test]
async fn connection_refused_is_retried_until_max_retries() {
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let model = model_at(
        "openai/gpt-4o",
        &url,
        GenerateConfig {
            max_retries: Some(2),
            ..GenerateConfig::default()
        },
    );
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        err.to_string(),
        "openai: gave up after 3 attempts (max_retries 2 reached); last error: connection refused"
    );
    let reasons: Vec<_> = err.retries().iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons, ["connection refused", "connection refused"]);
    assert_eq!(model.retries(), 2);
}

#[examen_rt::test]
async fn max_retries_stops_a_failing_server() {
    let server = TestServer::start(|_, _| Reply::Respond(503, vec![], Vec::new())).await;
    let model = model_at(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            max_retries: Some(3),
            ..GenerateConfig::default()
        },
    );
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(
        server.requests().len(),
        4,
        "max_retries 3 allows four attempts"
    );
    assert_eq!(err.retries().len(), 3);
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains("max_retries 3 reached"), "{err}");
    // A per-call config can lower it further.
    let err = model
        .generate(
            &input(),
            &[],
            &GenerateConfig {
                max_retries: Some(0),
                ..GenerateConfig::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.retries().is_empty());
    assert_eq!(server.requests().len(), 5);
}

#[examen_rt::test]
async fn total_timeout_stops_retrying() {
    let server = TestServer::start(|_, _| Reply::Hang).await;
    let model = model_at(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            timeout: Some(1.0),
            ..GenerateConfig::default()
        },
    );
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert!(err.is_timeout() && err.is_retryable(), "{err}");
    assert!(err.to_string().contains("timeout 1s reached"), "{err}");
}

#[examen_rt::test]
async fn bad_request_is_not_retried() {
    let server = TestServer::start(|_, _| {
        Reply::json(
            400,
            json!({"error": {"message": "Unsupported parameter: 'temperature'", "type": "invalid_request_error"}}),
        )
    })
    .await;
    let model = model_at("openai/o3", &server.url(), GenerateConfig::default());
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        err.to_string(),
        "openai: request rejected (HTTP 400): Unsupported parameter: 'temperature'"
    );
    assert_eq!(model.retries(), 0);
}

#[examen_rt::test]
async fn other_client_errors_are_not_retried() {
    for status in [413u16, 422] {
        let server =
            TestServer::start(move |_, _| Reply::Respond(status, vec![], b"nope\nmore".to_vec()))
                .await;
        let model = model_at(
            "anthropic/claude-x",
            &server.url(),
            GenerateConfig::default(),
        );
        let err = model
            .generate(&input(), &[], &GenerateConfig::default())
            .await
            .unwrap_err();
        assert_eq!(server.requests().len(), 1, "{status}");
        assert_eq!(
            err.to_string(),
            format!("anthropic: request rejected (HTTP {status}): nope more")
        );
    }
}

#[examen_rt::test]
async fn a_server_that_never_answers_is_given_up_on() {
    // It accepts the connection, reads the request and never replies.
    let server = TestServer::start(|_, _| Reply::Hang).await;
    let model = model_at(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            attempt_timeout: Some(0.2),
            max_retries: Some(1),
            ..GenerateConfig::default()
        },
    );
    let input = input();
    let no_config = GenerateConfig::default();
    let call = model.generate(&input, &[], &no_config);
    let err = examen_rt::timeout(Duration::from_secs(30), call)
        .await
        .expect("the call must end by itself")
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(
        err.to_string(),
        "openai: gave up after 2 attempts (max_retries 1 reached); last error: attempt timed out after 200ms"
    );
    assert_eq!(server.requests().len(), 2);
}

#[examen_rt::test]
async fn zero_timeouts_are_refused_before_anything_is_sent() {
    let server = TestServer::start(|_, _| Reply::Hang).await;
    for (key, config) in [
        (
            "attempt_timeout",
            GenerateConfig {
                attempt_timeout: Some(0.0),
                ..GenerateConfig::default()
            },
        ),
        (
            "timeout",
            GenerateConfig {
                timeout: Some(0.0),
                ..GenerateConfig::default()
            },
        ),
    ] {
        let model = model_at("openai/gpt-4o", &server.url(), config);
        let input = input();
        let no_config = GenerateConfig::default();
        let call = model.generate(&input, &[], &no_config);
        let err = examen_rt::timeout(Duration::from_secs(30), call)
            .await
            .expect("a zero timeout must not retry forever")
            .unwrap_err();
        assert!(err.is_configuration(), "{err}");
        assert!(
            err.to_string().contains(&format!(
                "`{key}` must be a number of seconds greater than 0"
            )),
            "{err}"
        );
    }
    assert!(server.requests().is_empty());
}

#[examen_rt::test]
async fn the_whole_timeout_is_used_by_a_last_attempt() {
    // The first attempt fails at once; every later one hangs. The backoff (a million seconds)
    // always crosses the 1 s deadline, so giving up at that point would make one attempt only.
    let server = TestServer::start(|index, _| {
        if index == 0 {
            Reply::Respond(503, vec![], Vec::new())
        } else {
            Reply::Hang
        }
    })
    .await;
    let huge = Duration::from_secs(1_000_000);
    let model = model_with_backoff(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            timeout: Some(1.0),
            ..GenerateConfig::default()
        },
        examen_model::Backoff {
            initial: huge,
            max: huge,
        },
    );
    let started = std::time::Instant::now();
    let input = input();
    let no_config = GenerateConfig::default();
    let call = model.generate(&input, &[], &no_config);
    let err = examen_rt::timeout(Duration::from_secs(30), call)
        .await
        .expect("the timeout bounds the call")
        .unwrap_err();
    assert_eq!(server.requests().len(), 2, "a last attempt was made: {err}");
    assert_eq!(err.retries().len(), 1);
    assert!(err.retries()[0].wait < Duration::from_secs(1), "{err:?}");
    assert!(err.is_timeout(), "{err}");
    assert!(
        err.to_string().starts_with(
            "openai: gave up after 2 attempts (timeout 1s reached); last error: attempt timed out after"
        ),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[examen_rt::test]
async fn one_attempt_is_one_attempt() {
    let server = TestServer::start(|_, _| Reply::Respond(503, vec![], Vec::new())).await;
    let model = model_at(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            max_retries: Some(0),
            ..GenerateConfig::default()
        },
    );
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("openai: gave up after 1 attempt (max_retries 0 reached)"),
        "{err}"
    );
}

#[examen_rt::test]
async fn a_failed_call_keeps_its_request_retries_and_working_time() {
    let server =
        TestServer::start(|_, _| Reply::json(503, json!({"error": {"message": "overloaded"}})))
            .await;
    let model = model_at(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            max_retries: Some(2),
            ..GenerateConfig::default()
        },
    );
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.retries().len(), 2);
    let call = err.call().expect("the call is recorded");
    assert_eq!(call.request, server.requests()[0].json());
    assert_eq!(call.response, json!({"error": {"message": "overloaded"}}));
    assert!(err.working_time() > Duration::ZERO);
    assert!(err.working_time() >= call.time);
    // Nothing was sent: nothing to record.
    let err = model_at(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            timeout: Some(0.0),
            ..GenerateConfig::default()
        },
    )
    .generate(&input(), &[], &GenerateConfig::default())
    .await
    .unwrap_err();
    assert!(err.call().is_none());
    assert_eq!(err.working_time(), Duration::ZERO);
}

#[examen_rt::test]
async fn the_servers_own_message_is_kept_whole() {
    // A proxy passing on its upstream's 401 names the key it used itself.
    let upstream = "AuthenticationError: OpenAIException - Incorrect API key provided for the \
                    upstream deployment; check UPSTREAM_OPENAI_KEY in the proxy config";
    let server = TestServer::start(move |_, _| {
        Reply::json(
            401,
            json!({"error": {"message": upstream, "type": "auth_error"}}),
        )
    })
    .await;
    let model = model_at(
        "openai-api/litellm/m",
        &server.url(),
        GenerateConfig::default(),
    );
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert!(err.is_auth());
    assert_eq!(
        err.to_string(),
        format!(
            "openai-api/litellm: authentication failed (HTTP 401): {upstream}; hint: check \
             LITELLM_API_KEY"
        )
    );

    // 429 and 5xx: the message survives into the error that ends the retries, whole.
    let long = format!(
        "Rate limit reached for gpt-4o. {}",
        "Details follow. ".repeat(40)
    );
    let long = long.trim().to_owned();
    assert!(long.len() > 300);
    let body = json!({"error": {"message": long.clone()}});
    let server = TestServer::start(move |index, _| {
        let status = if index == 0 { 429 } else { 503 };
        Reply::json(status, body.clone())
    })
    .await;
    let model = model_at(
        "openai/gpt-4o",
        &server.url(),
        GenerateConfig {
            max_retries: Some(1),
            ..GenerateConfig::default()
        },
    );
    let err = model
        .generate(&input(), &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "openai: gave up after 2 attempts (max_retries 1 reached); last error: HTTP 503 \
             Service Unavailable: {long}"
        )
    );
    // The retry list keeps the short reason.
    assert_eq!(err.retries()[0].reason, "HTTP 429 Too Many Requests");
}
