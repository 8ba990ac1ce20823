//! Inspect's `text_editor(timeout)`: view, create and edit files, with Inspect's name,
//! description, parameters and answers, so that a model sees the same tool and reads the same
//! texts as under Inspect.
//!
//! # Where the behaviour comes from
//!
//! Inspect's Python side (`inspect_ai/tool/_tools/_text_editor.py`) describes the tool and sends
//! each call, minus its `None` arguments (with `insert_text` standing in for a missing `new_str`
//! of `insert`), to the helper it injects into the sandbox (`inspect_sandbox_tools`,
//! `_in_process_tools/_text_editor/text_editor.py`, derived from Anthropic's reference `edit`
//! tool). That helper validates the call with pydantic (strict), resolves the path against its
//! working directory (`Path(path).resolve()`: relative paths are allowed, symlinks are resolved,
//! and the answers name the resolved path), and answers. This module re-creates that behaviour,
//! answer for answer; it is not a port of the code. In particular:
//!
//! - files are read as Python's `Path.read_text()` reads them (UTF-8, universal newlines: a
//!   `\r\n` or `\r` reads as `\n`, so an edit writes `\n` back) and written without creating
//!   parent directories;
//! - `str_replace` and `insert` expand the file's tabs (Python's `expandtabs()`, 8 columns) and
//!   write the expanded text back; the undo history keeps that expanded text;
//! - output longer than 16,000 characters is clipped with Anthropic's `<response clipped>` note;
//! - a directory is listed by Inspect's own `find {dir}/ -maxdepth 2 -not -path '*/\.*'`;
//! - the helper's `ToolException`s are told to the model as `unknown` tool errors (Inspect's
//!   `ToolError`), its parameter validation errors as `parsing` ones (`ToolParsingError`), and
//!   anything else it raises (a symlink loop, an unreadable directory listing) fails the sample,
//!   as the `RuntimeError` Inspect raises for them does;
//! - the call is given `timeout` seconds (180 by default, as Inspect) and answers Inspect's
//!   `timeout` error after that.
//!
//! # The file seam
//!
//! The editor's logic ([`Editor`]) knows nothing of where files live: it goes through a small
//! file API, [`EditorFiles`] (resolve a path, stat it, read, write and remove a file, run a
//! command). [`LocalFiles`] implements it on this machine, rooted at the sample's working
//! directory ([`ToolContext::working_dir`]), which is where `bash` and `python` run until
//! sandboxes arrive; all of its I/O runs on `examen_rt`'s blocking pool or through
//! `examen_rt::process`, so the tool runs the same on tokio and smol. The sandbox issue swaps in
//! an implementation over the sandbox's `read_file`, `write_file` and `exec` without touching
//! the editor (the one thing the editor checks itself rather than trust to `write_file` is the
//! parent directory, which Inspect's editor never creates).
//!
//! # Undo history
//!
//! Inspect keeps the history (the last [`MAX_HISTORY_ENTRIES_PER_FILE`] edits of each file) in a
//! file of the sample's sandbox, so every `text_editor` a sample uses shares it and no other
//! sample sees it. Here tools are built once per task and shared by all of its samples, so the
//! history cannot live in the tool: it is kept per sample, keyed by the sample's
//! [`ToolContext`] (its working directory, which lives exactly as long as the sample), and
//! dropped once the sample has ended.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use examen_types::{JsonObject, JsonValue, MessageContent, ToolCallErrorType, ToolParams};

use super::{SampleWorkdir, Tool, ToolContext, ToolError};

/// Inspect's description of `text_editor` (the docstring of its `execute`).
pub const TEXT_EDITOR_DESCRIPTION: &str = "Use this function to execute text editing commands.";

/// How many edits of each file `undo_edit` can take back (Inspect's
/// `MAX_HISTORY_ENTRIES_PER_FILE`).
pub const MAX_HISTORY_ENTRIES_PER_FILE: usize = 10;

/// Inspect's `timeout or 180`.
const DEFAULT_TIMEOUT_SECS: f64 = 180.0;

/// Lines of context around an edit in the snippet the model is shown.
const SNIPPET_LINES: usize = 4;

/// Characters of output before it is clipped (`MAX_RESPONSE_LEN`).
const MAX_RESPONSE_LEN: usize = 16000;

/// What follows clipped output (`TRUNCATED_MESSAGE`).
const TRUNCATED_MESSAGE: &str = "<response clipped><NOTE>To save on context only part of this file has been shown to you. You should retry this tool after you have searched inside the file with `grep -n` in order to find the line numbers of what you are looking for.</NOTE>";

/// How long the directory listing may take (the helper's `run` default).
const FIND_TIMEOUT: Duration = Duration::from_secs(120);

/// `ENOENT` and `ENOTDIR`, the same numbers on Linux and macOS.
const ENOENT: i32 = 2;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EACCES: i32 = 13;

/// Inspect's `text_editor(timeout)`: `view`, `create`, `str_replace`, `insert` and
/// `undo_edit` on the files of the sample's working directory (relative paths) or of this
/// machine (absolute ones).
///
/// Until sandboxes arrive this works on this machine, as your user, like
/// [`Bash`](super::builtin::Bash): use it only with models and tasks you trust.
#[derive(Debug, Clone, Default)]
pub struct TextEditor {
    /// Seconds a call may take (180 when `None`, as in Inspect).
    pub timeout: Option<f64>,
}

impl Tool for TextEditor {
    fn name(&self) -> &str {
        "text_editor"
    }

    fn description(&self) -> &str {
        TEXT_EDITOR_DESCRIPTION
    }

    /// Inspect's parameters, as its `ToolInfo` gives them (`required`: `command` and `path`).
    fn parameters(&self) -> ToolParams {
        parameters()
    }

    async fn call(&self, _args: JsonObject) -> Result<MessageContent, ToolError> {
        Err(ToolError::fatal(
            "text_editor runs in a sample: call it through the tool loop (call_in)",
        ))
    }

    async fn call_in(
        &self,
        args: JsonObject,
        ctx: &ToolContext,
    ) -> Result<MessageContent, ToolError> {
        let command = parse_command(&args)?;
        let sandbox = ctx.sandbox()?;
        let history = sample_history(ctx);
        let seconds = self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
        // On this machine the editor works on the files itself; in any other sandbox it goes
        // through the sandbox's own file and exec operations.
        let local = sandbox
            .inner()
            .as_any()
            .downcast_ref::<examen_sandbox::local::LocalSandbox>()
            .map(|local| LocalFiles {
                cwd: local.dir().to_owned(),
            });
        let text = match local {
            Some(files) => edit(&files, &history, seconds, command).await?,
            None => {
                let files = SandboxFiles::new(sandbox.inner().clone());
                edit(&files, &history, seconds, command).await?
            }
        };
        Ok(MessageContent::Text(text))
    }
}

