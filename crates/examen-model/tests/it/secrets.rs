//! The API key never appears in an error, a `Debug` print or the recorded call.

use examen_model::{ChatMessage, Env, GenerateConfig, ModelOptions};
use serde_json::json;

use crate::server::{openai_ok, Reply, TestServer};
use crate::{model_at, TEST_KEY};

#[examen_rt::test]
async fn unauthorized_names_provider_and_variable_without_the_key() {
    // A server that echoes the key back in its error body, as some do.
    let server = TestServer::start(|_, request| {
        let auth = request
            .header("authorization")
            .unwrap_or_default()
            .to_owned();
        Reply::json(
            401,
            json!({"error": {"message": format!("Incorrect API key provided: {auth}")}}),
        )
    })
    .await;
    let model = examen_model::get_model(
        "openai/gpt-4o",
        ModelOptions {
            env: Env::from_pairs([
                ("OPENAI_API_KEY", TEST_KEY.to_owned()),
                ("OPENAI_BASE_URL", server.url()),
            ]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    let err = model
        .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert!(err.is_auth());
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "openai: authentication failed (HTTP 401): Incorrect API key provided: Bearer ***; \
         hint: check OPENAI_API_KEY"
    );
    assert_eq!(server.requests().len(), 1, "401 is not retried");
    let recorded = err.call().expect("the failed call is recorded");
    assert_eq!(
        recorded.response["error"]["message"],
        "Incorrect API key provided: Bearer ***"
    );
    for text in [err.to_string(), format!("{err:?}"), format!("{model:?}")] {
        assert!(!text.contains(TEST_KEY), "{text}");
    }
}

#[examen_rt::test]
async fn forbidden_names_the_service_variable() {
    let server = TestServer::start(|_, _| Reply::Respond(403, vec![], b"forbidden".to_vec())).await;
    let model = examen_model::get_model(
        "openai-api/together/meta-llama/Llama-3-8b",
        ModelOptions {
            env: Env::from_pairs([
                ("TOGETHER_API_KEY", TEST_KEY.to_owned()),
                ("TOGETHER_BASE_URL", server.url()),
            ]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    let err = model
        .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "openai-api/together: authentication failed (HTTP 403): forbidden; hint: check \
         TOGETHER_API_KEY"
    );
}

#[examen_rt::test]
async fn rejected_request_messages_are_redacted() {
    let server = TestServer::start(|_, _| {
        Reply::json(
            400,
            json!({"error": {"message": format!("bad header x-api-key: {TEST_KEY}")}}),
        )
    })
    .await;
    let model = model_at(
        "anthropic/claude-x",
        &server.url(),
        GenerateConfig::default(),
    );
    let err = model
        .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "anthropic: request rejected (HTTP 400): bad header x-api-key: ***"
    );
}

#[examen_rt::test]
async fn recorded_call_and_debug_output_hold_no_key() {
    let server = TestServer::start(|_, _| openai_ok("fine")).await;
    let config = GenerateConfig {
        extra_headers: Some(
            [("x-org-token".to_owned(), "org-secret-value".to_owned())]
                .into_iter()
                .collect(),
        ),
        ..GenerateConfig::default()
    };
    let model = model_at("openai/gpt-4o", &server.url(), config);
    let generation = model
        .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
        .await
        .unwrap();
    // The extra header reached the server...
    assert_eq!(
        server.requests()[0].header("x-org-token"),
        Some("org-secret-value")
    );
    // ...but neither it nor the key shows up in anything we log or print.
    let call = generation.call.as_ref().unwrap();
    let printed = [
        call.request.to_string(),
        call.response.to_string(),
        format!("{generation:?}"),
        format!("{model:?}"),
    ];
    for text in printed {
        assert!(!text.contains(TEST_KEY), "{text}");
        assert!(!text.contains("org-secret-value"), "{text}");
    }
}

#[test]
fn missing_key_names_the_variable() {
    for (name, var) in [
        ("openai/gpt-4o", "OPENAI_API_KEY"),
        ("anthropic/claude-x", "ANTHROPIC_API_KEY"),
        ("openai-api/groq/llama", "GROQ_API_KEY"),
    ] {
        let err = examen_model::get_model(
            name,
            ModelOptions {
                env: Env::from_pairs(Vec::<(String, String)>::new()),
                ..ModelOptions::default()
            },
        )
        .unwrap_err();
        assert!(err.is_configuration());
        assert!(err.to_string().contains(&format!("set {var}")), "{err}");
    }
}

#[test]
fn credentials_in_a_rejected_base_url_are_not_shown() {
    for base in [
        "https://alice:hunter2-SECRET@api.example.com/v1",
        "ftp://alice:hunter2-SECRET@api.example.com",
        "http://alice:hunter2-SECRET@bad host/v1",
    ] {
        let err = examen_model::get_model(
            "openai/gpt-4o",
            ModelOptions {
                base_url: Some(base.to_owned()),
                api_key: Some(examen_model::Secret::new(TEST_KEY)),
                env: Env::from_pairs(Vec::<(String, String)>::new()),
                ..ModelOptions::default()
            },
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(err.is_configuration(), "{text}");
        assert!(text.contains("base URL"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

fn proxied_model(
    proxy_var: &str,
    proxy: String,
) -> Result<examen_model::Model, examen_model::ModelError> {
    examen_model::get_model(
        "openai/gpt-4o",
        ModelOptions {
            base_url: Some("http://model.invalid:8000/v1".to_owned()),
            api_key: Some(examen_model::Secret::new(TEST_KEY)),
            env: Env::from_pairs([(proxy_var.to_owned(), proxy)]),
            config: GenerateConfig {
                max_retries: Some(0),
                ..GenerateConfig::default()
            },
            ..ModelOptions::default()
        },
    )
}

#[examen_rt::test]
async fn proxy_credentials_echoed_by_a_server_are_redacted() {
    // A forward proxy (plain http) that echoes what it was sent, credentials included.
    let server = TestServer::start(|_, request| {
        let auth = request
            .header("proxy-authorization")
            .unwrap_or_default()
            .to_owned();
        Reply::json(
            400,
            json!({"error": {"message": format!("bad request from bob:s3cret-PROXY ({auth})")}}),
        )
    })
    .await;
    let model = proxied_model(
        "HTTP_PROXY",
        format!("http://bob:s3cret-PROXY@{}", server.addr),
    )
    .unwrap();
    let err = model
        .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    let token = server.requests()[0]
        .header("proxy-authorization")
        .unwrap()
        .trim_start_matches("Basic ")
        .to_owned();
    let recorded = serde_json::to_string(&err.call().unwrap().response).unwrap();
    for text in [err.to_string(), format!("{err:?}"), recorded] {
        assert!(!text.contains("s3cret-PROXY"), "{text}");
        assert!(!text.contains(&token), "{text}");
    }
    assert!(err.to_string().contains("bad request from ***"), "{err}");
}

#[examen_rt::test]
async fn a_dead_proxy_is_reported_as_the_proxy() {
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let model = proxied_model("HTTP_PROXY", format!("http://bob:s3cret-PROXY@{addr}")).unwrap();
    let err = model
        .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "openai: gave up after 1 attempt (max_retries 0 reached); last error: the proxy \
             {addr} (HTTP_PROXY) refused the connection"
        )
    );
}

#[examen_rt::test]
async fn a_silent_proxy_is_named_in_the_connect_timeout() {
    // A proxy that takes the TCP connection (the kernel's backlog does) but never answers
    // `CONNECT`: the attempt's connect timeout is the proxy's, not the model server's.
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let model = examen_model::get_model(
        "openai/gpt-4o",
        ModelOptions {
            base_url: Some("https://model.invalid/v1".to_owned()),
            api_key: Some(examen_model::Secret::new(TEST_KEY)),
            args: [("connect_timeout".to_owned(), "0.2".to_owned())].into(),
            env: Env::from_pairs([("HTTPS_PROXY", format!("http://bob:s3cret-PROXY@{addr}"))]),
            config: GenerateConfig {
                max_retries: Some(0),
                ..GenerateConfig::default()
            },
            ..ModelOptions::default()
        },
    )
    .unwrap();
    let err = model
        .generate(&[ChatMessage::user("x")], &[], &GenerateConfig::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "openai: gave up after 1 attempt (max_retries 0 reached); last error: connecting \
             to proxy {addr} (HTTPS_PROXY) timed out after 200ms (model.invalid): no answer to \
             CONNECT"
        )
    );
    drop(listener);
}

#[test]
fn bad_proxy_variables_are_a_proxy_configuration_error() {
    let err =
        proxied_model("HTTPS_PROXY", "socks5://bob:s3cret-PROXY@p:1080".to_owned()).unwrap_err();
    assert!(err.is_configuration());
    let text = err.to_string();
    assert!(
        text.starts_with("openai: proxy configuration error: HTTPS_PROXY: proxy scheme `socks5`"),
        "{text}"
    );
    assert!(!text.contains("invalid model argument"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}
