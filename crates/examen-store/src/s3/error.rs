//! What an S3 request can fail with, as one line a user can act on.

use std::fmt;

/// An S3 request that failed, after any retries.
#[derive(Debug)]
pub struct S3Error {
    kind: S3ErrorKind,
    /// `s3://bucket/key` (or `s3://bucket` for bucket-level calls).
    target: String,
    message: String,
}

/// The failures callers decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum S3ErrorKind {
    /// The bucket does not exist.
    NoSuchBucket,
    /// The object does not exist.
    NotFound,
    /// The credentials are refused or lack permission.
    AccessDenied,
    /// The bucket lives in another region than the one the request was signed for.
    WrongRegion {
        /// The region S3 named, when it did.
        region: Option<String>,
    },
    /// A conditional write lost: another writer changed (or created) the object.
    Conflict,
    /// The multipart upload is gone (aborted, or completed already).
    NoSuchUpload,
    /// No usable credentials (a credential source failed).
    Credentials,
    /// The server could not be reached or kept failing (after retries).
    Unavailable,
    /// Anything else S3 said no to.
    Other,
}

impl S3Error {
    pub(crate) fn new(
        kind: S3ErrorKind,
        target: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            target: target.into(),
            message: message.into(),
        }
    }

    /// Which failure this is.
    pub fn kind(&self) -> &S3ErrorKind {
        &self.kind
    }

    /// True when a conditional write found the object changed by someone else.
    pub fn is_conflict(&self) -> bool {
        self.kind == S3ErrorKind::Conflict
    }

    /// True when the object (or its bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, S3ErrorKind::NotFound)
    }

    /// The object or bucket the request was for (`s3://bucket/key`).
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.message)
    }
}

impl std::error::Error for S3Error {}
