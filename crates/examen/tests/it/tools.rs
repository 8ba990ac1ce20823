//! The tool loop of `generate` on scripted mockllm: calls run and answered in order, Inspect's
//! tool-call errors, truncation, parallel stages and sibling cancellation, forced tool choice,
//! and limits inside the loop; the transcript's tool spans and events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use examen::runner::log::MemoryRun;
use examen::task::{FailOnError, Limits};
use examen::tool::execute::{CANCELLED_BY_SIBLING, DEFAULT_MAX_TOOL_OUTPUT};
use examen::tool::{params, DynTool, Tool, ToolError};
use examen::transcript::Event;
use examen::{solver, EvalOptions, JsonObject, Task, ToolParams};
use examen_model::{MockLlm, Model};
use examen_types::{
    ChatMessage, EvalSample, MessageContent, ModelOutput, ToolCall, ToolCallErrorType, ToolChoice,
    ToolFunction,
};
use serde_json::json;

use crate::support::{dataset, run};

fn call(id: &str, function: &str, arguments: serde_json::Value) -> ToolCall {
    let serde_json::Value::Object(arguments) = arguments else {
        panic!("arguments are an object");
    };
    ToolCall::new(id, function, arguments)
}

/// One assistant turn calling every tool in `calls`.
fn turn(calls: Vec<ToolCall>) -> ModelOutput {
    ModelOutput::for_tool_calls("mockllm/model", calls, None)
}

fn text(answer: &str) -> ModelOutput {
    ModelOutput::from_text("mockllm/model", answer)
}

fn mock(outputs: Vec<ModelOutput>) -> Model {
    Model::from_mock(MockLlm::outputs(outputs))
}

fn one_sample_task(tools: Vec<Arc<dyn DynTool>>) -> Task {
    Task::new("tools", dataset(&[("Add 1 and 2.", "3")]))
        .solver(solver::use_tools(tools))
        .solver(solver::generate())
        .fail_on_error(FailOnError::Bool(false))
}

fn only_sample(run: &MemoryRun) -> EvalSample {
    let mut samples = run.sorted_samples();
    assert_eq!(samples.len(), 1);
    samples.remove(0)
}

fn tool_messages(sample: &EvalSample) -> Vec<examen_types::ChatMessageTool> {
    sample
        .messages
        .iter()
        .filter_map(|m| match m {
            ChatMessage::Tool(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn tool_events(sample: &EvalSample) -> Vec<examen_types::event::ToolEvent> {
    sample
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Tool(t) => Some((**t).clone()),
            _ => None,
        })
        .collect()
}

#[derive(Debug)]
struct Add;

impl Tool for Add {
    fn name(&self) -> &str {
        "add"
    }
    fn description(&self) -> &str {
        "Add two integers."
    }
    fn parameters(&self) -> ToolParams {
        params(&[("x", "integer", "first"), ("y", "integer", "second")])
    }
    async fn call(&self, args: JsonObject) -> Result<MessageContent, ToolError> {
        let get = |k: &str| args.get(k).and_then(|v| v.as_i64()).unwrap_or_default();
        Ok((get("x") + get("y")).to_string().into())
    }
}

#[examen_rt::test]
async fn the_loop_runs_each_call_and_answers_it_until_the_model_stops() {
    let model = mock(vec![
        turn(vec![call("c1", "add", json!({"x": 1, "y": 2}))]),
        turn(vec![call("c2", "add", json!({"x": 3, "y": 4}))]),
        text("The answer is 3."),
    ]);
    let (_, run) = run(
        one_sample_task(vec![Arc::new(Add)]),
        model,
        EvalOptions::default(),
    )
    .await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let roles: Vec<&str> = sample.messages.iter().map(ChatMessage::role).collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant"
        ]
    );
    let answers = tool_messages(&sample);
    assert_eq!(answers[0].content, MessageContent::Text("3".into()));
    assert_eq!(answers[0].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(answers[0].function.as_deref(), Some("add"));
    assert_eq!(answers[1].content, MessageContent::Text("7".into()));
    assert_eq!(sample.output.completion, "The answer is 3.");

    // Each call: span_begin{type: tool, name} / tool event (in the enclosing span) / span_end.
    let kinds: Vec<&str> = sample.events.iter().map(Event::kind).collect();
    let first_tool = kinds.iter().position(|k| *k == "tool").unwrap();
    assert_eq!(kinds[first_tool - 1], "span_begin");
    assert_eq!(kinds[first_tool + 1], "span_end");
    let (Event::SpanBegin(begin), Event::Tool(event), Event::SpanEnd(end)) = (
        &sample.events[first_tool - 1],
        &sample.events[first_tool],
        &sample.events[first_tool + 1],
    ) else {
        panic!("tool span around the tool event");
    };
    assert_eq!(
        (begin.kind.as_deref(), begin.name.as_str()),
        (Some("tool"), "add")
    );
    assert_eq!(end.id, begin.id);
    assert_eq!(event.base.span_id, begin.parent_id, "the enclosing span");
    assert_eq!(event.id, "c1");
    assert_eq!(event.arguments["x"], json!(1));
    assert_eq!(event.result, MessageContent::Text("3".into()));
    assert!(event.error.is_none() && event.completed.is_some());
    assert_eq!(event.message_id, answers[0].id);
    // The model saw the results: three model events, the last with both tool messages.
    let model_inputs: Vec<usize> = sample
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Model(m) => Some(m.input.len()),
            _ => None,
        })
        .collect();
    assert_eq!(model_inputs, [1, 3, 5]);
}

