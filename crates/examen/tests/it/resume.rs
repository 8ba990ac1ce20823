use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen::dataset::Dataset;
use examen::runner::log::{EvalLogger, EvalStatus};
use examen::runner::{eval_retry, LogDir, PreviousEval};
use examen::sample::{Sample, SampleId};
use examen::state::TaskState;
use examen::task::FailOnError;
use examen::Task;
use examen::{scorer, solver, DynSolver, EvalOptions, SampleContext, SampleError, Solver};
use examen_log::{read_log, EvalLog, LogFormat, ReadOptions, WriterOptions};
use examen_model::{MockLlm, Model};
use examen_rt::{Backend, CancelToken};
use examen_types::ModelOutput;

use crate::support::last_user;

/// Holds every sample whose id is above `above` while `holding` is set,
/// forever; counts the samples it holds and the holds that were dropped
/// (which is how a cancellation reaches a sample). With `cancel`, cancels
/// that token once it holds that many samples: the samples before them have
/// all finished then, since each held one took the slot of a finished one.
#[derive(Debug)]
struct Gate {
    above: i64,
    holding: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    cancel: Option<(usize, CancelToken)>,
}

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Solver for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        let held = matches!(state.sample_id, SampleId::Int(i) if i > self.above);
        if held && self.holding.load(Ordering::SeqCst) {
            let _guard = CountOnDrop(self.dropped.clone());
            let held = self.held.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some((at, token)) = &self.cancel {
                if held == *at {
                    token.cancel();
                }
            }
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Fails the first attempt of each (sample, epoch) it is told about.
#[derive(Debug, Default)]
struct FailOnce {
    failing: Vec<i64>,
    seen: Mutex<HashSet<(SampleId, usize)>>,
}

impl Solver for FailOnce {
    fn name(&self) -> &str {
        "fail_once"
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        let failing = matches!(state.sample_id, SampleId::Int(i) if self.failing.contains(&i));
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((state.sample_id.clone(), state.epoch));
        if failing && first {
            return Err(SampleError::failed(format!(
                "sample {} failed",
                state.sample_id
            )));
        }
        Ok(())
    }
}

/// A mock that answers `i + 1` to "What is i + 1?" and counts the calls per prompt.
#[derive(Clone, Default)]
struct Counting {
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl Counting {
    fn model(&self) -> Model {
        let calls = self.calls.clone();
        Model::from_mock(MockLlm::from_fn(move |messages| {
            let prompt = last_user(messages);
            *calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(prompt.clone())
                .or_insert(0) += 1;
            let n: i64 = prompt
                .trim_start_matches("What is ")
                .trim_end_matches(" + 1?")
                .parse()
                .unwrap_or(0);
            ModelOutput::from_text("mockllm/model", format!("ANSWER: {}", n + 1))
        }))
    }

    fn calls(&self, i: i64) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&prompt(i))
            .copied()
            .unwrap_or(0)
    }
}

fn prompt(i: i64) -> String {
    format!("What is {i} + 1?")
}

fn numbers(n: i64) -> Dataset {
    let samples = (1..=n)
        .map(|i| Sample::new(prompt(i), (i + 1).to_string()))
        .collect();
    Dataset::from_samples(samples).unwrap_or_else(|e| panic!("{e}"))
}

fn task(n: i64, first: Arc<dyn DynSolver>) -> Task {
    Task::new("numbers", numbers(n))
        .solver(first)
        .solver(solver::generate())
        .scorer(scorer::includes())
}

fn gate(above: i64, cancel: Option<(usize, CancelToken)>) -> Arc<Gate> {
    Arc::new(Gate {
        above,
        holding: Arc::new(AtomicBool::new(true)),
        held: Arc::new(AtomicUsize::new(0)),
        dropped: Arc::new(AtomicUsize::new(0)),
        cancel,
    })
}

fn open_gate(above: i64) -> Arc<Gate> {
    let gate = gate(above, None);
    gate.holding.store(false, Ordering::SeqCst);
    gate
}

fn logger(dir: &Path, format: LogFormat) -> Arc<dyn EvalLogger> {
    Arc::new(LogDir::new(dir, format).with_options(WriterOptions {
        buffer_samples: 1,
        flush_interval: Duration::ZERO,
        ..WriterOptions::default()
    }))
}

