//! The mock server as its users meet it: examen's own OpenAI-compatible provider, raw keep-alive
//! HTTP/1.1 connections by the thousand, the stats endpoints, and the binary driven through its
//! stdin and stdout. Async tests run on tokio and on smol.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use examen_mock_server::{Config, MockServer, Stats};
use examen_model::{get_model, ChatMessage, Env, GenerateConfig, ModelOptions, Secret};
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
