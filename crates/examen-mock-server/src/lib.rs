//! A loopback model server for examen's benchmarks and end-to-end tests, speaking OpenAI Chat
//! Completions and Anthropic Messages: it answers every request with the same reply, or plays a
//! scripted conversation with tool calls, after a configurable latency, and counts what it saw.
//!
//! The server owns nothing but its socket, its script and its counters. It binds to
//! `127.0.0.1` only, serves HTTP/1.1 with keep-alive through hyper's server half (over
//! `examen_rt` sockets via [`examen_http::io::HyperIo`]), and runs on whichever `examen_rt`
//! backend is current, so it is exercised on tokio and on smol like everything else. One
//! connection costs one small task and its buffers, so thousands of concurrent keep-alive
//! connections are cheap.
//!
//! # Endpoints
//!
//! | request | answer |
//! |---|---|
//! | `POST …/chat/completions` | after the latency, a `chat.completion` whose message is the reply or the script's turn; `usage` estimates tokens as bytes ÷ 4 |
//! | `POST …/messages` | the same as an Anthropic Messages `message` (`/v1/messages`, where examen's `anthropic/` provider and the `anthropic` SDK post) |
//! | `GET /stats` | the [`Stats`] as JSON |
//! | `POST /stats/reset` | zeroes the counters (the maxima restart from the current values) and returns the stats before the reset |
//! | `GET …/models` | a model list naming `mock` |
//!
//! Anything else gets a 404 with an OpenAI-style error body. A streaming request (`"stream":
//! true`) gets a 400: the benchmarks measure plain completions. (Inspect's `anthropic`
//! provider streams whenever `max_tokens` is 8192 or more, and its default for current models
//! is 32000; run it with `--max-tokens 4096` or less.) Errors on `…/messages` have
//! Anthropic's shape, `{"type": "error", "error": {"type": "invalid_request_error", "message"}}`;
//! the others OpenAI's, `{"error": {"message", "type": "invalid_request_error", "param", "code"}}`.
//!
//! # Scripts
//!
//! With [`Config::script`] (the binary's `--script FILE`, read by [`read_script`] in examen's
//! mockllm script format) a request whose `messages` hold `n` assistant messages is answered
//! with turn `n`, counted from 0. The server keeps no state between requests, so any number
//! of conversations side by side each play the whole script, and every client gets the same
//! answers, tool-call ids included (a call without an id of its own gets `call_{turn}_{index}`,
//! both from 0). A request past the end of the script gets a 400 that says how many turns the
//! script has and how many assistant messages the request had. A turn with tool calls answers
//! Chat Completions with `tool_calls` (arguments JSON-encoded) and `finish_reason:
//! "tool_calls"`, and Messages with `tool_use` blocks and `stop_reason: "tool_use"`; a turn
//! without them finishes with `"stop"` or `"end_turn"`.
//!
//! # Tool-call pairing
//!
//! Every request is checked as the real APIs check it, and refused with a 400 carrying their
//! error text, so a client that breaks the pairing fails here as it would in production:
//!
//! - Chat Completions: an assistant message with `tool_calls` must be followed at once by
//!   `tool` messages answering each call id (`An assistant message with 'tool_calls' must be
//!   followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids
//!   did not have response messages: …`); a `tool` message must answer a call of the assistant
//!   message before its run (`Invalid parameter: messages with role 'tool' must be a response
//!   to a preceeding message with 'tool_calls'.`, or `Invalid parameter: 'tool_call_id' of '…'
//!   not found in 'tool_calls' of previous message.`) and must have a `tool_call_id`.
//! - Messages: each assistant `tool_use` block must be answered by a `tool_result` block in
//!   the next message (``messages.N: `tool_use` ids were found without `tool_result` blocks
//!   immediately after: …``), and each `tool_result` must answer a `tool_use` of the message
//!   before (``messages.N.content.M: unexpected `tool_use_id` found in `tool_result` blocks:
//!   …``).
//!
//! # Example
//!
//! ```
//! use examen_mock_server::{Config, MockServer, ScriptToolCall, ScriptTurn};
//!
//! let think = ScriptToolCall {
//!     function: "think".to_owned(),
//!     arguments: serde_json::json!({"thought": "four"}).as_object().unwrap().clone(),
//!     id: None,
//! };
//! let script = vec![
//!     ScriptTurn { content: None, tool_calls: vec![think] },
//!     ScriptTurn::text("ANSWER: 4"),
//! ];
//! examen_rt::run(examen_rt::Backend::Tokio, async {
//!     let config = Config { script: Some(script), ..Config::default() };
//!     let server = MockServer::start(config).await.unwrap();
//!     assert!(server.base_url().starts_with("http://127.0.0.1:"));
//!     assert_eq!(server.stats().requests, 0);
//! });
//! ```