fn read(location: &str) -> EvalLog {
    read_log(Path::new(location), ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// (id, epoch) of every sample in a log; panics on a duplicate.
fn units(log: &EvalLog) -> BTreeMap<(i64, u32), Option<String>> {
    let mut out = BTreeMap::new();
    for s in log.samples.iter().flatten() {
        let examen_log::SampleId::Int(id) = s.id else {
            panic!("integer ids: {}", s.id)
        };
        let uuid = s.uuid.clone();
        assert!(
            out.insert((id, s.epoch), uuid).is_none(),
            "sample {id} epoch {} is in the log twice",
            s.epoch
        );
    }
    out
}

/// Ten samples finish, then four are held and the eval is cancelled.
async fn cancelled_eval(dir: &Path, counting: &Counting) -> examen::EvalOutcome {
    let cancel = CancelToken::new();
    let gate = gate(10, Some((4, cancel.clone())));
    let options = EvalOptions {
        max_samples: Some(4),
        logger: Some(logger(dir, LogFormat::Eval)),
        cancel: Some(cancel),
        ..EvalOptions::default()
    };
    let mut outcomes = examen::eval(
        vec![task(30, gate.clone())],
        vec![counting.model()],
        options,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let outcome = outcomes.remove(0);
    assert_eq!(outcome.status, EvalStatus::Cancelled, "{:?}", outcome.error);
    assert_eq!(
        gate.held.load(Ordering::SeqCst),
        4,
        "no sample started after the cancel"
    );
    assert_eq!(
        gate.dropped.load(Ordering::SeqCst),
        4,
        "every sample in flight was cancelled"
    );
    outcome
}

#[examen_rt::test]
async fn cancel_stops_samples_and_finishes_the_log() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let counting = Counting::default();
    let outcome = cancelled_eval(dir.path(), &counting).await;
    let location = outcome.log_location.unwrap_or_else(|| panic!("a log"));
    let log = read(&location);
    assert_eq!(log.status, examen_log::EvalStatus::Cancelled);
    let ids: Vec<i64> = units(&log).keys().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>(), "every finished sample");
    let results = log.results.unwrap_or_else(|| panic!("results"));
    assert_eq!(results.completed_samples, 10);
    assert_eq!(results.scores[0].metrics["accuracy"].value, 1.0);
    assert_eq!(outcome.results.map(|r| r.completed_samples), Some(10));
}

#[examen_rt::test]
async fn a_cancelled_run_that_never_started_writes_no_log() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cancel = CancelToken::new();
    cancel.cancel();
    let options = EvalOptions {
        logger: Some(logger(dir.path(), LogFormat::Eval)),
        cancel: Some(cancel),
        ..EvalOptions::default()
    };
    let counting = Counting::default();
    let mut outcomes = examen::eval(
        vec![task(3, solver::generate())],
        vec![counting.model()],
        options,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcomes.remove(0).status, EvalStatus::Cancelled);
    assert_eq!(
        std::fs::read_dir(dir.path()).map(Iterator::count).ok(),
        Some(0)
    );
    assert_eq!(counting.calls(1), 0);
}

#[examen_rt::test]
async fn retry_continues_a_cancelled_eval_without_calling_the_model_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let counting = Counting::default();
    let outcome = cancelled_eval(dir.path(), &counting).await;
    let first = outcome.log_location.unwrap_or_else(|| panic!("a log"));
    let before = read(&first);

    let path = PathBuf::from(&first);
    let previous = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(previous.samples_in_log(), 10);
    let mut options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    options.logger = Some(logger(dir.path(), LogFormat::Eval));
    let outcome = eval_retry(
        previous,
        task(30, open_gate(10)),
        counting.model(),
        options,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);

    let second = outcome.log_location.unwrap_or_else(|| panic!("a log"));
    assert_ne!(first, second, "the original log is kept");
    let after = read(&second);
    let carried = units(&before);
    let all = units(&after);
    assert_eq!(
        all.keys().map(|(id, _)| *id).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    for (unit, uuid) in &carried {
        assert_eq!(
            all.get(unit),
            Some(uuid),
            "sample {unit:?} carried over as it was"
        );
    }
    for i in 1..=30 {
        assert_eq!(counting.calls(i), 1, "prompt {i} was sent once in all");
    }
    // Same task run, same spec; a new eval.
    assert_eq!(after.eval.task_id, before.eval.task_id);
    assert_ne!(after.eval.eval_id, before.eval.eval_id);
    assert_eq!(after.eval.config, before.eval.config);
    assert_eq!(after.eval.dataset, before.eval.dataset);
    assert_eq!(after.eval.model, before.eval.model);
    assert_eq!(after.status, examen_log::EvalStatus::Success);
    let results = after.results.unwrap_or_else(|| panic!("results"));
    assert_eq!(results.completed_samples, 30);
    assert_eq!(results.scores[0].metrics["accuracy"].value, 1.0);
}

