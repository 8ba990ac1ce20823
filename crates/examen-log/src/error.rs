//! Errors of the log reader and writer. Every error names the file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Result alias for this crate.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// What went wrong, and in which file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is not a readable zip archive (e.g. a crashed `.eval` without a
    /// central directory: use [`crate::recover`]).
    #[error("{}: not a zip file: {reason}", path.display())]
    NotZip {
        /// The file.
        path: PathBuf,
        /// What was expected and not found.
        reason: String,
    },
    /// A zip member or JSON member is missing or unreadable.
    #[error("{}: {member}: {reason}", path.display())]
    Member {
        /// The file.
        path: PathBuf,
        /// Member name (zip member, or JSON key path).
        member: String,
        /// What was wrong.
        reason: String,
    },
    /// The file's contents are not a log of the expected shape.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected.
        reason: String,
    },
    /// A sample could not be prepared for a log (before any file is involved).
    #[error("cannot prepare {what} for the log: {reason}")]
    Sample {
        /// The sample (its member name when known).
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A value could not be serialized.
    #[error("{}: cannot serialize {what}: {reason}", path.display())]
    Serialize {
        /// The file being written.
        path: PathBuf,
        /// What was being serialized.
        what: String,
        /// Why.
        reason: String,
    },
}

impl LogError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        LogError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn member(
        path: &Path,
        member: impl Into<String>,
        reason: impl fmt::Display,
    ) -> Self {
        LogError::Member {
            path: path.to_owned(),
            member: member.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn format(path: &Path, reason: impl Into<String>) -> Self {
        LogError::Format {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn json(path: &Path, member: &str, e: &serde_json::Error) -> Self {
        // serde_json's message ends with "at line L column C".
        LogError::member(path, member, format_args!("invalid JSON: {e}"))
    }

    pub(crate) fn from_zip(path: &Path, e: crate::zip::ZipError) -> Self {
        match e {
            crate::zip::ZipError::Io(source) => LogError::io(path, source),
            crate::zip::ZipError::Format(reason) => LogError::NotZip {
                path: path.to_owned(),
                reason,
            },
            crate::zip::ZipError::Member { name, reason } => LogError::member(path, name, reason),
        }
    }
}
