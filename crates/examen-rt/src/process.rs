//! Subprocesses: [`run`] a command with its output captured, a deadline, and the whole process
//! group killed when the call is cancelled or times out; [`exec`], the sandbox form, which
//! keeps the partial output of a command that timed out (after `SIGTERM`, then `SIGKILL`)
//! and counts output over a limit rather than cutting it silently.

use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::runtime::{expect_context, Spawner};

/// What a finished process left behind.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// How the process ended.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: Vec<u8>,
    /// Everything it wrote to standard error.
    pub stderr: Vec<u8>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout", &String::from_utf8_lossy(&self.stdout))
            .field("stderr", &String::from_utf8_lossy(&self.stderr))
            .finish()
    }
}

/// Why [`run`] gave no [`Output`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The program could not be started.
    #[error("could not start `{program}`: {source}")]
    Spawn {
        /// The program's name.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// Reading from or waiting for the process failed.
    #[error("`{program}` failed: {source}")]
    Io {
        /// The program's name.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// The deadline passed; the process group was killed.
    #[error("`{program}` did not finish within {after:?} and was killed")]
    TimedOut {
        /// The program's name.
        program: String,
        /// The deadline it was given.
        after: Duration,
    },
}

/// Kills a process group when dropped, unless disarmed once the process ended by itself.
struct KillGroupOnDrop {
    pgid: Option<rustix::process::Pid>,
}

impl KillGroupOnDrop {
    fn new(pid: Option<u32>) -> KillGroupOnDrop {
        let pgid = pid
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(rustix::process::Pid::from_raw);
        KillGroupOnDrop { pgid }
    }

    fn disarm(mut self) {
        self.pgid = None;
    }

    fn signal(&self, signal: rustix::process::Signal) {
        if let Some(pgid) = self.pgid {
            // The group may already be gone.
            let _ = rustix::process::kill_process_group(pgid, signal);
        }
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // The group may already be gone; there is nothing useful to do with an error here.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

/// Runs `command` to its end, feeding it `input` on standard input (or nothing) and capturing
/// standard output and standard error.
///
/// The process is started in a process group of its own. If `timeout` passes, or the returned
/// future is dropped (cancelled), the whole group is killed with `SIGKILL`, so no grandchild is
/// left behind either. A non-zero exit is not an error: look at [`Output::status`].
pub async fn run(
    command: Command,
    input: Option<Vec<u8>>,
    timeout: Option<Duration>,
) -> Result<Output, ProcessError> {
    let program = command.get_program().to_string_lossy().into_owned();
    // `exec` with no grace period (the kill follows at once) and nothing left out.
    let options = ExecOptions {
        input,
        timeout,
        kill_grace: Duration::ZERO,
        output_limit: usize::MAX,
    };
    let execution = exec(command, options).await?;
    match execution.status {
        Some(status) if !execution.timed_out => Ok(Output {
            status,
            stdout: execution.stdout,
            stderr: execution.stderr,
        }),
        _ => Err(ProcessError::TimedOut {
            program,
            after: timeout.unwrap_or_default(),
        }),
    }
}

/// How [`exec`] runs a command.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Written to the command's standard input, which is then closed (`None`: no input).
    pub input: Option<Vec<u8>>,
    /// How long the command may run. When it passes, the process group gets `SIGTERM`, then
    /// `SIGKILL` [`kill_grace`](Self::kill_grace) later if it is still there.
    pub timeout: Option<Duration>,
    /// Between `SIGTERM` and `SIGKILL` after a timeout.
    pub kill_grace: Duration,
    /// Bytes kept of each output stream: the last ones, as Inspect keeps; what is over is
    /// counted in [`Execution::stdout_dropped`] and [`Execution::stderr_dropped`].
    pub output_limit: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            input: None,
            timeout: None,
            kill_grace: Duration::from_secs(2),
            output_limit: 10 * 1024 * 1024,
        }
    }
}

/// What [`exec`] saw of a command: its end (when it had one) and its output, partial when it
/// timed out.
#[derive(Clone, PartialEq, Eq)]
pub struct Execution {
    /// How the process ended; `None` when it was killed and its pipes were still held open
    /// (by a process that left its group) after the kill.
    pub status: Option<ExitStatus>,
    /// Its standard output (the last [`ExecOptions::output_limit`] bytes).
    pub stdout: Vec<u8>,
    /// Its standard error (the last [`ExecOptions::output_limit`] bytes).
    pub stderr: Vec<u8>,
    /// Bytes of standard output over the limit, left out from the start.
    pub stdout_dropped: u64,
    /// Bytes of standard error over the limit, left out from the start.
    pub stderr_dropped: u64,
    /// The timeout passed and the process group was signalled.
    pub timed_out: bool,
}

impl fmt::Debug for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Execution")
            .field("status", &self.status)
            .field("stdout", &String::from_utf8_lossy(&self.stdout))
            .field("stderr", &String::from_utf8_lossy(&self.stderr))
            .field("stdout_dropped", &self.stdout_dropped)
            .field("stderr_dropped", &self.stderr_dropped)
            .field("timed_out", &self.timed_out)
            .finish()
    }
}

/// The last `limit` bytes of a stream, and how many came before them: how [`exec`] keeps a
/// command's output, and how other ways of running commands (a container's exec stream) keep
/// theirs the same way.
#[derive(Debug, Default)]
pub struct Tail {
    buf: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl Tail {
    /// Keeps up to `limit` bytes.
    pub fn new(limit: usize) -> Tail {
        Tail {
            buf: Vec::new(),
            limit,
            dropped: 0,
        }
    }

    /// Takes in the next `chunk` of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        // Trimmed once the buffer holds twice the limit, so a stream far over it costs a
        // copy per `limit` bytes rather than per chunk.
        if self.buf.len() > self.limit.saturating_mul(2).max(64 * 1024) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.buf.len() > self.limit {
            let over = self.buf.len() - self.limit;
            self.buf.drain(..over);
            self.dropped += over as u64;
        }
    }