#[examen_rt::test]
async fn retry_runs_errored_samples_again_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let counting = Counting::default();
    let fail = Arc::new(FailOnce {
        failing: vec![3, 7],
        ..FailOnce::default()
    });
    let options = EvalOptions {
        max_samples: Some(3),
        logger: Some(logger(dir.path(), LogFormat::Eval)),
        fail_on_error: Some(FailOnError::Bool(false)),
        ..EvalOptions::default()
    };
    let first_task = task(10, fail.clone()).epochs(2, Vec::new());
    let mut outcomes = examen::eval(vec![first_task], vec![counting.model()], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = outcomes.remove(0);
    assert_eq!(outcome.errored_samples, 4);
    let first = outcome.log_location.unwrap_or_else(|| panic!("a log"));
    let before = read(&first);
    let errored: Vec<(i64, u32)> = before
        .samples
        .iter()
        .flatten()
        .filter(|s| s.error.is_some())
        .map(|s| {
            (
                if let examen_log::SampleId::Int(i) = s.id {
                    i
                } else {
                    0
                },
                s.epoch,
            )
        })
        .collect();
    assert_eq!(errored.len(), 4);

    let path = PathBuf::from(&first);
    let previous = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(options.fail_on_error, Some(FailOnError::Bool(false)));
    assert_eq!(options.epochs.as_ref().map(|e| e.epochs), Some(2));
    options.logger = Some(logger(dir.path(), LogFormat::Eval));
    let outcome = eval_retry(previous, task(10, fail), counting.model(), options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    assert_eq!(outcome.errored_samples, 0);
    let after = read(&outcome.log_location.unwrap_or_else(|| panic!("a log")));
    let all = units(&after);
    assert_eq!(all.len(), 20, "10 samples x 2 epochs, once each");
    assert!(after.samples.iter().flatten().all(|s| s.error.is_none()));
    let carried = units(&before);
    for (unit, uuid) in &carried {
        if errored.contains(unit) {
            assert_ne!(
                all.get(unit),
                Some(uuid),
                "errored sample {unit:?} ran again"
            );
        } else {
            assert_eq!(all.get(unit), Some(uuid), "sample {unit:?} carried over");
        }
    }
    // The failing attempts never reached the model: two calls per prompt, one per epoch.
    for i in 1..=10 {
        assert_eq!(counting.calls(i), 2, "prompt {i}");
    }
    assert_eq!(
        after.results.map(|r| r.completed_samples),
        Some(20),
        "carried samples count in the results"
    );

    // A finished retry retried again carries everything: no model call.
    let calls_before: usize = (1..=10).map(|i| counting.calls(i)).sum();
    let path = PathBuf::from(&second_location(dir.path(), &first));
    let previous = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    options.logger = Some(logger(dir.path(), LogFormat::Eval));
    let outcome = eval_retry(
        previous,
        task(10, Arc::new(FailOnce::default())),
        counting.model(),
        options,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, EvalStatus::Success);
    let again = read(&outcome.log_location.unwrap_or_else(|| panic!("a log")));
    assert_eq!(units(&again).len(), 20);
    assert_eq!(
        (1..=10).map(|i| counting.calls(i)).sum::<usize>(),
        calls_before
    );
}

/// The log in `dir` other than `first` (the retry's).
fn second_location(dir: &Path, first: &str) -> String {
    let mut others: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| Some(e.ok()?.path().display().to_string()))
        .filter(|p| p != first && p.ends_with(".eval"))
        .collect();
    assert_eq!(others.len(), 1, "{others:?}");
    others.remove(0)
}

