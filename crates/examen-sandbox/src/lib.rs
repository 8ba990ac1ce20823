//! Sandboxes: where a sample's commands run, with Inspect's API and lifecycle
//! (`util/_sandbox/environment.py`).
//!
//! A [`Sandbox`] is one environment a sample's tools use: it runs commands
//! ([`Sandbox::exec`]), reads and writes files, and tells a person how to get a shell in it
//! ([`Sandbox::connection`]). A [`SandboxProvider`] makes them and takes them down, in
//! Inspect's order: [`task_init`](SandboxProvider::task_init) once per task,
//! [`sample_init`](SandboxProvider::sample_init) per sample (a named set of environments,
//! [`SandboxEnvironments`], whose first entry, or the one named `default`, is the default),
//! [`sample_cleanup`](SandboxProvider::sample_cleanup) when the sample ends (told whether it
//! was interrupted) and [`task_cleanup`](SandboxProvider::task_cleanup) at the end of the run.
//! Providers are found by name in a [`ProviderRegistry`]; custom ones are registered from Rust.
//!
//! Where Inspect hurts its users, this crate does better: output over the per-stream limit is
//! counted on the [`ExecResult`] rather than silently cut; a command that times out gives
//! back what it had written ([`SandboxError::Timeout`] carries the partial result); a
//! sandbox that is gone is [`SandboxError::Unavailable`], not an ordinary command failure.
//!
//! Everything runs through examen-rt (processes, timers, blocking file I/O), so every provider
//! works on tokio and on smol, and none starts a runtime of its own.

#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bwrap;
pub mod docker;
pub mod local;
pub mod spec;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

pub use bwrap::BwrapProvider;
pub use docker::DockerProvider;
pub use local::LocalProvider;
pub use spec::SandboxSpec;

/// A boxed future, as the object-safe traits here return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Inspect's default cap on each output stream of a command
/// (`INSPECT_SANDBOX_MAX_EXEC_OUTPUT_SIZE`): 10 MiB.
pub const DEFAULT_OUTPUT_LIMIT: usize = 10 * 1024 * 1024;

/// Inspect's cap on a file [`Sandbox::read_file`] reads: 100 MiB.
pub const MAX_READ_FILE_SIZE: u64 = 100 * 1024 * 1024;

/// A command for [`Sandbox::exec`] and how to run it (Inspect's `exec` arguments).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecRequest {
    /// The program and its arguments.
    pub cmd: Vec<String>,
    /// Written to its standard input, which is then closed.
    pub input: Option<Vec<u8>>,
    /// Where it runs; a relative directory is taken against the sandbox's working directory,
    /// which is also where it runs when this is `None`.
    pub cwd: Option<String>,
    /// Variables added to its environment.
    pub env: Vec<(String, String)>,
    /// The user it runs as (`None`: the sandbox's default user).
    pub user: Option<String>,
    /// How long it may run.
    pub timeout: Option<Duration>,
}

impl ExecRequest {
    /// A request to run `cmd` with nothing else set.
    pub fn new<I, S>(cmd: I) -> ExecRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecRequest {
            cmd: cmd.into_iter().map(Into::into).collect(),
            ..ExecRequest::default()
        }
    }

    /// With `input` on standard input.
    pub fn input(mut self, input: impl Into<Vec<u8>>) -> ExecRequest {
        self.input = Some(input.into());
        self
    }

    /// Running in `cwd`.
    pub fn cwd(mut self, cwd: impl Into<String>) -> ExecRequest {
        self.cwd = Some(cwd.into());
        self
    }

    /// With `name=value` in its environment.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> ExecRequest {
        self.env.push((name.into(), value.into()));
        self
    }

    /// As `user`.
    pub fn user(mut self, user: impl Into<String>) -> ExecRequest {
        self.user = Some(user.into());
        self
    }

    /// Killed (with everything it started) after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> ExecRequest {
        self.timeout = Some(timeout);
        self
    }
}

