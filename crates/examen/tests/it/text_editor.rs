//! The `text_editor` built-in through the tool loop on scripted mockllm, on real files in the
//! sample's working directory: each command's answer and each error, word for word as
//! Inspect's sandbox helper (`inspect_sandbox_tools` 1.2.1, the one Inspect 0.3.285 injects)
//! gives them on the same calls; the undo history and its limit; directory listings; paths;
//! Python's way of reading files; the timeout; and a task file that offers the tool.

use std::path::Path;
use std::sync::Arc;

use examen::runner::log::MemoryRun;
use examen::task::FailOnError;
use examen::tool::builtin::{Bash, TextEditor, MAX_HISTORY_ENTRIES_PER_FILE};
use examen::tool::{DynTool, Tool};
use examen::transcript::Event;
use examen::{solver, EvalOptions, Task};
use examen_model::{MockLlm, Model};
use examen_types::{ChatMessage, EvalSample, ModelOutput, ToolCall, ToolCallErrorType};
use serde_json::json;

use crate::support::{dataset, run};
use examen::sandbox::{
    BoxFuture, ExecRequest, ExecResult, LocalProvider, SampleInfo, Sandbox, SandboxConfig,
    SandboxConnection, SandboxEnvironments, SandboxError, SandboxProvider,
};

/// What the model was told for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Text(String),
    Error(ToolCallErrorType, String),
}

fn ok(text: impl Into<String>) -> Answer {
    Answer::Text(text.into())
}

/// An `unknown` error: Inspect's `ToolError`, which the helper's `ToolException` becomes.
fn refused(message: impl Into<String>) -> Answer {
    Answer::Error(ToolCallErrorType::Unknown, message.into())
}

/// A `parsing` error: Inspect's `ToolParsingError`, from the helper's parameter validation.
fn parsing(message: impl Into<String>) -> Answer {
    Answer::Error(ToolCallErrorType::Parsing, message.into())
}

fn edit(arguments: serde_json::Value) -> (&'static str, serde_json::Value) {
    ("text_editor", arguments)
}

fn sh(command: &str) -> (&'static str, serde_json::Value) {
    ("bash", json!({ "command": command }))
}

fn turn(id: usize, (function, arguments): (&str, serde_json::Value)) -> ModelOutput {
    let serde_json::Value::Object(arguments) = arguments else {
        panic!("arguments are an object");
    };
    let call = ToolCall::new(format!("c{id}"), function, arguments);
    ModelOutput::for_tool_calls("mockllm/model", vec![call], None)
}

fn answers_of(sample: &EvalSample) -> Vec<Answer> {
    sample
        .messages
        .iter()
        .filter_map(|m| match m {
            ChatMessage::Tool(tool) => Some(match &tool.error {
                Some(error) => {
                    assert_eq!(tool.content.text(), "", "no content with an error");
                    Answer::Error(error.kind, error.message.clone())
                }
                None => Answer::Text(tool.content.text()),
            }),
            _ => None,
        })
        .collect()
}

fn only_sample(run: &MemoryRun) -> EvalSample {
    let mut samples = run.sorted_samples();
    assert_eq!(samples.len(), 1);
    samples.remove(0)
}

/// Runs one sample whose model first asks `bash` for its working directory (`pwd -P`: with
/// symlinks resolved, as the editor names paths), then makes `calls`, one per turn, then
/// answers. Gives the directory and the answers to `calls`.
async fn session(
    editor: TextEditor,
    calls: Vec<(&str, serde_json::Value)>,
) -> (String, Vec<Answer>) {
    session_with(editor, calls, examen_types::GenerateConfig::default()).await
}

/// [`session`] with this generate config.
async fn session_with(
    editor: TextEditor,
    calls: Vec<(&str, serde_json::Value)>,
    config: examen_types::GenerateConfig,
) -> (String, Vec<Answer>) {
    session_in(editor, calls, config, None).await
}

/// [`session_with`] in sandboxes of `provider` (`None`: the implicit local one).
async fn session_in(
    editor: TextEditor,
    calls: Vec<(&str, serde_json::Value)>,
    config: examen_types::GenerateConfig,
    provider: Option<Arc<dyn SandboxProvider>>,
) -> (String, Vec<Answer>) {
    let mut turns = vec![turn(0, sh("pwd -P"))];
    turns.extend(calls.into_iter().enumerate().map(|(i, c)| turn(i + 1, c)));
    turns.push(ModelOutput::from_text("mockllm/model", "done"));
    let task = Task::new("edit", dataset(&[("Edit the files.", "done")]))
        .solver(solver::use_tools(vec![
            Arc::new(editor) as Arc<dyn DynTool>,
            Arc::new(Bash::default()),
        ]))
        .solver(solver::generate())
        .config(config)
        .fail_on_error(FailOnError::Bool(false));
    let task = match provider {
        Some(provider) => task.sandbox_provider(provider, None),
        None => task,
    };
    let model = Model::from_mock(MockLlm::turns(turns));
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let mut answers = answers_of(&sample);
    let Answer::Text(pwd) = answers.remove(0) else {
        panic!("pwd answered");
    };
    (pwd.trim().to_owned(), answers)
}

