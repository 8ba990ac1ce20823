//! The `bwrap` provider: real isolation without images, on
//! [bubblewrap](https://github.com/containers/bubblewrap).
//!
//! This module owns the `bwrap` command line, each sample's host directory and the mapping of
//! Inspect's sandbox calls onto them. Each sample gets a host directory
//! `{root}/examen-bwrap-{eval id}-{random}` (its name is the label [`leftovers`] finds), holding
//! `work/`, bound read-write at [`WORKDIR`] (`/work`: where commands start, what `pwd` shows,
//! what relative paths and working directories resolve against, and `HOME`), and `tmp/`, bound
//! at `/tmp`, so files written to either persist from one command to the next, as in a
//! container. Everything else is read-only:
//!
//! - by default the host's `/usr`, `/bin`, `/sbin`, `/lib`, `/lib32`, `/libx32`, `/lib64` and
//!   `/etc` (those that exist), each bound read-only or, where it is a symbolic link (merged
//!   `/usr`: `/bin -> usr/bin`), recreated as the same link. The host's `/` is never bound as a
//!   whole: `/run`, `/var`, `/home`, `/root`, `/tmp` and their sockets (`/var/run/docker.sock`)
//!   are not there at all. Note that the host's `/etc` is readable (including what the user
//!   running examen may read in it);
//! - or, when the task's sandbox config ([`SandboxConfig::config`], `bwrap:PATH`) names a
//!   directory, that directory as the root file system: each of its top-level entries is bound
//!   read-only in the same way (`proc`, `dev`, `sys`, `run`, `tmp` and `work` excepted). Any
//!   other config is an error. The root file system needs a POSIX `sh` at `/bin/sh` with
//!   `cat`, `head`, `mkdir`, `dirname` and `wc` on the `PATH` (busybox will do): commands and
//!   file transfers run through them.
//!
//! Each command is its own bubblewrap instance:
//!
//! ```text
//! bwrap --unshare-all --unshare-user --cap-drop ALL --die-with-parent --new-session
//!       --clearenv --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
//!       --setenv HOME /work [--setenv NAME VALUE]...
//!       --ro-bind /usr /usr --symlink usr/bin /bin ... --ro-bind /etc /etc
//!       --proc /proc --dev /dev --bind {dir}/work /work --bind {dir}/tmp /tmp
//!       --remount-ro / --chdir /work
//!       /bin/sh -c '[ulimit -v KIB || exit 126;] cd -- "$1" || exit 126; shift; exec "$@"'
//!       sh CWD CMD...
//! ```
//!
//! What is enforced:
//!
//! - **File system**: only `/work` and `/tmp` are writable (the root itself is remounted
//!   read-only), so a write anywhere else fails with "Read-only file system", which
//!   [`Sandbox::write_file`] reports as [`SandboxError::PermissionDenied`].
//! - **Network**: a network namespace of its own with only a loopback device, so nothing
//!   outside (the host's `127.0.0.1` included) can be reached, and nothing listening in one
//!   command can be reached from another.
//! - **Processes**: a PID namespace per command, whose init is bubblewrap's; it sees only its
//!   own processes. When the command ends, or times out, or its call is cancelled, bubblewrap
//!   is killed (the process group [`examen_rt::process::exec`] signals holds only bubblewrap,
//!   as the command runs in a new session) and `--die-with-parent` takes its init with it,
//!   and the kernel kills everything left in a PID namespace whose init is gone: what ignores
//!   `SIGTERM`, what called `setsid`, a fork bomb. So background processes do not outlive the
//!   command that started them (unlike in a container); files are what persists.
//! - **Privileges**: all capabilities are dropped (`--cap-drop ALL`; without it, a sandbox
//!   started by root keeps them and can remount the read-only binds read-write), in a user
//!   namespace of its own, with `no_new_privs` (bubblewrap always sets it), so setuid programs
//!   gain nothing. The command runs as the user running examen, under the same uid: when that
//!   is root, it is root without capabilities, which still owns root's files in the writable
//!   places and can read root-readable files in the read-only ones (`/etc/shadow` in the
//!   default layout); run examen as an ordinary user, or give a root file system, for more.
//! - **IPC, UTS, cgroup namespaces** are private too (`--unshare-all`), and `--new-session`
//!   keeps a command from pushing input into a terminal (`TIOCSTI`).
//! - **Memory**, when [`BwrapProvider::memory_limit`] is set: `RLIMIT_AS` (`ulimit -v`) for
//!   each process of the command, set inside the sandbox before the command starts. It bounds
//!   each process's address space, not the sandbox's total.
//!
//! What is not enforced: a limit on the number of processes (`RLIMIT_NPROC` counts every
//! process of the user across the host and does not apply to root at all, and a pids cgroup
//! is not set up), so a fork bomb can use up the host's process table until its timeout ends
//! it; CPU time; disk space in `/work` and `/tmp` (they are the host's disk); and the kernel is
//! the host's, so a kernel exploit escapes. A timeout kills at once: `SIGTERM` ends
//! bubblewrap, which ends everything, so there is no grace period for the command to tidy up.
//!
//! `user`: bubblewrap cannot switch users without privileges, so only the user running examen
//! (by name or uid) is accepted, as with `local`; any other is [`SandboxError::Invalid`].
//!
//! The `bwrap` program is [`BwrapProvider::bwrap`] when set, else the `EXAMEN_BWRAP`
//! environment variable ([`BWRAP_ENV`]), else `bwrap` on the `PATH`; when it is missing,
//! `task_init` and `sample_init` say which package to install.
//!
//! [`default_concurrency`](SandboxProvider::default_concurrency) is `None`, as for `local`:
//! a sandbox costs a directory and a process per command, nothing held between commands.
//!
//! [`leftovers`]: SandboxProvider::leftovers

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::local::{
    is_current_user, labelled_dir_name, labelled_dirs, remove_labelled_dir, remove_sample_dirs,
    KILL_GRACE,
};
use crate::{
    BoxFuture, ExecRequest, ExecResult, Leftover, SampleInfo, Sandbox, SandboxConfig,
    SandboxConnection, SandboxEnvironments, SandboxError, SandboxProvider, DEFAULT_OUTPUT_LIMIT,
    MAX_READ_FILE_SIZE,
};