#[examen_rt::test]
async fn single_and_none_stop_after_one_turn() {
    for (tool_calls, expected_roles) in [
        (examen::ToolCalls::Single, vec!["user", "assistant", "tool"]),
        (examen::ToolCalls::None, vec!["user", "assistant"]),
    ] {
        let model = mock(vec![turn(vec![call("c1", "add", json!({"x": 1, "y": 2}))])]);
        let task = Task::new("tools", dataset(&[("Add.", "3")]))
            .solver(solver::use_tools(vec![Arc::new(Add)]))
            .solver(Arc::new(solver::GenerateSolver {
                tool_calls,
                ..Default::default()
            }));
        let (_, run) = run(task, model, EvalOptions::default()).await;
        let sample = only_sample(&run);
        assert!(sample.error.is_none(), "{:?}", sample.error);
        let roles: Vec<&str> = sample.messages.iter().map(ChatMessage::role).collect();
        assert_eq!(roles, expected_roles, "{tool_calls:?}");
    }
}

/// A tool that answers each call with the error its `kind` argument names.
#[derive(Debug)]
struct Failing;

impl Tool for Failing {
    fn name(&self) -> &str {
        "fail"
    }
    fn description(&self) -> &str {
        "Fails as told."
    }
    fn parameters(&self) -> ToolParams {
        params(&[("kind", "string", "how to fail")])
    }
    async fn call(&self, args: JsonObject) -> Result<MessageContent, ToolError> {
        let kind = args["kind"].as_str().unwrap_or_default();
        match kind {
            "timeout" => Err(ToolError::timeout()),
            "permission" => Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied).into()),
            "file_not_found" => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "File 'x.txt' was not found.",
            )
            .into()),
            "is_a_directory" => Err(std::io::Error::from(std::io::ErrorKind::IsADirectory).into()),
            "unicode_decode" => {
                let bytes = vec![0xff, 0xfe];
                Ok(String::from_utf8(bytes)?.into())
            }
            "limit" => Err(ToolError::of(
                ToolCallErrorType::Limit,
                "The tool exceeded its output limit of 10.",
            )),
            "approval" => Err(ToolError::of(ToolCallErrorType::Approval, "Not approved.")),
            "unknown" => Err(ToolError::new("Something the model should hear about.")),
            "fatal" => Err(ToolError::fatal("the tool's own bug")),
            other => Ok(format!("no failure named {other}").into()),
        }
    }
}

