//! Subprocesses: [`run`] a command with its output captured, a deadline, and the whole process
//! group killed when the call is cancelled or times out.

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
    let work = run_to_end(command, input, program.clone());
    match timeout {
        None => work.await,
        Some(after) => match crate::time::timeout(after, work).await {
            Ok(result) => result,
            Err(_) => Err(ProcessError::TimedOut { program, after }),
        },
    }
}

async fn run_to_end(
    mut command: Command,
    input: Option<Vec<u8>>,
    program: String,
) -> Result<Output, ProcessError> {
    command.process_group(0);
    let has_input = input.is_some();
    let stdin = || {
        if has_input {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    let io_error = |source| ProcessError::Io {
        program: program.clone(),
        source,
    };
    let spawn_error = |source| ProcessError::Spawn {
        program: program.clone(),
        source,
    };
    match expect_context("process::run").spawner {
        Spawner::Tokio => {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::from(command)
                .stdin(stdin())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(spawn_error)?;
            let group = KillGroupOnDrop::new(child.id());
            let stdin = child.stdin.take();
            let feed = async move {
                if let (Some(mut stdin), Some(input)) = (stdin, input) {
                    // A process that exits without reading its input is not an error of ours.
                    let _ = stdin.write_all(&input).await;
                }
            };
            let ((), output) = futures_util::future::join(feed, child.wait_with_output()).await;
            let output = output.map_err(io_error)?;
            group.disarm();
            Ok(Output {
                status: output.status,
                stdout: output.stdout,
                stderr: output.stderr,
            })
        }
        Spawner::Smol(_) => {
            use futures_util::io::AsyncWriteExt;
            // async-process keeps stdio settings of its own, so they are set after the conversion.
            let mut child = async_process::Command::from(command)
                .stdin(stdin())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(spawn_error)?;
            let group = KillGroupOnDrop::new(Some(child.id()));
            let stdin = child.stdin.take();
            let feed = async move {
                if let (Some(mut stdin), Some(input)) = (stdin, input) {
                    let _ = stdin.write_all(&input).await;
                    let _ = stdin.close().await;
                }
            };
            let ((), output) = futures_util::future::join(feed, child.output()).await;
            let output = output.map_err(io_error)?;
            group.disarm();
            Ok(Output {
                status: output.status,
                stdout: output.stdout,
                stderr: output.stderr,
            })
        }
    }
}
