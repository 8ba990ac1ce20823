//! End-to-end tests of the `examen` binary. Each test drives the real executable in a temp
//! directory holding a copy of the README's example task, with `mockllm/model` or an
//! OpenAI-compatible server on 127.0.0.1, once per async backend; outputs are snapshotted with
//! insta, with times, ids and temp paths filtered (`support.rs`).

mod support;

/// `examen eval`: summaries, JSON records, option and variable precedence, exit codes 0/1/2.
mod eval;
/// Ctrl-C during an eval: a `cancelled` log and exit code 130.
mod interrupt;
/// `examen log dump|list|convert`, `examen list`, `examen env`, closed pipes.
mod log;
/// `--model openai-api/test/m` against a loopback server: keys, base URLs, retries, failures.
mod openai;
/// The rich display in a real pseudo-terminal.
mod pty;
/// The README's first command, exactly as written.
mod readme;
