use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use examen::runner::log::{EvalStatus, MemoryRun};
use examen::sample::Sample;
use examen::taskfile::load_task_file;
use examen::transcript::Event;
use examen::{scorer, solver, EvalEvent, EvalOptions, Task};
use examen_model::{MockLlm, Model};
use examen_rt::Backend;
use examen_types::{ChatMessage, JsonValue, ModelOutput, Value};

use crate::support::{dataset, last_user, mock, run};

fn example_task() -> Task {
    load_task_file(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/arithmetic/task.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn compute(question: &str) -> Option<i64> {
    let words: Vec<&str> = question
        .trim_start_matches("What is ")
        .trim_end_matches('?')
        .split(' ')
        .collect();
    let [a, op, b] = words.as_slice() else {
        return None;
    };
    let (a, b) = (a.parse::<i64>().ok()?, b.parse::<i64>().ok()?);
    match *op {
        "+" => Some(a + b),
        "-" => Some(a - b),
        "*" => Some(a * b),
        _ => None,
    }
}

/// Right on every call, except for products, which it gets right on
/// every other call (so products score 1 of 2 epochs).
fn flaky_calculator() -> Model {
    let calls: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    Model::from_mock(MockLlm::from_fn(move |messages| {
        let prompt = last_user(messages);
        let question = prompt.lines().next().unwrap_or_default().to_string();
        let mut calls = calls.lock().unwrap_or_else(|e| e.into_inner());
        let n = calls.entry(question.clone()).or_insert(0);
        *n += 1;
        let right = compute(&question).unwrap_or(0);
        let second_call = *n & 1 == 0;
        let answer = if question.contains('*') && second_call {
            right * 2 + 1
        } else {
            right
        };
        ModelOutput::from_text(
            "mockllm/model",
            format!("Working it out.\nANSWER: {answer}"),
        )
    }))
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

/// The example task on a scripted model: the numbers follow from the data.
#[examen_rt::test]
async fn example_task_scores_and_metrics() {
    let task = example_task();
    let products: Vec<bool> = task
        .dataset
        .samples
        .iter()
        .map(|s| s.input.text().contains('*'))
        .collect();
    let levels: Vec<String> = task
        .dataset
        .samples
        .iter()
        .map(|s| {
            s.metadata
                .as_ref()
                .and_then(|m| m.get("level"))
                .and_then(JsonValue::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let (outcome, run) = run(task, flaky_calculator(), EvalOptions::default()).await;
    assert_eq!(outcome.status, EvalStatus::Success, "{:?}", outcome.error);
    let results = outcome.results.unwrap_or_else(|| panic!("results"));
    assert_eq!(results.total_samples, 40);
    assert_eq!(results.completed_samples, 40);

    // mean over epochs: 1 for sums and differences, 0.5 for products
    let per_sample: Vec<f64> = products
        .iter()
        .map(|&p| if p { 0.5 } else { 1.0 })
        .collect();
    let n = per_sample.len() as f64;
    let mean = per_sample.iter().sum::<f64>() / n;
    let var = per_sample
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum::<f64>()
        / (n - 1.0);
    let mean_view = &results.scores[0];
    assert_eq!(
        (mean_view.name.as_str(), mean_view.reducer.as_deref()),
        ("match", Some("mean"))
    );
    assert!(close(
        mean_view.metrics.get("accuracy").map(|m| m.value),
        mean
    ));
    assert!(close(
        mean_view.metrics.get("stderr").map(|m| m.value),
        var.sqrt() / n.sqrt()
    ));
    for level in ["easy", "medium", "hard"] {
        let group: Vec<f64> = per_sample
            .iter()
            .zip(&levels)
            .filter(|(_, l)| *l == level)
            .map(|(v, _)| *v)
            .collect();
        let expected = group.iter().sum::<f64>() / group.len() as f64;
        assert!(
            close(mean_view.metrics.get(level).map(|m| m.value), expected),
            "{level}"
        );
    }
    assert!(close(mean_view.metrics.get("all").map(|m| m.value), mean));
    // pass@2: one right answer in two epochs is enough
    let pass_view = &results.scores[1];
    assert_eq!(pass_view.reducer.as_deref(), Some("pass_at_2"));
    assert!(close(
        pass_view.metrics.get("accuracy").map(|m| m.value),
        1.0
    ));
    assert!(close(pass_view.metrics.get("stderr").map(|m| m.value), 0.0));
    assert_eq!(pass_view.scored_samples, Some(20));

    // The log got every unit, each with its transcript.
    let samples = run.sorted_samples();
    assert_eq!(samples.len(), 40);
    let first = &samples[0];
    assert_eq!(
        first.messages.iter().map(|m| m.role()).collect::<Vec<_>>(),
        vec!["system", "user", "assistant"]
    );
    assert_eq!(first.messages[0].text(), "You are a careful calculator.");
    assert_eq!(
        first.messages[1].text(),
        "What is 6 + 3?\nEnd with ANSWER: <number>"
    );
    assert_eq!(
        first
            .scores
            .as_ref()
            .and_then(|s| s.get("match"))
            .map(|s| s.value.clone()),
        Some(Value::from("C"))
    );
    let kinds: Vec<&str> = first.events.iter().map(Event::kind).collect();
    assert_eq!(
        kinds,
        vec![
            // Inspect's `init` span around the sample's start.
            "span_begin",
            "sample_init",
            "span_end",
            "span_begin",
            "span_begin",
            "span_end",
            "span_begin",
            "span_end",
            "span_begin",
            "model",
            "span_end",
            "span_end",
            "span_begin",
            "span_begin",
            "score",
            "span_end",
            "span_end"
        ]
    );
    let finish = run.finished().unwrap_or_else(|| panic!("finished"));
    let reductions = finish.reductions.as_deref().unwrap_or_default();
    assert_eq!(reductions.len(), 2);
    assert_eq!(reductions[0].samples.len(), 20);
    assert_eq!(
        run.start
            .plan
            .steps
            .iter()
            .map(|p| p.solver.as_str())
            .collect::<Vec<_>>(),
        vec!["system_message", "prompt_template", "generate"]
    );
    assert_eq!(run.start.eval.dataset.samples, Some(20));
}

/// Runs the example task on one backend and returns everything an observer
/// sees (logged samples, scores, metrics) with the timing fields removed.
fn observed(backend: Backend) -> JsonValue {
    examen_rt::run(backend, async {
        let options = EvalOptions {
            // One unit at a time: each epoch sees the same call order.
            max_samples: Some(1),
            ..EvalOptions::default()
        };
        let (outcome, run) = run(example_task(), flaky_calculator(), options).await;
        let mut samples = serde_json::to_value(run.sorted_samples()).unwrap_or_default();
        strip_volatile(&mut samples);
        serde_json::json!({
            "samples": samples,
            "results": serde_json::to_value(&outcome.results).unwrap_or_default(),
            "reductions": serde_json::to_value(&outcome.reductions).unwrap_or_default(),
        })
    })
}

fn strip_volatile(value: &mut JsonValue) {
    match value {
        JsonValue::Object(map) => {
            for key in [
                "uuid",
                "timestamp",
                "working_start",
                "started_at",
                "completed_at",
                "total_time",
                "working_time",
                "completed",
                "span_id",
                "parent_id",
                "time",
            ] {
                if map
                    .get(key)
                    .is_some_and(|v| !v.is_object() && !v.is_array())
                {
                    map.shift_remove(key);
                }
            }
            // Message and span ids are random; sample ids are data and stay.
            if map.contains_key("role") || map.get("event").is_some() {
                map.shift_remove("id");
            }
            for v in map.values_mut() {
                strip_volatile(v);
            }
        }
        JsonValue::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

/// The same task gives the same samples, scores and metrics on tokio and smol.
#[test]
fn identical_on_tokio_and_smol() {
    let tokio = observed(Backend::Tokio);
    let smol = observed(Backend::Smol);
    assert_eq!(tokio["samples"].as_array().map(Vec::len), Some(40));
    let (a, b) = (tokio.to_string(), smol.to_string());
    if a != b {
        let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let window = |s: &str| {
            s.get(at.saturating_sub(200)..(at + 200).min(s.len()))
                .unwrap_or_default()
                .to_string()
        };
        panic!(
            "tokio and smol differ at byte {at}:\n tokio: {}\n  smol: {}",
            window(&a),
            window(&b)
        );
    }
}

/// Multiple choice through the `multiple_choice` solver and `choice` scorer.
#[examen_rt::test]
async fn multiple_choice_and_choice_scorer() {
    let samples = vec![
        Sample::new("Capital of France?", "A").with_choices(["Paris", "London", "Rome"]),
        Sample::new("Capital of Italy?", "C").with_choices(["Paris", "London", "Rome"]),
        Sample::new("Largest planet?", "B").with_choices(["Mars", "Jupiter"]),
    ];
    let task = Task::new(
        "mc",
        examen::dataset::Dataset::from_samples(samples).unwrap_or_default(),
    )
    .solver(Arc::new(examen::solver::MultipleChoice::default()))
    .scorer(scorer::choice());
    let model = mock(|prompt| {
        if prompt.contains("France") {
            "ANSWER: A".into()
        } else if prompt.contains("Italy") {
            "ANSWER: (B)".into()
        } else {
            "I won't say".into()
        }
    });
    let (outcome, run) = run(task, model, EvalOptions::default()).await;
    let samples = run.sorted_samples();
    let score = |i: usize| {
        samples[i]
            .scores
            .as_ref()
            .and_then(|s| s.get("choice"))
            .cloned()
            .unwrap_or_else(|| panic!("score"))
    };
    assert_eq!(
        (score(0).value, score(0).answer.as_deref()),
        (Value::from("C"), Some("A"))
    );
    assert_eq!(
        (score(1).value, score(1).answer.as_deref()),
        (Value::from("I"), Some("B"))
    );
    assert_eq!(
        (score(2).value, score(2).reason.as_deref()),
        (Value::from("I"), Some("invalid_response_format"))
    );
    assert_eq!(
        samples[0].messages[0].text(),
        "Answer the following multiple choice question. The entire content of your response should be of the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of A,B,C.\n\nCapital of France?\n\nA) Paris\nB) London\nC) Rome"
    );
    assert!(close(
        outcome.results.and_then(|r| r.metric("choice", "accuracy")),
        1.0 / 3.0
    ));
}

/// A grader bound to the `grader` role grades; its calls are recorded with the role.
#[examen_rt::test]
async fn model_graded_with_a_grader_role() {
    let task = Task::new(
        "qa",
        dataset(&[("Who wrote Hamlet?", "Shakespeare"), ("2+2?", "4")]),
    )
    .solver(solver::generate())
    .scorer(Arc::new(examen::scorer::ModelGraded::new(false)));
    let model = mock(|prompt| {
        if prompt.contains("Hamlet") {
            "William Shakespeare".into()
        } else {
            "5".into()
        }
    });
    let grader = mock(|prompt| {
        if prompt.contains("[Submission]: William Shakespeare") {
            "The submission names him.\nGRADE: C".into()
        } else {
            "Wrong sum.\nGRADE: I".into()
        }
    });
    let mut options = EvalOptions::default();
    options.model_roles.insert("grader".into(), grader);
    let (outcome, run) = run(task, model, options).await;
    let samples = run.sorted_samples();
    let values: Vec<Value> = samples
        .iter()
        .map(|s| {
            s.scores
                .as_ref()
                .and_then(|m| m.get("model_graded_qa"))
                .map(|s| s.value.clone())
                .unwrap_or(Value::Float(f64::NAN))
        })
        .collect();
    assert_eq!(values, vec![Value::from("C"), Value::from("I")]);
    let roles: Vec<Option<String>> = samples[0]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Model(call) => Some(call.role.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(roles, vec![None, Some("grader".to_string())]);
    assert!(close(
        outcome
            .results
            .and_then(|r| r.metric("model_graded_qa", "accuracy")),
        0.5
    ));
}

/// A grade the grader was not offered leaves the sample unscored (NaN),
/// which metrics count apart.
#[examen_rt::test]
async fn unparseable_grades_are_unscored() {
    let task = Task::new("qa", dataset(&[("a", "x"), ("b", "y")]))
        .scorer(Arc::new(examen::scorer::ModelGraded::new(true)));
    let model = mock(|prompt| {
        if prompt.starts_with("\nYou are comparing") {
            if prompt.contains("[Question]: a") {
                "GRADE: C".into()
            } else {
                "GRADE: P".into()
            }
        } else {
            "answer".into()
        }
    });
    let (outcome, _) = run(task, model, EvalOptions::default()).await;
    let results = outcome.results.unwrap_or_else(|| panic!("results"));
    assert_eq!(
        (
            results.scores[0].scored_samples,
            results.scores[0].unscored_samples
        ),
        (Some(1), Some(1))
    );
    assert!(close(results.metric("model_graded_fact", "accuracy"), 1.0));
}

/// Self critique: the critic's answer feeds a second generation.
#[examen_rt::test]
async fn self_critique_regenerates() {
    let task = Task::new("critique", dataset(&[("What is 2+2?", "4")]))
        .solver(solver::generate())
        .solver(solver::self_critique())
        .scorer(scorer::includes());
    let model = mock(|prompt| {
        if prompt.starts_with("\nGiven the following question and answer") {
            "The answer 5 is wrong; it is 4.".into()
        } else if prompt.contains("[Critique]: The answer 5 is wrong") {
            "ANSWER: 4".into()
        } else {
            "5".into()
        }
    });
    let (outcome, run) = run(task, model, EvalOptions::default()).await;
    let sample = &run.sorted_samples()[0];
    assert_eq!(
        sample
            .messages
            .iter()
            .map(ChatMessage::role)
            .collect::<Vec<_>>(),
        vec!["user", "assistant", "user", "assistant"]
    );
    assert_eq!(sample.output.completion, "ANSWER: 4");
    assert!(close(
        outcome
            .results
            .and_then(|r| r.metric("includes", "accuracy")),
        1.0
    ));
}

/// Progress events: a start with the total, one event per unit, a finish with results.
#[examen_rt::test]
async fn progress_events() {
    let (tx, rx) = examen_rt::channel(64);
    let task = Task::new("t", dataset(&[("a", "Default output"), ("b", "nope")]))
        .scorer(scorer::includes())
        .epochs(2, vec![]);
    let model = examen_model::get_model("mockllm/model", examen_model::ModelOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let outcomes = examen::eval(vec![task], vec![model], EvalOptions::default(), Some(tx))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcomes[0].status, EvalStatus::Success);
    let mut finished = 0;
    let mut started_total = None;
    let mut last = None;
    while let Some(event) = rx.recv().await {
        match event {
            EvalEvent::TaskStarted { total, .. } => started_total = Some(total),
            EvalEvent::SampleFinished {
                completed, running, ..
            } => {
                finished += 1;
                assert_eq!(completed, finished);
                assert!(running.is_some_and(
                    |(name, value)| name == "includes" && (0.0..=1.0).contains(&value)
                ));
            }
            EvalEvent::TaskFinished {
                results, status, ..
            } => {
                assert_eq!(status, EvalStatus::Success);
                last = results;
            }
            _ => {}
        }
    }
    assert_eq!(started_total, Some(4));
    assert_eq!(finished, 4);
    assert!(close(
        last.and_then(|r| r.metric("includes", "accuracy")),
        0.5
    ));
}

/// Tasks × models: one outcome per pair, in task-major order.
#[examen_rt::test]
async fn tasks_times_models() {
    let t1 = Task::new("one", dataset(&[("a", "x")])).scorer(scorer::includes());
    let t2 = Task::new("two", dataset(&[("b", "y")])).scorer(scorer::includes());
    let m1 = mock(|_| "x".into());
    let m2 = mock(|_| "y".into());
    let options = EvalOptions {
        max_tasks: Some(2),
        ..EvalOptions::default()
    };
    let outcomes = examen::eval(vec![t1, t2], vec![m1, m2], options, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let summary: Vec<(String, Option<f64>)> = outcomes
        .iter()
        .map(|o| {
            (
                o.task.clone(),
                o.results
                    .as_ref()
                    .and_then(|r| r.metric("includes", "accuracy")),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("one".into(), Some(1.0)),
            ("one".into(), Some(0.0)),
            ("two".into(), Some(0.0)),
            ("two".into(), Some(1.0))
        ]
    );
}

/// The memory run keeps the header for the log writer.
#[examen_rt::test]
async fn log_header_records_the_plan() {
    let task = example_task();
    let (_, run): (_, Arc<MemoryRun>) = run(
        task,
        flaky_calculator(),
        EvalOptions {
            limit: Some(2),
            ..EvalOptions::default()
        },
    )
    .await;
    assert_eq!(run.start.eval.task, "arithmetic");
    assert_eq!(
        run.start.eval.config.epochs_reducer,
        Some(vec!["mean".to_string(), "pass_at_2".to_string()])
    );
    let scorers = run.start.eval.scorers.as_ref().unwrap();
    let metric_names: Vec<&str> = scorers[0]
        .metrics
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(metric_names, vec!["accuracy", "stderr", "grouped"]);
    assert_eq!(run.start.eval.config.limit, Some(JsonValue::from(2)));
    assert_eq!(run.sorted_samples().len(), 4);
}

/// Templates are filled from the sample metadata (and unknown names are kept).
#[examen_rt::test]
async fn templates_read_sample_metadata() {
    let mut metadata = examen_types::JsonObject::new();
    metadata.insert("level".into(), "hard".into());
    metadata.insert("points".into(), 3.into());
    let sample = Sample::new("2+2?", "4").with_metadata(metadata);
    let task = Task::new(
        "t",
        examen::dataset::Dataset::from_samples(vec![sample]).unwrap_or_default(),
    )
    .solver(solver::system_message(
        "This is a {level} question worth {points} points.",
    ))
    .solver(solver::prompt_template("[{level}] {prompt} {unknown}"))
    .solver(solver::generate());
    let (_, logged) = run(task, mock(|_| "4".into()), EvalOptions::default()).await;
    let sample = &logged.sorted_samples()[0];
    assert_eq!(
        sample.messages[0].text(),
        "This is a hard question worth 3 points."
    );
    assert_eq!(sample.messages[1].text(), "[hard] 2+2? {unknown}");
}

/// What a solver and a scorer see in their [`examen::SampleContext`]: the model under
/// evaluation and those bound to roles, the transcript so far, and the limits in force while
/// solving (none while scoring).
#[examen_rt::test]
async fn solvers_and_scorers_see_the_sample_context() {
    #[derive(Debug, Default)]
    struct Seen {
        solver: Vec<String>,
        scorer: Vec<String>,
    }
    #[derive(Debug)]
    struct Look(Arc<Mutex<Seen>>);
    impl examen::Solver for Look {
        fn name(&self) -> &str {
            "look"
        }
        async fn solve(
            &self,
            _state: &mut examen::TaskState,
            ctx: &examen::SampleContext,
        ) -> Result<(), examen::SampleError> {
            let kinds: Vec<String> = ctx.events().iter().map(|e| e.kind().to_owned()).collect();
            let limit = ctx.limits().and_then(|l| l.message_limit);
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            seen.solver = vec![
                ctx.model().name().to_owned(),
                ctx.role_model("grader")?.name().to_owned(),
                ctx.role_model("critic")?.name().to_owned(),
                ctx.roles().join(","),
                format!("{limit:?}"),
                kinds.join(","),
            ];
            Ok(())
        }
    }
    impl examen::Scorer for Look {
        fn name(&self) -> &str {
            "look"
        }
        async fn score(
            &self,
            _state: &examen::TaskState,
            _target: &examen::Target,
            ctx: &examen::SampleContext,
        ) -> Result<Option<examen_types::Score>, examen::SampleError> {
            let last = ctx.events().last().map(|e| e.kind().to_owned());
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            seen.scorer = vec![format!("{:?}", ctx.limits()), format!("{last:?}")];
            Ok(Some(examen_types::Score::new(1.0)))
        }
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let task = Task::new("ctx", dataset(&[("q", "a")]))
        .solver(examen::IntoSolver::into_solver(Look(seen.clone())))
        .scorer(examen::IntoScorer::into_scorer(Look(seen.clone())));
    let grader = examen_model::get_model("mockllm/grader", Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut options = EvalOptions::default();
    options.model_roles.insert("grader".into(), grader);
    options.limits.message_limit = Some(7);
    let (outcome, _) = run(task, mock(|_| "x".into()), options).await;
    assert_eq!(outcome.errored_samples, 0, "{:?}", outcome.error);
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(
        seen.solver,
        vec![
            "mockllm/model",
            "mockllm/grader",
            // An unbound role falls back to the model under evaluation.
            "mockllm/model",
            "grader",
            "Some(7)",
            "span_begin,sample_init,span_end,span_begin,span_begin",
        ]
    );
    assert_eq!(seen.scorer, vec!["None", "Some(\"span_begin\")"]);
}

/// The runner's scorer step is the one `examen score` runs: duplicate scorers are
/// numbered as Inspect's `unique_scorer_name` does (`match`, `match1`), and each
/// `score` event records, as Inspect's runner does, the scorer's arguments and the
/// sample's model usage so far.
#[examen_rt::test]
async fn score_events_record_the_scorer_args_and_the_samples_usage() {
    let task = Task::new("args", dataset(&[("one", "1"), ("two", "2")]))
        .solver(solver::generate())
        .scorer(scorer::match_())
        .scorer(scorer::includes())
        .scorer(scorer::match_());
    let (outcome, run) = run(task, mock(|_| "1".into()), EvalOptions::default()).await;
    assert_eq!(outcome.status, EvalStatus::Success);
    let names: Vec<String> = outcome
        .results
        .iter()
        .flat_map(|r| r.scores.iter().map(|s| s.name.clone()))
        .collect();
    assert_eq!(names, ["match", "includes", "match1"]);
    for sample in run.sorted_samples() {
        let keys: Vec<&String> = sample.scores.iter().flatten().map(|(k, _)| k).collect();
        assert_eq!(keys, ["match", "includes", "match1"]);
        assert!(!sample.model_usage.is_empty());
        let events: Vec<_> = sample
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Score(score) => Some(score),
                _ => None,
            })
            .collect();
        assert_eq!(events.len(), 3);
        for (event, (name, scorer)) in events.iter().zip([
            ("match", scorer::match_()),
            ("includes", scorer::includes()),
            ("match1", scorer::match_()),
        ]) {
            assert_eq!(event.scorer.as_deref(), Some(name));
            assert_eq!(event.scorer_args.as_ref(), Some(&scorer.params()));
            assert_eq!(event.model_usage.as_ref(), Some(&sample.model_usage));
        }
    }
}
