//! Samples in sandboxes: the provider's lifecycle as the runner drives it (task init, one
//! sandbox per sample, cleanup told whether the sample was interrupted, task cleanup), and the
//! task file's `sandbox` field.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use examen::sandbox::{
    BoxFuture, LocalProvider, SampleInfo, SandboxConfig, SandboxEnvironments, SandboxError,
    SandboxProvider,
};
use examen::task::{FailOnError, Limits};
use examen::tool::builtin::Bash;
use examen::{solver, EvalOptions, Task};
use examen_model::{MockLlm, Model};
use examen_types::{ChatMessage, ModelOutput, ToolCall};
use serde_json::json;

use crate::support::{dataset, run};

/// `local`, recording each lifecycle call the runner makes, and how many samples held its
/// sandboxes at once.
#[derive(Debug, Default)]
struct Recording {
    local: LocalProvider,
    calls: Mutex<Vec<String>>,
    live: AtomicUsize,
    peak: AtomicUsize,
    eval_ids: Mutex<Vec<String>>,
    /// How long making a sample's sandbox takes (a container coming up).
    init_delay: std::time::Duration,
}

impl Recording {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    /// How many sample cleanups were told the sample was interrupted.
    fn interrupted_cleanups(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| *c == "sample_cleanup interrupted=true")
            .count()
    }
    fn note(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

impl SandboxProvider for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    fn task_init<'a>(
        &'a self,
        task: &'a str,
        config: &'a SandboxConfig,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        self.note(format!("task_init {task} {:?}", config.config));
        Box::pin(async { Ok(()) })
    }
    fn sample_init<'a>(
        &'a self,
        config: &'a SandboxConfig,
        sample: &'a SampleInfo,
    ) -> BoxFuture<'a, Result<SandboxEnvironments, SandboxError>> {
        self.note(format!("sample_init {}", sample.sample_id));
        self.eval_ids.lock().unwrap().push(sample.eval_id.clone());
        let live = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(live, Ordering::SeqCst);
        let delay = self.init_delay;
        Box::pin(async move {
            examen_rt::sleep(delay).await;
            let envs = self.local.sample_init(config, sample).await?;
            self.note("made a sample's sandbox".to_owned());
            Ok(envs)
        })
    }
    fn sample_cleanup<'a>(
        &'a self,
        config: &'a SandboxConfig,
        environments: SandboxEnvironments,
        interrupted: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        self.note(format!("sample_cleanup interrupted={interrupted}"));
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.local.sample_cleanup(config, environments, interrupted)
    }
    fn task_cleanup<'a>(
        &'a self,
        task: &'a str,
        _config: &'a SandboxConfig,
        cleanup: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        self.note(format!("task_cleanup {task} cleanup={cleanup}"));
        Box::pin(async { Ok(()) })
    }
}

fn bash_then_done(command: &str) -> Model {
    bash_then_done_noting(command, Arc::default())
}

/// [`bash_then_done`], setting `asked` when the model asks for the command (the sample's
/// sandbox is up by then).
fn bash_then_done_noting(command: &str, asked: Arc<std::sync::atomic::AtomicBool>) -> Model {
    Model::from_mock(MockLlm::from_fn({
        let command = command.to_owned();
        move |messages: &[ChatMessage]| {
            if messages.iter().any(|m| m.role() == "tool") {
                ModelOutput::from_text("mockllm/model", "done")
            } else {
                asked.store(true, Ordering::SeqCst);
                let serde_json::Value::Object(args) = json!({"command": command}) else {
                    unreachable!()
                };
                ModelOutput::for_tool_calls(
                    "mockllm/model",
                    vec![ToolCall::new("c1", "bash", args)],
                    None,
                )
            }
        }
    }))
}

fn bash_task(provider: Arc<Recording>, bash: Bash) -> Task {
    Task::new("boxed", dataset(&[("a", "x"), ("b", "y")]))
        .solver(solver::use_tools(vec![Arc::new(bash)]))
        .solver(solver::generate())
        .fail_on_error(FailOnError::Bool(false))
        .sandbox_provider(provider, Some("conf.yaml".to_owned()))
}