/// Compares answers one by one, so that a failure names the call.
fn assert_answers(actual: &[Answer], expected: &[Answer]) {
    for (i, (actual, expected)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(actual, expected, "answer {i}");
    }
    assert_eq!(actual.len(), expected.len());
}

const EDITED: &str =
    "Review the changes and make sure they are as expected. Edit the file again if necessary.";
const INSERTED: &str = "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary.";

#[examen_rt::test]
async fn each_command_answers_as_inspect() {
    let (dir, answers) = session(
        TextEditor::default(),
        vec![
            edit(json!({"command": "create", "path": "a.txt", "file_text": "one\ntwo\nthree\n"})),
            edit(json!({"command": "view", "path": "a.txt"})),
            sh("cat a.txt"),
            edit(json!({"command": "str_replace", "path": "a.txt", "old_str": "o\nt"})),
            edit(json!({"command": "insert", "path": "a.txt", "insert_line": 1, "insert_text": "ins"})),
            edit(json!({"command": "insert", "path": "a.txt", "insert_line": 0, "new_str": "top\ttab"})),
            sh("cat a.txt"),
            edit(json!({"command": "undo_edit", "path": "a.txt"})),
            edit(json!({"command": "undo_edit", "path": "a.txt"})),
            edit(json!({"command": "undo_edit", "path": "a.txt"})),
            sh("cat a.txt"),
            edit(json!({"command": "undo_edit", "path": "a.txt"})),
            sh("test -e a.txt || echo gone"),
            edit(json!({"command": "str_replace", "path": "b.txt", "old_str": "x", "new_str": "y"})),
        ],
    )
    .await;
    let a = format!("{dir}/a.txt");
    assert_answers(
        &answers,
        &[
            ok(format!("File created successfully at: {a}")),
            ok(format!("Here's the result of running `cat -n` on {a}:\n     1\tone\n     2\ttwo\n     3\tthree\n     4\t\n")),
            ok("one\ntwo\nthree\n"),
            ok(format!("The file {a} has been edited. Here's the result of running `cat -n` on a snippet of {a}:\n     1\tone\n     2\ttwhree\n     3\t\n{EDITED}")),
            // `insert_text` stands in for `new_str`, as Inspect re-wires it.
            ok(format!("The file {a} has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n     1\tone\n     2\tins\n     3\ttwhree\n     4\t\n{INSERTED}")),
            ok(format!("The file {a} has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n     1\ttop     tab\n     2\tone\n     3\tins\n     4\ttwhree\n     5\t\n{INSERTED}")),
            // The tab was expanded in the file too.
            ok("top     tab\none\nins\ntwhree\n"),
            ok(format!("Last edit to {a} undone successfully. Here's the result of running `cat -n` on {a}:\n     1\tone\n     2\tins\n     3\ttwhree\n     4\t\n")),
            ok(format!("Last edit to {a} undone successfully. Here's the result of running `cat -n` on {a}:\n     1\tone\n     2\ttwhree\n     3\t\n")),
            ok(format!("Last edit to {a} undone successfully. Here's the result of running `cat -n` on {a}:\n     1\tone\n     2\ttwo\n     3\tthree\n     4\t\n")),
            ok("one\ntwo\nthree\n"),
            // Undoing the `create` deletes the file.
            ok(format!("File deleted at: {a}")),
            ok("gone\n"),
            refused(format!("The path {dir}/b.txt does not exist. Please provide a valid path.")),
        ],
    );
}