#[examen_rt::test]
async fn retry_refuses_a_dataset_that_lost_samples() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let counting = Counting::default();
    let options = EvalOptions {
        logger: Some(logger(dir.path(), LogFormat::Eval)),
        ..EvalOptions::default()
    };
    let mut outcomes = examen::eval(
        vec![task(5, solver::generate())],
        vec![counting.model()],
        options,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let first = outcomes
        .remove(0)
        .log_location
        .unwrap_or_else(|| panic!("a log"));
    let path = PathBuf::from(&first);
    let previous = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    let err = eval_retry(
        previous,
        task(4, solver::generate()),
        counting.model(),
        options,
        None,
    )
    .await
    .map(|o| o.status)
    .expect_err("sample 5 is gone");
    assert!(err.message.contains(&first), "{err}");
    assert!(err.message.contains("sample `5`"), "{err}");
}

/// The one log of `format` in `dir`, once there is one.
fn log_in(dir: &Path, format: LogFormat) -> Option<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == format.extension()))
        .collect();
    assert!(logs.len() <= 1, "{logs:?}");
    logs.pop()
}

/// Drops the eval future, as a crash would stop it, once twelve samples
/// finished and the log on disk holds them: the log is left with status
/// `started`. Returns its path.
fn crashed_eval(backend: Backend, dir: &Path, format: LogFormat, counting: &Counting) -> PathBuf {
    let model = counting.model();
    let logger = logger(dir, format);
    let log_dir = dir.to_path_buf();
    examen_rt::run(backend, async move {
        let held = CancelToken::new();
        let crash = CancelToken::new();
        let gate = gate(12, Some((4, held.clone())));
        let options = EvalOptions {
            max_samples: Some(4),
            logger: Some(logger),
            ..EvalOptions::default()
        };
        let watcher = {
            let crash = crash.clone();
            examen_rt::spawn(async move {
                held.cancelled().await;
                loop {
                    let dir = log_dir.clone();
                    let flushed = examen_rt::to_thread(move || {
                        let path = log_in(&dir, format)?;
                        Some(examen_log::recover(&path).ok()?.sample_count())
                    })
                    .await;
                    if flushed >= Some(12) {
                        break;
                    }
                    // Waiting for the writer (a condition, not a timed assertion).
                    examen_rt::sleep(Duration::from_millis(5)).await;
                }
                crash.cancel();
            })
        };
        let dropped = crash
            .run_until_cancelled(examen::eval(
                vec![task(30, gate)],
                vec![model],
                options,
                None,
            ))
            .await;
        assert!(dropped.is_none(), "the eval was dropped mid-run");
        let _ = watcher.await;
    });
    log_in(dir, format).unwrap_or_else(|| panic!("a log"))
}

