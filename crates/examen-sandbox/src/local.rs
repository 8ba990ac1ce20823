//! The `local` provider (Inspect's `local` sandbox): each sample gets a temporary working
//! directory on this machine and its commands run there as the current user.
//!
//! There is no isolation: an absolute path reaches the whole machine, and a command can do
//! whatever the user running examen can. Use it for trusted tools only; `bwrap` and `docker`
//! isolate. A timeout sends `SIGTERM` to the command's whole process group, then `SIGKILL`
//! two seconds later, as Inspect does, and the output written until then is kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    BoxFuture, ExecRequest, ExecResult, Leftover, SampleInfo, Sandbox, SandboxConfig,
    SandboxConnection, SandboxEnvironments, SandboxError, SandboxProvider, DEFAULT_OUTPUT_LIMIT,
    MAX_READ_FILE_SIZE,
};

/// Between `SIGTERM` and `SIGKILL` after a timeout (Inspect's local grace period).
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Makes `local` sandboxes: a temporary directory per sample, removed at cleanup.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    /// Bytes kept of each output stream of a command.
    pub output_limit: usize,
    /// Where the samples' directories are made (the system's temporary directory by default).
    pub root: PathBuf,
}

impl Default for LocalProvider {
    fn default() -> Self {
        LocalProvider {
            output_limit: DEFAULT_OUTPUT_LIMIT,
            root: std::env::temp_dir(),
        }
    }
}

/// The name of a `local` sample directory starts with this, so leftovers can be found: its
/// full name is `examen-local-{eval id}-{random}`, the eval id being its label.
pub const DIR_PREFIX: &str = "examen-local-";

/// The eval id a sample directory's name carries, when `name` is one of those named
/// `{prefix}{eval id}-{random}`.
pub(crate) fn labelled_eval_id<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    Some(rest.rsplit_once('-').map_or("", |(eval_id, _)| eval_id))
}

/// A sample directory's name, `{prefix}{eval id}-{random}`: the eval id (its label) kept to
/// a safe alphabet, as it goes into a file name.
pub(crate) fn labelled_dir_name(prefix: &str, eval_id: &str) -> String {
    let label: String = eval_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{prefix}{label}-{}", examen_types::short_uuid())
}

/// The directories under `root` named with `prefix` (the leftovers of the providers that
/// make one per sample), sorted by name.
pub(crate) async fn labelled_dirs(
    root: &Path,
    prefix: &'static str,
) -> Result<Vec<Leftover>, SandboxError> {
    let listed = root.to_owned();
    let found = examen_rt::to_thread(move || -> std::io::Result<Vec<Leftover>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&listed)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(eval_id) = labelled_eval_id(prefix, &name) else {
                continue;
            };
            if !entry.file_type()?.is_dir() {
                continue;
            }
            found.push(Leftover {
                eval_id: eval_id.to_owned(),
                description: format!("directory {}", entry.path().display()),
                id: name,
            });
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    })
    .await;
    found.map_err(|source| SandboxError::Io {
        what: format!("listing {}", root.display()),
        source,
    })
}

/// Removes the leftover directory `leftover` under `root`, which must be one named with
/// `prefix` (`kind` names the provider in the error otherwise).
pub(crate) async fn remove_labelled_dir(
    root: &Path,
    prefix: &str,
    kind: &str,
    leftover: &Leftover,
) -> Result<(), SandboxError> {
    // Only a direct child with the label: an id is never a path to follow.
    if labelled_eval_id(prefix, &leftover.id).is_none() || leftover.id.contains('/') {
        return Err(SandboxError::Invalid(format!(
            "`{}` is not a {kind} sandbox directory (they are named {prefix}...)",
            leftover.id
        )));
    }
    let dir = root.join(&leftover.id);
    let removed = dir.clone();
    examen_rt::to_thread(move || std::fs::remove_dir_all(&removed))
        .await
        .map_err(|source| SandboxError::Io {
            what: format!("removing {}", dir.display()),
            source,
        })
}

/// Removes sample directories at cleanup; one already gone is not an error.
pub(crate) async fn remove_sample_dirs(dirs: Vec<PathBuf>) -> Result<(), SandboxError> {
    for dir in dirs {
        let removed = dir.clone();
        match examen_rt::to_thread(move || std::fs::remove_dir_all(&removed)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SandboxError::Io {
                    what: format!("removing the sample directory {}", dir.display()),
                    source,
                })
            }
        }
    }
    Ok(())
}

impl SandboxProvider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    fn sample_init<'a>(
        &'a self,
        _config: &'a SandboxConfig,
        sample: &'a SampleInfo,
    ) -> BoxFuture<'a, Result<SandboxEnvironments, SandboxError>> {
        Box::pin(async move {
            let dir = self
                .root
                .join(labelled_dir_name(DIR_PREFIX, &sample.eval_id));
            let made = dir.clone();
            examen_rt::to_thread(move || std::fs::create_dir_all(&made))
                .await
                .map_err(|source| SandboxError::Io {
                    what: format!("making the sample directory {}", dir.display()),
                    source,
                })?;
            let mut envs = SandboxEnvironments::new();
            envs.insert(
                "default",
                Arc::new(LocalSandbox {
                    dir,
                    output_limit: self.output_limit,
                }),
            );
            Ok(envs)
        })
    }

    fn sample_cleanup<'a>(
        &'a self,
        _config: &'a SandboxConfig,
        environments: SandboxEnvironments,
        _interrupted: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            let dirs: Vec<PathBuf> = environments
                .of_type::<LocalSandbox>()
                .map(|env| env.dir.clone())
                .collect();
            remove_sample_dirs(dirs).await
        })
    }

    fn leftovers(&self) -> BoxFuture<'_, Result<Vec<Leftover>, SandboxError>> {
        Box::pin(labelled_dirs(&self.root, DIR_PREFIX))
    }

    fn remove_leftover<'a>(
        &'a self,
        leftover: &'a Leftover,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(remove_labelled_dir(
            &self.root, DIR_PREFIX, "local", leftover,
        ))
    }
}