    /// The bytes kept and how many were left out before them.
    pub fn finish(mut self) -> (Vec<u8>, u64) {
        self.trim();
        (self.buf, self.dropped)
    }
}

/// Reads `$stream` to its end (or its first error) into the [`Tail`] `$tail`, with whichever
/// backend's `AsyncReadExt` is in scope: the loop is the same on both, the traits are not.
macro_rules! drain_into {
    ($stream:expr, $tail:expr) => {
        async {
            let mut chunk = vec![0; 16 * 1024];
            while let Ok(n @ 1..) = $stream.read(&mut chunk).await {
                $tail.push(&chunk[..n]);
            }
        }
    };
}

/// How long output is still read once the group has been killed: a process that left the
/// group (with `setsid`) could hold the pipes open for ever.
const DRAIN_AFTER_KILL: Duration = Duration::from_millis(500);

/// Runs `command` in a process group of its own with `options`: Inspect's `exec` on this
/// machine. Unlike [`run`], a timeout is not an error: the output read so far comes back with
/// [`Execution::timed_out`] set. Output over the limit is counted, never silently cut.
/// Dropping the future (cancellation) kills the whole group with `SIGKILL`.
pub async fn exec(mut command: Command, options: ExecOptions) -> Result<Execution, ProcessError> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.process_group(0);
    let io_error = |source| ProcessError::Io {
        program: program.clone(),
        source,
    };
    let spawn_error = |source| ProcessError::Spawn {
        program: program.clone(),
        source,
    };
    let stdin = if options.input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut out = Tail::new(options.output_limit);
    let mut err = Tail::new(options.output_limit);
    let (status, timed_out) = match expect_context("process::exec").spawner {
        Spawner::Tokio => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut child = tokio::process::Command::from(command)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(spawn_error)?;
            let group = KillGroupOnDrop::new(child.id());
            let stdin = child.stdin.take();
            let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take())
            else {
                return Err(io_error(io::Error::other("the output pipes are missing")));
            };
            let input = options.input;
            let feed = async move {
                if let (Some(mut stdin), Some(input)) = (stdin, input) {
                    // A process that exits without reading its input is not an error of ours.
                    let _ = stdin.write_all(&input).await;
                }
            };
            let all = async {
                let ((), (), (), status) = futures_util::future::join4(
                    feed,
                    drain_into!(stdout, out),
                    drain_into!(stderr, err),
                    child.wait(),
                )
                .await;
                status
            };
            let outcome = wait_with_deadline(all, &group, options.timeout, options.kill_grace)
                .await
                .map_err(io_error)?;
            group.disarm();
            outcome
        }
        Spawner::Smol(_) => {
            use futures_util::io::{AsyncReadExt, AsyncWriteExt};
            let mut child = async_process::Command::from(command)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(spawn_error)?;
            let group = KillGroupOnDrop::new(Some(child.id()));
            let stdin = child.stdin.take();
            let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take())
            else {
                return Err(io_error(io::Error::other("the output pipes are missing")));
            };
            let input = options.input;
            let feed = async move {
                if let (Some(mut stdin), Some(input)) = (stdin, input) {
                    let _ = stdin.write_all(&input).await;
                    let _ = stdin.close().await;
                }
            };
            let all = async {
                let ((), (), (), status) = futures_util::future::join4(
                    feed,
                    drain_into!(stdout, out),
                    drain_into!(stderr, err),
                    child.status(),
                )
                .await;
                status
            };
            let outcome = wait_with_deadline(all, &group, options.timeout, options.kill_grace)
                .await
                .map_err(io_error)?;
            group.disarm();
            outcome
        }
    };
    let (stdout, stdout_dropped) = out.finish();
    let (stderr, stderr_dropped) = err.finish();
    Ok(Execution {
        status,
        stdout,
        stderr,
        stdout_dropped,
        stderr_dropped,
        timed_out,
    })
}

/// Drives `all` (the process's I/O and its exit) to its end, or past `timeout`: then
/// `SIGTERM` to the group, `SIGKILL` after `grace`, and a last short drain of the pipes.
/// Gives the exit status (if there was one) and whether the timeout passed.
async fn wait_with_deadline<F>(
    all: F,
    group: &KillGroupOnDrop,
    timeout: Option<Duration>,
    grace: Duration,
) -> io::Result<(Option<ExitStatus>, bool)>
where
    F: std::future::Future<Output = io::Result<ExitStatus>>,
{
    let mut all = std::pin::pin!(all);
    let Some(timeout) = timeout else {
        return all.await.map(|status| (Some(status), false));
    };
    if let Ok(status) = crate::time::timeout(timeout, all.as_mut()).await {
        return status.map(|status| (Some(status), false));
    }
    group.signal(rustix::process::Signal::TERM);
    if let Ok(status) = crate::time::timeout(grace, all.as_mut()).await {
        return status.map(|status| (Some(status), true));
    }
    group.signal(rustix::process::Signal::KILL);
    match crate::time::timeout(DRAIN_AFTER_KILL, all.as_mut()).await {
        Ok(status) => status.map(|status| (Some(status), true)),
        Err(_) => Ok((None, true)),
    }
}