fn retry_a_crashed_log(format: LogFormat) {
    for backend in Backend::ALL {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let counting = Counting::default();
        let crashed = crashed_eval(backend, dir.path(), format, &counting);
        let recovered = examen_log::recover(&crashed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recovered.log.status, examen_log::EvalStatus::Started);
        let flushed: HashSet<i64> = recovered
            .samples()
            .map(|s| match s.unwrap_or_else(|e| panic!("{e}")).id {
                examen_log::SampleId::Int(i) => i,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(flushed, (1..=12).collect::<HashSet<i64>>());

        let outcome = examen_rt::run(backend, {
            let counting = counting.clone();
            let dir = dir.path().to_path_buf();
            let crashed = crashed.clone();
            async move {
                let previous = examen_rt::to_thread(move || PreviousEval::open(crashed))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
                options.logger = Some(logger(&dir, format));
                eval_retry(
                    previous,
                    task(30, open_gate(12)),
                    counting.model(),
                    options,
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"))
            }
        });
        assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
        let log = read(&outcome.log_location.unwrap_or_else(|| panic!("a log")));
        assert_eq!(units(&log).len(), 30, "{backend:?}: every sample once");
        for i in 1..=30 {
            let expected = if flushed.contains(&i) { 1..=1 } else { 1..=2 };
            assert!(
                expected.contains(&counting.calls(i)),
                "{backend:?}: prompt {i} sent {} times (flushed before the crash: {})",
                counting.calls(i),
                flushed.contains(&i)
            );
        }
    }
}

#[test]
fn retry_recovers_an_eval_log_whose_writer_died() {
    retry_a_crashed_log(LogFormat::Eval);
}

#[test]
fn retry_recovers_a_json_log_whose_writer_died() {
    retry_a_crashed_log(LogFormat::Json);
}

#[examen_rt::test]
async fn the_log_records_what_a_retry_needs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("task.yaml");
    std::fs::write(
        &file,
        "name: args\ndataset:\n  samples:\n    - {input: 'What is 1 + 1?', target: '2'}\n    - {input: 'What is 2 + 1?', target: '3'}\nscorer: includes\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let args = vec![
        ("epochs".to_string(), "2".to_string()),
        ("config.temperature".to_string(), "0.5".to_string()),
    ];
    let loaded =
        examen::taskfile::load_task_file_with_args(&file, &args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.epochs.epochs, 2);
    let options = EvalOptions {
        logger: Some(logger(dir.path(), LogFormat::Eval)),
        tags: vec!["nightly".into()],
        metadata: [("owner".to_string(), "qa".into())].into_iter().collect(),
        model_args: [("latency".to_string(), "0".into())].into_iter().collect(),
        ..EvalOptions::default()
    };
    let counting = Counting::default();
    let mut outcomes = examen::eval(vec![loaded], vec![counting.model()], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let location = outcomes
        .remove(0)
        .log_location
        .unwrap_or_else(|| panic!("a log"));
    let log = read(&location);
    assert_eq!(
        log.eval.task_file.as_deref(),
        Some(file.display().to_string().as_str())
    );
    assert_eq!(
        serde_json::to_value(&log.eval.task_args_passed).ok(),
        Some(serde_json::json!({"epochs": 2, "config.temperature": 0.5}))
    );
    assert_eq!(log.eval.tags, Some(vec!["nightly".to_string()]));
    assert_eq!(
        log.eval.metadata.as_ref().and_then(|m| m.get("owner")),
        Some(&serde_json::json!("qa"))
    );

    let path = PathBuf::from(&location);
    let previous = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        previous.task_args(),
        vec![
            ("epochs".to_string(), "2".to_string()),
            ("config.temperature".to_string(), "0.5".to_string())
        ]
    );
    let again = previous.load_task().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.epochs.epochs, 2);
    assert_eq!(again.config.temperature, Some(0.5));
    assert_eq!(previous.model(), "mockllm/model");
    assert_eq!(
        previous.model_args().get("latency").map(String::as_str),
        Some("0")
    );
    let options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(options.tags, vec!["nightly".to_string()]);
    // The temperature is the task's (an override of its config), which the reloaded task
    // has; the eval's own generate config, as Inspect's `model_generate_config`, is empty.
    assert_eq!(options.config.temperature, None);
    assert_eq!(
        log.eval.model_generate_config,
        examen_types::GenerateConfig::default()
    );
    assert_eq!(log.plan.config.temperature, Some(0.5));

    // With the task file gone, the task is rebuilt from the copy of it in the log.
    std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        previous.task_source(),
        Ok(examen::runner::TaskSource::Recorded { .. })
    ));
    let rebuilt = previous.load_task().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rebuilt.epochs.epochs, 2);
    assert_eq!(rebuilt.config.temperature, Some(0.5));
    assert_eq!(rebuilt.dataset.samples, again.dataset.samples);
}

#[examen_rt::test]
async fn a_corrupt_log_cannot_be_retried() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("broken.eval");
    std::fs::write(&path, b"PK\x03\x04 not really a zip").unwrap_or_else(|e| panic!("{e}"));
    let err = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .map(|_| ())
        .expect_err("not a log");
    assert!(err.message.contains("broken.eval"), "{err}");
    assert!(!err.message.contains('\n'), "one line: {err}");
}

