//! `examen-mock-server`: runs the loopback mock model server (OpenAI Chat Completions and
//! Anthropic Messages) from the command line.
//!
//! ```text
//! examen-mock-server [--port N] [--latency-ms MS] [--reply TEXT | --script FILE]
//!                    [--async-backend tokio|smol] [--exit-on-stdin-eof]
//! ```
//!
//! `--reply` gives every request the same answer (default `ANSWER: 4`); `--script` plays the
//! conversation in FILE instead, a `.json` list of turns or a `.jsonl` file with a turn a line
//! in examen's mockllm script format: a request with `n` assistant messages gets turn `n`.
//!
//! The first line on stdout is `listening on http://127.0.0.1:<port>/v1`, printed once the port
//! is bound, so a script can start it on port 0 and read the address. With
//! `--exit-on-stdin-eof` the server exits when its stdin closes (so it cannot outlive the script
//! that piped it) and prints its final stats as one JSON line.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use examen_mock_server::{read_script, Config, MockServer};
use examen_rt::Backend;

const USAGE: &str = "usage: examen-mock-server [--port N] [--latency-ms MS] \
[--reply TEXT | --script FILE] [--async-backend tokio|smol] [--exit-on-stdin-eof]";

struct Args {
    config: Config,
    backend: Backend,
    exit_on_stdin_eof: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut config = Config::default();
    let mut backend = None;
    let mut exit_on_stdin_eof = false;
    let mut reply_given = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag.as_str() {
            "--port" => {
                let raw = value("a port number")?;
                config.port = raw
                    .parse()
                    .map_err(|_| format!("--port: expected a port number 0-65535, got {raw:?}"))?;
            }
            "--latency-ms" => {
                let raw = value("milliseconds")?;
                let ms: f64 = raw
                    .parse()
                    .ok()
                    .filter(|ms: &f64| ms.is_finite() && *ms >= 0.0)
                    .ok_or_else(|| {
                        format!("--latency-ms: expected milliseconds >= 0, got {raw:?}")
                    })?;
                config.latency = Duration::from_secs_f64(ms / 1000.0);
            }
            "--reply" => {
                config.reply = value("the reply text")?;
                reply_given = true;
            }
            "--script" => {
                let path = value("a script file (.json or .jsonl)")?;
                let turns = read_script(std::path::Path::new(&path))
                    .map_err(|err| format!("--script: {err}"))?;
                config.script = Some(turns);
            }
            "--async-backend" => {
                let raw = value("tokio or smol")?;
                backend = Some(
                    raw.parse::<Backend>()
                        .map_err(|err| format!("--async-backend: {err}"))?,
                );
            }
            "--exit-on-stdin-eof" => exit_on_stdin_eof = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if reply_given && config.script.is_some() {
        return Err(
            "--reply and --script cannot be used together: the script gives every answer"
                .to_owned(),
        );
    }
    let backend = match backend {
        Some(backend) => backend,
        None => Backend::from_env().map_err(|err| err.to_string())?,
    };
    Ok(Args {
        config,
        backend,
        exit_on_stdin_eof,
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("examen-mock-server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Args {
        config,
        backend,
        exit_on_stdin_eof,
    } = args;
    examen_rt::run(backend, async move {
        let server = match MockServer::start(config).await {
            Ok(server) => server,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::FAILURE;
            }
        };
        {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "listening on {}", server.base_url());
            let _ = stdout.flush();
        }
        if exit_on_stdin_eof {
            examen_rt::to_thread(|| {
                let mut sink = [0u8; 4096];
                let mut stdin = std::io::stdin().lock();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            })
            .await;
            println!("{}", server.stats().to_json());
            ExitCode::SUCCESS
        } else {
            std::future::pending::<ExitCode>().await
        }
    })
}