/// The environment variable naming the `bwrap` program, when it is not `bwrap` on the `PATH`.
pub const BWRAP_ENV: &str = "EXAMEN_BWRAP";

/// The name of a `bwrap` sample directory starts with this, so leftovers can be found: its
/// full name is `examen-bwrap-{eval id}-{random}`, the eval id being its label.
pub const DIR_PREFIX: &str = "examen-bwrap-";

/// The sample's working directory inside the sandbox (its `HOME` too).
pub const WORKDIR: &str = "/work";

/// The `PATH` commands get (Docker's default).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host directories the default layout binds read-only (those that exist).
const HOST_DIRS: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/libx32", "/lib64", "/etc",
];

/// Top-level entries of a configured root file system that are not bound: the sandbox makes
/// its own.
const OWN_ENTRIES: [&str; 6] = ["proc", "dev", "sys", "run", "tmp", "work"];

/// Exit codes of the file transfer scripts, out of the range the tools they run use.
const NOT_FOUND: i32 = 40;
const IS_A_DIRECTORY: i32 = 41;

/// Reads a file inside the sandbox, at most one byte over the limit (so a device that never
/// ends cannot take the reader with it).
const READ_SCRIPT: &str = r#"f=$1
if [ -d "$f" ]; then exit 41; fi
if [ ! -e "$f" ]; then exit 40; fi
exec head -c "$2" -- "$f""#;

/// Writes standard input to a file inside the sandbox, making its parents.
const WRITE_SCRIPT: &str = r#"f=$1
if [ -d "$f" ]; then exit 41; fi
mkdir -p -- "$(dirname -- "$f")" || exit 1
cat > "$f""#;

/// Makes `bwrap` sandboxes: commands run under bubblewrap with a private, persistent working
/// directory and a read-only root (see the [module](self) for what is isolated).
#[derive(Debug, Clone)]
pub struct BwrapProvider {
    /// Bytes kept of each output stream of a command.
    pub output_limit: usize,
    /// Where the samples' directories are made (the system's temporary directory by default).
    pub root: PathBuf,
    /// The `bwrap` program (`None`: [`BWRAP_ENV`], else `bwrap` on the `PATH`).
    pub bwrap: Option<PathBuf>,
    /// The address space each process of a command may use, in bytes (`None`: no limit).
    pub memory_limit: Option<u64>,
}

impl Default for BwrapProvider {
    fn default() -> Self {
        BwrapProvider {
            output_limit: DEFAULT_OUTPUT_LIMIT,
            root: std::env::temp_dir(),
            bwrap: None,
            memory_limit: None,
        }
    }
}

/// The error for a missing bubblewrap, naming the package to install.
fn missing_bwrap(looked: &str) -> SandboxError {
    SandboxError::Invalid(format!(
        "the bwrap sandbox needs bubblewrap, but {looked}: install it \
         (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`), \
         or set {BWRAP_ENV} to the `bwrap` program"
    ))
}