#[examen_rt::test]
async fn view_range_and_snippets_follow_inspects_line_arithmetic() {
    let body: Vec<String> = (1..=20).map(|i| format!("line {i}")).collect();
    let (dir, answers) = session(
        TextEditor::default(),
        vec![
            edit(json!({"command": "create", "path": "a.txt", "file_text": "one\ntwo\nthree\n"})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [2, 3]})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [2, -1]})),
            // Past the end: to the end.
            edit(json!({"command": "view", "path": "a.txt", "view_range": [2, 100]})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [4, 4]})),
            // An empty range is no range.
            edit(json!({"command": "view", "path": "a.txt", "view_range": []})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [0, 2]})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [5, 6]})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [3, 2]})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [3, -5]})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [1]})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [1, 2, 3]})),
            // An empty file has one (empty) line.
            edit(json!({"command": "create", "path": "e.txt", "file_text": ""})),
            edit(json!({"command": "view", "path": "e.txt", "view_range": [1, -1]})),
            edit(json!({"command": "insert", "path": "e.txt", "insert_line": 1, "new_str": "q"})),
            // Snippets: 4 lines of context, clipped at the file's ends.
            edit(json!({"command": "create", "path": "s.txt", "file_text": body.join("\n")})),
            edit(json!({"command": "str_replace", "path": "s.txt", "old_str": "line 10\n", "new_str": "X\nY\nZ\n"})),
            edit(json!({"command": "str_replace", "path": "s.txt", "old_str": "line 1\n", "new_str": ""})),
            edit(json!({"command": "str_replace", "path": "s.txt", "old_str": "line 20", "new_str": "end"})),
            edit(json!({"command": "insert", "path": "s.txt", "insert_line": 19, "new_str": "a\nb"})),
            edit(json!({"command": "insert", "path": "s.txt", "insert_line": 2, "new_str": ""})),
            edit(json!({"command": "str_replace", "path": "s.txt", "old_str": "line 1"})),
        ],
    )
    .await;
    let a = format!("{dir}/a.txt");
    let e = format!("{dir}/e.txt");
    let s = format!("{dir}/s.txt");
    let cat = |path: &str, lines: &str| {
        ok(format!(
            "Here's the result of running `cat -n` on {path}:\n{lines}"
        ))
    };
    let snippet = |lines: &str| {
        ok(format!("The file {s} has been edited. Here's the result of running `cat -n` on a snippet of {s}:\n{lines}{EDITED}"))
    };
    let inserted = |path: &str, lines: &str| {
        ok(format!("The file {path} has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n{lines}{INSERTED}"))
    };
    let range_error = |message: &str| refused(format!("Invalid `view_range`: {message}"));
    assert_answers(
        &answers,
        &[
            ok(format!("File created successfully at: {a}")),
            cat(&a, "     2\ttwo\n     3\tthree\n"),
            cat(&a, "     2\ttwo\n     3\tthree\n     4\t\n"),
            cat(&a, "     2\ttwo\n     3\tthree\n     4\t\n"),
            cat(&a, "     4\t\n"),
            cat(&a, "     1\tone\n     2\ttwo\n     3\tthree\n     4\t\n"),
            range_error("[0, 2]. Its first element `0` should be within the range of lines of the file: [1, 4]"),
            range_error("[5, 6]. Its first element `5` should be within the range of lines of the file: [1, 4]"),
            range_error("[3, 2]. Its second element `2` should be larger or equal than its first `3`"),
            range_error("[3, -5]. Its second element `-5` should be larger or equal than its first `3`"),
            refused("Invalid `view_range`. It should be a list of two integers."),
            refused("Invalid `view_range`. It should be a list of two integers."),
            ok(format!("File created successfully at: {e}")),
            cat(&e, "     1\t\n"),
            inserted(&e, "     1\t\n     2\tq\n"),
            ok(format!("File created successfully at: {s}")),
            snippet("     6\tline 6\n     7\tline 7\n     8\tline 8\n     9\tline 9\n    10\tX\n    11\tY\n    12\tZ\n    13\tline 11\n    14\tline 12\n    15\tline 13\n    16\tline 14\n    17\tline 15\n"),
            snippet("     1\tline 2\n     2\tline 3\n     3\tline 4\n     4\tline 5\n     5\tline 6\n"),
            snippet("    17\tline 16\n    18\tline 17\n    19\tline 18\n    20\tline 19\n    21\tend\n"),
            inserted(&s, "    16\tline 15\n    17\tline 16\n    18\tline 17\n    19\tline 18\n    20\ta\n    21\tb\n    22\tline 19\n    23\tend\n"),
            inserted(&s, "     1\tline 2\n     2\tline 3\n     3\t\n     4\tline 4\n     5\tline 5\n     6\tline 6\n     7\tline 7\n"),
            refused("No replacement was performed. Multiple occurrences of old_str `line 1` in lines [13, 14, 15, 16, 17, 18, 19, 20, 23]. Please ensure it is unique"),
        ],
    );
}