/// What a command did (Inspect's `ExecResult`), with what was left out of its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecResult {
    /// It exited with status 0.
    pub success: bool,
    /// Its exit status; 128 + the signal's number when a signal ended it, as a shell says.
    pub returncode: i32,
    /// Its standard output (decoded as UTF-8, invalid bytes replaced).
    pub stdout: String,
    /// Its standard error (decoded as UTF-8, invalid bytes replaced).
    pub stderr: String,
    /// Bytes of standard output over the sandbox's output limit, left out from the start
    /// (Inspect keeps the end too, but says nothing).
    pub stdout_truncated: u64,
    /// Bytes of standard error over the limit, left out from the start.
    pub stderr_truncated: u64,
}

impl ExecResult {
    /// Some output was left out ([`stdout_truncated`](Self::stdout_truncated) or
    /// [`stderr_truncated`](Self::stderr_truncated)).
    pub fn truncated(&self) -> bool {
        self.stdout_truncated > 0 || self.stderr_truncated > 0
    }
}

/// How a person gets a shell in a sandbox (Inspect's `SandboxConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConnection {
    /// The kind of sandbox (`local`, `docker`, ...).
    pub kind: String,
    /// A shell command that opens a shell in it.
    pub command: String,
    /// The container, for providers that have one.
    pub container: Option<String>,
}

/// Why a sandbox operation failed. [`kind`](Self::kind) gives Inspect's tool-error type for
/// the errors a model is shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The command ran past its timeout and was killed; what it had written is kept.
    #[error("Command timed out before completing.")]
    Timeout {
        /// What the command had done when it was killed.
        partial: Box<ExecResult>,
    },
    /// No such file.
    #[error("File not found: {path}")]
    FileNotFound {
        /// The file, as it was asked for.
        path: String,
    },
    /// The path is a directory.
    #[error("Is a directory: {path}")]
    IsADirectory {
        /// The path, as it was asked for.
        path: String,
    },
    /// The sandbox's user may not do this.
    #[error("Permission denied: {path}")]
    PermissionDenied {
        /// The path, as it was asked for.
        path: String,
    },
    /// A file to read as text is not UTF-8.
    #[error("{path} is not valid UTF-8 text")]
    UnicodeDecode {
        /// The file.
        path: String,
    },
    /// A file is larger than [`MAX_READ_FILE_SIZE`].
    #[error("File {path} is {size} bytes, over the {limit}-byte limit for reading")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The sandbox is gone (it died or was removed mid-sample): further calls cannot work.
    #[error("the sandbox is no longer available: {0}")]
    Unavailable(String),
    /// The request cannot be carried out as asked (an empty command, an unknown user...).
    #[error("{0}")]
    Invalid(String),
    /// Anything else, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl SandboxError {
    /// Inspect's tool-error type for this error.
    pub fn kind(&self) -> examen_types::ToolCallErrorType {
        use examen_types::ToolCallErrorType as T;
        match self {
            SandboxError::Timeout { .. } => T::Timeout,
            SandboxError::FileNotFound { .. } => T::FileNotFound,
            SandboxError::IsADirectory { .. } => T::IsADirectory,
            SandboxError::PermissionDenied { .. } => T::Permission,
            SandboxError::UnicodeDecode { .. } => T::UnicodeDecode,
            SandboxError::TooLarge { .. } => T::Limit,
            SandboxError::Unavailable(_) => T::SandboxUnavailable,
            SandboxError::Invalid(_) | SandboxError::Io { .. } => T::Unknown,
        }
    }

    /// The error for a file operation on `path` that failed with `error`.
    pub fn from_file_error(path: &str, what: &str, error: std::io::Error) -> SandboxError {
        use std::io::ErrorKind as K;
        let path = path.to_owned();
        match error.kind() {
            K::NotFound => SandboxError::FileNotFound { path },
            K::IsADirectory => SandboxError::IsADirectory { path },
            K::PermissionDenied => SandboxError::PermissionDenied { path },
            _ => SandboxError::Io {
                what: format!("{what} {path}"),
                source: error,
            },
        }
    }
}

/// One environment a sample's commands run in (Inspect's `SandboxEnvironment`).
///
/// Calls may run side by side (a model's parallel tool calls), so a sandbox takes `&self`.
pub trait Sandbox: Send + Sync + fmt::Debug {
    /// Runs `request.cmd`. A non-zero exit is a result, not an error; a timeout is
    /// [`SandboxError::Timeout`] with the partial result.
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, SandboxError>>;

