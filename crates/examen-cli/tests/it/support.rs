//! Driving the real `examen` binary: a clean environment, a temp working directory with the
//! README's example task, both async backends, and insta filters for what changes between runs
//! (times, ids, temp paths).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (README.md, examples/).
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The backends' names, as `--async-backend` takes them.
pub(crate) fn backends() -> [&'static str; 2] {
    examen_rt::Backend::ALL.map(examen_rt::Backend::name)
}

/// A temp directory holding a copy of `examples/arithmetic` (as `arithmetic/`).
pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
    backend: Option<&'static str>,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let example = workspace().join("examples/arithmetic");
        let target = dir.path().join("arithmetic");
        std::fs::create_dir_all(&target).unwrap();
        for entry in std::fs::read_dir(example).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, target.join(path.file_name().unwrap())).unwrap();
        }
        Sandbox { dir, backend: None }
    }

    /// A sandbox whose commands run on `backend` (through `EXAMEN_ASYNC_BACKEND`, which a
    /// test may still override).
    pub(crate) fn on(backend: &'static str) -> Sandbox {
        Sandbox {
            backend: Some(backend),
            ..Sandbox::new()
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `examen ARGS` in this directory with a clean environment.
    pub(crate) fn examen(&self, args: &[&str]) -> Command {
        let mut cmd = examen_command();
        cmd.current_dir(self.path()).args(args);
        if let Some(backend) = self.backend {
            cmd.env("EXAMEN_ASYNC_BACKEND", backend);
        }
        cmd
    }

    /// The log files under `dir` (relative to the sandbox), sorted.
    pub(crate) fn logs(&self, dir: &str) -> Vec<PathBuf> {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.path().join(dir))
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        logs.sort();
        logs
    }
}

/// The binary, with no `EXAMEN_*`, `CI` or colour variables inherited from the test's own
/// environment.
pub(crate) fn examen_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_examen"));
    clean_env(&mut cmd);
    cmd
}

/// `program ARGS` (a wrapper such as `bash -c` or `unshare` that then runs the binary) in
/// `dir`, with the environment `examen_command` gives the binary.
pub(crate) fn wrapper_command(dir: &Path, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).args(args);
    clean_env(&mut cmd);
    cmd
}

fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("EXAMEN_") || key.ends_with("_API_KEY") || key.ends_with("_BASE_URL") {
            cmd.env_remove(key);
        }
    }
    for key in ["CI", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
        cmd.env_remove(key);
    }
}

/// What a finished run left.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn finish(output: std::process::Output) -> Finished {
    Finished {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command to completion from async code (`#[examen_rt::test]`), on the runtime.
pub(crate) async fn run_async(cmd: Command) -> Finished {
    let output = examen_rt::process::run(cmd, None, None).await.unwrap();
    Finished {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command (owned, or borrowed after setting its environment) to completion.
pub(crate) fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Finished {
    finish(cmd.borrow_mut().output().unwrap())
}

/// Filters for insta: times, log ids and timestamps, and `dir` (a temp directory).
pub(crate) fn filters(dir: &Path) -> Vec<(String, String)> {
    let mut filters = Vec::new();
    for form in [dir.to_path_buf(), dir.canonicalize().unwrap_or_default()] {
        let text = form.display().to_string();
        if !text.is_empty() {
            filters.push((regex_escape(&text), "[TMP]".to_string()));
        }
    }
    filters.extend(
        [
            (
                r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d\d-\d\d_([A-Za-z0-9-]+)_[A-Za-z0-9]{22}",
                "[CREATED]_${1}_[ID]",
            ),
            (r"\b\d+(\.\d+)?s\b", "[TIME]"),
            (r"\b\d+m \d\ds\b", "[TIME]"),
            (r#""time":\s*[0-9.]+"#, r#""time":[TIME]"#),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
    );
    filters
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Asserts a snapshot of `text` with [`filters`] for `dir`.
#[macro_export]
macro_rules! snapshot {
    ($dir:expr, $name:expr, $text:expr) => {{
        let filters = $crate::support::filters($dir);
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({filters => filters, prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $text);
        });
    }};
}
