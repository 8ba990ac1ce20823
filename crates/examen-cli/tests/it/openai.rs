//! `examen eval --model openai-api/test/m` against an OpenAI-compatible server on 127.0.0.1 that
//! this test runs: the key and base URL come from `TEST_API_KEY`/`TEST_BASE_URL`, answers flow
//! into scores, and a server that rejects every request makes the eval fail with exit code 1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use serde_json::{json, Value};

use crate::support::{Finished, Sandbox};

/// How the server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Solves "What is A op B?" and answers `ANSWER: n`.
    Solve,
    /// HTTP 400 to everything (not retried: the samples error).
    Reject,
}

struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
    _task: examen_rt::JoinHandle<()>,
}

async fn serve(mode: Mode) -> Server {
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let task = examen_rt::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            connections.push(examen_rt::spawn(connection(stream, mode, counter)));
        }
    });
    Server {
        port,
        requests,
        _task: task,
    }
}

/// HTTP/1.1 with keep-alive: requests with a Content-Length body, one JSON response each.
async fn connection(mut stream: examen_rt::net::TcpStream, mode: Mode, counter: Arc<AtomicUsize>) {
    let mut buffer = Vec::new();
    loop {
        let header_end = loop {
            if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < header_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value =
            serde_json::from_slice(&buffer[header_end..header_end + length]).unwrap_or(Value::Null);
        buffer.drain(..header_end + length);
        counter.fetch_add(1, Ordering::SeqCst);
        let authorized = head.contains("authorization: bearer test-key");
        let (status, reply) = if !authorized {
            ("401 Unauthorized", json!({"error": {"message": "bad key"}}))
        } else if mode == Mode::Reject {
            (
                "400 Bad Request",
                json!({"error": {"message": "model `m` is not served here"}}),
            )
        } else {
            ("200 OK", completion(&body))
        };
        let reply = reply.to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn completion(request: &Value) -> Value {
    let prompt = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let question = prompt.lines().next().unwrap_or_default();
    let words: Vec<&str> = question
        .trim_start_matches("What is ")
        .trim_end_matches('?')
        .split(' ')
        .collect();
    let answer = match words.as_slice() {
        [a, op, b] => match (a.parse::<i64>(), b.parse::<i64>(), *op) {
            (Ok(a), Ok(b), "+") => (a + b).to_string(),
            (Ok(a), Ok(b), "*") => (a * b).to_string(),
            _ => "?".into(),
        },
        _ => "?".into(),
    };
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("Let me see.\nANSWER: {answer}")},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    })
}

async fn eval(sandbox: &Sandbox, port: u16, extra: &[&str]) -> Finished {
    eval_with(sandbox, &format!("http://127.0.0.1:{port}/v1"), extra).await
}

async fn eval_with(sandbox: &Sandbox, base_url: &str, extra: &[&str]) -> Finished {
    let backend = examen_rt::current_backend().unwrap().name();
    let mut args = vec![
        "eval",
        "arithmetic/task.yaml",
        "--model",
        "openai-api/test/m",
        "--limit",
        "5",
        "--json",
        "--async-backend",
        backend,
    ];
    args.extend_from_slice(extra);
    let mut cmd = sandbox.examen(&args);
    cmd.env("TEST_BASE_URL", base_url)
        .env("TEST_API_KEY", "test-key");
    let output = examen_rt::process::run(cmd, None, None).await.unwrap();
    Finished {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[examen_rt::test]
async fn answers_from_a_loopback_openai_server_are_scored() {
    let server = serve(Mode::Solve).await;
    let sandbox = Sandbox::new();
    let out = eval(&sandbox, server.port, &["--max-connections", "2"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let record: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(record["status"], "success");
    assert_eq!(record["samples"]["total"], 10);
    // Every answer is right, so pass@2 and the mean accuracy are 1.
    assert_eq!(record["scores"][0]["metrics"]["accuracy"], 1.0);
    assert_eq!(record["tokens"]["total"], 250);
    assert_eq!(server.requests.load(Ordering::SeqCst), 10);
}

#[examen_rt::test]
async fn a_failing_model_fails_the_eval_with_exit_1() {
    let server = serve(Mode::Reject).await;
    let sandbox = Sandbox::new();
    let out = eval(&sandbox, server.port, &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let record: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(record["status"], "error");
    assert!(
        record["error"].as_str().unwrap().contains("HTTP 400"),
        "{record}"
    );
    assert!(
        out.stderr
            .contains("error: arithmetic (openai-api/test/m) failed:"),
        "{out:?}"
    );
    // The log was still written, with the error.
    assert_eq!(sandbox.logs("logs").len(), 1);
}

#[examen_rt::test]
async fn the_base_url_flag_wins_over_the_environment() {
    let server = serve(Mode::Solve).await;
    let sandbox = Sandbox::new();
    let flag = format!("http://127.0.0.1:{}/v1", server.port);
    // Port 9 (discard) on loopback: nothing listens there, so using it would fail.
    let out = eval_with(
        &sandbox,
        "http://127.0.0.1:9/v1",
        &["--model-base-url", &flag],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 10);
}

#[examen_rt::test]
async fn sample_errors_within_the_policy_are_retried_and_counted() {
    let server = serve(Mode::Reject).await;
    let sandbox = Sandbox::new();
    let out = eval(
        &sandbox,
        server.port,
        &["--fail-on-error", "false", "--retry-on-error", "2"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let record: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(record["status"], "success");
    assert_eq!(record["samples"]["errors"], 10);
    // 5 samples x 2 epochs, each tried three times.
    assert_eq!(server.requests.load(Ordering::SeqCst), 30);
}
