//! Throughput of the model layer against a local zero-latency OpenAI-compatible server, at 100
//! and 1000 concurrent requests, on tokio and on smol; plus the cost of one `mockllm` call.
//!
//! The server runs in a child process (this same binary, started with `EXAMEN_BENCH_SERVER=1`)
//! so that the CPU time reported is the client's alone: user + system time of this process from
//! `/proc/self/stat`, divided by the number of requests. Run with
//! `cargo bench -p examen-model --bench throughput`; `EXAMEN_BENCH_REQUESTS` sets the number of
//! measured requests per configuration (default 50000).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examen_model::{
    get_model, ChatMessage, Env, GenerateConfig, MockLlm, Model, ModelOptions, Secret,
};
use examen_rt::Backend;
use futures_util::{AsyncReadExt, AsyncWriteExt};

const RESPONSE_BODY: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","model":"bench","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"The answer is 4."}}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#;

fn main() {
    if std::env::var_os("EXAMEN_BENCH_SERVER").is_some() {
        serve();
        return;
    }
    let requests: usize = std::env::var("EXAMEN_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);

    let mut server = Command::new(std::env::current_exe().expect("own path"))
        .env("EXAMEN_BENCH_SERVER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the bench server");
    let mut port_line = String::new();
    BufReader::new(server.stdout.take().expect("piped stdout"))
        .read_line(&mut port_line)
        .expect("server port");
    let base_url = format!("http://127.0.0.1:{}/v1", port_line.trim());

    println!("model layer against a zero-latency local server ({requests} requests each, HTTP/1.1 keep-alive)");
    println!(
        "{:<7} {:>11} {:>10} {:>16}",
        "backend", "concurrency", "req/s", "CPU µs/request"
    );
    for backend in [Backend::Tokio, Backend::Smol] {
        for concurrency in [100usize, 1000] {
            let (rate, cpu) = examen_rt::run(backend, http_round(&base_url, concurrency, requests));
            println!(
                "{:<7} {:>11} {:>10.0} {:>16.1}",
                backend.name(),
                concurrency,
                rate,
                cpu.as_secs_f64() * 1e6
            );
        }
    }

    println!();
    println!("mockllm/model, one task calling generate in a loop");
    println!("{:<7} {:>12} {:>16}", "backend", "calls/s", "CPU µs/call");
    for backend in [Backend::Tokio, Backend::Smol] {
        let (rate, cpu) = examen_rt::run(backend, mock_round(200_000));
        println!(
            "{:<7} {:>12.0} {:>16.2}",
            backend.name(),
            rate,
            cpu.as_secs_f64() * 1e6
        );
    }

    // Closing its stdin tells the server to exit.
    drop(server.stdin.take());
    let _ = server.wait();
}

async fn http_round(base_url: &str, concurrency: usize, requests: usize) -> (f64, Duration) {
    let model = get_model(
        "openai-api/bench/bench-model",
        ModelOptions {
            base_url: Some(base_url.to_owned()),
            api_key: Some(Secret::new("bench-key")),
            env: Env::from_pairs(Vec::<(String, String)>::new()),
            config: GenerateConfig {
                max_connections: Some(concurrency as u32),
                max_retries: Some(0),
                ..GenerateConfig::default()
            },
            ..ModelOptions::default()
        },
    )
    .expect("bench model");
    let input: Arc<[ChatMessage]> = Arc::from(vec![
        ChatMessage::system("You are a calculator."),
        ChatMessage::user("What is 2 + 2?"),
    ]);
    // Warm-up: opens the connections, so the measurement is the steady state.
    drive(&model, &input, concurrency, concurrency * 2).await;
    let cpu_before = process_cpu();
    let started = Instant::now();
    drive(&model, &input, concurrency, requests).await;
    let wall = started.elapsed();
    let cpu = process_cpu() - cpu_before;
    (
        requests as f64 / wall.as_secs_f64(),
        cpu / u32::try_from(requests).expect("request count fits u32"),
    )
}

/// `concurrency` workers share `requests` generate calls.
async fn drive(model: &Model, input: &Arc<[ChatMessage]>, concurrency: usize, requests: usize) {
    let per_worker = requests / concurrency;
    let workers = (0..concurrency).map(|_| {
        let model = model.clone();
        let input = Arc::clone(input);
        move || async move {
            for _ in 0..per_worker {
                let generation = model
                    .generate(&input, &[], &GenerateConfig::default())
                    .await?;
                assert_eq!(generation.output.completion, "The answer is 4.");
            }
            Ok::<_, examen_model::ModelError>(())
        }
    });
    examen_rt::collect(workers).await.expect("bench requests");
}

async fn mock_round(calls: u32) -> (f64, Duration) {
    let model = Model::from_mock(MockLlm::new());
    let input = [ChatMessage::user("What is 2 + 2?")];
    let config = GenerateConfig::default();
    let cpu_before = process_cpu();
    let started = Instant::now();
    for _ in 0..calls {
        let generation = model.generate(&input, &[], &config).await.expect("mock");
        std::hint::black_box(generation);
    }
    let wall = started.elapsed();
    let cpu = process_cpu() - cpu_before;
    (f64::from(calls) / wall.as_secs_f64(), cpu / calls)
}

/// User + system CPU time of this process (all threads), from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name (field 2) may contain spaces; fields after it are space-separated.
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 overall, 12 and 13 after the name and state.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // USER_HZ is 100 on every Linux configuration Rust supports.
    Duration::from_millis(ticks * 10)
}

/// The zero-latency server: answers every request on a keep-alive connection with the same
/// Chat Completions body. Exits when its stdin closes.
fn serve() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    examen_rt::run(Backend::Tokio, async {
        let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        {
            let mut stdout = std::io::stdout();
            writeln!(stdout, "{port}").expect("report port");
            stdout.flush().expect("flush");
        }
        let response = Arc::new(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{RESPONSE_BODY}",
                RESPONSE_BODY.len()
            )
            .into_bytes(),
        );
        // Connection tasks stay alive as long as their handles; the list only grows to the
        // number of connections the benchmark opens.
        let mut connections = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let response = Arc::clone(&response);
            connections.push(examen_rt::spawn(answer(stream, response)));
        }
    });
}

async fn answer(mut stream: examen_rt::net::TcpStream, response: Arc<Vec<u8>>) {
    let mut buffer = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16384];
    loop {
        // One request: a head, then `content-length` bytes of body.
        let (head_end, length) = loop {
            if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..pos]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (pos + 4, length);
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..head_end + length);
        if stream.write_all(&response).await.is_err() {
            return;
        }
    }
}