#[examen_rt::test]
async fn every_tool_call_error_type_reaches_the_model() {
    let kinds = [
        "timeout",
        "permission",
        "file_not_found",
        "is_a_directory",
        "unicode_decode",
        "limit",
        "approval",
        "unknown",
    ];
    let mut calls: Vec<ToolCall> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| call(&format!("c{i}"), "fail", json!({ "kind": kind })))
        .collect();
    // Parsing errors: a parse error, an unknown tool, and arguments the schema rejects.
    let mut unparsed = call("p1", "fail", json!({}));
    unparsed.parse_error = Some("Error parsing the following tool call arguments:\n\n{oops".into());
    calls.push(unparsed);
    calls.push(call("p2", "nope", json!({})));
    calls.push(call("p3", "add", json!({"x": "one", "z": 1})));
    let model = mock(vec![turn(calls), text("done")]);
    let (_, run) = run(
        one_sample_task(vec![Arc::new(Failing), Arc::new(Add)]),
        model,
        EvalOptions::default(),
    )
    .await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let answers = tool_messages(&sample);
    let errors: Vec<(ToolCallErrorType, String)> = answers
        .iter()
        .map(|m| {
            let e = m.error.clone().unwrap_or_else(|| panic!("an error: {m:?}"));
            assert_eq!(
                m.content,
                MessageContent::Text(String::new()),
                "no content with an error"
            );
            (e.kind, e.message)
        })
        .collect();
    let types: Vec<ToolCallErrorType> = errors.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        types,
        [
            ToolCallErrorType::Timeout,
            ToolCallErrorType::Permission,
            ToolCallErrorType::FileNotFound,
            ToolCallErrorType::IsADirectory,
            ToolCallErrorType::UnicodeDecode,
            ToolCallErrorType::Limit,
            ToolCallErrorType::Approval,
            ToolCallErrorType::Unknown,
            ToolCallErrorType::Parsing,
            ToolCallErrorType::Parsing,
            ToolCallErrorType::Parsing,
        ]
    );
    assert_eq!(errors[0].1, "Command timed out before completing.");
    assert_eq!(errors[2].1, "File 'x.txt' was not found.");
    assert!(
        errors[4].1.starts_with("Error decoding bytes to utf-8"),
        "{}",
        errors[4].1
    );
    assert!(errors[8]
        .1
        .starts_with("Error parsing the following tool call arguments"));
    assert_eq!(errors[9].1, "Tool nope not found");
    assert_eq!(
        errors[10].1,
        "Found 3 validation errors parsing tool input arguments:\n\
         - 'one' is not of type 'integer'\n\
         - 'y' is a required property\n\
         - Additional properties are not allowed ('z' was unexpected)"
    );
    // The events carry the same errors, and no result.
    let events = tool_events(&sample);
    assert_eq!(events.len(), answers.len());
    for (event, answer) in events.iter().zip(&answers) {
        assert_eq!(event.error, answer.error);
        assert_eq!(event.result, MessageContent::Text(String::new()));
        assert!(event.failed.is_none());
    }
}

#[examen_rt::test]
async fn a_fatal_tool_failure_ends_the_sample_with_an_error() {
    let model = mock(vec![turn(vec![call(
        "c1",
        "fail",
        json!({"kind": "fatal"}),
    )])]);
    let (_, run) = run(
        one_sample_task(vec![Arc::new(Failing)]),
        model,
        EvalOptions::default(),
    )
    .await;
    let sample = only_sample(&run);
    let error = sample
        .error
        .clone()
        .unwrap_or_else(|| panic!("the sample errors"));
    assert!(
        error
            .message
            .contains("tool `fail` failed: the tool's own bug"),
        "{}",
        error.message
    );
    let events = tool_events(&sample);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].failed, Some(true));
}

/// A tool returning `len` bytes of text (`max_output` as given).
#[derive(Debug)]
struct Long {
    name: &'static str,
    max_output: Option<u64>,
}

impl Tool for Long {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "Writes a lot."
    }
    fn parameters(&self) -> ToolParams {
        params(&[("len", "integer", "bytes")])
    }
    fn max_output(&self) -> Option<u64> {
        self.max_output
    }
    async fn call(&self, args: JsonObject) -> Result<MessageContent, ToolError> {
        let len = args["len"].as_u64().unwrap_or_default() as usize;
        let body: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        Ok(body.into())
    }
}