/// Runs `command` on `files` under the tool's timeout of `seconds`.
async fn edit<F: EditorFiles>(
    files: &F,
    history: &Mutex<FileHistory>,
    seconds: f64,
    command: Command,
) -> Result<String, ToolError> {
    let editor = Editor { files, history };
    let run = editor.run(command);
    match Duration::try_from_secs_f64(seconds) {
        Ok(limit) => examen_rt::timeout(limit, run)
            .await
            .map_err(|_| ToolError::timeout())?,
        // More seconds than a `Duration` holds: no limit worth the name.
        Err(_) => run.await,
    }
}

/// The parameters of Inspect's `execute`, field for field and in its order (pydantic's
/// `model_dump(exclude_none=True)` of its `ToolParams`).
fn parameters() -> ToolParams {
    let optional = |kind: JsonValue, description: &str| serde_json::json!({"description": description, "anyOf": [kind, {"type": "null"}]});
    let properties = serde_json::json!({
        "command": {
            "type": "string",
            "description": "The command to execute. Note: `undo_edit` retains only the last 10 edits per file.",
            "enum": ["view", "create", "str_replace", "insert", "undo_edit"],
        },
        "path": {
            "type": "string",
            "description": "Path to file or directory, e.g. `/repo/file.py` or `../repo`.",
        },
        "file_text": optional(
            serde_json::json!({"type": "string"}),
            "Required parameter of `create` command, with the content of the file to be created.",
        ),
        "insert_line": optional(
            serde_json::json!({"type": "integer"}),
            "Required parameter of `insert` command. The `new_str` will be inserted AFTER the line `insert_line` of `path`.",
        ),
        "insert_text": optional(
            serde_json::json!({"type": "string"}),
            "Required parameter of `insert` command containing the string to insert.",
        ),
        "new_str": optional(
            serde_json::json!({"type": "string"}),
            "Optional parameter of `str_replace` command containing the new string (if not given, no string will be added).",
        ),
        "old_str": optional(
            serde_json::json!({"type": "string"}),
            "Required parameter of `str_replace` command containing the string in `path` to replace.",
        ),
        "view_range": optional(
            serde_json::json!({"type": "array", "items": {"type": "integer"}}),
            "Optional parameter of `view` command when `path` points to a file. If none is given, the full file is shown. If provided, the file will be shown in the indicated line number range, e.g. [11, 12] will show lines 11 and 12. Indexing at 1 to start. Setting `[start_line, -1]` shows all lines from `start_line` to the end of the file.",
        ),
    });
    let mut params = ToolParams::default();
    if let JsonValue::Object(properties) = properties {
        params.properties = properties;
    }
    params.required = vec!["command".to_owned(), "path".to_owned()];
    params
}

// --- The call: Inspect's argument handling, then the helper's validation -------------------

/// One validated call.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    View {
        path: String,
        view_range: Option<Vec<i64>>,
    },
    Create {
        path: String,
        file_text: String,
    },
    StrReplace {
        path: String,
        old_str: String,
        new_str: Option<String>,
    },
    Insert {
        path: String,
        insert_line: i64,
        new_str: String,
    },
    UndoEdit {
        path: String,
    },
}

/// The arguments as Inspect sends them (no `null`s; `insert_text` for a missing `new_str` of
/// `insert`; integral numbers as integers, as its type coercion makes them), validated as the
/// helper's pydantic models validate them, with pydantic's messages (`parsing` errors).
fn parse_command(args: &JsonObject) -> Result<Command, ToolError> {
    let get = |name: &str| args.get(name).filter(|value| !value.is_null());
    let parsing = |message: String| {
        ToolError::of(
            ToolCallErrorType::Parsing,
            format!("Invalid parameters: {message}"),
        )
    };
    let tag = match get("command") {
        None => {
            return Err(parsing(
                "Unable to extract tag using discriminator 'command'".to_owned(),
            ))
        }
        Some(JsonValue::String(tag)) => tag.clone(),
        Some(other) => crate::template::py_str(other),
    };
    let mut fields = Fields {
        tag: &tag,
        errors: Vec::new(),
    };
    // Each model's fields in pydantic's order: `path` (the base model's) first.
    let command = match tag.as_str() {
        "view" => {
            let path = fields.string("path", get("path"), true);
            let view_range = fields.integers("view_range", get("view_range"));
            path.zip(view_range)
                .map(|(path, view_range)| Command::View { path, view_range })
        }
        "create" => {
            let path = fields.string("path", get("path"), true);
            let file_text = fields.string("file_text", get("file_text"), true);
            path.zip(file_text)
                .map(|(path, file_text)| Command::Create { path, file_text })
        }
        "str_replace" => {
            let path = fields.string("path", get("path"), true);
            let old_str = fields.string("old_str", get("old_str"), true);
            let new_str = fields.string("new_str", get("new_str"), false);
            path.zip(old_str).map(|(path, old_str)| Command::StrReplace {
                path,
                old_str,
                new_str,
            })
        }
        "insert" => {
            let path = fields.string("path", get("path"), true);
            let insert_line = fields.integer("insert_line", get("insert_line"));
            let new_str = get("new_str").or_else(|| get("insert_text"));
            let new_str = fields.string("new_str", new_str, true);
            match (path, insert_line, new_str) {
                (Some(path), Some(insert_line), Some(new_str)) => Some(Command::Insert {
                    path,
                    insert_line,
                    new_str,
                }),
                _ => None,
            }
        }
        "undo_edit" => fields
            .string("path", get("path"), true)
            .map(|path| Command::UndoEdit { path }),
        other => {
            return Err(parsing(format!(
                "Input tag '{other}' found using 'command' does not match any of the expected tags: 'view', 'create', 'str_replace', 'insert', 'undo_edit'"
            )))
        }
    };
    match command {
        Some(command) if fields.errors.is_empty() => Ok(command),
        _ => Err(parsing(fields.errors.join("\n"))),
    }
}

/// One model's fields being validated, and pydantic's errors so far (`'insert.new_str' Field
/// required`).
struct Fields<'a> {
    tag: &'a str,
    errors: Vec<String>,
}

