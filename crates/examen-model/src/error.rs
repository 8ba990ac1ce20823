//! [`ModelError`]: every way getting a model or a generation can fail, as one-line messages that
//! name the provider and what to check, never a credential.

use std::path::Path;

use std::time::Duration;

use crate::model::ModelCall;
use crate::retry::RetryRecord;

/// A failed model lookup or generation.
///
/// `Display` is one line. Branch on the predicates ([`is_auth`](Self::is_auth),
/// [`is_retryable`](Self::is_retryable), ...) rather than on the text. The retries made before
/// the failure are kept for the log ([`retries`](Self::retries)).
#[derive(Debug, Clone)]
pub struct ModelError {
    kind: Box<ErrorKind>,
    retries: Vec<RetryRecord>,
    record: Option<Box<CallRecord>>,
}

/// What a failed generation cost, recorded as a successful one is.
#[derive(Debug, Clone)]
struct CallRecord {
    call: ModelCall,
    working_time: Duration,
    limiter_wait: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ErrorKind {
    #[error("invalid model name `{name}`: expected {expected}")]
    BadName {
        name: String,
        expected: &'static str,
    },
    #[error("unknown model provider `{provider}` in `{name}`: expected one of {known}")]
    UnknownProvider {
        provider: String,
        name: String,
        /// The registered model APIs, as `` `a`, `b` ``.
        known: String,
    },
    /// A registered model API could not be set up.
    #[error("{provider}: {message}")]
    ApiSetup { provider: String, message: String },
    /// A registered model API's call failed.
    #[error("{provider}: {message}")]
    Api { provider: String, message: String },
    #[error("{provider}: no API key: set {var} in the environment or in a .env file")]
    MissingKey { provider: String, var: String },
    #[error("{provider}: no base URL: set {var} in the environment or in a .env file, or pass a model base URL")]
    MissingBaseUrl { provider: String, var: String },
    #[error("{provider}: invalid model argument: {message}")]
    BadArg { provider: String, message: String },
    #[error("{provider}: proxy configuration error: {message}")]
    ProxyConfig { provider: String, message: String },
    #[error("{provider}: invalid generation option: {message}")]
    BadConfig { provider: String, message: String },
    #[error("{location}: {message}")]
    DotEnv { location: String, message: String },
    #[error("{provider}: authentication failed (HTTP {status}){message}; hint: check {var}")]
    Auth {
        provider: String,
        status: u16,
        /// The server's message with a leading `: `, or empty.
        message: String,
        var: String,
    },
    #[error("{provider}: request rejected (HTTP {status}): {message}")]
    Rejected {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("{provider}: {reason}")]
    Transient {
        provider: String,
        reason: String,
        status: Option<u16>,
        timeout: bool,
    },
    #[error(
        "{provider}: gave up after {} ({limit}); last error: {last}",
        attempts_text(*.attempts)
    )]
    GaveUp {
        provider: String,
        attempts: u32,
        limit: String,
        last: String,
        status: Option<u16>,
        timeout: bool,
    },
    #[error("{provider}: {message}")]
    Http { provider: String, message: String },
    #[error("{provider}: unexpected response: {message}")]
    BadResponse { provider: String, message: String },
    #[error("{provider}: {message}")]
    Mock { provider: String, message: String },
}

/// `1 attempt`, `3 attempts`.
fn attempts_text(attempts: u32) -> String {
    if attempts == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{attempts} attempts")
    }
}

impl ModelError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind: Box::new(kind),
            retries: Vec::new(),
            record: None,
        }
    }

    pub(crate) fn with_retries(mut self, retries: Vec<RetryRecord>) -> Self {
        self.retries = retries;
        self
    }

    pub(crate) fn with_call(
        mut self,
        call: ModelCall,
        working_time: Duration,
        limiter_wait: Duration,
    ) -> Self {
        self.record = Some(Box::new(CallRecord {
            call,
            working_time,
            limiter_wait,
        }));
        self
    }

    pub(crate) fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub(crate) fn bad_name(name: &str, expected: &'static str) -> Self {
        Self::new(ErrorKind::BadName {
            name: name.to_owned(),
            expected,
        })
    }

    pub(crate) fn bad_arg(provider: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadArg {
            provider: provider.to_owned(),
            message: message.into(),
        })
    }

    pub(crate) fn bad_config(provider: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadConfig {
            provider: provider.to_owned(),
            message: message.into(),
        })
    }

    pub(crate) fn dotenv(path: &Path, line: usize, message: impl Into<String>) -> Self {
        let location = if line == 0 {
            path.display().to_string()
        } else {
            format!("{}:{line}", path.display())
        };
        Self::new(ErrorKind::DotEnv {
            location,
            message: message.into(),
        })
    }

    /// The provider rejected the credentials (HTTP 401 or 403).
    pub fn is_auth(&self) -> bool {
        matches!(*self.kind, ErrorKind::Auth { .. })
    }

    /// The failure was transient (a retryable status, a connection problem, a timeout, a
    /// malformed body) and retrying later may succeed; true also when retries ran out.
    pub fn is_retryable(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::Transient { .. } | ErrorKind::GaveUp { .. }
        )
    }

    /// The last failure was HTTP 429.
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// The last failure was a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::Transient { timeout: true, .. } | ErrorKind::GaveUp { timeout: true, .. }
        )
    }

    /// The model name, provider, arguments, environment or `.env` file is wrong: nothing was
    /// sent.
    pub fn is_configuration(&self) -> bool {
        matches!(
            *self.kind,
            ErrorKind::BadName { .. }
                | ErrorKind::UnknownProvider { .. }
                | ErrorKind::ApiSetup { .. }
                | ErrorKind::MissingKey { .. }
                | ErrorKind::MissingBaseUrl { .. }
                | ErrorKind::BadArg { .. }
                | ErrorKind::BadConfig { .. }
                | ErrorKind::ProxyConfig { .. }
                | ErrorKind::DotEnv { .. }
        )
    }

    /// The HTTP status of the last failed attempt, when there was one.
    pub fn status(&self) -> Option<u16> {
        match *self.kind {
            ErrorKind::Auth { status, .. } | ErrorKind::Rejected { status, .. } => Some(status),
            ErrorKind::Transient { status, .. } | ErrorKind::GaveUp { status, .. } => status,
            _ => None,
        }
    }

    /// The retries made before this error, oldest first.
    pub fn retries(&self) -> &[RetryRecord] {
        &self.retries
    }

    /// The raw exchange of the last attempt, when a request was built: the body sent, the
    /// error body received (JSON `null` when there was none) and how long that attempt took.
    /// Like [`Generation::call`](crate::Generation::call), it never holds the API key.
    pub fn call(&self) -> Option<&ModelCall> {
        self.record.as_ref().map(|r| &r.call)
    }

    /// Time spent working on the failed call, less [`limiter_wait`](Self::limiter_wait) (zero
    /// when nothing was sent).
    pub fn working_time(&self) -> Duration {
        self.record
            .as_ref()
            .map_or(Duration::ZERO, |r| r.working_time)
    }

    /// Time the failed call spent waiting for a `max_connections` slot.
    pub fn limiter_wait(&self) -> Duration {
        self.record
            .as_ref()
            .map_or(Duration::ZERO, |r| r.limiter_wait)
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for ModelError {}
