//! End-to-end tests of the `examen` binary. Each test drives the real executable in a temp
//! directory holding a copy of the README's example task, with `mockllm/model` or an
//! OpenAI-compatible server on 127.0.0.1, once per async backend; outputs are snapshotted with
//! insta, with times, ids and temp paths filtered (`support.rs`).

mod support;

/// The engine's fault-injecting OpenAI-compatible loopback server, shared with its tests.
#[path = "../../../examen/tests/it/fault_server.rs"]
mod fault_server;

/// Bad input of every kind: one-line errors naming the file, exit code 2, no log left behind.
mod bad_input;
/// The counts of a run agree in the progress line, the summary, `--json` and the log.
mod counts;
/// `examen eval`: summaries, JSON records, option and variable precedence, exit codes 0/1/2.
mod eval;
/// Input that used to run with a wrong meaning (empty names, targets or selections, ids too
/// long for the log, unnamed config fields): exit code 2 naming the file, line or option.
mod input_checks;
/// Ctrl-C during an eval: a `cancelled` log and exit code 130.
mod interrupt;
/// `examen log dump|list|convert`, `examen list`, `examen env`, closed pipes.
mod log;
/// More connections asked for than the open-file limit allows: capped, said, and the run
/// completes.
mod open_files;
/// `--model openai-api/test/m` against a loopback server: keys, base URLs, retries, failures.
mod openai;
/// The rich display in a real pseudo-terminal.
mod pty;
/// The README's first command, exactly as written.
mod readme;
/// `examen eval-retry` after SIGKILL, Ctrl-C and a second signal.
mod retry;
/// Logs in S3: every log command on `s3://`, a killed eval continued, the bytes flushes upload.
mod s3;
/// The tests' S3-protocol server.
mod s3_server;
/// `examen score`: appending and overwriting scores on examen's and Inspect's logs.
mod score;
/// An API key never reaches logs, the terminal or errors.
mod secrets;
/// `--timeout`/`--attempt-timeout` (fractions accepted, zero refused); unsent-option warnings.
mod timeouts;
/// Small usage errors, worded so the user can act on them.
mod usage;
