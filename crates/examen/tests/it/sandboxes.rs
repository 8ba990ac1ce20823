//! Samples in sandboxes: the provider's lifecycle as the runner drives it (task init, one
//! sandbox per sample, cleanup told whether the sample was interrupted, task cleanup), and the
//! task file's `sandbox` field.

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

/// `local`, recording each lifecycle call the runner makes.
#[derive(Debug, Default)]
struct Recording {
    local: LocalProvider,
    calls: Mutex<Vec<String>>,
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
        self.local.sample_init(config, sample)
    }
    fn sample_cleanup<'a>(
        &'a self,
        config: &'a SandboxConfig,
        environments: SandboxEnvironments,
        interrupted: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        self.note(format!("sample_cleanup interrupted={interrupted}"));
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
    Model::from_mock(MockLlm::from_fn({
        let command = command.to_owned();
        move |messages: &[ChatMessage]| {
            if messages.iter().any(|m| m.role() == "tool") {
                ModelOutput::from_text("mockllm/model", "done")
            } else {
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

/// Cancelling the eval drops the samples mid-command; their sandboxes are still taken down
/// (as interrupted) before the runtime shuts down.
#[test]
fn a_cancelled_eval_still_takes_its_samples_sandboxes_down() {
    for backend in examen::rt::Backend::ALL {
        let provider = Arc::new(Recording::default());
        let recording = provider.clone();
        examen_rt::run(backend, async move {
            let cancel = examen_rt::CancelToken::new();
            let options = EvalOptions {
                cancel: Some(cancel.clone()),
                ..EvalOptions::default()
            };
            let task = bash_task(recording.clone(), Bash::default());
            let eval = examen::eval(vec![task], vec![bash_then_done("sleep 20")], options, None);
            let canceller = async {
                // Both samples hold their sandboxes (and are in their command) before the cancel.
                while recording
                    .calls()
                    .iter()
                    .filter(|c| c.starts_with("sample_init"))
                    .count()
                    < 2
                {
                    examen_rt::sleep(std::time::Duration::from_millis(5)).await;
                }
                examen_rt::sleep(std::time::Duration::from_millis(50)).await;
                cancel.cancel();
            };
            let (outcomes, ()) = futures_util::future::join(eval, canceller).await;
            let outcome = outcomes
                .unwrap_or_else(|e| panic!("eval: {e}"))
                .pop()
                .unwrap();
            assert_eq!(outcome.status, examen_types::log::EvalStatus::Cancelled);
        });
        let calls = provider.calls();
        assert_eq!(
            provider.interrupted_cleanups(),
            2,
            "on {backend}: {calls:?}"
        );
    }
}