/// One sample's `local` sandbox: its working directory.
#[derive(Debug)]
pub struct LocalSandbox {
    dir: PathBuf,
    output_limit: usize,
}

impl LocalSandbox {
    /// A sandbox working in `dir` (which must exist), keeping `output_limit` bytes of each
    /// output stream. Its owner removes `dir`.
    pub fn new(dir: PathBuf, output_limit: usize) -> LocalSandbox {
        LocalSandbox { dir, output_limit }
    }

    /// The sample's working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.dir.join(path)
        }
    }
}

/// Whether `user` (a name or a numeric id) is the effective user running examen: the only
/// one the local sandbox can run commands as (Inspect's `_is_current_user`).
pub(crate) fn is_current_user(user: &str) -> bool {
    let euid = rustix::process::geteuid().as_raw();
    if !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit()) {
        return user.parse::<u32>() == Ok(euid);
    }
    // `pwd.getpwnam`, from the password file: `name:password:uid:...`.
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else {
        return false;
    };
    passwd.lines().any(|line| {
        let mut fields = line.split(':');
        fields.next() == Some(user)
            && fields.nth(1).and_then(|uid| uid.parse::<u32>().ok()) == Some(euid)
    })
}

impl Sandbox for LocalSandbox {
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, SandboxError>> {
        Box::pin(async move {
            let Some((program, args)) = request.cmd.split_first() else {
                return Err(SandboxError::Invalid("exec needs a command".to_owned()));
            };
            if let Some(user) = &request.user {
                let known = {
                    let user = user.clone();
                    examen_rt::to_thread(move || is_current_user(&user)).await
                };
                if !known {
                    // Inspect's `SandboxUserUnsupportedError`, word for word.
                    return Err(SandboxError::Invalid(format!(
                        "LocalSandboxEnvironment cannot execute as '{user}'; only the current effective user is supported."
                    )));
                }
            }
            let cwd = match &request.cwd {
                Some(cwd) => self.resolve(cwd),
                None => self.dir.clone(),
            };
            let mut command = Command::new(program);
            command.args(args).current_dir(&cwd);
            command.envs(request.env.iter().map(|(k, v)| (k, v)));
            let options = examen_rt::process::ExecOptions {
                input: request.input,
                timeout: request.timeout,
                kill_grace: KILL_GRACE,
                output_limit: self.output_limit,
            };
            let execution = match examen_rt::process::exec(command, options).await {
                Ok(execution) => execution,
                Err(examen_rt::process::ProcessError::Spawn { source, .. }) => {
                    // As a shell answers: the result of a command that could not start.
                    let (returncode, why) = match source.kind() {
                        std::io::ErrorKind::NotFound if !cwd.is_dir() => {
                            (126, format!("{}: no such directory", cwd.display()))
                        }
                        std::io::ErrorKind::NotFound => {
                            (127, format!("{program}: command not found"))
                        }
                        std::io::ErrorKind::PermissionDenied => {
                            (126, format!("{program}: Permission denied"))
                        }
                        _ => (126, format!("{program}: {source}")),
                    };
                    return Ok(ExecResult {
                        success: false,
                        returncode,
                        stderr: why,
                        ..ExecResult::default()
                    });
                }
                Err(other) => {
                    return Err(SandboxError::Io {
                        what: format!("running `{program}`"),
                        source: std::io::Error::other(other.to_string()),
                    })
                }
            };
            let returncode = execution.status.map_or(128 + 9, crate::returncode);
            let result = ExecResult {
                success: returncode == 0,
                returncode,
                stdout: String::from_utf8_lossy(&execution.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&execution.stderr).into_owned(),
                stdout_truncated: execution.stdout_dropped,
                stderr_truncated: execution.stderr_dropped,
            };
            if execution.timed_out {
                return Err(SandboxError::Timeout {
                    partial: Box::new(result),
                });
            }
            Ok(result)
        })
    }

    fn write_file<'a>(
        &'a self,
        path: &'a str,
        contents: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        let target = self.resolve(path);
        let contents = contents.to_vec();
        Box::pin(async move {
            examen_rt::to_thread(move || {
                if target.is_dir() {
                    return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, contents)
            })
            .await
            .map_err(|e| SandboxError::from_file_error(path, "writing", e))
        })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SandboxError>> {
        let target = self.resolve(path);
        Box::pin(async move {
            let read = examen_rt::to_thread(move || {
                let metadata = std::fs::metadata(&target)?;
                if metadata.is_dir() {
                    return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
                }
                if metadata.len() > MAX_READ_FILE_SIZE {
                    return Ok(Err(metadata.len()));
                }
                std::fs::read(&target).map(Ok)
            })
            .await
            .map_err(|e| SandboxError::from_file_error(path, "reading", e))?;
            read.map_err(|size| SandboxError::TooLarge {
                path: path.to_owned(),
                size,
                limit: MAX_READ_FILE_SIZE,
            })
        })
    }

    fn connection(&self) -> Result<SandboxConnection, SandboxError> {
        Ok(SandboxConnection {
            kind: "local".to_owned(),
            command: format!("cd {}", crate::shell_quote(&self.dir.to_string_lossy())),
            container: None,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
