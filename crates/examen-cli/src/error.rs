//! [`CliError`]: a one-line message and the exit code it maps to.
//!
//! Exit codes: 0 success; 1 the eval failed (its error policy tripped, or a log could not be
//! written); 2 bad usage or input (options, task files, model names, logs that cannot be read);
//! 130 interrupted.

use std::fmt;
use std::process::ExitCode;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Success,
    Failed,
    Usage,
    Interrupted,
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// An error to print on stderr (one line) before exiting with its code.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) exit: Exit,
    message: String,
    /// What to do about it, printed after a blank line as `hint: ...`.
    hint: Option<String>,
}

impl CliError {
    /// Bad usage or input: exit 2.
    pub(crate) fn usage(message: impl fmt::Display) -> CliError {
        CliError {
            exit: Exit::Usage,
            message: message.to_string(),
            hint: None,
        }
    }

    /// The work ran and failed: exit 1.
    pub(crate) fn failed(message: impl fmt::Display) -> CliError {
        CliError {
            exit: Exit::Failed,
            message: message.to_string(),
            hint: None,
        }
    }

    /// Interrupted: exit 130.
    pub(crate) fn interrupted() -> CliError {
        CliError {
            exit: Exit::Interrupted,
            message: "interrupted".into(),
            hint: None,
        }
    }

    /// Writing to stdout or stderr failed; a closed pipe is not an error (`examen ... | head`).
    pub(crate) fn io(err: std::io::Error) -> CliError {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            CliError {
                exit: Exit::Success,
                message: String::new(),
                hint: None,
            }
        } else {
            CliError::failed(format!("cannot write output: {err}"))
        }
    }

    pub(crate) fn is_silent(&self) -> bool {
        self.message.is_empty()
    }

    /// Adds a hint (what to do next), shown on its own line after the error.
    pub(crate) fn with_hint(mut self, hint: impl fmt::Display) -> CliError {
        self.hint = Some(hint.to_string());
        self
    }

    pub(crate) fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line: a multi-line cause (a YAML snippet) is folded.
        let mut lines = self
            .message
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty());
        if let Some(first) = lines.next() {
            f.write_str(first)?;
        }
        for line in lines {
            write!(f, " {}", line.trim_start())?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> CliError {
        CliError::io(err)
    }
}