#![warn(missing_docs, missing_debug_implementations)]

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use examen_http::io::HyperIo;
use examen_rt::net::{TcpListener, TcpStream};
use examen_rt::JoinHandle;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

mod script;
mod wire;

pub use script::{read_script, ScriptToolCall, ScriptTurn};
use wire::{Turn, Wire};

/// The reply the server gives when none is configured.
pub const DEFAULT_REPLY: &str = "ANSWER: 4";

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Time between reading a completion request and answering it.
    pub latency: Duration,
    /// The assistant message content of every completion without a script.
    pub reply: String,
    /// The conversation to play instead of `reply`: a request with `n` assistant messages is
    /// answered with turn `n` (see the crate docs).
    pub script: Option<Vec<ScriptTurn>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            latency: Duration::ZERO,
            reply: DEFAULT_REPLY.to_owned(),
            script: None,
        }
    }
}

/// What the server has seen since it started (or since the last reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Completion requests received (answered or not): Chat Completions and Messages.
    pub requests: u64,
    /// Completion requests answered with a completion.
    pub completions: u64,
    /// Requests answered with an error status (bad JSON, streaming, unknown path, broken
    /// tool-call pairing, past the end of the script).
    pub errors: u64,
    /// Completion requests being held for their latency right now.
    pub in_flight: u64,
    /// The most completion requests held at once.
    pub max_in_flight: u64,
    /// Connections open right now.
    pub connections_open: u64,
    /// Connections accepted in total.
    pub connections_total: u64,
    /// The most connections open at once.
    pub max_connections_open: u64,
    /// When the first completion request arrived, in microseconds since the server started.
    pub first_request_us: Option<u64>,
    /// When the last completion was sent, in microseconds since the server started.
    pub last_completion_us: Option<u64>,
}

impl Stats {
    /// The stats as the JSON object `GET /stats` returns.
    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "completions": self.completions,
            "errors": self.errors,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "connections_open": self.connections_open,
            "connections_total": self.connections_total,
            "max_connections_open": self.max_connections_open,
            "first_request_us": self.first_request_us,
            "last_completion_us": self.last_completion_us,
        })
    }
}

#[derive(Debug)]
struct Counters {
    started: Instant,
    first_request_us: AtomicU64,
    last_completion_us: AtomicU64,
    requests: AtomicU64,
    completions: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    max_connections_open: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            started: Instant::now(),
            first_request_us: AtomicU64::new(NONE_YET),
            last_completion_us: AtomicU64::new(0),
            requests: AtomicU64::default(),
            completions: AtomicU64::default(),
            errors: AtomicU64::default(),
            in_flight: AtomicU64::default(),
            max_in_flight: AtomicU64::default(),
            connections_open: AtomicU64::default(),
            connections_total: AtomicU64::default(),
            max_connections_open: AtomicU64::default(),
        }
    }
}

/// `first_request_us` before any request.
const NONE_YET: u64 = u64::MAX;

impl Counters {
    fn now_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX - 1)
    }

    fn snapshot(&self) -> Stats {
        let first = self.first_request_us.load(Ordering::Relaxed);
        let last = self.last_completion_us.load(Ordering::Relaxed);
        Stats {
            first_request_us: (first != NONE_YET).then_some(first),
            last_completion_us: (last != 0).then_some(last),
            requests: self.requests.load(Ordering::Relaxed),
            completions: self.completions.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            connections_open: self.connections_open.load(Ordering::Relaxed),
            connections_total: self.connections_total.load(Ordering::Relaxed),
            max_connections_open: self.max_connections_open.load(Ordering::Relaxed),
        }
    }

    fn reset(&self) -> Stats {
        let before = self.snapshot();
        self.requests.store(0, Ordering::Relaxed);
        self.completions.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        self.connections_total.store(0, Ordering::Relaxed);
        self.first_request_us.store(NONE_YET, Ordering::Relaxed);
        self.last_completion_us.store(0, Ordering::Relaxed);
        self.max_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        self.max_connections_open.store(
            self.connections_open.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        before
    }
}