/// A finished eval of `task(5, ...)` in `format`; returns its log.
async fn finished_eval(dir: &Path, format: LogFormat, counting: &Counting) -> String {
    let options = EvalOptions {
        logger: Some(logger(dir, format)),
        ..EvalOptions::default()
    };
    let mut outcomes = examen::eval(
        vec![task(5, open_gate(100))],
        vec![counting.model()],
        options,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let outcome = outcomes.remove(0);
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    outcome.log_location.unwrap_or_else(|| panic!("a log"))
}

async fn retry_with(
    log: &str,
    task: Task,
    counting: &Counting,
) -> Result<examen::EvalOutcome, examen::runner::EvalSetupError> {
    let path = PathBuf::from(log);
    let previous = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    eval_retry(previous, task, counting.model(), options, None).await
}

/// `task(5, ...)` with sample 3's target and sample 5's input changed.
fn changed_task() -> Task {
    let mut task = task(5, open_gate(100));
    task.dataset.samples[2].target = "four".into();
    task.dataset.samples[4].input = "What is 5 + 1? Think.".into();
    task
}

#[examen_rt::test]
async fn retry_refuses_samples_that_changed_since_the_eval() {
    // Item 7: a retry carried over the answers to the old samples 3 and 5 as if they were
    // the new ones, and reported success.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let counting = Counting::default();
    let first = finished_eval(dir.path(), LogFormat::Eval, &counting).await;
    let err = retry_with(&first, changed_task(), &counting)
        .await
        .map(|o| o.status)
        .expect_err("samples 3 and 5 changed");
    assert!(err.message.contains(&first), "{err}");
    assert!(
        err.message
            .contains("samples `3`, `5` (2 of 5) have a different input, target"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).map(Iterator::count).ok(),
        Some(1),
        "no new log"
    );
    // The dataset as it was: the retry carries everything over.
    let outcome = retry_with(&first, task(5, open_gate(100)), &counting)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    assert_eq!((1..=5).map(|i| counting.calls(i)).sum::<usize>(), 5);
}

#[examen_rt::test]
async fn a_log_without_digests_can_still_be_retried() {
    // Logs written before the digests were recorded have nothing to compare.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let counting = Counting::default();
    let first = finished_eval(dir.path(), LogFormat::Json, &counting).await;
    let text = std::fs::read_to_string(&first).unwrap_or_else(|e| panic!("{e}"));
    let mut log: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let removed = log["eval"]
        .as_object_mut()
        .and_then(|eval| eval.remove("examen_sample_digests"));
    assert!(
        removed.is_some_and(|d| d.as_str().map(str::len) == Some(5 * 16)),
        "the log records 16 hex digits per sample"
    );
    std::fs::write(&first, log.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let outcome = retry_with(&first, changed_task(), &counting)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    assert_eq!((1..=5).map(|i| counting.calls(i)).sum::<usize>(), 5);
}

#[examen_rt::test]
async fn a_retry_runs_in_the_sandbox_the_eval_ran_in() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let counting = Counting::default();
    let fail = Arc::new(FailOnce {
        failing: vec![2],
        ..FailOnce::default()
    });
    // The task names no sandbox: the eval gave it one (`--sandbox local`), and a limit.
    let options = EvalOptions {
        logger: Some(logger(dir.path(), LogFormat::Eval)),
        fail_on_error: Some(FailOnError::Bool(false)),
        sandbox: Some(examen::sandbox::SandboxSpec::new("local")),
        max_sandboxes: Some(2),
        ..EvalOptions::default()
    };
    let mut outcomes = examen::eval(
        vec![task(3, fail.clone())],
        vec![counting.model()],
        options,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let first = outcomes
        .remove(0)
        .log_location
        .unwrap_or_else(|| panic!("a log"));
    assert_eq!(
        read(&first).eval.sandbox,
        Some(serde_json::json!({"type": "local"}))
    );
    let path = PathBuf::from(&first);
    let previous = examen_rt::to_thread(move || PreviousEval::open(path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut options = previous.eval_options().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        options.sandbox,
        Some(examen::sandbox::SandboxSpec::new("local"))
    );
    assert_eq!(options.max_sandboxes, Some(2));
    options.logger = Some(logger(dir.path(), LogFormat::Eval));
    let outcome = eval_retry(previous, task(3, fail), counting.model(), options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    let after = read(&outcome.log_location.unwrap_or_else(|| panic!("a log")));
    assert_eq!(
        after.eval.sandbox,
        Some(serde_json::json!({"type": "local"}))
    );
    assert_eq!(after.eval.config.max_sandboxes, Some(2));
}