#[examen_rt::test]
async fn each_sample_gets_its_own_sandbox_made_before_and_taken_down_after() {
    let provider = Arc::new(Recording::default());
    let task = bash_task(provider.clone(), Bash::default());
    let (outcome, ran) = run(task, bash_then_done("pwd"), EvalOptions::default()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let calls = provider.calls();
    assert_eq!(
        calls.first().map(String::as_str),
        Some("task_init boxed Some(\"conf.yaml\")")
    );
    assert_eq!(
        calls.last().map(String::as_str),
        Some("task_cleanup boxed cleanup=true")
    );
    let count = |prefix: &str| calls.iter().filter(|c| c.starts_with(prefix)).count();
    assert_eq!(count("sample_init "), 2, "{calls:?}");
    assert_eq!(count("sample_cleanup interrupted=false"), 2, "{calls:?}");
    // The commands ran in each sample's own sandbox, which is gone now.
    let mut dirs = Vec::new();
    for sample in ran.sorted_samples() {
        assert!(sample.error.is_none(), "{:?}", sample.error);
        let pwd = sample
            .messages
            .iter()
            .find_map(|m| match m {
                ChatMessage::Tool(t) => Some(t.content.text()),
                _ => None,
            })
            .expect("bash answered");
        let dir = std::path::PathBuf::from(pwd.trim());
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(examen::sandbox::local::DIR_PREFIX),
            "{name}"
        );
        assert!(!dir.exists(), "{} is taken down", dir.display());
        dirs.push(dir);
    }
    assert_ne!(dirs[0], dirs[1]);
    assert_eq!(
        ran.start.eval.sandbox,
        Some(json!({"type": "recording", "config": "conf.yaml"}))
    );
}

#[examen_rt::test]
async fn a_sample_that_fails_or_hits_a_limit_is_cleaned_up_as_interrupted() {
    // Fails: the local sandbox cannot run as another user.
    let provider = Arc::new(Recording::default());
    let bash = Bash {
        user: Some("no-such-user-here".to_owned()),
        ..Bash::default()
    };
    let (_, ran) = run(
        bash_task(provider.clone(), bash),
        bash_then_done("true"),
        EvalOptions::default(),
    )
    .await;
    assert!(ran.sorted_samples().iter().all(|s| s.error.is_some()));
    assert_eq!(provider.interrupted_cleanups(), 2, "{:?}", provider.calls());

    // A time limit stops a command mid-way.
    let provider = Arc::new(Recording::default());
    let task = bash_task(provider.clone(), Bash::default()).limits(Limits {
        time_limit: Some(0.3),
        ..Limits::default()
    });
    let (_, ran) = run(task, bash_then_done("sleep 20"), EvalOptions::default()).await;
    for sample in ran.sorted_samples() {
        assert_eq!(sample.limit.as_ref().map(|l| l.kind.as_str()), Some("time"));
    }
    assert_eq!(provider.interrupted_cleanups(), 2, "{:?}", provider.calls());
}

#[examen_rt::test]
async fn a_task_file_names_its_sandbox_in_any_of_inspects_forms() {
    let parse = |sandbox: &str| {
        let yaml = format!(
            "name: t\ndataset:\n  samples: [{{input: a, target: b}}]\nsandbox: {sandbox}\n"
        );
        examen::taskfile::TaskSpec::parse(&yaml, std::path::Path::new("task.yaml"))
    };
    for form in [
        "local",
        "[local]",
        "[local, conf.yaml]",
        "{type: local, config: conf.yaml}",
    ] {
        let spec = parse(form).unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(
            spec.sandbox.as_ref().map(|s| s.kind.as_str()),
            Some("local"),
            "{form}"
        );
    }
    let error = parse("[local, a, b]").expect_err("three items").to_string();
    assert!(error.contains("task.yaml:4"), "{error}");
    assert!(error.contains("a list of 3 items"), "{error}");

    // An unknown type fails the task before any sample runs, naming the known ones.
    let task =
        Task::new("t", dataset(&[("a", "x")])).sandbox(examen::sandbox::SandboxSpec::new("dokcer"));
    let mut outcomes = examen::eval(
        vec![task],
        vec![bash_then_done("true")],
        EvalOptions::default(),
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("eval: {e}"));
    let error = outcomes
        .pop()
        .unwrap()
        .error
        .expect("the task fails")
        .message;
    assert!(
        error.contains("unknown sandbox type `dokcer`; expected one of: local"),
        "{error}"
    );
}