/// Raises a live gauge by one and lowers it again on drop, so cancelled requests and closed
/// connections are always taken off.
struct Gauge<'a> {
    current: &'a AtomicU64,
}

impl<'a> Gauge<'a> {
    fn raise(current: &'a AtomicU64, max: &AtomicU64) -> Gauge<'a> {
        let now = current.fetch_add(1, Ordering::Relaxed) + 1;
        max.fetch_max(now, Ordering::Relaxed);
        Gauge { current }
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.current.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the server answers with, prepared once at start.
enum Answers {
    /// The same reply to every request.
    Reply(Turn),
    /// Turn `n` to a request with `n` assistant messages.
    Script(Vec<Turn>),
}

struct Shared {
    latency: Duration,
    answers: Answers,
    counters: Counters,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let turns = match &self.answers {
            Answers::Reply(_) => None,
            Answers::Script(turns) => Some(turns.len()),
        };
        f.debug_struct("Shared")
            .field("latency", &self.latency)
            .field("script_turns", &turns)
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

/// A running mock server. Dropping it stops the server and closes every connection.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _accept: JoinHandle<()>,
}

impl MockServer {
    /// Binds `127.0.0.1:<port>` on the current `examen_rt` runtime and starts serving.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start(config: Config) -> io::Result<MockServer> {
        let listener = TcpListener::bind(&format!("127.0.0.1:{}", config.port))
            .await
            .map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "examen-mock-server: cannot bind 127.0.0.1:{}: {err}",
                        config.port
                    ),
                )
            })?;
        let addr = listener.local_addr()?;
        let answers = match &config.script {
            Some(turns) => Answers::Script(
                turns
                    .iter()
                    .enumerate()
                    .map(|(index, turn)| Turn::new(index, turn))
                    .collect(),
            ),
            None => Answers::Reply(Turn::new(0, &ScriptTurn::text(config.reply.as_str()))),
        };
        let shared = Arc::new(Shared {
            latency: config.latency,
            answers,
            counters: Counters::default(),
        });
        let accept = examen_rt::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(MockServer {
            addr,
            shared,
            _accept: accept,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-style base URL, `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The counters right now.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // examen_rt cancels a task when its handle drops, so the connection tasks' handles live
    // here; dropping the server (and with it this loop) closes every connection.
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    let mut prune_at = 64;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if connections.len() >= prune_at {
                    connections.retain(|handle| !handle.is_finished());
                    prune_at = (connections.len() * 2).max(64);
                }
                connections.push(examen_rt::spawn(serve_connection(
                    stream,
                    Arc::clone(&shared),
                )));
            }
            // Out of file descriptors or a connection reset before accept: keep serving the
            // connections we have and try again shortly, rather than stopping the server.
            Err(_) => examen_rt::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let counters = &shared.counters;
    counters.connections_total.fetch_add(1, Ordering::Relaxed);
    let _open = Gauge::raise(&counters.connections_open, &counters.max_connections_open);
    let service = hyper::service::service_fn(|request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
    });
    // A client that goes away mid-request is its own business; the counters already say so.
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(HyperIo::new(stream), service)
        .await;
}

type Reply = Response<Full<Bytes>>;

async fn handle(shared: &Shared, request: Request<Incoming>) -> Reply {
    let counters = &shared.counters;
    let path = request.uri().path();
    let method = request.method();
    let wire = match *method {
        Method::POST if path.ends_with("/chat/completions") => Some(Wire::OpenAi),
        Method::POST if path.ends_with("/messages") => Some(Wire::Anthropic),
        _ => None,
    };
    if let Some(wire) = wire {
        counters.requests.fetch_add(1, Ordering::Relaxed);
        counters
            .first_request_us
            .fetch_min(counters.now_us(), Ordering::Relaxed);
        let reply = completion(shared, request, wire).await;
        if reply.status().is_success() {
            counters.completions.fetch_add(1, Ordering::Relaxed);
            // At least 1 so that "none yet" (0) stays distinguishable.
            counters
                .last_completion_us
                .fetch_max(counters.now_us().max(1), Ordering::Relaxed);
        } else {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        return reply;
    }
    match (method, path) {
        (&Method::GET, "/stats") => json_reply(StatusCode::OK, &counters.snapshot().to_json()),
        (&Method::POST, "/stats/reset") => json_reply(StatusCode::OK, &counters.reset().to_json()),
        (&Method::GET, p) if p.ends_with("/models") => json_reply(
            StatusCode::OK,
            &json!({"object": "list", "data": [
                {"id": "mock", "object": "model", "created": 0, "owned_by": "examen"}
            ]}),
        ),
        (method, path) => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            error_reply(
                Wire::OpenAi,
                StatusCode::NOT_FOUND,
                &format!("examen-mock-server: no route for {method} {path}"),
                None,
            )
        }
    }
}

async fn completion(shared: &Shared, request: Request<Incoming>, wire: Wire) -> Reply {
    let bad_request = |message: &str| error_reply(wire, StatusCode::BAD_REQUEST, message, None);
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            return bad_request(&format!(
                "examen-mock-server: could not read the request body: {err}"
            ))
        }
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => {
            return bad_request(&format!(
                "examen-mock-server: the request body is not JSON ({err}); expected {}",
                wire.request_name()
            ))
        }
    };
    if parsed.get("stream").and_then(Value::as_bool) == Some(true) {
        return bad_request(
            "examen-mock-server: streaming is not supported; send \"stream\": false",
        );
    }
    let messages = parsed
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let checked = match wire {
        Wire::OpenAi => wire::check_openai(messages),
        Wire::Anthropic => wire::check_anthropic(messages),
    };
    if let Err(invalid) = checked {
        return error_reply(
            wire,
            StatusCode::BAD_REQUEST,
            &invalid.message,
            invalid.param.as_deref(),
        );
    }
    let turn = match &shared.answers {
        Answers::Reply(turn) => turn,
        Answers::Script(turns) => {
            let asked = wire::assistant_messages(messages);
            match turns.get(asked) {
                Some(turn) => turn,
                None => {
                    return bad_request(&format!(
                        "examen-mock-server: the script has {} and the request had {} \
                         (asking for turn {}, counted from 0); there is no turn to answer with",
                        plural(turns.len(), "turn"),
                        plural(asked, "assistant message"),
                        asked
                    ))
                }
            }
        }
    };
    let model = parsed
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock");
    let mut prompt_bytes: usize = messages
        .iter()
        .map(|message| wire::text_len(message.get("content")))
        .sum();
    if wire == Wire::Anthropic {
        prompt_bytes += wire::text_len(parsed.get("system"));
    }
    let counters = &shared.counters;
    {
        let _held = Gauge::raise(&counters.in_flight, &counters.max_in_flight);
        if !shared.latency.is_zero() {
            examen_rt::sleep(shared.latency).await;
        }
    }
    let prompt_tokens = wire::tokens(prompt_bytes);
    let id = counters.completions.load(Ordering::Relaxed);
    let body = match wire {
        Wire::OpenAi => {
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            turn.openai(id, created, model, prompt_tokens)
        }
        Wire::Anthropic => turn.anthropic(id, model, prompt_tokens),
    };
    json_reply(StatusCode::OK, &body)
}

/// `1 turn`, `2 turns`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_reply(wire: Wire, status: StatusCode, message: &str, param: Option<&str>) -> Reply {
    json_reply(status, &wire.error_body(message, param))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_keeps_live_gauges_and_zeroes_totals() {
        let counters = Counters::default();
        counters.requests.store(7, Ordering::Relaxed);
        counters.connections_total.store(3, Ordering::Relaxed);
        counters.max_in_flight.store(9, Ordering::Relaxed);
        counters.in_flight.store(2, Ordering::Relaxed);
        counters.connections_open.store(1, Ordering::Relaxed);
        let before = counters.reset();
        assert_eq!(before.requests, 7);
        let after = counters.snapshot();
        assert_eq!(
            (after.requests, after.connections_total, after.max_in_flight),
            (0, 0, 2)
        );
        assert_eq!(
            (
                after.in_flight,
                after.connections_open,
                after.max_connections_open
            ),
            (2, 1, 1)
        );
    }
}