    /// Writes `contents` to `path` (relative: against the working directory), making its
    /// parent directories.
    fn write_file<'a>(
        &'a self,
        path: &'a str,
        contents: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SandboxError>>;

    /// The bytes of the file at `path`, up to [`MAX_READ_FILE_SIZE`].
    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SandboxError>>;

    /// How a person gets a shell in this sandbox.
    fn connection(&self) -> Result<SandboxConnection, SandboxError>;

    /// The sandbox as its own type (Inspect's `as_type`), for its provider's cleanup and for
    /// code that needs a provider's extras.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl dyn Sandbox {
    /// The file at `path` as text; line endings are kept as they are (CRLF included).
    pub async fn read_text(&self, path: &str) -> Result<String, SandboxError> {
        let bytes = self.read_file(path).await?;
        String::from_utf8(bytes).map_err(|_| SandboxError::UnicodeDecode {
            path: path.to_owned(),
        })
    }
}

/// A sample's sandboxes by name, in the order the provider made them.
#[derive(Clone, Default)]
pub struct SandboxEnvironments {
    envs: IndexMap<String, Arc<dyn Sandbox>>,
}

impl fmt::Debug for SandboxEnvironments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.envs.iter()).finish()
    }
}

impl SandboxEnvironments {
    /// No environments yet.
    pub fn new() -> SandboxEnvironments {
        SandboxEnvironments::default()
    }

    /// Adds `sandbox` as `name` (replacing one of the same name, in its place).
    pub fn insert(&mut self, name: impl Into<String>, sandbox: Arc<dyn Sandbox>) {
        self.envs.insert(name.into(), sandbox);
    }

    /// The environment named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Sandbox>> {
        self.envs.get(name)
    }

    /// The default environment: the one named `default`, else the first (Inspect's rule).
    pub fn default_sandbox(&self) -> Option<&Arc<dyn Sandbox>> {
        self.envs
            .get("default")
            .or_else(|| self.envs.first().map(|(_, sandbox)| sandbox))
    }

    /// The environments that are of the provider's own type `T`, in order: what a provider's
    /// cleanup takes down.
    pub fn of_type<T: 'static>(&self) -> impl Iterator<Item = &T> {
        self.envs
            .values()
            .filter_map(|env| env.as_any().downcast_ref::<T>())
    }

    /// The environments' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.envs.keys().map(String::as_str)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// There are none.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }
}

/// A sandbox type's configuration as the task gave it (the `CONFIG` of `TYPE:CONFIG`, or
/// the second element of `[type, config]`): usually a file, resolved against the task file's
/// directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The configuration, as given (`None`: the provider's default).
    pub config: Option<String>,
}

/// What a provider is told about the sample it makes sandboxes for.
#[derive(Debug, Clone, Default)]
pub struct SampleInfo {
    /// The task's name.
    pub task: String,
    /// The eval's id (providers label what they make with it, so leftovers can be found).
    pub eval_id: String,
    /// The sample's id.
    pub sample_id: String,
    /// The epoch.
    pub epoch: u64,
    /// The sample's metadata.
    pub metadata: examen_types::JsonObject,
}

/// Something a provider made and never took down (a run under `--no-sandbox-cleanup`, or one
/// that crashed), found by its labels rather than by a state file, for
/// `examen sandbox cleanup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// What `examen sandbox cleanup PROVIDER ID` names it by (a directory, a compose
    /// project...).
    pub id: String,
    /// The eval it was made for, from its label (empty when the label has none).
    pub eval_id: String,
    /// What it is, for a person (`directory /tmp/examen-local-...`, `container ...`).
    pub description: String,
}

/// A kind of sandbox (Inspect's `SandboxEnvironment` classmethods): makes each sample's
/// environments and takes them down.
pub trait SandboxProvider: Send + Sync + fmt::Debug {
    /// The name tasks give (`local`, `bwrap`, `docker`).
    fn name(&self) -> &str;