/// Runs [`bash_task`] over `recording` on `backend`, its model asking for `command`, and
/// cancels the eval `settle` after both samples' `sample_init` started; it ends cancelled.
fn cancel_once_both_samples_init(
    backend: examen::rt::Backend,
    recording: Arc<Recording>,
    command: &str,
    settle: std::time::Duration,
) {
    let command = command.to_owned();
    examen_rt::run(backend, async move {
        let cancel = examen_rt::CancelToken::new();
        let options = EvalOptions {
            cancel: Some(cancel.clone()),
            ..EvalOptions::default()
        };
        let task = bash_task(recording.clone(), Bash::default());
        let eval = examen::eval(vec![task], vec![bash_then_done(&command)], options, None);
        let canceller = async {
            while recording
                .calls()
                .iter()
                .filter(|c| c.starts_with("sample_init "))
                .count()
                < 2
            {
                examen_rt::sleep(std::time::Duration::from_millis(5)).await;
            }
            examen_rt::sleep(settle).await;
            cancel.cancel();
        };
        let (outcomes, ()) = futures_util::future::join(eval, canceller).await;
        let outcome = outcomes
            .unwrap_or_else(|e| panic!("eval: {e}"))
            .pop()
            .unwrap();
        assert_eq!(outcome.status, examen_types::log::EvalStatus::Cancelled);
    });
}

/// Cancelling the eval drops the samples mid-command; their sandboxes are still taken down
/// (as interrupted) before the runtime shuts down.
#[test]
fn a_cancelled_eval_still_takes_its_samples_sandboxes_down() {
    for backend in examen::rt::Backend::ALL {
        let provider = Arc::new(Recording::default());
        cancel_once_both_samples_init(
            backend,
            provider.clone(),
            "sleep 20",
            std::time::Duration::from_millis(50),
        );
        let calls = provider.calls();
        assert_eq!(
            provider.interrupted_cleanups(),
            2,
            "on {backend}: {calls:?}"
        );
    }
}

fn tool_output(sample: &examen_types::log::EvalSample) -> String {
    sample
        .messages
        .iter()
        .find_map(|m| match m {
            ChatMessage::Tool(t) => Some(t.content.text()),
            _ => None,
        })
        .unwrap_or_default()
}

fn sample_with(files: serde_json::Value, setup: Option<&str>) -> examen::sample::Sample {
    let mut sample = examen::sample::Sample::new("in", "done");
    let serde_json::Value::Object(files) = files else {
        panic!("files is an object")
    };
    sample.files = Some(files);
    sample.setup = setup.map(str::to_owned);
    sample
}

fn task_of(samples: Vec<examen::sample::Sample>, provider: Arc<Recording>) -> Task {
    let dataset = examen::dataset::Dataset::from_samples(samples).unwrap();
    Task::new("files", dataset)
        .solver(solver::use_tools(vec![Arc::new(Bash::default())]))
        .solver(solver::generate())
        .fail_on_error(FailOnError::Bool(false))
        .sandbox_provider(provider, None)
}

#[examen_rt::test]
async fn a_samples_files_and_setup_are_in_its_sandbox_before_the_solvers() {
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(source.path().join("tree/sub")).unwrap();
    std::fs::write(source.path().join("tree/sub/x.txt"), "from a directory\n").unwrap();
    std::fs::write(source.path().join("one.txt"), "from a file\n").unwrap();
    let sample = sample_with(
        json!({
            "notes.txt": "literal text\n",
            "data/b.txt": "data:text/plain;base64,ZnJvbSBhIGRhdGEgVVJJCg==",
            "copied": source.path().join("tree").display().to_string(),
            "default:one.txt": source.path().join("one.txt").display().to_string(),
            "empty.txt": "",
        }),
        Some("test -f notes.txt && echo \"set up in $(basename $PWD)\" > setup.log"),
    );
    let provider = Arc::new(Recording::default());
    let (outcome, ran) = run(
        task_of(vec![sample], provider.clone()),
        bash_then_done(
            "cat notes.txt data/b.txt copied/sub/x.txt one.txt setup.log; wc -c < empty.txt; ls /tmp | grep -c . >/dev/null",
        ),
        EvalOptions::default(),
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let sample = &ran.sorted_samples()[0];
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let output = tool_output(sample);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        &lines[..5],
        [
            "literal text",
            "from a data URI",
            "from a directory",
            "from a file",
            &format!("set up in {}", lines[4].rsplit(' ').next().unwrap()),
        ],
        "{output}"
    );
    assert!(
        lines[4].starts_with("set up in examen-local-"),
        "the setup ran in the working directory: {output}"
    );
    assert_eq!(lines[5].trim(), "0", "an empty value is an empty file");
    // As Inspect logs them: the names (keys) only.
    assert_eq!(
        sample.files.as_deref(),
        Some(
            &[
                "notes.txt".to_owned(),
                "data/b.txt".to_owned(),
                "copied".to_owned(),
                "default:one.txt".to_owned(),
                "empty.txt".to_owned(),
            ][..]
        )
    );
    let init = sample
        .events
        .iter()
        .find_map(|e| match e {
            examen::transcript::Event::SampleInit(init) => Some(init),
            _ => None,
        })
        .expect("a sample_init event");
    let logged = init.sample.files.as_ref().unwrap();
    assert!(logged.values().all(|v| v == ""), "{logged:?}");
    // The sample's sandboxes are labelled with the eval's id.
    assert_eq!(
        *provider.eval_ids.lock().unwrap(),
        vec![ran.start.eval.eval_id.clone()]
    );
}