impl Fields<'_> {
    fn error(&mut self, field: &str, message: &str) {
        self.errors
            .push(format!("'{}.{field}' {message}", self.tag));
    }

    /// A `str` field (`str | None` when not `required`).
    fn string(&mut self, field: &str, value: Option<&JsonValue>, required: bool) -> Option<String> {
        match value {
            Some(JsonValue::String(text)) => Some(text.clone()),
            Some(_) => {
                self.error(field, "Input should be a valid string");
                None
            }
            None => {
                if required {
                    self.error(field, "Field required");
                }
                None
            }
        }
    }

    /// A required `int` field.
    fn integer(&mut self, field: &str, value: Option<&JsonValue>) -> Option<i64> {
        let Some(value) = value else {
            self.error(field, "Field required");
            return None;
        };
        let n = integer(value);
        if n.is_none() {
            self.error(field, "Input should be a valid integer");
        }
        n
    }

    /// A `list[int] | None` field: `Some(None)` when not given, `None` when invalid.
    fn integers(&mut self, field: &str, value: Option<&JsonValue>) -> Option<Option<Vec<i64>>> {
        match value {
            None => Some(None),
            Some(JsonValue::Array(items)) => {
                let mut numbers = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match integer(item) {
                        Some(n) => numbers.push(n),
                        None => {
                            self.error(&format!("{field}.{i}"), "Input should be a valid integer")
                        }
                    }
                }
                Some(Some(numbers))
            }
            Some(_) => {
                self.error(field, "Input should be a valid list");
                None
            }
        }
    }
}

/// An integer argument: a JSON integer, or an integral number (Inspect coerces `1.0` to `1`
/// before the helper sees it).
fn integer(value: &JsonValue) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // `i64::MAX as f64` rounds up to 2^63, which does not fit: the bound is exclusive.
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

// --- The file seam ---------------------------------------------------------------------------

/// What a path is, once symlinks are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    File,
    Dir,
    Other,
}

/// Why a path could not be resolved.
#[derive(Debug)]
enum ResolveError {
    /// An OS error on `filename` (Python's `OSError`).
    Os { error: io::Error, filename: String },
    /// The path goes round a symlink loop (Python's `RuntimeError("Symlink loop from ...")`).
    SymlinkLoop(String),
}

/// What a command run for the editor printed.
#[derive(Debug)]
struct ExecOutput {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// What the editor needs of the machine its files are on. Paths are absolute once
/// [`resolve`](Self::resolve)d; every other method is given resolved paths.
trait EditorFiles: Sync {
    /// Python's `Path(path).resolve()` on that machine: relative to its working directory,
    /// `.` and `..` applied, symlinks resolved, a missing tail kept as written.
    async fn resolve(&self, path: &str) -> Result<String, ResolveError>;

    /// What `path` is (following symlinks), `None` when it does not exist (`ENOENT`,
    /// `ENOTDIR`, as Python's `Path.exists()` counts them); other errors as they are.
    async fn kind(&self, path: &str) -> io::Result<Option<FileKind>>;

    /// The file's bytes.
    async fn read_file(&self, path: &str) -> io::Result<Vec<u8>>;

    /// Creates or truncates the file and writes `contents`. Whether it creates missing parent
    /// directories does not matter: the editor checks the parent first.
    async fn write_file(&self, path: &str, contents: Vec<u8>) -> io::Result<()>;

    /// Removes the file.
    async fn remove_file(&self, path: &str) -> io::Result<()>;

    /// Runs `argv` (no shell) in the working directory and gives its output; `Err` when it
    /// could not be run or did not finish within `timeout`.
    async fn exec(&self, argv: &[&str], timeout: Duration) -> Result<ExecOutput, String>;
}

/// [`EditorFiles`] on this machine, relative paths taken from the sample's working directory.
#[derive(Debug)]
struct LocalFiles {
    cwd: PathBuf,
}

impl EditorFiles for LocalFiles {
    async fn resolve(&self, path: &str) -> Result<String, ResolveError> {
        let cwd = self.cwd.to_string_lossy().into_owned();
        let path = path.to_owned();
        examen_rt::to_thread(move || realpath(&cwd, &path)).await
    }

    async fn kind(&self, path: &str) -> io::Result<Option<FileKind>> {
        let path = path.to_owned();
        examen_rt::to_thread(move || match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(Some(FileKind::Dir)),
            Ok(meta) if meta.is_file() => Ok(Some(FileKind::File)),
            Ok(_) => Ok(Some(FileKind::Other)),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        })
        .await
    }