/// Whether `path` is a file its owner may execute (what `execvp` would accept).
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl BwrapProvider {
    /// The `bwrap` program to run: [`bwrap`](Self::bwrap), [`BWRAP_ENV`] or the `PATH`'s.
    /// Blocking (it looks at the file system).
    fn find_bwrap(&self) -> Result<PathBuf, SandboxError> {
        let given = self
            .bwrap
            .clone()
            .map(|path| (path, "the configured path"))
            .or_else(|| std::env::var_os(BWRAP_ENV).map(|path| (PathBuf::from(path), BWRAP_ENV)));
        if let Some((path, whence)) = given {
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(missing_bwrap(&format!(
                    "{} ({whence}) is not an executable file",
                    path.display()
                )))
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("bwrap"))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| missing_bwrap("`bwrap` is not on the PATH"))
    }

    /// The program and the read-only part of the command line for `config`, checked.
    async fn prepare(
        &self,
        config: &SandboxConfig,
    ) -> Result<(PathBuf, Vec<String>), SandboxError> {
        let provider = self.clone();
        let rootfs = config.config.clone();
        examen_rt::to_thread(move || {
            let bwrap = provider.find_bwrap()?;
            let binds = root_binds(rootfs.as_deref().map(Path::new))?;
            Ok((bwrap, binds))
        })
        .await
    }
}