#[examen_rt::test]
async fn a_failing_setup_or_a_file_for_an_unknown_environment_fails_the_sample_unrun() {
    let provider = Arc::new(Recording::default());
    let samples = vec![
        sample_with(json!({}), Some("echo broken >&2; exit 3")).with_id("setup"),
        sample_with(json!({"web:index.html": "<p>"}), None).with_id("env"),
    ];
    let (_, ran) = run(
        task_of(samples, provider.clone()),
        bash_then_done("true"),
        EvalOptions::default(),
    )
    .await;
    let by_id = |id: &str| {
        ran.sorted_samples()
            .into_iter()
            .find(|s| s.id.to_string() == id)
            .unwrap()
    };
    let setup = by_id("setup");
    assert_eq!(
        setup.error.as_ref().map(|e| e.message.as_str()),
        Some("Failed to execute setup script for sample: broken\n")
    );
    let env = by_id("env");
    let message = env.error.as_ref().map(|e| e.message.clone()).unwrap();
    assert!(
        message.starts_with("Environment referenced in sample file not found: 'web:index.html'."),
        "{message}"
    );
    for sample in [&setup, &env] {
        // The solvers never ran: no model was called.
        assert!(
            !sample
                .events
                .iter()
                .any(|e| matches!(e, examen::transcript::Event::Model(_))),
            "{:?}",
            sample.id
        );
    }
    assert_eq!(provider.interrupted_cleanups(), 2, "{:?}", provider.calls());
}