    async fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let path = path.to_owned();
        examen_rt::to_thread(move || std::fs::read(path)).await
    }

    async fn write_file(&self, path: &str, contents: Vec<u8>) -> io::Result<()> {
        let path = path.to_owned();
        examen_rt::to_thread(move || std::fs::write(path, contents)).await
    }

    async fn remove_file(&self, path: &str) -> io::Result<()> {
        let path = path.to_owned();
        examen_rt::to_thread(move || std::fs::remove_file(path)).await
    }

    async fn exec(&self, argv: &[&str], timeout: Duration) -> Result<ExecOutput, String> {
        let (program, args) = argv.split_first().ok_or("no command to run")?;
        let mut command = std::process::Command::new(program);
        command.args(args).current_dir(&self.cwd);
        match examen_rt::process::run(command, None, Some(timeout)).await {
            Ok(output) => Ok(ExecOutput {
                stdout: output.stdout,
                stderr: output.stderr,
            }),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// [`EditorFiles`] in any sandbox, through its own operations: paths are resolved and probed
/// by a small script run in it (Python's `Path.resolve()` where the sandbox has `python3`,
/// else `realpath -m`), files go through its `read_file`/`write_file`.
#[derive(Debug)]
struct SandboxFiles {
    sandbox: Arc<dyn examen_sandbox::Sandbox>,
    /// The kind of the path last resolved, until something is written or removed: the editor
    /// resolves a path, then asks what it is, and each probe is a command in the sandbox.
    resolved: Mutex<Option<(String, Option<FileKind>)>>,
}

fn parse_kind(kind: &str) -> Option<FileKind> {
    match kind {
        "dir" => Some(FileKind::Dir),
        "file" => Some(FileKind::File),
        "other" => Some(FileKind::Other),
        _ => None,
    }
}

/// Answers `resolve PATH` (the resolved path) and `kind PATH` in the sandbox: a status line,
/// the kind of the path, then the path; the same answers as [`LocalFiles`] gives on this
/// machine. Resolving gives the kind too, since the editor asks for it next.
const PROBE_SCRIPT: &str = r#"
import os, pathlib, sys
mode, path = sys.argv[1], sys.argv[2]
try:
    p = pathlib.Path(path).resolve() if mode == "resolve" else pathlib.Path(path)
    kind = "dir" if p.is_dir() else "file" if p.is_file() else "other" if p.exists() else "none"
    sys.stdout.write("ok\n%s\n%s" % (kind, p))
except RuntimeError as e:
    sys.stdout.write("loop\n" + str(e))
except OSError as e:
    sys.stdout.write("os\n%d\n%s" % (e.errno or 0, e.filename or path))
"#;

/// Without Python: the same probe in POSIX shell (symlink loops then resolve as `realpath -m`
/// gives up on them).
const PROBE_SHELL: &str = r#"if command -v python3 >/dev/null 2>&1; then exec python3 -c "$0" "$@"; fi
p=$2; if [ "$1" = resolve ]; then p=$(realpath -m -- "$2") || exit 1; fi
if [ -d "$p" ]; then k=dir; elif [ -f "$p" ]; then k=file; elif [ -e "$p" ]; then k=other; else k=none; fi
printf 'ok\n%s\n%s' "$k" "$p""#;

impl SandboxFiles {
    fn new(sandbox: Arc<dyn examen_sandbox::Sandbox>) -> SandboxFiles {
        SandboxFiles {
            sandbox,
            resolved: Mutex::new(None),
        }
    }

    fn forget(&self) {
        *self.resolved.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Runs the probe; its status line and the rest.
    async fn probe(&self, mode: &str, path: &str) -> io::Result<(String, String)> {
        let request =
            examen_sandbox::ExecRequest::new(["sh", "-c", PROBE_SHELL, PROBE_SCRIPT, mode, path])
                .timeout(FIND_TIMEOUT);
        let result = self
            .sandbox
            .exec(request)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        if !result.success {
            return Err(io::Error::other(format!(
                "probing {path} failed: {}",
                result.stderr.trim()
            )));
        }
        let (status, rest) = result
            .stdout
            .split_once('\n')
            .unwrap_or((&result.stdout, ""));
        Ok((status.to_owned(), rest.to_owned()))
    }
}

/// The OS error a sandbox's file error stands for, as Python would have raised it.
fn sandbox_io_error(error: examen_sandbox::SandboxError) -> io::Error {
    use examen_sandbox::SandboxError as E;
    match error {
        E::FileNotFound { .. } => io::Error::from_raw_os_error(ENOENT),
        E::IsADirectory { .. } => io::Error::from_raw_os_error(EISDIR),
        E::PermissionDenied { .. } => io::Error::from_raw_os_error(EACCES),
        other => io::Error::other(other.to_string()),
    }
}

fn os_error_of(rest: &str, path: &str) -> (io::Error, String) {
    let mut lines = rest.splitn(2, '\n');
    let errno = lines
        .next()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    let filename = lines.next().filter(|f| !f.is_empty()).unwrap_or(path);
    let error = if errno > 0 {
        io::Error::from_raw_os_error(errno)
    } else {
        io::Error::other("unknown error")
    };
    (error, filename.to_owned())
}

impl EditorFiles for SandboxFiles {
    async fn resolve(&self, path: &str) -> Result<String, ResolveError> {
        let (status, rest) =
            self.probe("resolve", path)
                .await
                .map_err(|error| ResolveError::Os {
                    error,
                    filename: path.to_owned(),
                })?;
        match status.as_str() {
            "ok" => {
                let (kind, resolved) = rest.split_once('\n').unwrap_or(("none", &rest));
                *self.resolved.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((resolved.to_owned(), parse_kind(kind)));
                Ok(resolved.to_owned())
            }
            "loop" => {
                // Python 3.11's text: `Symlink loop from '<path>'`.
                let looped = rest
                    .strip_prefix("Symlink loop from '")
                    .and_then(|r| r.strip_suffix('\''))
                    .unwrap_or(&rest);
                Err(ResolveError::SymlinkLoop(looped.to_owned()))
            }
            _ => {
                let (error, filename) = os_error_of(&rest, path);
                Err(ResolveError::Os { error, filename })
            }
        }
    }

    async fn kind(&self, path: &str) -> io::Result<Option<FileKind>> {
        if let Some((resolved, kind)) =
            &*self.resolved.lock().unwrap_or_else(PoisonError::into_inner)
        {
            if resolved == path {
                return Ok(*kind);
            }
        }
        let (status, rest) = self.probe("kind", path).await?;
        match status.as_str() {
            "ok" => Ok(parse_kind(rest.split('\n').next().unwrap_or_default())),
            _ => Err(os_error_of(&rest, path).0),
        }
    }

    async fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        self.sandbox.read_file(path).await.map_err(sandbox_io_error)
    }

    async fn write_file(&self, path: &str, contents: Vec<u8>) -> io::Result<()> {
        self.forget();
        self.sandbox
            .write_file(path, &contents)
            .await
            .map_err(sandbox_io_error)
    }

    async fn remove_file(&self, path: &str) -> io::Result<()> {
        self.forget();
        let request = examen_sandbox::ExecRequest::new(["rm", "--", path]).timeout(FIND_TIMEOUT);
        let result = self
            .sandbox
            .exec(request)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        if result.success {
            Ok(())
        } else {
            Err(io::Error::other(result.stderr.trim().to_owned()))
        }
    }

    async fn exec(&self, argv: &[&str], timeout: Duration) -> Result<ExecOutput, String> {
        let request = examen_sandbox::ExecRequest::new(argv.iter().copied()).timeout(timeout);
        match self.sandbox.exec(request).await {
            Ok(result) => Ok(ExecOutput {
                stdout: result.stdout.into_bytes(),
                stderr: result.stderr.into_bytes(),
            }),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// Python's `os.path.realpath(path)` (non-strict, as `Path.resolve()` calls it), with relative
/// paths taken from `cwd`; a symlink loop is an error, as `Path.resolve()` makes it.
fn realpath(cwd: &str, path: &str) -> Result<String, ResolveError> {
    let full = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{}/{path}", cwd.trim_end_matches('/'))
    };
    let mut seen = HashMap::new();
    let (resolved, ok) = join_realpath(String::new(), &full, &mut seen)?;
    let resolved = normpath(&resolved);
    if ok {
        Ok(resolved)
    } else {
        Err(ResolveError::SymlinkLoop(resolved))
    }
}

/// `posixpath._joinrealpath`: `rest` resolved onto the already resolved `path`; `false` when a
/// symlink loop stopped it (the rest is then joined unresolved).
fn join_realpath(
    mut path: String,
    rest: &str,
    seen: &mut HashMap<String, Option<String>>,
) -> Result<(String, bool), ResolveError> {
    let mut rest = rest;
    if let Some(relative) = rest.strip_prefix('/') {
        rest = relative;
        path = "/".to_owned();
    }
    while !rest.is_empty() {
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        rest = tail;
        if name.is_empty() || name == "." {
            continue;
        }
        if name == ".." {
            if path.is_empty() {
                path = "..".to_owned();
            } else {
                let (head, last) = py_split(&path);
                path = if last == ".." {
                    py_join(&py_join(&head, ".."), "..")
                } else {
                    head
                };
            }
            continue;
        }
        let newpath = py_join(&path, name);
        let is_link = std::fs::symlink_metadata(&newpath)
            .map(|meta| meta.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link {
            path = newpath;
            continue;
        }
        if let Some(cached) = seen.get(&newpath) {
            match cached {
                Some(resolved) => {
                    path = resolved.clone();
                    continue;
                }
                None => return Ok((py_join(&newpath, rest), false)),
            }
        }
        seen.insert(newpath.clone(), None);
        let target = std::fs::read_link(&newpath).map_err(|error| ResolveError::Os {
            error,
            filename: newpath.clone(),
        })?;
        let (resolved, ok) = join_realpath(path, &target.to_string_lossy(), seen)?;
        path = resolved;
        if !ok {
            return Ok((py_join(&path, rest), false));
        }
        seen.insert(newpath, Some(path.clone()));
    }
    Ok((path, true))
}

/// `posixpath.join(a, b)`.
fn py_join(a: &str, b: &str) -> String {
    if b.starts_with('/') {
        b.to_owned()
    } else if a.is_empty() || a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// `posixpath.split(p)`: everything before the last `/` (trailing slashes stripped unless it
/// is all slashes) and what follows it.
fn py_split(p: &str) -> (String, String) {
    let at = p.rfind('/').map_or(0, |i| i + 1);
    let (head, tail) = p.split_at(at);
    let head = if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/')
    } else {
        head
    };
    (head.to_owned(), tail.to_owned())
}

/// `posixpath.normpath(path)`.
fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let initial_slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        if part.is_empty() || part == "." {
            continue;
        }
        if part != ".." || (initial_slashes == 0 && parts.is_empty()) || parts.last() == Some(&"..")
        {
            parts.push(part);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let normal = format!("{}{}", "/".repeat(initial_slashes), parts.join("/"));
    if normal.is_empty() {
        ".".to_owned()
    } else {
        normal
    }
}

// --- Undo history ----------------------------------------------------------------------------

/// One edit that can be undone: the file did not exist, or this was its text.
#[derive(Debug, Clone)]
enum HistoryEntry {
    Created,
    Text(String),
}

/// One sample's history: the last edits of each file, by resolved path.
type FileHistory = HashMap<String, Vec<HistoryEntry>>;

type SampleHistories = Vec<(Weak<SampleWorkdir>, Arc<Mutex<FileHistory>>)>;

/// Every running sample's history, keyed by its working directory, which the sample's
/// [`ToolContext`] holds and drops when the sample ends. Holding a `Weak` keeps the
/// directory's allocation, so a new sample cannot be taken for an ended one.
static HISTORIES: Mutex<SampleHistories> = Mutex::new(Vec::new());

/// The history of the sample `ctx` belongs to (histories of ended samples are dropped).
fn sample_history(ctx: &ToolContext) -> Arc<Mutex<FileHistory>> {
    let sample = Arc::downgrade(&ctx.workdir);
    let mut all = HISTORIES.lock().unwrap_or_else(PoisonError::into_inner);
    all.retain(|(other, _)| other.strong_count() > 0);
    if let Some((_, history)) = all.iter().find(|(other, _)| other.ptr_eq(&sample)) {
        return history.clone();
    }
    let history = Arc::new(Mutex::new(FileHistory::new()));
    all.push((sample, history.clone()));
    history
}

// --- The editor ------------------------------------------------------------------------------

/// The editor's logic over a file API.
struct Editor<'a, F> {
    files: &'a F,
    history: &'a Mutex<FileHistory>,
}

/// A `ToolException` of the helper: told to the model as Inspect's `ToolError` (`unknown`).
fn refused(message: impl Into<String>) -> ToolError {
    ToolError::new(message)
}

impl<F: EditorFiles> Editor<'_, F> {
    async fn run(&self, command: Command) -> Result<String, ToolError> {
        match command {
            Command::View { path, view_range } => self.view(&path, view_range.as_deref()).await,
            Command::Create { path, file_text } => self.create(&path, file_text).await,
            Command::StrReplace {
                path,
                old_str,
                new_str,
            } => self.str_replace(&path, &old_str, new_str.as_deref()).await,
            Command::Insert {
                path,
                insert_line,
                new_str,
            } => self.insert(&path, insert_line, &new_str).await,
            Command::UndoEdit { path } => self.undo_edit(&path).await,
        }
    }

    async fn view(&self, path: &str, view_range: Option<&[i64]>) -> Result<String, ToolError> {
        let (path, kind) = self.validated_path(path, "view").await?;
        if kind == Some(FileKind::Dir) {
            return self.view_dir(&path).await;
        }
        let mut content = self.read_text(&path).await?;
        let mut init_line = 1;
        if let Some(range) = view_range.filter(|range| !range.is_empty()) {
            let [start, end] = *range else {
                return Err(refused(
                    "Invalid `view_range`. It should be a list of two integers.",
                ));
            };
            let lines: Vec<&str> = content.split('\n').collect();
            let n_lines = lines.len() as i64;
            if start < 1 || start > n_lines {
                return Err(refused(format!(
                    "Invalid `view_range`: {}. Its first element `{start}` should be within the range of lines of the file: [1, {n_lines}]",
                    py_list(range)
                )));
            }
            // Past the end: shown to the end.
            let end = if end > n_lines { -1 } else { end };
            if end != -1 && end < start {
                return Err(refused(format!(
                    "Invalid `view_range`: {}. Its second element `{end}` should be larger or equal than its first `{start}`",
                    py_list(range)
                )));
            }
            let from = (start - 1) as usize;
            content = if end == -1 {
                lines[from..].join("\n")
            } else {
                lines[from..end as usize].join("\n")
            };
            init_line = start;
        }
        Ok(make_output(&content, &path, init_line))
    }

    /// Inspect's listing: its `find` command, each line `normpath`ed.
    async fn view_dir(&self, path: &str) -> Result<String, ToolError> {
        let dir = format!("{}/", path.trim_end_matches('/'));
        let argv = [
            "find",
            dir.as_str(),
            "-maxdepth",
            "2",
            "-not",
            "-path",
            "*/\\.*",
        ];
        let output = self
            .files
            .exec(&argv, FIND_TIMEOUT)
            .await
            .map_err(|error| ToolError::fatal(format!("text_editor: listing {path}: {error}")))?;
        let decode = |bytes: Vec<u8>| {
            String::from_utf8(bytes).map_err(|error| {
                ToolError::fatal(format!(
                    "text_editor: listing {path}: {}",
                    decode_error(error.as_bytes(), error.utf8_error())
                ))
            })
        };
        let stdout = maybe_truncate(&decode(output.stdout)?);
        let stderr = maybe_truncate(&decode(output.stderr)?);
        if !stderr.is_empty() {
            return Err(refused(format!(
                "Encountered error attempting to view {path}: '{stderr}'"
            )));
        }
        let listing: Vec<String> = crate::text::py_strip(&stdout)
            .split('\n')
            .map(normpath)
            .collect();
        Ok(format!(
            "Here are the files and directories up to 2 levels deep in {path}, excluding hidden items:\n{}\n",
            listing.join("\n")
        ))
    }

    async fn create(&self, path: &str, file_text: String) -> Result<String, ToolError> {
        let (path, _) = self.validated_path(path, "create").await?;
        self.write_text(&path, file_text).await?;
        self.add_history(&path, HistoryEntry::Created);
        Ok(format!("File created successfully at: {path}"))
    }

    async fn str_replace(
        &self,
        path: &str,
        old_str: &str,
        new_str: Option<&str>,
    ) -> Result<String, ToolError> {
        if old_str.is_empty() {
            return Err(refused(
                "str_replace: The `old_str` parameter cannot be empty. Consider using the `insert` command instead.",
            ));
        }
        let (path, _) = self.validated_path(path, "str_replace").await?;
        let content = expand_tabs(&self.read_text(&path).await?);
        let old_str = expand_tabs(old_str);
        let new_str = new_str.map(expand_tabs).unwrap_or_default();
        let occurrences = content.matches(old_str.as_str()).count();
        if occurrences == 0 {
            return Err(refused(format!(
                "No replacement was performed, old_str `{old_str}` did not appear verbatim in {path}."
            )));
        }
        if occurrences > 1 {
            let lines: Vec<String> = content
                .split('\n')
                .enumerate()
                .filter(|(_, line)| line.contains(old_str.as_str()))
                .map(|(i, _)| (i + 1).to_string())
                .collect();
            return Err(refused(format!(
                "No replacement was performed. Multiple occurrences of old_str `{old_str}` in lines [{}]. Please ensure it is unique",
                lines.join(", ")
            )));
        }
        let new_content = content.replacen(old_str.as_str(), &new_str, 1);
        self.write_text(&path, new_content.clone()).await?;
        let at = content.find(old_str.as_str()).unwrap_or(0);
        let replacement_line = content[..at].matches('\n').count();
        self.add_history(&path, HistoryEntry::Text(content));
        let start = replacement_line.saturating_sub(SNIPPET_LINES);
        let end = replacement_line + SNIPPET_LINES + new_str.matches('\n').count();
        let snippet: Vec<&str> = new_content
            .split('\n')
            .skip(start)
            .take(end + 1 - start)
            .collect();
        Ok(format!(
            "The file {path} has been edited. {}Review the changes and make sure they are as expected. Edit the file again if necessary.",
            make_output(&snippet.join("\n"), &format!("a snippet of {path}"), start as i64 + 1)
        ))
    }

    async fn insert(
        &self,
        path: &str,
        insert_line: i64,
        new_str: &str,
    ) -> Result<String, ToolError> {
        let (path, _) = self.validated_path(path, "insert").await?;
        let text = expand_tabs(&self.read_text(&path).await?);
        let new_str = expand_tabs(new_str);
        let lines: Vec<&str> = text.split('\n').collect();
        let n_lines = lines.len() as i64;
        if insert_line < 0 || insert_line > n_lines {
            return Err(refused(format!(
                "Invalid `insert_line` parameter: {insert_line}. It should be within the range of lines of the file: [0, {n_lines}]"
            )));
        }
        let at = insert_line as usize;
        let new_lines: Vec<&str> = new_str.split('\n').collect();
        let edited: Vec<&str> = lines[..at]
            .iter()
            .chain(&new_lines)
            .chain(&lines[at..])
            .copied()
            .collect();
        let snippet: Vec<&str> = lines[at.saturating_sub(SNIPPET_LINES)..at]
            .iter()
            .chain(&new_lines)
            .chain(&lines[at..(at + SNIPPET_LINES).min(lines.len())])
            .copied()
            .collect();
        self.write_text(&path, edited.join("\n")).await?;
        let snippet = make_output(
            &snippet.join("\n"),
            "a snippet of the edited file",
            (insert_line - SNIPPET_LINES as i64 + 1).max(1),
        );
        self.add_history(&path, HistoryEntry::Text(text));
        Ok(format!(
            "The file {path} has been edited. {snippet}Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary."
        ))
    }

    async fn undo_edit(&self, path: &str) -> Result<String, ToolError> {
        let (path, _) = self.validated_path(path, "undo_edit").await?;
        match self.pop_history(&path) {
            None => Err(refused(format!(
                "No edit history found for {path}. The text editor only retains the last {MAX_HISTORY_ENTRIES_PER_FILE} edits per file."
            ))),
            Some(HistoryEntry::Created) => {
                // Not a `ToolException` in Inspect either: a failure here fails the sample.
                self.files.remove_file(&path).await.map_err(|error| {
                    ToolError::fatal(format!("text_editor: deleting {path}: {error}"))
                })?;
                Ok(format!("File deleted at: {path}"))
            }
            Some(HistoryEntry::Text(old_text)) => {
                self.write_text(&path, old_text.clone()).await?;
                Ok(format!(
                    "Last edit to {path} undone successfully. {}",
                    make_output(&old_text, &path, 1)
                ))
            }
        }
    }

    /// The helper's `_validated_path`: the resolved path (and what it is), or why the command
    /// cannot be used on it.
    async fn validated_path(
        &self,
        path_str: &str,
        command: &str,
    ) -> Result<(String, Option<FileKind>), ToolError> {
        let invalid =
            |detail: String| refused(format!("Invalid path {}: {detail}", py_repr_str(path_str)));
        if path_str.contains('\0') {
            return Err(invalid("embedded null byte".to_owned()));
        }
        let path = match self.files.resolve(path_str).await {
            Ok(path) => path,
            Err(ResolveError::Os { error, filename }) => {
                return Err(invalid(py_os_error(&error, &filename)))
            }
            Err(ResolveError::SymlinkLoop(path)) => {
                return Err(ToolError::fatal(format!(
                    "RuntimeError(\"Symlink loop from {}\")",
                    py_repr_str(&path)
                )))
            }
        };
        let kind = self
            .files
            .kind(&path)
            .await
            .map_err(|error| invalid(py_os_error(&error, &path)))?;
        if kind.is_none() && command != "create" {
            return Err(refused(format!(
                "The path {path} does not exist. Please provide a valid path."
            )));
        }
        if kind.is_some() && command == "create" {
            return Err(refused(format!(
                "File already exists at: {path}. Cannot overwrite files using command `create`."
            )));
        }
        if kind == Some(FileKind::Dir) && command != "view" {
            return Err(refused(format!(
                "The path {path} is a directory and only the `view` command can be used on directories"
            )));
        }
        Ok((path, kind))
    }

    /// `Path.read_text()`: UTF-8 with universal newlines.
    async fn read_text(&self, path: &str) -> Result<String, ToolError> {
        let failed =
            |detail: String| refused(format!("Ran into {detail} while trying to read {path}"));
        let bytes = self
            .files
            .read_file(path)
            .await
            .map_err(|error| failed(py_os_error(&error, path)))?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(universal_newlines(text)),
            Err(error) => Err(failed(decode_error(&bytes, error))),
        }
    }

    /// `Path.write_text()`: fails, as `open(2)` does, when the parent directory is missing or
    /// not a directory, whatever the file API's `write_file` would do about it.
    async fn write_text(&self, path: &str, text: String) -> Result<(), ToolError> {
        let failed = |error: io::Error| {
            refused(format!(
                "Ran into {} while trying to write to {path}",
                py_os_error(&error, path)
            ))
        };
        self.check_parent(path).await.map_err(failed)?;
        self.files
            .write_file(path, text.into_bytes())
            .await
            .map_err(failed)
    }

    /// `ENOENT` when an ancestor is missing, `ENOTDIR` when the nearest existing one is not a
    /// directory.
    async fn check_parent(&self, path: &str) -> io::Result<()> {
        let mut ancestor = py_split(path).0;
        let mut direct = true;
        while !ancestor.is_empty() {
            match self.files.kind(&ancestor).await? {
                Some(FileKind::Dir) if direct => return Ok(()),
                Some(FileKind::Dir) => return Err(io::Error::from_raw_os_error(ENOENT)),
                Some(_) => return Err(io::Error::from_raw_os_error(ENOTDIR)),
                None if ancestor == "/" => break,
                None => {
                    direct = false;
                    ancestor = py_split(&ancestor).0;
                }
            }
        }
        Err(io::Error::from_raw_os_error(ENOENT))
    }

    /// Records an edit of `path`, keeping the last [`MAX_HISTORY_ENTRIES_PER_FILE`].
    fn add_history(&self, path: &str, entry: HistoryEntry) {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let entries = history.entry(path.to_owned()).or_default();
        entries.push(entry);
        if entries.len() > MAX_HISTORY_ENTRIES_PER_FILE {
            entries.drain(..entries.len() - MAX_HISTORY_ENTRIES_PER_FILE);
        }
    }

    /// Takes the last edit of `path` off its history.
    fn pop_history(&self, path: &str) -> Option<HistoryEntry> {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let entries = history.get_mut(path)?;
        let entry = entries.pop();
        if entries.is_empty() {
            history.remove(path);
        }
        entry
    }
}

// --- Python's text primitives, as the helper's answers use them ------------------------------

/// The helper's `_make_output`: the content clipped, tabs expanded, each line numbered as
/// `cat -n` numbers it (from `init_line`), under its header.
fn make_output(content: &str, descriptor: &str, init_line: i64) -> String {
    let content = expand_tabs(&maybe_truncate(content));
    let numbered: Vec<String> = content
        .split('\n')
        .zip(init_line..)
        .map(|(line, n)| format!("{n:>6}\t{line}"))
        .collect();
    format!(
        "Here's the result of running `cat -n` on {descriptor}:\n{}\n",
        numbered.join("\n")
    )
}

/// `maybe_truncate`: the first [`MAX_RESPONSE_LEN`] characters (not bytes) and the note.
fn maybe_truncate(content: &str) -> String {
    match content.char_indices().nth(MAX_RESPONSE_LEN) {
        Some((at, _)) => format!("{}{TRUNCATED_MESSAGE}", &content[..at]),
        None => content.to_owned(),
    }
}

/// Python's `str.expandtabs()`: each tab to the next multiple of 8 columns, counting
/// characters, the column starting again after `\n` and `\r`.
fn expand_tabs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0usize;
    for c in text.chars() {
        match c {
            '\t' => {
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// Universal newlines, as Python's text files read: `\r\n` and a lone `\r` become `\n`.
fn universal_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            chars.next_if_eq(&'\n');
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

/// Python's `UnicodeDecodeError` text for invalid UTF-8 (its `utf-8` codec's reasons, and the
/// span of the maximal invalid subpart, which Rust's `error_len` also gives).
fn decode_error(bytes: &[u8], error: std::str::Utf8Error) -> String {
    let at = error.valid_up_to();
    let (len, reason) = match error.error_len() {
        None => (bytes.len() - at, "unexpected end of data"),
        Some(1) if matches!(bytes[at], 0x80..=0xC1 | 0xF5..=0xFF) => (1, "invalid start byte"),
        Some(len) => (len, "invalid continuation byte"),
    };
    if len == 1 {
        format!(
            "'utf-8' codec can't decode byte 0x{:02x} in position {at}: {reason}",
            bytes[at]
        )
    } else {
        format!(
            "'utf-8' codec can't decode bytes in position {at}-{}: {reason}",
            at + len - 1
        )
    }
}

/// Python's `str(OSError)` for an error on `filename`: `[Errno 2] No such file or directory:
/// '/x'`.
fn py_os_error(error: &io::Error, filename: &str) -> String {
    match error.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let strerror = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            format!("[Errno {code}] {strerror}: {}", py_repr_str(filename))
        }
        None => error.to_string(),
    }
}

/// Python's `repr(str)`.
fn py_repr_str(text: &str) -> String {
    crate::template::py_repr(&JsonValue::String(text.to_owned()))
}

/// Python's `repr(list[int])`.
fn py_list(items: &[i64]) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_expand_as_python_expandtabs() {
        assert_eq!(expand_tabs("\tx"), "        x");
        assert_eq!(expand_tabs("ab\tc\td"), "ab      c       d");
        assert_eq!(expand_tabs("abcdefgh\tx"), "abcdefgh        x");
        assert_eq!(
            expand_tabs("é\t|\r\t|\n\t"),
            "é       |\r        |\n        "
        );
    }

    #[test]
    fn paths_normalize_as_posixpath_normpath() {
        for (path, normal) in [
            ("", "."),
            ("/tmp/w/", "/tmp/w"),
            ("/", "/"),
            ("//x//y/", "//x/y"),
            ("///x", "/x"),
            ("/a/./b/../c", "/a/c"),
            ("/..", "/"),
            ("a/../..", ".."),
            ("../x", "../x"),
        ] {
            assert_eq!(normpath(path), normal, "{path:?}");
        }
        assert_eq!(py_split("/a/b"), ("/a".to_owned(), "b".to_owned()));
        assert_eq!(py_split("/a"), ("/".to_owned(), "a".to_owned()));
        assert_eq!(py_split("/"), ("/".to_owned(), String::new()));
    }

    /// Python 3's texts, from `bytes.decode()` on the same input.
    #[test]
    fn invalid_utf8_reads_as_pythons_decode_error() {
        for (bytes, text) in [
            (
                &b"ok\xff\xfeno"[..],
                "'utf-8' codec can't decode byte 0xff in position 2: invalid start byte",
            ),
            (
                b"\xe4\xb8",
                "'utf-8' codec can't decode bytes in position 0-1: unexpected end of data",
            ),
            (
                b"x\xe4\xb8y",
                "'utf-8' codec can't decode bytes in position 1-2: invalid continuation byte",
            ),
            (
                b"\xe0\x80\x80",
                "'utf-8' codec can't decode byte 0xe0 in position 0: invalid continuation byte",
            ),
            (
                b"\xed\xa0\x80",
                "'utf-8' codec can't decode byte 0xed in position 0: invalid continuation byte",
            ),
            (
                b"ab\xe4",
                "'utf-8' codec can't decode byte 0xe4 in position 2: unexpected end of data",
            ),
            (
                b"\x80",
                "'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte",
            ),
            (
                b"\xc0\xaf",
                "'utf-8' codec can't decode byte 0xc0 in position 0: invalid start byte",
            ),
            (
                b"\xf0\x9f\x98x",
                "'utf-8' codec can't decode bytes in position 0-2: invalid continuation byte",
            ),
        ] {
            let error = std::str::from_utf8(bytes).unwrap_err();
            assert_eq!(decode_error(bytes, error), text, "{bytes:?}");
        }
    }

    #[test]
    fn newlines_read_universally() {
        assert_eq!(universal_newlines("a\r\nb\rc\n\r\r\n"), "a\nb\nc\n\n\n");
    }

    #[test]
    fn output_is_clipped_by_characters() {
        let long = "é".repeat(MAX_RESPONSE_LEN + 1);
        let clipped = maybe_truncate(&long);
        assert_eq!(
            clipped,
            format!("{}{TRUNCATED_MESSAGE}", "é".repeat(MAX_RESPONSE_LEN))
        );
        let exact = "é".repeat(MAX_RESPONSE_LEN);
        assert_eq!(maybe_truncate(&exact), exact);
    }

    #[test]
    fn os_errors_read_as_python_prints_them() {
        assert_eq!(
            py_os_error(&io::Error::from_raw_os_error(ENOENT), "/tmp/x/it's"),
            "[Errno 2] No such file or directory: \"/tmp/x/it's\""
        );
        assert_eq!(
            py_os_error(&io::Error::from_raw_os_error(ENOTDIR), "/a/b"),
            "[Errno 20] Not a directory: '/a/b'"
        );
    }

    #[test]
    fn arguments_are_validated_as_the_helpers_pydantic_models() {
        let parse = |args: serde_json::Value| {
            parse_command(args.as_object().unwrap()).map_err(|e| (e.kind, e.message))
        };
        let parsing = |message: &str| Err((ToolCallErrorType::Parsing, message.to_owned()));
        assert_eq!(
            parse(serde_json::json!({"command": "insert", "path": "a"})),
            parsing("Invalid parameters: 'insert.insert_line' Field required\n'insert.new_str' Field required")
        );
        assert_eq!(
            parse(serde_json::json!({"command": "create", "path": "a", "file_text": null})),
            parsing("Invalid parameters: 'create.file_text' Field required")
        );
        assert_eq!(
            parse(serde_json::json!({"command": "view", "path": "a", "view_range": [1.5, 2]})),
            parsing("Invalid parameters: 'view.view_range.0' Input should be a valid integer")
        );
        assert_eq!(
            parse(serde_json::json!({"command": "foo", "path": "a"})),
            parsing("Invalid parameters: Input tag 'foo' found using 'command' does not match any of the expected tags: 'view', 'create', 'str_replace', 'insert', 'undo_edit'")
        );
        assert_eq!(
            parse(serde_json::json!({"path": "a"})),
            parsing("Invalid parameters: Unable to extract tag using discriminator 'command'")
        );
        // Inspect's side: `insert_text` stands in for `new_str`, `1.0` is coerced to `1`, and
        // arguments of other commands are ignored.
        assert_eq!(
            parse(
                serde_json::json!({"command": "insert", "path": "a", "insert_line": 1.0, "insert_text": "x", "old_str": "y"})
            ),
            Ok(Command::Insert {
                path: "a".into(),
                insert_line: 1,
                new_str: "x".into()
            })
        );
        assert_eq!(
            parse(
                serde_json::json!({"command": "insert", "path": "a", "insert_line": 0, "insert_text": "x", "new_str": "z"})
            ),
            Ok(Command::Insert {
                path: "a".into(),
                insert_line: 0,
                new_str: "z".into()
            })
        );
    }
}
