//! A fault-injecting OpenAI-compatible server on 127.0.0.1 for the tests: it answers
//! `POST .../chat/completions` (HTTP/1.1, keep-alive), counts the requests per prompt (the first
//! line of the last user message), and for each request does what the test's plan says: answer,
//! fail with a 500, rate-limit with a 429 and `Retry-After`, drop the connection, hang, send a
//! body that is not JSON, or reject with a 400 (not retried). It runs on either backend through
//! `examen_rt::net`.
//!
//! The examen-cli end-to-end tests use it too (`#[path]` include), so it depends only on what
//! both test crates have: examen-rt, futures-util and serde_json.

// Reason: shared by two test crates, each using part of it; `pub` keeps one spelling for both.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen_rt::net::{TcpListener, TcpStream};
use examen_rt::JoinHandle;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use serde_json::{json, Value};

/// What the server does with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// A completion: `ANSWER: <n>` for "What is A + B?" (or `*`), else `ANSWER: ?`.
    Answer,
    /// HTTP 500 (retried).
    ServerError,
    /// HTTP 429 with `Retry-After` in seconds (retried after at least that long).
    RateLimited(f64),
    /// Closes the connection without answering (retried).
    Drop,
    /// Never answers (the client's attempt timeout retries it).
    Hang,
    /// HTTP 200 whose body is not JSON (retried).
    Garbage,
    /// HTTP 400 (not retried: the sample errors).
    BadRequest,
    /// [`Fault::Answer`], after waiting this long (on top of the server's latency).
    Slow(Duration),
    /// [`Fault::BadRequest`], after waiting this long (on top of the server's latency).
    SlowBadRequest(Duration),
}

/// Decides the fault for a request: `(prompt, attempt)`, attempts counted per prompt from 1.
pub type Plan = dyn Fn(&str, usize) -> Fault + Send + Sync;

/// How the server behaves apart from the plan.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Wait this long before answering each request.
    pub latency: Duration,
    /// Answer 401 unless the request carries `Authorization: Bearer <key>`.
    pub key: Option<String>,
}

pub struct FaultServer {
    pub addr: SocketAddr,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    by_key: Arc<Mutex<HashMap<(String, String), usize>>>,
    headers: Arc<Mutex<Vec<String>>>,
    _accept: JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    plan: Arc<Plan>,
    options: ServerOptions,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    by_key: Arc<Mutex<HashMap<(String, String), usize>>>,
    headers: Arc<Mutex<Vec<String>>>,
}

impl FaultServer {
    /// Starts serving `plan` on a free port.
    pub async fn start(
        plan: impl Fn(&str, usize) -> Fault + Send + Sync + 'static,
        options: ServerOptions,
    ) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let shared = Shared {
            plan: Arc::new(plan),
            options,
            counts: Arc::default(),
            by_key: Arc::default(),
            headers: Arc::default(),
        };
        let counts = shared.counts.clone();
        let by_key = shared.by_key.clone();
        let headers = shared.headers.clone();
        let accept = examen_rt::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.retain(|c: &JoinHandle<()>| !c.is_finished());
                connections.push(examen_rt::spawn(serve(stream, shared.clone())));
            }
        });
        FaultServer {
            addr,
            counts,
            by_key,
            headers,
            _accept: accept,
        }
    }

    /// The base URL of the OpenAI-compatible API (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received for `prompt`.
    pub fn requests(&self, prompt: &str) -> usize {
        self.lock_counts().get(prompt).copied().unwrap_or(0)
    }

    /// Requests received for `prompt` with the API key `key` (so a test can tell which of
    /// several runs of the same prompts sent a request).
    pub fn requests_with_key(&self, key: &str, prompt: &str) -> usize {
        self.by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(key.to_ascii_lowercase(), prompt.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests received per prompt.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.lock_counts().clone()
    }

    /// Every request's head (request line and headers), as received.
    pub fn heads(&self) -> Vec<String> {
        self.headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock_counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The prompt of a chat request: the first line of its last user message.
pub fn prompt_of(request: &Value) -> String {
    let content = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| m["content"].clone())
        .unwrap_or(Value::Null);
    let text = match content {
        Value::String(s) => s,
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    text.lines().next().unwrap_or_default().to_string()
}

/// `ANSWER: n` for "What is A + B?" or "What is A * B?".
pub fn answer(prompt: &str) -> String {
    let words: Vec<&str> = prompt
        .trim_start_matches("What is ")
        .trim_end_matches('?')
        .split(' ')
        .collect();
    let value = match words.as_slice() {
        [a, op, b] => match (a.parse::<i64>(), b.parse::<i64>(), *op) {
            (Ok(a), Ok(b), "+") => (a + b).to_string(),
            (Ok(a), Ok(b), "*") => (a * b).to_string(),
            _ => "?".into(),
        },
        _ => "?".into(),
    };
    format!("ANSWER: {value}")
}

fn completion(prompt: &str) -> Value {
    json!({
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer(prompt)},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    })
}

async fn serve(mut stream: TcpStream, shared: Shared) {
    let mut buffer = Vec::new();
    loop {
        let Some((head, body)) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        shared
            .headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(head.clone());
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let prompt = prompt_of(&request);
        let attempt = {
            let mut counts = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
            let n = counts.entry(prompt.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("authorization: bearer "))
            .unwrap_or_default()
            .trim()
            .to_string();
        *shared
            .by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((key, prompt.clone()))
            .or_insert(0) += 1;
        if !shared.options.latency.is_zero() {
            examen_rt::sleep(shared.options.latency).await;
        }
        let authorized = match &shared.options.key {
            None => true,
            Some(key) => head
                .lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("authorization: bearer {key}"))),
        };
        let mut fault = if authorized {
            (shared.plan)(&prompt, attempt)
        } else {
            Fault::BadRequest
        };
        if let Fault::Slow(wait) | Fault::SlowBadRequest(wait) = fault {
            examen_rt::sleep(wait).await;
            fault = match fault {
                Fault::Slow(_) => Fault::Answer,
                _ => Fault::BadRequest,
            };
        }
        let (status, extra, body) = match fault {
            _ if !authorized => (
                "401 Unauthorized",
                String::new(),
                json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}).to_string(),
            ),
            Fault::Answer | Fault::Slow(_) => {
                ("200 OK", String::new(), completion(&prompt).to_string())
            }
            Fault::ServerError => (
                "500 Internal Server Error",
                String::new(),
                json!({"error": {"message": "the server had an error"}}).to_string(),
            ),
            Fault::RateLimited(seconds) => (
                "429 Too Many Requests",
                format!("retry-after: {seconds}\r\n"),
                json!({"error": {"message": "rate limit reached"}}).to_string(),
            ),
            Fault::Garbage => (
                "200 OK",
                String::new(),
                "<html>upstream proxy error</html>".to_string(),
            ),
            Fault::BadRequest | Fault::SlowBadRequest(_) => (
                "400 Bad Request",
                String::new(),
                json!({"error": {"message": "this prompt is not accepted", "type": "invalid_request_error"}}).to_string(),
            ),
            Fault::Drop => return,
            Fault::Hang => {
                let mut rest = [0u8; 256];
                while stream.read(&mut rest).await.is_ok_and(|n| n > 0) {}
                return;
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// Reads one request: its head (lower-cased) and its `Content-Length` body.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some((head, body))
}