/// The read-only binds of the sandbox's root: the host's system directories, or the entries
/// of the root file system directory `rootfs`. Blocking.
fn root_binds(rootfs: Option<&Path>) -> Result<Vec<String>, SandboxError> {
    let entries: Vec<(PathBuf, String)> = match rootfs {
        None => HOST_DIRS
            .iter()
            .map(|dir| (PathBuf::from(dir), (*dir).to_owned()))
            .collect(),
        Some(rootfs) => {
            if !rootfs.is_dir() {
                return Err(SandboxError::Invalid(format!(
                    "the bwrap sandbox's config names its root file system, a directory; {} is not one",
                    rootfs.display()
                )));
            }
            let listing = std::fs::read_dir(rootfs).map_err(|source| SandboxError::Io {
                what: format!("listing the root file system {}", rootfs.display()),
                source,
            })?;
            let mut entries = Vec::new();
            for entry in listing {
                let entry = entry.map_err(|source| SandboxError::Io {
                    what: format!("listing the root file system {}", rootfs.display()),
                    source,
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !OWN_ENTRIES.contains(&name.as_str()) {
                    entries.push((entry.path(), format!("/{name}")));
                }
            }
            entries.sort();
            entries
        }
    };
    let mut args = Vec::new();
    for (source, inside) in entries {
        let Ok(metadata) = std::fs::symlink_metadata(&source) else {
            continue; // not on this host (`/lib32`...)
        };
        if metadata.file_type().is_symlink() {
            // Merged /usr: `/bin -> usr/bin` is made again as the same link, since a bind
            // would follow it to the host's target.
            let target = std::fs::read_link(&source).map_err(|source_error| SandboxError::Io {
                what: format!("reading the link {}", source.display()),
                source: source_error,
            })?;
            args.extend([
                "--symlink".to_owned(),
                target.to_string_lossy().into_owned(),
                inside,
            ]);
        } else {
            args.extend([
                "--ro-bind".to_owned(),
                source.to_string_lossy().into_owned(),
                inside,
            ]);
        }
    }
    Ok(args)
}

impl SandboxProvider for BwrapProvider {
    fn name(&self) -> &str {
        "bwrap"
    }

    fn task_init<'a>(
        &'a self,
        _task: &'a str,
        config: &'a SandboxConfig,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move { self.prepare(config).await.map(|_| ()) })
    }

    fn sample_init<'a>(
        &'a self,
        config: &'a SandboxConfig,
        sample: &'a SampleInfo,
    ) -> BoxFuture<'a, Result<SandboxEnvironments, SandboxError>> {
        Box::pin(async move {
            let (bwrap, root) = self.prepare(config).await?;
            let dir = self
                .root
                .join(labelled_dir_name(DIR_PREFIX, &sample.eval_id));
            let made = dir.clone();
            examen_rt::to_thread(move || -> std::io::Result<()> {
                use std::os::unix::fs::PermissionsExt;
                std::fs::create_dir_all(made.join("work"))?;
                let tmp = made.join("tmp");
                std::fs::create_dir(&tmp)?;
                // As /tmp is everywhere, for the other users a root file system may have.
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
            })
            .await
            .map_err(|source| SandboxError::Io {
                what: format!("making the sample directory {}", dir.display()),
                source,
            })?;
            let mut args: Vec<String> = [
                "--unshare-all",
                "--unshare-user",
                "--cap-drop",
                "ALL",
                "--die-with-parent",
                "--new-session",
                "--clearenv",
                "--setenv",
                "PATH",
                PATH,
                "--setenv",
                "HOME",
                WORKDIR,
            ]
            .map(str::to_owned)
            .into();
            args.extend(root);
            let host = |sub: &str| dir.join(sub).to_string_lossy().into_owned();
            args.extend([
                "--proc".to_owned(),
                "/proc".to_owned(),
                "--dev".to_owned(),
                "/dev".to_owned(),
                "--bind".to_owned(),
                host("work"),
                WORKDIR.to_owned(),
                "--bind".to_owned(),
                host("tmp"),
                "/tmp".to_owned(),
                "--remount-ro".to_owned(),
                "/".to_owned(),
                "--chdir".to_owned(),
                WORKDIR.to_owned(),
            ]);
            let mut envs = SandboxEnvironments::new();
            envs.insert(
                "default",
                Arc::new(BwrapSandbox {
                    bwrap,
                    dir,
                    args,
                    output_limit: self.output_limit,
                    memory_limit: self.memory_limit,
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
            // Nothing runs between commands (each one's processes end with it), so the
            // directory is all there is to take down.
            let dirs: Vec<PathBuf> = environments
                .of_type::<BwrapSandbox>()
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
            &self.root, DIR_PREFIX, "bwrap", leftover,
        ))
    }
}

/// One sample's `bwrap` sandbox: its host directory and the command line its commands run
/// under.
#[derive(Debug)]
pub struct BwrapSandbox {
    bwrap: PathBuf,
    dir: PathBuf,
    /// The arguments to `bwrap` before the command's own `--setenv`s and the command.
    args: Vec<String>,
    output_limit: usize,
    memory_limit: Option<u64>,
}

/// What a run of `bwrap` gave: its exit code, output, and whether it timed out.
struct Ran {
    execution: examen_rt::process::Execution,
    returncode: i32,
}

impl BwrapSandbox {
    /// The sample's directory on the host (`work/` is the working directory, `tmp/` is
    /// `/tmp`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `script` with `sh` inside the sandbox, with `args` as `$1...`.
    async fn run(
        &self,
        env: &[(String, String)],
        script: &str,
        args: &[&str],
        options: examen_rt::process::ExecOptions,
    ) -> Result<Ran, SandboxError> {
        let mut command = Command::new(&self.bwrap);
        command.args(&self.args);
        for (name, value) in env {
            command.args(["--setenv", name, value]);
        }
        command.args(["/bin/sh", "-c", script, "sh"]).args(args);
        let execution = match examen_rt::process::exec(command, options).await {
            Ok(execution) => execution,
            Err(examen_rt::process::ProcessError::Spawn { source, .. }) => {
                return Err(SandboxError::Unavailable(format!(
                    "could not start {}: {source}",
                    self.bwrap.display()
                )))
            }
            Err(other) => {
                return Err(SandboxError::Io {
                    what: "running bwrap".to_owned(),
                    source: std::io::Error::other(other.to_string()),
                })
            }
        };
        let returncode = execution.status.map_or(128 + 9, crate::returncode);
        // bubblewrap's own failures (a bind whose source is gone: the sample's directory was
        // removed) are exit 1 with its name on standard error before the command ran.
        if returncode == 1
            && execution.stdout.is_empty()
            && execution.stderr.starts_with(b"bwrap: ")
        {
            return Err(SandboxError::Unavailable(
                String::from_utf8_lossy(&execution.stderr)
                    .trim_end()
                    .to_owned(),
            ));
        }
        Ok(Ran {
            execution,
            returncode,
        })
    }

    /// The error for a file transfer that failed with `ran`.
    fn file_error(path: &str, what: &str, ran: &Ran) -> SandboxError {
        let stderr = String::from_utf8_lossy(&ran.execution.stderr);
        match ran.returncode {
            NOT_FOUND => SandboxError::FileNotFound {
                path: path.to_owned(),
            },
            IS_A_DIRECTORY => SandboxError::IsADirectory {
                path: path.to_owned(),
            },
            _ if stderr.contains("Read-only file system")
                || stderr.contains("Permission denied") =>
            {
                SandboxError::PermissionDenied {
                    path: path.to_owned(),
                }
            }
            code => SandboxError::Io {
                what: format!("{what} {path}"),
                source: std::io::Error::other(format!("exit code {code}: {}", stderr.trim_end())),
            },
        }
    }
}

impl Sandbox for BwrapSandbox {
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, SandboxError>> {
        Box::pin(async move {
            if request.cmd.is_empty() {
                return Err(SandboxError::Invalid("exec needs a command".to_owned()));
            }
            if let Some(user) = &request.user {
                let known = {
                    let user = user.clone();
                    examen_rt::to_thread(move || is_current_user(&user)).await
                };
                if !known {
                    return Err(SandboxError::Invalid(format!(
                        "the bwrap sandbox cannot execute as '{user}'; bubblewrap cannot switch users without privileges, so only the current effective user is supported."
                    )));
                }
            }
            let cwd = match &request.cwd {
                None => WORKDIR.to_owned(),
                Some(cwd) if cwd.starts_with('/') => cwd.clone(),
                Some(cwd) => format!("{WORKDIR}/{cwd}"),
            };
            // `exec` in a shell answers as a shell does: 127 for a command not found, 126
            // for one that cannot run; a missing directory is 126, as for `local`.
            let mut script = String::new();
            if let Some(bytes) = self.memory_limit {
                script.push_str(&format!("ulimit -v {} || exit 126; ", bytes.div_ceil(1024)));
            }
            script.push_str(
                r#"cd -- "$1" 2>/dev/null || { printf '%s: no such directory\n' "$1" >&2; exit 126; }; shift; exec "$@""#,
            );
            let mut args = vec![cwd.as_str()];
            args.extend(request.cmd.iter().map(String::as_str));
            let options = examen_rt::process::ExecOptions {
                input: request.input,
                timeout: request.timeout,
                kill_grace: KILL_GRACE,
                output_limit: self.output_limit,
            };
            let ran = self.run(&request.env, &script, &args, options).await?;
            let execution = ran.execution;
            let result = ExecResult {
                success: ran.returncode == 0,
                returncode: ran.returncode,
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
        Box::pin(async move {
            // Through the sandbox, not on the host: paths (and symbolic links the commands
            // made) resolve as the commands see them, and only the writable places take it.
            let options = examen_rt::process::ExecOptions {
                input: Some(contents.to_vec()),
                timeout: None,
                kill_grace: KILL_GRACE,
                output_limit: 64 * 1024,
            };
            let ran = self.run(&[], WRITE_SCRIPT, &[path], options).await?;
            if ran.returncode == 0 {
                Ok(())
            } else {
                Err(Self::file_error(path, "writing", &ran))
            }
        })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SandboxError>> {
        Box::pin(async move {
            let over = (MAX_READ_FILE_SIZE + 1).to_string();
            let options = examen_rt::process::ExecOptions {
                input: None,
                timeout: None,
                kill_grace: KILL_GRACE,
                output_limit: usize::try_from(MAX_READ_FILE_SIZE + 1).unwrap_or(usize::MAX),
            };
            let ran = self.run(&[], READ_SCRIPT, &[path, &over], options).await?;
            if ran.returncode != 0 {
                return Err(Self::file_error(path, "reading", &ran));
            }
            let contents = ran.execution.stdout;
            if contents.len() as u64 > MAX_READ_FILE_SIZE {
                // Its size, for the message; a file that is not a regular one (a device) is
                // only known to be over.
                let options = examen_rt::process::ExecOptions {
                    output_limit: 1024,
                    ..examen_rt::process::ExecOptions::default()
                };
                let size = self
                    .run(&[], r#"[ -f "$1" ] && wc -c < "$1""#, &[path], options)
                    .await
                    .ok()
                    .and_then(|ran| {
                        String::from_utf8_lossy(&ran.execution.stdout)
                            .trim()
                            .parse::<u64>()
                            .ok()
                    })
                    .unwrap_or(contents.len() as u64);
                return Err(SandboxError::TooLarge {
                    path: path.to_owned(),
                    size,
                    limit: MAX_READ_FILE_SIZE,
                });
            }
            Ok(contents)
        })
    }

    fn connection(&self) -> Result<SandboxConnection, SandboxError> {
        // The commands' own line with a shell, but without `--new-session`: a shell in a
        // session of its own has no controlling terminal (no job control, no Ctrl-C).
        let mut cmd = vec![self.bwrap.to_string_lossy().into_owned()];
        cmd.extend(
            self.args
                .iter()
                .filter(|arg| *arg != "--new-session")
                .cloned(),
        );
        cmd.push("/bin/sh".to_owned());
        Ok(SandboxConnection {
            kind: "bwrap".to_owned(),
            command: crate::shell_join(&cmd),
            container: None,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