#[examen_rt::test]
async fn long_output_is_truncated_in_inspects_envelope() {
    let model = mock(vec![
        turn(vec![
            call("c1", "long", json!({"len": 40_000})),
            call("c2", "unlimited", json!({"len": 40_000})),
            call("c3", "long", json!({"len": 100})),
        ]),
        text("done"),
    ]);
    let tools: Vec<Arc<dyn DynTool>> = vec![
        Arc::new(Long {
            name: "long",
            max_output: None,
        }),
        Arc::new(Long {
            name: "unlimited",
            max_output: Some(0),
        }),
    ];
    let task = one_sample_task(tools).config(examen_types::GenerateConfig {
        max_tool_output: Some(1000),
        ..Default::default()
    });
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    let answers = tool_messages(&sample);
    let full: String = (0..40_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let expected = format!(
        "\nThe output of your call to long was too long to be displayed.\nHere is a truncated version:\n<START_TOOL_OUTPUT>\n{}{}\n<END_TOOL_OUTPUT>\n",
        &full[..500],
        &full[full.len() - 500..]
    );
    assert_eq!(answers[0].content, MessageContent::Text(expected));
    assert_eq!(
        answers[1].content,
        MessageContent::Text(full),
        "max_output 0: never cut"
    );
    assert_eq!(answers[2].content.text().len(), 100);
    let events = tool_events(&sample);
    assert_eq!(events[0].truncated, Some((40_000, 1000)));
    assert_eq!(events[1].truncated, None);
    assert_eq!(events[2].truncated, None);
    assert_eq!(DEFAULT_MAX_TOOL_OUTPUT, 16 * 1024);
}

/// A parallel tool that waits until `peers` calls of it are running at once, so a stage only
/// finishes if its calls really run at the same time (run one at a time, the first would wait
/// forever); `hang` calls never return, `boom` fails fatally.
#[derive(Debug)]
struct Rendezvous {
    peers: usize,
    arrived: Arc<AtomicUsize>,
    order: Arc<Mutex<Vec<String>>>,
}

impl Tool for Rendezvous {
    fn name(&self) -> &str {
        "meet"
    }
    fn description(&self) -> &str {
        "Meets the others."
    }
    fn parameters(&self) -> ToolParams {
        params(&[("who", "string", "name")])
    }
    fn parallel(&self) -> bool {
        true
    }
    async fn call(&self, args: JsonObject) -> Result<MessageContent, ToolError> {
        let who = args["who"].as_str().unwrap_or_default().to_owned();
        if who == "hang" {
            std::future::pending::<()>().await;
        }
        if who == "boom" {
            return Err(ToolError::fatal("boom"));
        }
        self.arrived.fetch_add(1, Ordering::SeqCst);
        while self.arrived.load(Ordering::SeqCst) < self.peers {
            examen_rt::sleep(std::time::Duration::from_millis(1)).await;
        }
        // The first named finishes after the others, so declared order is not completion order.
        if who == "first" {
            while self.order.lock().unwrap().len() + 1 < self.peers {
                examen_rt::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        self.order.lock().unwrap().push(who.clone());
        Ok(format!("met {who}").into())
    }
}

#[examen_rt::test]
async fn parallel_calls_run_together_and_answer_in_declared_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let meet = Arc::new(Rendezvous {
        peers: 3,
        arrived: Arc::new(AtomicUsize::new(0)),
        order: order.clone(),
    });
    let model = mock(vec![
        turn(vec![
            call("c1", "meet", json!({"who": "first"})),
            call("c2", "meet", json!({"who": "second"})),
            call("c3", "meet", json!({"who": "third"})),
            // A serial call after the stage runs once the stage is done.
            call("c4", "add", json!({"x": 2, "y": 2})),
        ]),
        text("done"),
    ]);
    let (_, run) = run(
        one_sample_task(vec![meet, Arc::new(Add)]),
        model,
        EvalOptions::default(),
    )
    .await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let answers: Vec<String> = tool_messages(&sample)
        .iter()
        .map(|m| m.content.text())
        .collect();
    assert_eq!(answers, ["met first", "met second", "met third", "4"]);
    assert_eq!(
        order.lock().unwrap().last().map(String::as_str),
        Some("first")
    );
}

#[examen_rt::test]
async fn a_fatal_call_cancels_its_parallel_siblings() {
    let meet = Arc::new(Rendezvous {
        peers: 1,
        arrived: Arc::new(AtomicUsize::new(0)),
        order: Arc::new(Mutex::new(Vec::new())),
    });
    let model = mock(vec![turn(vec![
        call("c1", "meet", json!({"who": "hang"})),
        call("c2", "meet", json!({"who": "boom"})),
        call("c3", "meet", json!({"who": "hang"})),
    ])]);
    let (_, run) = run(one_sample_task(vec![meet]), model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    let error = sample
        .error
        .clone()
        .unwrap_or_else(|| panic!("the sample errors"));
    assert!(error.message.contains("boom"), "{}", error.message);
    let mut events = tool_events(&sample);
    events.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(events.len(), 3, "every call is recorded");
    assert_eq!(events[1].failed, Some(true));
    for sibling in [&events[0], &events[2]] {
        let error = sibling.error.clone().unwrap_or_else(|| panic!("cancelled"));
        assert_eq!(error.kind, ToolCallErrorType::Cancelled);
        assert_eq!(error.message, CANCELLED_BY_SIBLING);
    }
    // Every tool span was closed.
    let begins = sample
        .events
        .iter()
        .filter(|e| matches!(e, Event::SpanBegin(b) if b.kind.as_deref() == Some("tool")))
        .count();
    let tool_spans: Vec<String> = sample
        .events
        .iter()
        .filter_map(|e| match e {
            Event::SpanBegin(b) if b.kind.as_deref() == Some("tool") => Some(b.id.clone()),
            _ => None,
        })
        .collect();
    let ends = sample
        .events
        .iter()
        .filter(|e| matches!(e, Event::SpanEnd(end) if tool_spans.contains(&end.id)))
        .count();
    assert_eq!((begins, ends), (3, 3));
}

#[examen_rt::test]
async fn a_forced_tool_choice_holds_for_the_first_call_only() {
    let model = mock(vec![
        turn(vec![call("c1", "add", json!({"x": 1, "y": 2}))]),
        text("done"),
    ]);
    let task = Task::new("tools", dataset(&[("Add.", "3")]))
        .solver(Arc::new(solver::UseTools {
            tools: vec![Arc::new(Add), Arc::new(Failing)],
            tool_choice: Some(ToolChoice::Function(ToolFunction { name: "add".into() })),
            append: false,
        }))
        .solver(solver::generate());
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    let calls: Vec<(Vec<String>, ToolChoice)> = sample
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Model(m) => Some((
                m.tools.iter().map(|t| t.name.clone()).collect(),
                m.tool_choice.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                vec!["add".to_owned()],
                ToolChoice::Function(ToolFunction { name: "add".into() })
            ),
            (vec!["add".to_owned(), "fail".to_owned()], ToolChoice::Auto),
        ]
    );
}

#[examen_rt::test]
async fn a_message_limit_inside_the_loop_ends_the_sample_which_is_still_scored() {
    // The model would call tools forever; the limit of 4 messages stops it.
    let model = Model::from_mock(MockLlm::from_fn(|messages| {
        turn(vec![call(
            &format!("c{}", messages.len()),
            "add",
            json!({"x": 1, "y": 1}),
        )])
    }));
    let task = one_sample_task(vec![Arc::new(Add)])
        .scorer(examen::scorer::includes())
        .limits(Limits {
            message_limit: Some(4),
            ..Default::default()
        });
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let limit = sample.limit.clone().unwrap_or_else(|| panic!("a limit"));
    assert_eq!(limit.kind, "message");
    assert_eq!(
        sample.messages.len(),
        5,
        "user, then two turns of call and result"
    );
    assert!(sample.scores.is_some(), "still scored");
}

#[examen_rt::test]
async fn bash_and_python_run_in_the_samples_own_directory() {
    use examen::tool::builtin::{Bash, Python};
    // Two samples, each: write a file, list it, run python, print the directory.
    let model = Model::from_mock(MockLlm::from_fn(|messages| {
        let turns = messages.iter().filter(|m| m.role() == "assistant").count();
        match turns {
            0 => turn(vec![call(
                "c1",
                "bash",
                json!({"command": "echo here > note.txt; echo to-stderr >&2; echo out"}),
            )]),
            1 => turn(vec![
                call("c2", "bash", json!({"command": "cat note.txt; pwd"})),
                call("c3", "python", json!({"code": "print(6 * 7)"})),
            ]),
            _ => text("done"),
        }
    }));
    let task = Task::new("cmd", dataset(&[("a", "x"), ("b", "y")]))
        .solver(solver::use_tools(vec![
            Arc::new(Bash::default()),
            Arc::new(Python::default()),
        ]))
        .solver(solver::generate());
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let mut dirs = Vec::new();
    for sample in run.sorted_samples() {
        assert!(sample.error.is_none(), "{:?}", sample.error);
        let answers: Vec<String> = tool_messages(&sample)
            .iter()
            .map(|m| m.content.text())
            .collect();
        // Inspect's rule: standard error, a newline, then standard output.
        assert_eq!(answers[0], "to-stderr\n\nout\n");
        let (note, pwd) = answers[1].split_once('\n').unwrap();
        assert_eq!(note, "here", "the file from the previous call is there");
        assert_eq!(answers[2], "42\n");
        let dir = std::path::PathBuf::from(pwd.trim());
        assert!(
            dir.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("examen-sample-"),
            "{dir:?}"
        );
        // Each command is a `sandbox` event inside its tool call's span, as Inspect records.
        let events = &sample.events;
        let execs: Vec<&examen::types::event::SandboxEvent> = events
            .iter()
            .filter_map(|e| match e {
                examen::types::event::Event::Sandbox(e) => Some(&**e),
                _ => None,
            })
            .collect();
        assert_eq!(execs.len(), 3, "{execs:#?}");
        let first = execs[0];
        assert_eq!(first.action, "exec");
        assert_eq!(
            first.cmd.as_deref(),
            Some("bash -c 'echo here > note.txt; echo to-stderr >&2; echo out'")
        );
        assert_eq!(first.result, Some(0));
        assert_eq!(first.output.as_deref(), Some("to-stderr\n\n\nout\n"));
        assert!(first.completed.is_some());
        let python = execs
            .iter()
            .find(|e| e.input.is_some())
            .expect("python's exec");
        assert_eq!(python.input.as_deref(), Some("print(6 * 7)"));
        for exec in &execs {
            let span = exec.base.span_id.as_deref().expect("in a span");
            let opened = events.iter().any(|e| {
                matches!(e, examen::types::event::Event::SpanBegin(b)
                    if b.id == span && b.kind.as_deref() == Some("tool"))
            });
            assert!(opened, "{span} is a tool call's span");
        }
        dirs.push(dir);
    }
    assert_ne!(dirs[0], dirs[1], "each sample has its own directory");
    for dir in dirs {
        assert!(!dir.exists(), "{dir:?} is removed when the sample ends");
    }
}

#[examen_rt::test]
async fn a_command_past_its_timeout_is_killed_and_reported_as_a_timeout() {
    use examen::tool::builtin::Bash;
    let model = mock(vec![
        turn(vec![call(
            "c1",
            "bash",
            json!({"command": "echo early; sleep 30; echo late"}),
        )]),
        text("done"),
    ]);
    let task = one_sample_task(vec![Arc::new(Bash {
        timeout: Some(0.3),
        ..Bash::default()
    })]);
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&run);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let answer = &tool_messages(&sample)[0];
    let error = answer.error.clone().unwrap_or_else(|| panic!("a timeout"));
    assert_eq!(error.kind, ToolCallErrorType::Timeout);
    assert_eq!(error.message, "Command timed out before completing.");
    // What the command wrote before it was killed is shown with the error (Inspect 0.3.285's
    // `SandboxTimeoutError.truncated_output`).
    assert_eq!(answer.content.text(), "early\n");
}

#[examen_rt::test]
async fn bash_runs_as_the_user_it_is_given_where_the_sandbox_allows() {
    use examen::tool::builtin::Bash;
    let me = String::from_utf8(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let other = if me == "65534" { "root" } else { "nobody" };
    // As the user running examen: allowed (the local sandbox runs everything as it).
    let model = mock(vec![
        turn(vec![call("c1", "bash", json!({"command": "id -u"}))]),
        text("done"),
    ]);
    let task = one_sample_task(vec![Arc::new(Bash {
        user: Some(me.clone()),
        ..Bash::default()
    })]);
    let (_, ran) = run(task, model, EvalOptions::default()).await;
    let sample = only_sample(&ran);
    assert!(sample.error.is_none(), "{:?}", sample.error);
    assert_eq!(tool_messages(&sample)[0].content.text(), format!("{me}\n"));
    // Anyone else: the local sandbox cannot, and says so as Inspect does (the sample fails).
    let model = mock(vec![
        turn(vec![call("c1", "bash", json!({"command": "id -u"}))]),
        text("done"),
    ]);
    let task = one_sample_task(vec![Arc::new(Bash {
        user: Some(other.to_owned()),
        ..Bash::default()
    })]);
    let (_, ran) = run(task, model, EvalOptions::default()).await;
    let error = only_sample(&ran).error.clone().expect("the sample fails");
    assert!(
        error.message.contains(&format!(
            "LocalSandboxEnvironment cannot execute as '{other}'; only the current effective user is supported."
        )),
        "{}",
        error.message
    );
    // From a task file: `user` is an argument of bash and python, and an empty one is refused.
    let parse = |tools: &str| {
        let yaml = format!(
            "name: t\ndataset:\n  samples: [{{input: a, target: b}}]\nsolver:\n  - use_tools: {tools}\n"
        );
        examen::taskfile::parse_task(&yaml, std::path::Path::new("task.yaml")).map(|_| ())
    };
    parse("[{bash: {user: nobody, timeout: 5}}, {python: {user: '0'}}]")
        .unwrap_or_else(|e| panic!("{e}"));
    let empty = parse("[{bash: {user: ''}}]")
        .expect_err("refused")
        .to_string();
    assert!(empty.contains("bash: `user` is empty"), "{empty}");
}