#[examen_rt::test]
async fn each_error_is_inspects() {
    let (dir, answers) = session(
        TextEditor::default(),
        vec![
            edit(json!({"command": "create", "path": "a.txt", "file_text": "one\ntwo\nthree\n"})),
            edit(json!({"command": "create", "path": "a.txt", "file_text": "x"})),
            edit(json!({"command": "create", "path": "sub/b.txt", "file_text": "x"})),
            edit(json!({"command": "create", "path": "a.txt/b.txt", "file_text": "x"})),
            edit(json!({"command": "create", "path": "c.txt"})),
            edit(json!({"command": "str_replace", "path": "a.txt"})),
            edit(json!({"command": "str_replace", "path": "a.txt", "old_str": ""})),
            // The empty `old_str` is refused before the path is looked at.
            edit(json!({"command": "str_replace", "path": "nope", "old_str": ""})),
            edit(json!({"command": "str_replace", "path": "a.txt", "old_str": "zzz"})),
            edit(json!({"command": "str_replace", "path": "a.txt", "old_str": "t"})),
            edit(json!({"command": "create", "path": "m.txt", "file_text": "ab\nab\nab"})),
            // No single line holds a multi-line `old_str`: no lines listed.
            edit(json!({"command": "str_replace", "path": "m.txt", "old_str": "b\na"})),
            edit(json!({"command": "str_replace", "path": ".", "old_str": "two", "new_str": "2"})),
            edit(json!({"command": "insert", "path": "a.txt"})),
            edit(json!({"command": "insert", "path": "a.txt", "insert_line": 1})),
            edit(json!({"command": "insert", "path": "a.txt", "insert_line": -1, "new_str": "x"})),
            edit(json!({"command": "insert", "path": "a.txt", "insert_line": 5, "new_str": "x"})),
            edit(json!({"command": "view", "path": "nope.txt"})),
            edit(json!({"command": "view", "path": "/nonexistent/x"})),
            edit(json!({"command": "undo_edit", "path": "."})),
            edit(json!({"command": "undo_edit", "path": "m.txt"})),
            edit(json!({"command": "undo_edit", "path": "m.txt"})),
            edit(json!({"command": "view", "path": "a\u{0}b"})),
            edit(json!({"command": "view", "path": "it's\u{0}\n\u{e9}"})),
            sh("cat a.txt; ls"),
        ],
    )
    .await;
    let a = format!("{dir}/a.txt");
    let m = format!("{dir}/m.txt");
    assert_answers(
        &answers,
        &[
            ok(format!("File created successfully at: {a}")),
            refused(format!("File already exists at: {a}. Cannot overwrite files using command `create`.")),
            // Parent directories are not made.
            refused(format!("Ran into [Errno 2] No such file or directory: '{dir}/sub/b.txt' while trying to write to {dir}/sub/b.txt")),
            refused(format!("Ran into [Errno 20] Not a directory: '{a}/b.txt' while trying to write to {a}/b.txt")),
            parsing("Invalid parameters: 'create.file_text' Field required"),
            parsing("Invalid parameters: 'str_replace.old_str' Field required"),
            refused("str_replace: The `old_str` parameter cannot be empty. Consider using the `insert` command instead."),
            refused("str_replace: The `old_str` parameter cannot be empty. Consider using the `insert` command instead."),
            refused(format!("No replacement was performed, old_str `zzz` did not appear verbatim in {a}.")),
            refused("No replacement was performed. Multiple occurrences of old_str `t` in lines [2, 3]. Please ensure it is unique"),
            ok(format!("File created successfully at: {m}")),
            refused("No replacement was performed. Multiple occurrences of old_str `b\na` in lines []. Please ensure it is unique"),
            refused(format!("The path {dir} is a directory and only the `view` command can be used on directories")),
            parsing("Invalid parameters: 'insert.insert_line' Field required\n'insert.new_str' Field required"),
            parsing("Invalid parameters: 'insert.new_str' Field required"),
            refused("Invalid `insert_line` parameter: -1. It should be within the range of lines of the file: [0, 4]"),
            refused("Invalid `insert_line` parameter: 5. It should be within the range of lines of the file: [0, 4]"),
            refused(format!("The path {dir}/nope.txt does not exist. Please provide a valid path.")),
            refused("The path /nonexistent/x does not exist. Please provide a valid path."),
            refused(format!("The path {dir} is a directory and only the `view` command can be used on directories")),
            ok(format!("File deleted at: {m}")),
            refused(format!("The path {m} does not exist. Please provide a valid path.")),
            refused("Invalid path 'a\\x00b': embedded null byte"),
            refused("Invalid path \"it's\\x00\\n\u{e9}\": embedded null byte"),
            // Nothing the refused calls were given was written.
            ok("one\ntwo\nthree\na.txt\n"),
        ],
    );
}

#[examen_rt::test]
async fn undo_takes_back_the_last_ten_edits_of_a_file() {
    assert_eq!(MAX_HISTORY_ENTRIES_PER_FILE, 10);
    let mut calls = vec![edit(
        json!({"command": "create", "path": "h.txt", "file_text": "0"}),
    )];
    for i in 1..=11 {
        calls.push(edit(json!({"command": "str_replace", "path": "h.txt", "old_str": (i - 1).to_string(), "new_str": i.to_string()})));
    }
    for _ in 0..11 {
        calls.push(edit(json!({"command": "undo_edit", "path": "h.txt"})));
    }
    calls.push(sh("cat h.txt"));
    let (dir, answers) = session(TextEditor::default(), calls).await;
    let h = format!("{dir}/h.txt");
    let mut expected = vec![ok(format!("File created successfully at: {h}"))];
    for i in 1..=11 {
        expected.push(ok(format!("The file {h} has been edited. Here's the result of running `cat -n` on a snippet of {h}:\n     1\t{i}\n{EDITED}")));
    }
    // The create and the first edit fell off the history: ten undos, back to "1".
    for i in (1..=10).rev() {
        expected.push(ok(format!("Last edit to {h} undone successfully. Here's the result of running `cat -n` on {h}:\n     1\t{i}\n")));
    }
    expected.push(refused(format!(
        "No edit history found for {h}. The text editor only retains the last 10 edits per file."
    )));
    expected.push(ok("1"));
    assert_answers(&answers, &expected);
}