#[examen_rt::test]
async fn max_sandboxes_bounds_how_many_samples_hold_sandboxes_at_once() {
    let provider = Arc::new(Recording::default());
    let samples = (0..6)
        .map(|i| examen::sample::Sample::new(format!("q{i}"), "done"))
        .collect();
    let options = EvalOptions {
        max_samples: Some(6),
        max_sandboxes: Some(2),
        ..EvalOptions::default()
    };
    let (outcome, ran) = run(
        task_of(samples, provider.clone()),
        bash_then_done("sleep 0.2"),
        options,
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(ran.sorted_samples().len(), 6);
    assert_eq!(provider.peak.load(Ordering::SeqCst), 2);
    assert_eq!(ran.start.eval.config.max_sandboxes, Some(2));
}

#[examen_rt::test]
async fn a_samples_own_sandbox_is_used_as_inspect_resolves_it() {
    // No task sandbox: the sample's.
    let mut sample = examen::sample::Sample::new("in", "done");
    sample.sandbox = Some(json!(["local"]));
    let dataset = examen::dataset::Dataset::from_samples(vec![sample]).unwrap();
    let task = Task::new("own", dataset)
        .solver(solver::use_tools(vec![Arc::new(Bash::default())]))
        .solver(solver::generate());
    let (outcome, ran) = run(task, bash_then_done("pwd"), EvalOptions::default()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let sample = &ran.sorted_samples()[0];
    let pwd = tool_output(sample);
    assert!(
        pwd.contains(examen::sandbox::local::DIR_PREFIX),
        "ran in a local sandbox: {pwd}"
    );
    assert_eq!(sample.sandbox, Some(json!({"type": "local"})));
    assert_eq!(ran.start.eval.sandbox, Some(json!({"type": "local"})));

    // The task's type wins; a sample's configuration of that type replaces the task's.
    let provider = Arc::new(Recording::default());
    let mut own = examen::sample::Sample::new("a", "done").with_id("own");
    own.sandbox = Some(json!(["recording", "sample.yaml"]));
    let mut other = examen::sample::Sample::new("b", "done").with_id("other");
    other.sandbox = Some(json!({"type": "elsewhere", "config": "x.yaml"}));
    let dataset = examen::dataset::Dataset::from_samples(vec![own, other]).unwrap();
    let task = Task::new("mixed", dataset)
        .solver(solver::use_tools(vec![Arc::new(Bash::default())]))
        .solver(solver::generate())
        .sandbox_provider(provider.clone(), Some("task.yaml".to_owned()));
    let (outcome, ran) = run(task, bash_then_done("true"), EvalOptions::default()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let mut inits: Vec<String> = provider
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("task_init"))
        .collect();
    inits.sort();
    assert_eq!(
        inits,
        [
            "task_init mixed Some(\"sample.yaml\")",
            "task_init mixed Some(\"task.yaml\")"
        ]
    );
    // Two sandboxes: the log's eval records none as the task's own.
    assert_eq!(ran.start.eval.sandbox, None);
}

#[examen_rt::test]
async fn no_sandbox_cleanup_keeps_them_to_report_and_sandbox_cleanup_finds_them() {
    let provider = Arc::new(Recording::default());
    let options = EvalOptions {
        sandbox_cleanup: Some(false),
        ..EvalOptions::default()
    };
    let (outcome, ran) = run(
        bash_task(provider.clone(), Bash::default()),
        bash_then_done("echo kept > kept.txt"),
        options,
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let calls = provider.calls();
    assert!(
        !calls.iter().any(|c| c.starts_with("sample_cleanup")),
        "{calls:?}"
    );
    assert_eq!(
        calls.last().map(String::as_str),
        Some("task_cleanup boxed cleanup=false")
    );
    assert_eq!(ran.start.eval.config.sandbox_cleanup, Some(false));
    assert_eq!(
        outcome.kept_sandboxes.len(),
        2,
        "{:?}",
        outcome.kept_sandboxes
    );
    let eval_id = &ran.start.eval.eval_id;
    let local = LocalProvider::default();
    let leftovers: Vec<_> = local
        .leftovers()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| &l.eval_id == eval_id)
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    for kept in &outcome.kept_sandboxes {
        assert_eq!(kept.provider, "recording");
        let (name, connection) = &kept.environments[0];
        assert_eq!(name, "default");
        let dir = connection.command.strip_prefix("cd ").unwrap();
        assert!(
            std::path::Path::new(dir).join("kept.txt").is_file(),
            "{dir} is kept with what the sample wrote"
        );
        assert!(
            leftovers.iter().any(|l| dir.ends_with(&l.id)),
            "{dir} is found by its label"
        );
    }
    for leftover in &leftovers {
        local.remove_leftover(leftover).await.unwrap();
    }
    let after = local.leftovers().await.unwrap();
    assert!(!after.iter().any(|l| &l.eval_id == eval_id), "{after:?}");
}

/// The sandbox types there are to run in here, each with its provider: `local` always,
/// `bwrap` when bubblewrap is installed, `docker` when `scripts/docker.sh` gives a daemon (on
/// CI, where the project's scripts install both, their absence fails the test).
fn sandbox_types() -> Vec<(&'static str, Option<Arc<dyn SandboxProvider>>)> {
    let mut kinds: Vec<(&'static str, Option<Arc<dyn SandboxProvider>>)> = vec![("local", None)];
    if crate::sandbox_support::bwrap_available() {
        kinds.push(("bwrap", None));
    }
    if let Some(docker) = crate::sandbox_support::docker() {
        kinds.push(("docker", Some(Arc::new(docker))));
    }
    kinds
}

/// The agent task of the tools issue, in each sandbox type: bash writes a file, python reads
/// it, text_editor creates and edits another, bash checks the edit, and the sample's `files`
/// and `setup` were there first.
#[examen_rt::test]
async fn the_agent_runs_bash_python_and_text_editor_in_each_sandbox_type() {
    use examen::tool::builtin::{Python, TextEditor};
    for (kind, provider) in sandbox_types() {
        let call = |id: &str, function: &str, args: serde_json::Value| {
            let serde_json::Value::Object(args) = args else {
                unreachable!()
            };
            ModelOutput::for_tool_calls(
                "mockllm/model",
                vec![ToolCall::new(id, function, args)],
                None,
            )
        };
        let turns = vec![
            call(
                "c1",
                "bash",
                json!({"command": "cat given.txt setup.log; echo 6 > n.txt"}),
            ),
            call(
                "c2",
                "python",
                json!({"code": "print(int(open('n.txt').read()) * 7)"}),
            ),
            call(
                "c3",
                "text_editor",
                json!({"command": "create", "path": "answer.md", "file_text": "answer: 41\n"}),
            ),
            call(
                "c4",
                "text_editor",
                json!({"command": "str_replace", "path": "answer.md", "old_str": "41", "new_str": "42"}),
            ),
            call("c5", "bash", json!({"command": "cat answer.md; pwd"})),
            ModelOutput::from_text("mockllm/model", "42"),
        ];
        let mut sample = sample_with(
            json!({"given.txt": "given\n"}),
            Some("echo set up > setup.log"),
        );
        sample.target = "42".into();
        let dataset = examen::dataset::Dataset::from_samples(vec![sample]).unwrap();
        let task = Task::new("agent", dataset)
            .solver(solver::use_tools(vec![
                Arc::new(Bash::default()),
                Arc::new(Python::default()),
                Arc::new(TextEditor::default()),
            ]))
            .solver(solver::generate())
            .scorer(examen::scorer::includes());
        let task = match provider {
            Some(provider) => task.sandbox_provider(provider, None),
            None => task.sandbox(examen::sandbox::SandboxSpec::new(kind)),
        };
        let model = Model::from_mock(MockLlm::turns(turns));
        let (outcome, ran) = run(task, model, EvalOptions::default()).await;
        assert!(outcome.error.is_none(), "{kind}: {:?}", outcome.error);
        let sample = &ran.sorted_samples()[0];
        assert!(sample.error.is_none(), "{kind}: {:?}", sample.error);
        let answers: Vec<String> = sample
            .messages
            .iter()
            .filter_map(|m| match m {
                ChatMessage::Tool(t) => Some(t.content.text()),
                _ => None,
            })
            .collect();
        assert_eq!(answers.len(), 5, "{kind}: {answers:?}");
        assert_eq!(answers[0], "given\nset up\n", "{kind}");
        assert_eq!(answers[1], "42\n", "{kind}");
        assert!(
            answers[3].contains("has been edited"),
            "{kind}: {}",
            answers[3]
        );
        let mut lines = answers[4].lines();
        assert_eq!(lines.next(), Some("answer: 42"), "{kind}");
        let pwd = lines.next().unwrap_or_default();
        match kind {
            "local" => assert!(pwd.contains(examen::sandbox::local::DIR_PREFIX), "{pwd}"),
            "bwrap" => assert_eq!(pwd, "/work"),
            _ => assert_eq!(pwd, "/", "the image's working directory"),
        }
        assert!(
            answers[2].starts_with("File created successfully at: ")
                && answers[2].ends_with("/answer.md"),
            "{kind}: {}",
            answers[2]
        );
        let accuracy = outcome
            .results
            .as_ref()
            .map(|r| r.scores[0].metrics["accuracy"].value);
        assert_eq!(accuracy, Some(1.0), "{kind}");
        // Each command ran in the sandbox, recorded in its tool call's span.
        let execs = sample
            .events
            .iter()
            .filter(|e| e.kind() == "sandbox")
            .count();
        assert!(execs >= 3, "{kind}: {execs} sandbox events");
    }
}

/// A sample cancelled while its sandbox is being made still gets it taken down once made:
/// nothing a provider makes is left behind.
#[test]
fn a_sample_cancelled_while_its_sandbox_is_made_still_has_it_taken_down() {
    for backend in examen::rt::Backend::ALL {
        let provider = Arc::new(Recording {
            init_delay: std::time::Duration::from_millis(200),
            ..Recording::default()
        });
        cancel_once_both_samples_init(backend, provider.clone(), "true", std::time::Duration::ZERO);
        let calls = provider.calls();
        let count = |call: &str| calls.iter().filter(|c| *c == call).count();
        assert_eq!(
            count("made a sample's sandbox"),
            2,
            "on {backend}: {calls:?}"
        );
        assert_eq!(
            provider.interrupted_cleanups(),
            2,
            "on {backend}: {calls:?}"
        );
        // After the samples' cleanups, the task's.
        assert_eq!(
            calls.last().map(String::as_str),
            Some("task_cleanup boxed cleanup=true"),
            "on {backend}"
        );
    }
}

/// A solver that fails the sample (after its tools ran) when told to.
#[derive(Debug)]
struct FailsWhen(bool);

impl examen::Solver for FailsWhen {
    fn name(&self) -> &str {
        "fails_when"
    }

    async fn solve(
        &self,
        _state: &mut examen::state::TaskState,
        _ctx: &examen::context::SampleContext,
    ) -> Result<(), examen::context::SampleError> {
        if self.0 {
            return Err(examen::context::SampleError::failed("the solver failed"));
        }
        Ok(())
    }
}

/// Whatever way a sample ends — it finishes, fails, hits a limit, or the eval is cancelled
/// under it — each sandbox type takes down what it made: its own listing finds nothing of the eval left.
#[test]
fn nothing_is_left_in_any_sandbox_type_after_success_an_error_a_limit_or_cancellation() {
    for (kind, provider) in sandbox_types() {
        let provider: Arc<dyn SandboxProvider> = match provider {
            Some(provider) => provider,
            None => examen::sandbox::ProviderRegistry::default()
                .get(kind)
                .unwrap(),
        };
        for backend in examen::rt::Backend::ALL {
            for ending in ["success", "error", "limit", "cancelled"] {
                let provider_for_run = provider.clone();
                let eval_id = examen_rt::run(backend, async move {
                    let provider = provider_for_run;
                    let cancel = examen_rt::CancelToken::new();
                    let options = EvalOptions {
                        cancel: Some(cancel.clone()),
                        ..EvalOptions::default()
                    };
                    let command = match ending {
                        "limit" | "cancelled" => "sleep 30",
                        _ => "true",
                    };
                    let task = Task::new("ends", dataset(&[("a", "done")]))
                        .solver(solver::use_tools(vec![Arc::new(Bash::default())]))
                        .solver(solver::generate())
                        .solver(Arc::new(FailsWhen(ending == "error")))
                        .limits(Limits {
                            time_limit: (ending == "limit").then_some(2.0),
                            ..Limits::default()
                        })
                        .sandbox_provider(provider, None);
                    let log = examen::runner::log::MemoryLog::new();
                    let options = EvalOptions {
                        logger: Some(Arc::new(log.clone())),
                        ..options
                    };
                    let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let model = bash_then_done_noting(command, asked.clone());
                    let eval = examen::eval(vec![task], vec![model], options, None);
                    let canceller = async {
                        if ending == "cancelled" {
                            // Cancelled while the command runs in the sandbox.
                            while !asked.load(Ordering::SeqCst) {
                                examen_rt::sleep(std::time::Duration::from_millis(20)).await;
                            }
                            examen_rt::sleep(std::time::Duration::from_millis(300)).await;
                            cancel.cancel();
                        }
                    };
                    let (outcomes, ()) = futures_util::future::join(eval, canceller).await;
                    let outcome = outcomes.unwrap().pop().unwrap();
                    let expected = match ending {
                        "cancelled" => examen_types::log::EvalStatus::Cancelled,
                        "error" => examen_types::log::EvalStatus::Error,
                        _ => examen_types::log::EvalStatus::Success,
                    };
                    assert_eq!(
                        outcome.status, expected,
                        "{kind} {ending}: {:?}",
                        outcome.error
                    );
                    log.runs()[0].start.eval.eval_id.clone()
                });
                let left = examen_rt::run(backend, {
                    let provider = provider.clone();
                    async move { provider.leftovers().await.unwrap() }
                });
                let mine: Vec<_> = left.iter().filter(|l| l.eval_id == eval_id).collect();
                assert!(
                    mine.is_empty(),
                    "{kind} on {backend} after {ending}: {mine:?}"
                );
            }
        }
    }
}
