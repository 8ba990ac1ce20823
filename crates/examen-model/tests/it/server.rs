//! A loopback HTTP/1.1 server written for these tests: it records every request exactly as it
//! arrived (path, headers, body), answers from a script, can misbehave (drop the connection,
//! hang, send garbage), and tracks how many requests were in flight at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use examen_rt::net::{TcpListener, TcpStream};
use examen_rt::JoinHandle;
use futures_util::{AsyncReadExt, AsyncWriteExt};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Header names lower-cased, in arrival order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What to do with a request.
pub(crate) enum Reply {
    /// Status, extra headers, body.
    Respond(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Close the connection without answering.
    Drop,
    /// Never answer; keep the connection open until the client goes away.
    Hang,
}

impl Reply {
    pub(crate) fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::Respond(
            status,
            vec![("content-type", "application/json".to_owned())],
            body.to_string().into_bytes(),
        )
    }
}

type Script = dyn Fn(usize, &Recorded) -> Reply + Send + Sync;

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    peak: Arc<AtomicUsize>,
    _accept: JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    hold_until: usize,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TestServer {
    /// Serves `script(request_index, request)`.
    pub(crate) async fn start(
        script: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        Self::start_holding(0, script).await
    }

    /// Like [`start`](Self::start), but holds requests until `hold_until` of them have been in
    /// flight together once (or two seconds pass), so a concurrency limit is driven to its
    /// maximum without depending on timing.
    pub(crate) async fn start_holding(
        hold_until: usize,
        script: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Shared {
            script: Arc::new(script),
            requests: Arc::default(),
            in_flight: Arc::default(),
            peak: Arc::default(),
            hold_until,
            connections: Arc::default(),
        };
        let requests = Arc::clone(&shared.requests);
        let peak = Arc::clone(&shared.peak);
        let accept = examen_rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = shared.clone();
                let handle = examen_rt::spawn(serve(stream, connection));
                shared.connections.lock().unwrap().push(handle);
            }
        });
        TestServer {
            addr,
            requests,
            peak,
            _accept: accept,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The most requests that were ever in flight at once.
    pub(crate) fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, shared: Shared) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let index = {
            let mut requests = shared.requests.lock().unwrap();
            requests.push(request.clone());
            requests.len() - 1
        };
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak.fetch_max(now, Ordering::SeqCst);
        if shared.hold_until > 0 {
            let started = Instant::now();
            while shared.peak.load(Ordering::SeqCst) < shared.hold_until
                && started.elapsed() < Duration::from_secs(2)
            {
                examen_rt::sleep(Duration::from_millis(1)).await;
            }
        }
        let reply = (shared.script)(index, &request);
        match reply {
            Reply::Respond(status, headers, body) => {
                let mut head = format!(
                    "HTTP/1.1 {status} Status\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                // Leave the in-flight count before the client can see the answer, so the next
                // request let through by the limiter never overlaps this one in the count.
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(&body);
                if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
            Reply::Drop => {
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            Reply::Hang => {
                let mut rest = [0u8; 64];
                while stream.read(&mut rest).await.is_ok_and(|n| n > 0) {}
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Recorded> {
    let mut chunk = [0u8; 4096];
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
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
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
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// A minimal successful Chat Completions answer.
pub(crate) fn openai_ok(text: &str) -> Reply {
    Reply::json(
        200,
        serde_json::json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }),
    )
}

/// A minimal successful Messages answer.
pub(crate) fn anthropic_ok(text: &str) -> Reply {
    Reply::json(
        200,
        serde_json::json!({
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": 11, "output_tokens": 2},
        }),
    )
}