#[examen_rt::test]
async fn a_directory_lists_two_levels_without_hidden_items() {
    let (dir, answers) = session(
        TextEditor::default(),
        vec![
            sh("mkdir -p d1/d2/d3 .hid d1/.h2 empty && touch d1/d2/d3/deep d1/d2/f2 d1/f1 .hid/x d1/.h2/y .dot top && ln -s d1 dlink"),
            edit(json!({"command": "view", "path": "."})),
            edit(json!({"command": "view", "path": "empty/"})),
            // Everything under a hidden directory is hidden, so nothing is left: `normpath("")`.
            edit(json!({"command": "view", "path": ".hid"})),
            // A symlink is resolved: the listing is the target's.
            edit(json!({"command": "view", "path": "dlink", "view_range": [1, 2]})),
        ],
    )
    .await;
    let header = |path: &str| {
        format!("Here are the files and directories up to 2 levels deep in {path}, excluding hidden items:\n")
    };
    // `find` lists in directory order: compare the lines as a set.
    let listing = |answer: &Answer, path: &str| -> Vec<String> {
        let Answer::Text(text) = answer else {
            panic!("a listing: {answer:?}");
        };
        let body = text
            .strip_prefix(&header(path))
            .unwrap_or_else(|| panic!("header: {text:?}"));
        let body = body
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("{text:?}"));
        let mut lines: Vec<String> = body.split('\n').map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let lines = |names: &[&str], base: &str| -> Vec<String> {
        let mut lines: Vec<String> = names
            .iter()
            .map(|n| {
                if n.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}/{n}")
                }
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(answers[0], ok(""));
    assert_eq!(
        listing(&answers[1], &dir),
        lines(&["", "d1", "d1/d2", "d1/f1", "dlink", "empty", "top"], &dir)
    );
    assert_eq!(
        answers[2],
        ok(format!("{}{dir}/empty\n", header(&format!("{dir}/empty"))))
    );
    assert_eq!(
        answers[3],
        ok(format!("{}.\n", header(&format!("{dir}/.hid"))))
    );
    let d1 = format!("{dir}/d1");
    assert_eq!(
        listing(&answers[4], &d1),
        lines(&["", "d2", "d2/d3", "d2/f2", "f1"], &d1)
    );
}

#[examen_rt::test]
async fn paths_resolve_as_pythons_path_resolve() {
    // A directory outside the sample's: absolute paths are this machine's (as bash's are).
    let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let outside_dir = outside
        .path()
        .canonicalize()
        .unwrap_or_else(|e| panic!("{e}"))
        .display()
        .to_string();
    let (dir, answers) = session(
        TextEditor::default(),
        vec![
            sh("mkdir sub && echo hi > sub/f && ln -s sub/f link && ln -s missing dangling"),
            edit(json!({"command": "view", "path": "sub/../sub/./f"})),
            edit(json!({"command": "view", "path": "sub//f/"})),
            edit(json!({"command": "view", "path": "link"})),
            edit(json!({"command": "view", "path": "./sub/f"})),
            // A dangling symlink names its target, which `create` makes.
            edit(json!({"command": "view", "path": "dangling"})),
            edit(json!({"command": "create", "path": "dangling", "file_text": "made"})),
            sh("cat missing"),
            edit(json!({"command": "create", "path": format!("{outside_dir}/abs.txt"), "file_text": "far"})),
        ],
    )
    .await;
    let f = format!("{dir}/sub/f");
    let hi = ok(format!(
        "Here's the result of running `cat -n` on {f}:\n     1\thi\n     2\t\n"
    ));
    assert_answers(
        &answers,
        &[
            ok(""),
            hi.clone(),
            hi.clone(),
            hi.clone(),
            hi,
            refused(format!(
                "The path {dir}/missing does not exist. Please provide a valid path."
            )),
            ok(format!("File created successfully at: {dir}/missing")),
            ok("made"),
            ok(format!(
                "File created successfully at: {outside_dir}/abs.txt"
            )),
        ],
    );
    let far = std::fs::read_to_string(Path::new(&outside_dir).join("abs.txt"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(far, "far");
}

#[examen_rt::test]
async fn files_are_read_and_written_as_pythons_text_files() {
    let (dir, answers) = session(
        TextEditor::default(),
        vec![
            sh("printf 'a\\r\\nb\\rc\\n' > crlf.txt; printf 'ok\\377\\376no' > bad.txt; printf '\\344\\270' > bad2.txt; printf 'x\\344\\270y' > bad3.txt; printf '\\tx\\n\\ty\\tz\\n' > tabs.txt"),
            edit(json!({"command": "view", "path": "crlf.txt"})),
            edit(json!({"command": "str_replace", "path": "crlf.txt", "old_str": "b", "new_str": "B"})),
            edit(json!({"command": "view", "path": "bad.txt"})),
            edit(json!({"command": "view", "path": "bad2.txt"})),
            edit(json!({"command": "str_replace", "path": "bad3.txt", "old_str": "x"})),
            edit(json!({"command": "view", "path": "tabs.txt", "view_range": [2, 2]})),
            edit(json!({"command": "str_replace", "path": "tabs.txt", "old_str": "\ty", "new_str": "\tY"})),
            edit(json!({"command": "undo_edit", "path": "tabs.txt"})),
            sh("python3 -c 'import sys; [print(repr(open(p, \"rb\").read())) for p in sys.argv[1:]]' crlf.txt tabs.txt"),
        ],
    )
    .await;
    let crlf = format!("{dir}/crlf.txt");
    let tabs = format!("{dir}/tabs.txt");
    assert_answers(
        &answers,
        &[
            ok(""),
            // Universal newlines: `\r\n` and `\r` read as `\n`...
            ok(format!("Here's the result of running `cat -n` on {crlf}:\n     1\ta\n     2\tb\n     3\tc\n     4\t\n")),
            ok(format!("The file {crlf} has been edited. Here's the result of running `cat -n` on a snippet of {crlf}:\n     1\ta\n     2\tB\n     3\tc\n     4\t\n{EDITED}")),
            refused(format!("Ran into 'utf-8' codec can't decode byte 0xff in position 2: invalid start byte while trying to read {dir}/bad.txt")),
            refused(format!("Ran into 'utf-8' codec can't decode bytes in position 0-1: unexpected end of data while trying to read {dir}/bad2.txt")),
            refused(format!("Ran into 'utf-8' codec can't decode bytes in position 1-2: invalid continuation byte while trying to read {dir}/bad3.txt")),
            ok(format!("Here's the result of running `cat -n` on {tabs}:\n     2\t        y       z\n")),
            ok(format!("The file {tabs} has been edited. Here's the result of running `cat -n` on a snippet of {tabs}:\n     1\t        x\n     2\t        Y       z\n     3\t\n{EDITED}")),
            ok(format!("Last edit to {tabs} undone successfully. Here's the result of running `cat -n` on {tabs}:\n     1\t        x\n     2\t        y       z\n     3\t\n")),
            // ...so an edit writes `\n` back; the history holds the tab-expanded text.
            ok("b'a\\nB\\nc\\n'\nb'        x\\n        y       z\\n'\n"),
        ],
    );
}

#[examen_rt::test]
async fn long_output_is_clipped_at_16000_characters() {
    // 15,990 two-byte characters, a newline, then 9 more characters fit; the rest is clipped.
    // Characters, not bytes: the tool loop's own limit (16 KiB of bytes) is lifted to show it.
    let text = format!("{}\nabcdefghijklmn\n", "\u{e9}".repeat(15990));
    let (dir, answers) = session_with(
        TextEditor::default(),
        vec![
            edit(json!({"command": "create", "path": "big.txt", "file_text": text})),
            edit(json!({"command": "view", "path": "big.txt"})),
        ],
        examen_types::GenerateConfig {
            max_tool_output: Some(0),
            ..Default::default()
        },
    )
    .await;
    let expected = format!(
        "Here's the result of running `cat -n` on {dir}/big.txt:\n     1\t{}\n     2\tabcdefghi<response clipped><NOTE>To save on context only part of this file has been shown to you. You should retry this tool after you have searched inside the file with `grep -n` in order to find the line numbers of what you are looking for.</NOTE>\n",
        "\u{e9}".repeat(15990)
    );
    assert_eq!(answers[1], ok(expected));
}

#[examen_rt::test]
async fn the_undo_history_belongs_to_the_sample() {
    // One sample edits a file both samples can see; the other, after it, has nothing to undo.
    let shared = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = shared
        .path()
        .canonicalize()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("shared.txt");
    std::fs::write(&file, "before").unwrap_or_else(|e| panic!("{e}"));
    let path = file.display().to_string();
    let script_path = path.clone();
    let model = Model::from_mock(MockLlm::from_fn(move |messages| {
        let first = crate::support::last_user(messages) == "first";
        let turns = messages.iter().filter(|m| m.role() == "assistant").count();
        let arguments = if first {
            json!({"command": "str_replace", "path": script_path, "old_str": "before", "new_str": "after"})
        } else {
            json!({"command": "undo_edit", "path": script_path})
        };
        match turns {
            0 => turn(1, edit(arguments)),
            _ => ModelOutput::from_text("mockllm/model", "done"),
        }
    }));
    let task = Task::new("edit", dataset(&[("first", "x"), ("second", "y")]))
        .solver(solver::use_tools(vec![Arc::new(TextEditor::default())]))
        .solver(solver::generate());
    let options = EvalOptions {
        max_samples: Some(1),
        ..Default::default()
    };
    let (_, run) = run(task, model, options).await;
    let samples = run.sorted_samples();
    assert_eq!(samples.len(), 2);
    let answers: Vec<Vec<Answer>> = samples.iter().map(answers_of).collect();
    assert_eq!(
        answers[0],
        [ok(format!("The file {path} has been edited. Here's the result of running `cat -n` on a snippet of {path}:\n     1\tafter\n{EDITED}"))]
    );
    assert_eq!(
        answers[1],
        [refused(format!("No edit history found for {path}. The text editor only retains the last 10 edits per file."))]
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}")),
        "after"
    );
}

#[examen_rt::test]
async fn a_call_past_its_timeout_answers_inspects_timeout() {
    // Reading a FIFO that nobody writes blocks. The model's next turn opens it for writing, which
    // ends the read: here, before the answer, as the sample's directory (and the FIFO in it) is
    // removed once the sample ends. Opened without blocking, retried until the read has opened
    // its end (the read runs to its end whatever the timeout, so it gets there).
    let model = Model::from_mock(MockLlm::from_fn(|messages| {
        let turns = messages.iter().filter(|m| m.role() == "assistant").count();
        match turns {
            0 => turn(0, sh("mkfifo pipe && pwd -P")),
            1 => turn(1, edit(json!({"command": "view", "path": "pipe"}))),
            _ => {
                let pwd = messages
                    .iter()
                    .find_map(|m| match m {
                        ChatMessage::Tool(tool) => Some(tool.content.text()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let pipe = Path::new(pwd.trim()).join("pipe");
                loop {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(libc_o_nonblock())
                        .open(&pipe)
                    {
                        Ok(writer) => break drop(writer),
                        // ENXIO: no reader has opened the FIFO yet.
                        Err(e) if e.raw_os_error() == Some(6) => {
                            std::thread::sleep(std::time::Duration::from_millis(5))
                        }
                        Err(e) => panic!("open {}: {e}", pipe.display()),
                    }
                }
                ModelOutput::from_text("mockllm/model", "done")
            }
        }
    }));
    let task = Task::new("edit", dataset(&[("Edit.", "done")]))
        .solver(solver::use_tools(vec![
            Arc::new(TextEditor { timeout: Some(0.3) }) as Arc<dyn DynTool>,
            Arc::new(Bash::default()),
        ]))
        .solver(solver::generate());
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    assert_eq!(
        answers_of(&sample)[1],
        Answer::Error(
            ToolCallErrorType::Timeout,
            "Command timed out before completing.".into()
        )
    );
}

/// `O_NONBLOCK` on Linux (and `0x4` on macOS), without a libc dependency for one constant.
fn libc_o_nonblock() -> i32 {
    if cfg!(target_os = "macos") {
        0x4
    } else {
        0o4000
    }
}

/// Inspect's `ToolInfo` for `text_editor()` (0.3.285), as `ToolDef(text_editor()).parameters
/// .model_dump(exclude_none=True)` prints it.
fn inspect_parameters() -> serde_json::Value {
    let optional = |kind: serde_json::Value, description: &str| json!({"description": description, "anyOf": [kind, {"type": "null"}]});
    json!({
        "type": "object",
        "properties": {
            "command": {
                "type": "string",
                "description": "The command to execute. Note: `undo_edit` retains only the last 10 edits per file.",
                "enum": ["view", "create", "str_replace", "insert", "undo_edit"]
            },
            "path": {"type": "string", "description": "Path to file or directory, e.g. `/repo/file.py` or `../repo`."},
            "file_text": optional(json!({"type": "string"}), "Required parameter of `create` command, with the content of the file to be created."),
            "insert_line": optional(json!({"type": "integer"}), "Required parameter of `insert` command. The `new_str` will be inserted AFTER the line `insert_line` of `path`."),
            "insert_text": optional(json!({"type": "string"}), "Required parameter of `insert` command containing the string to insert."),
            "new_str": optional(json!({"type": "string"}), "Optional parameter of `str_replace` command containing the new string (if not given, no string will be added)."),
            "old_str": optional(json!({"type": "string"}), "Required parameter of `str_replace` command containing the string in `path` to replace."),
            "view_range": optional(json!({"type": "array", "items": {"type": "integer"}}), "Optional parameter of `view` command when `path` points to a file. If none is given, the full file is shown. If provided, the file will be shown in the indicated line number range, e.g. [11, 12] will show lines 11 and 12. Indexing at 1 to start. Setting `[start_line, -1]` shows all lines from `start_line` to the end of the file.")
        },
        "required": ["command", "path"],
        "additionalProperties": false
    })
}

#[test]
fn the_tool_is_described_as_inspects() {
    let editor = TextEditor::default();
    let info = Tool::info(&editor);
    assert_eq!(info.name, "text_editor");
    assert_eq!(
        info.description,
        "Use this function to execute text editing commands."
    );
    let parameters = serde_json::to_value(&info.parameters).unwrap_or_else(|e| panic!("{e}"));
    // Field order too: the log's JSON is Inspect's, byte for byte.
    assert_eq!(
        serde_json::to_string(&parameters).unwrap_or_default(),
        serde_json::to_string(&inspect_parameters()).unwrap_or_default()
    );
    assert!(
        !Tool::parallel(&editor),
        "Inspect's text_editor is not parallel"
    );
}

#[examen_rt::test]
async fn a_task_file_offers_text_editor_by_name() {
    let yaml = "name: edit\n\
                dataset:\n  samples:\n    - {input: \"Write the file.\", target: \"done\"}\n\
                solver:\n  - use_tools: [{text_editor: {timeout: 60}}, bash]\n  - generate\n\
                scorer: includes\n";
    let task = examen::taskfile::parse_task(yaml, Path::new("task.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let model = Model::from_mock(MockLlm::turns(vec![
        turn(
            0,
            edit(json!({"command": "create", "path": "out.txt", "file_text": "hello\n"})),
        ),
        turn(1, sh("cat out.txt")),
        ModelOutput::from_text("mockllm/model", "done"),
    ]));
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let answers = answers_of(&sample);
    let Answer::Text(created) = &answers[0] else {
        panic!("{answers:?}");
    };
    assert!(
        created.starts_with("File created successfully at: ") && created.ends_with("/out.txt"),
        "{created}"
    );
    assert_eq!(answers[1], ok("hello\n"));
    // The model was offered Inspect's tool.
    let offered = sample
        .events
        .iter()
        .find_map(|e| match e {
            Event::Model(m) => Some(m.tools.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a model event"));
    assert_eq!(offered[0].name, "text_editor");
    assert_eq!(
        serde_json::to_value(&offered[0].parameters).unwrap_or_default(),
        inspect_parameters()
    );

    // The plain name works, and the arguments are checked as bash's are.
    let parse = |tools: &str| {
        let yaml = format!(
            "name: edit\ndataset:\n  samples: [{{input: a, target: b}}]\nsolver:\n  - use_tools: {tools}\n"
        );
        examen::taskfile::parse_task(&yaml, Path::new("task.yaml")).map(|_| ())
    };
    parse("[text_editor]").unwrap_or_else(|e| panic!("{e}"));
    let zero = parse("[{text_editor: {timeout: 0}}]")
        .err()
        .unwrap_or_else(|| panic!("timeout 0 is refused"))
        .to_string();
    assert!(
        zero.contains("text_editor: `timeout` must be a number of seconds above 0, got 0"),
        "{zero}"
    );
    let user = parse("[{text_editor: {user: root}}]")
        .err()
        .unwrap_or_else(|| panic!("user is refused until sandboxes"))
        .to_string();
    assert!(user.contains("user"), "{user}");
}

/// A sandbox the editor cannot see into: local underneath, but of another type, so the editor
/// works through the sandbox's own operations, as it does in bwrap and docker.
#[derive(Debug)]
struct Opaque(
    Arc<dyn Sandbox>,
    std::sync::Mutex<Option<SandboxEnvironments>>,
);

impl Sandbox for Opaque {
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, SandboxError>> {
        self.0.exec(request)
    }
    fn write_file<'a>(
        &'a self,
        path: &'a str,
        contents: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        self.0.write_file(path, contents)
    }
    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SandboxError>> {
        self.0.read_file(path)
    }
    fn connection(&self) -> Result<SandboxConnection, SandboxError> {
        self.0.connection()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[derive(Debug, Default)]
struct OpaqueProvider(LocalProvider);

impl SandboxProvider for OpaqueProvider {
    fn name(&self) -> &str {
        "opaque"
    }
    fn sample_init<'a>(
        &'a self,
        config: &'a SandboxConfig,
        sample: &'a SampleInfo,
    ) -> BoxFuture<'a, Result<SandboxEnvironments, SandboxError>> {
        Box::pin(async move {
            let local = self.0.sample_init(config, sample).await?;
            let mut envs = SandboxEnvironments::new();
            let inner = local.default_sandbox().cloned().unwrap();
            // The local ones are kept for cleanup under their own type.
            let opaque = Opaque(inner, std::sync::Mutex::new(Some(local)));
            envs.insert("default", Arc::new(opaque));
            Ok(envs)
        })
    }
    fn sample_cleanup<'a>(
        &'a self,
        config: &'a SandboxConfig,
        environments: SandboxEnvironments,
        interrupted: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            let opaque = environments.default_sandbox().unwrap();
            let opaque = opaque.as_any().downcast_ref::<Opaque>().unwrap();
            let local = opaque.1.lock().unwrap().take().unwrap();
            self.0.sample_cleanup(config, local, interrupted).await
        })
    }
}

/// The editor through a sandbox's own operations answers exactly as it does on local files
/// (whose answers the tests above check word for word against Inspect's).
#[examen_rt::test]
async fn through_a_sandboxs_own_operations_the_editor_answers_as_on_local_files() {
    let calls = || {
        vec![
            edit(json!({"command": "create", "path": "a.txt", "file_text": "one\ntwo\nthree\n"})),
            edit(json!({"command": "view", "path": "a.txt"})),
            edit(json!({"command": "view", "path": "a.txt", "view_range": [2, -1]})),
            edit(json!({"command": "str_replace", "path": "a.txt", "old_str": "o\nt"})),
            edit(json!({"command": "insert", "path": "a.txt", "insert_line": 1, "new_str": "ins"})),
            edit(json!({"command": "undo_edit", "path": "a.txt"})),
            edit(json!({"command": "create", "path": "a.txt", "file_text": "x"})),
            edit(json!({"command": "create", "path": "sub/b.txt", "file_text": "x"})),
            edit(json!({"command": "create", "path": "a.txt/b.txt", "file_text": "x"})),
            edit(json!({"command": "str_replace", "path": "a.txt", "old_str": "zzz"})),
            edit(json!({"command": "str_replace", "path": ".", "old_str": "two", "new_str": "2"})),
            edit(json!({"command": "view", "path": "nope.txt"})),
            edit(json!({"command": "view", "path": "/nonexistent/x"})),
            sh("mkdir -p d/e/f && touch d/x d/.hidden d/e/y d/e/f/z && ln -s a.txt link && printf '\\377' > bin.dat"),
            edit(json!({"command": "view", "path": "d"})),
            edit(json!({"command": "view", "path": "link"})),
            edit(json!({"command": "view", "path": "./d/../a.txt"})),
            edit(json!({"command": "view", "path": "bin.dat"})),
            edit(json!({"command": "undo_edit", "path": "a.txt"})),
            sh("ls"),
        ]
    };
    let (local_dir, local) = session(TextEditor::default(), calls()).await;
    let (opaque_dir, opaque) = session_in(
        TextEditor::default(),
        calls(),
        examen_types::GenerateConfig::default(),
        Some(Arc::new(OpaqueProvider::default())),
    )
    .await;
    let neutral = |answers: Vec<Answer>, dir: &str| -> Vec<Answer> {
        answers
            .into_iter()
            .map(|a| match a {
                Answer::Text(t) => Answer::Text(t.replace(dir, "DIR")),
                Answer::Error(k, m) => Answer::Error(k, m.replace(dir, "DIR")),
            })
            .collect()
    };
    assert_answers(&neutral(opaque, &opaque_dir), &neutral(local, &local_dir));
}