    /// How many samples may hold sandboxes of this kind at once when the run does not say
    /// (`max_sandboxes`); `None`: no limit.
    fn default_concurrency(&self) -> Option<usize> {
        None
    }

    /// Whether it takes a Dockerfile or compose file as its configuration, so that a
    /// sample's such file is carried over to it (Inspect's `is_docker_compatible`).
    fn is_docker_compatible(&self) -> bool {
        false
    }

    /// Once per task and configuration, before its first sample (build or check images...).
    fn task_init<'a>(
        &'a self,
        _task: &'a str,
        _config: &'a SandboxConfig,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async { Ok(()) })
    }

    /// The environments of one sample.
    fn sample_init<'a>(
        &'a self,
        config: &'a SandboxConfig,
        sample: &'a SampleInfo,
    ) -> BoxFuture<'a, Result<SandboxEnvironments, SandboxError>>;

    /// Takes down a sample's environments; `interrupted` when the sample did not end on its
    /// own (an error, a limit, cancellation). Runs shielded from cancellation.
    fn sample_cleanup<'a>(
        &'a self,
        config: &'a SandboxConfig,
        environments: SandboxEnvironments,
        interrupted: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>>;

    /// Once per task and configuration, after its last sample; `cleanup` is false under
    /// `--no-sandbox-cleanup`.
    fn task_cleanup<'a>(
        &'a self,
        _task: &'a str,
        _config: &'a SandboxConfig,
        _cleanup: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async { Ok(()) })
    }

    /// What this provider made and did not take down, found by its labels (Inspect's
    /// `cli_cleanup` lists them the same way). Those of a running eval are listed too.
    fn leftovers(&self) -> BoxFuture<'_, Result<Vec<Leftover>, SandboxError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Removes one of [`leftovers`](Self::leftovers).
    fn remove_leftover<'a>(
        &'a self,
        leftover: &'a Leftover,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            Err(SandboxError::Invalid(format!(
                "the `{}` sandbox leaves nothing to remove, so it cannot remove {}",
                self.name(),
                leftover.id
            )))
        })
    }
}

/// The sandbox providers a run can use, by name: the built-in ones and any registered from
/// Rust.
#[derive(Debug, Clone)]
pub struct ProviderRegistry {
    providers: IndexMap<String, Arc<dyn SandboxProvider>>,
}

impl Default for ProviderRegistry {
    fn default() -> Self {
        let mut registry = ProviderRegistry {
            providers: IndexMap::new(),
        };
        registry.register(Arc::new(LocalProvider::default()));
        registry.register(Arc::new(BwrapProvider::default()));
        registry.register(Arc::new(DockerProvider::default()));
        registry
    }
}

impl ProviderRegistry {
    /// The built-in providers.
    pub fn new() -> ProviderRegistry {
        ProviderRegistry::default()
    }

    /// Adds `provider` under its name, replacing one of the same name.
    pub fn register(&mut self, provider: Arc<dyn SandboxProvider>) {
        self.providers.insert(provider.name().to_owned(), provider);
    }

    /// The provider called `name`, or an error listing the ones there are.
    pub fn get(&self, name: &str) -> Result<Arc<dyn SandboxProvider>, SandboxError> {
        self.providers.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            SandboxError::Invalid(format!(
                "unknown sandbox type `{name}`; expected one of: {}",
                known.join(", ")
            ))
        })
    }

    /// The providers' names, in the order they were registered.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }
}

/// `text` quoted for a POSIX shell, as Python's `shlex.quote` quotes it (sandbox events show
/// commands in this form, as Inspect's do).
pub fn shell_quote(text: &str) -> String {
    if text.is_empty() {
        return "''".to_owned();
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if text.chars().all(safe) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r#"'"'"'"#))
}

/// A command line, each part quoted by [`shell_quote`] (Python's
/// `" ".join(shlex.quote(c) for c in cmd)`).
pub fn shell_join(cmd: &[String]) -> String {
    cmd.iter()
        .map(|part| shell_quote(part))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The exit code a shell reports for `status`: the code, or 128 + the signal that ended it.
pub(crate) fn returncode(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => -1,
    }
}
