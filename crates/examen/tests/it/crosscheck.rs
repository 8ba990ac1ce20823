//! Compares examen with numbers computed by Inspect's own Python functions
//! on the same inputs (`tests/fixtures/inspect_numbers.json`, written by
//! `tests/fixtures/gen_inspect_numbers.py`; see that script to regenerate).

use std::sync::Arc;

use examen::metric::{
    Accuracy, BootstrapStderr, Grouped, GroupedAll, Mean, Metric, SampleScore, Std, Stderr, Var,
};
use examen::reducer::Reducer;
use examen::registry::build_scorer;
use examen::sample::Sample;
use examen::{EvalOptions, Task};
use examen_types::{JsonObject, JsonValue, Scalar, Value};

use crate::support::{mock, run};

fn fixture() -> JsonValue {
    let text = include_str!("../fixtures/inspect_numbers.json");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture: {e}"))
}

fn value(json: &JsonValue) -> Value {
    match json {
        JsonValue::String(s) if s == "NaN" => Value::Float(f64::NAN),
        JsonValue::String(s) => Value::Str(s.clone()),
        JsonValue::Bool(b) => Value::Bool(*b),
        JsonValue::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        other => panic!("unexpected fixture value {other}"),
    }
}

fn float(json: &JsonValue) -> f64 {
    match json {
        JsonValue::String(s) if s == "NaN" => f64::NAN,
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

fn scores(values: &[JsonValue]) -> Vec<SampleScore> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| SampleScore::new(i64::try_from(i).unwrap_or(0) + 1, value(v)))
        .collect()
}

fn computed(metric: &dyn Metric, scores: &[SampleScore]) -> f64 {
    match metric.compute(scores) {
        Ok(Value::Float(f)) => f,
        other => panic!("{}: {other:?}", metric.name()),
    }
}

fn assert_close(ours: f64, inspect: f64, what: &str) {
    let same = (ours.is_nan() && inspect.is_nan())
        || (ours - inspect).abs() <= 1e-12 * inspect.abs().max(1.0);
    assert!(same, "{what}: examen {ours} vs Inspect {inspect}");
}

#[test]
fn metrics_match_inspect() {
    let fixture = fixture();
    let cases = fixture["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("metrics"));
    assert!(cases.len() >= 9);
    for case in cases {
        let values = case["values"].as_array().cloned().unwrap_or_default();
        let scores = scores(&values);
        let metrics: [(&str, Box<dyn Metric>); 5] = [
            ("accuracy", Box::new(Accuracy::default())),
            ("mean", Box::new(Mean::default())),
            ("stderr", Box::new(Stderr::default())),
            ("std", Box::new(Std::default())),
            ("var", Box::new(Var::default())),
        ];
        for (name, metric) in metrics {
            assert_close(
                computed(metric.as_ref(), &scores),
                float(&case[name]),
                &format!("{name} of {values:?}"),
            );
        }
        // Different generators: the bootstrap agrees within its own noise.
        let ours = computed(&BootstrapStderr::default(), &scores);
        let theirs = float(&case["bootstrap_stderr"]);
        assert!(
            (ours - theirs).abs() <= 0.15 * theirs.max(1e-9) + 1e-12,
            "bootstrap_stderr of {values:?}: examen {ours} vs Inspect {theirs}"
        );
    }
}

#[test]
fn grouped_matches_inspect() {
    let fixture = fixture();
    let g = &fixture["grouped"];
    let levels = g["levels"].as_array().cloned().unwrap_or_default();
    let values = g["values"].as_array().cloned().unwrap_or_default();
    let scores: Vec<SampleScore> = scores(&values)
        .into_iter()
        .zip(&levels)
        .map(|(mut s, level)| {
            let mut meta = JsonObject::new();
            meta.insert("level".into(), level.clone());
            s.sample_metadata = Some(meta);
            s
        })
        .collect();
    let cases: [(&str, Grouped); 3] = [
        (
            "accuracy_samples",
            Grouped::new(Arc::new(Accuracy::default()), "level"),
        ),
        (
            "accuracy_groups",
            Grouped {
                all: GroupedAll::Groups,
                ..Grouped::new(Arc::new(Accuracy::default()), "level")
            },
        ),
        (
            "stderr_samples",
            Grouped::new(Arc::new(Stderr::default()), "level"),
        ),
    ];
    for (key, metric) in cases {
        let Ok(Value::Dict(ours)) = metric.compute(&scores) else {
            panic!("{key}: dict")
        };
        let theirs = g[key].as_object().cloned().unwrap_or_default();
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{key}"
        );
        for (group, v) in &theirs {
            let ours = match ours.get(group).cloned().flatten() {
                Some(Scalar::Float(f)) => f,
                Some(Scalar::Int(i)) => i as f64,
                other => panic!("{key}.{group}: {other:?}"),
            };
            assert_close(ours, float(v), &format!("{key}.{group}"));
        }
    }
}

#[test]
fn reducers_match_inspect() {
    let fixture = fixture();
    for case in fixture["reducers"].as_array().cloned().unwrap_or_default() {
        let epochs = case["epochs"].as_array().cloned().unwrap_or_default();
        let scores = scores(&epochs).into_iter().map(|mut s| {
            s.sample_id = 1.into();
            s
        });
        let scores: Vec<SampleScore> = scores.collect();
        for (name, expected) in case["results"].as_object().cloned().unwrap_or_default() {
            let reducer = Reducer::parse(&name).unwrap_or_else(|| panic!("reducer {name}"));
            let ours = reducer
                .reduce(&scores)
                .unwrap_or_else(|e| panic!("{e}"))
                .value;
            let theirs = value(&expected);
            let same = match (&ours, &theirs) {
                (a, b) if a.is_nan() && b.is_nan() => true,
                (Value::Float(a), Value::Float(b)) => (a - b).abs() <= 1e-12,
                (a, b) => a == b,
            };
            assert!(
                same,
                "{name} of {epochs:?}: examen {ours:?} vs Inspect {theirs:?}"
            );
        }
    }
}

/// Each scorer case runs through the engine: one sample whose model output
/// is the case's completion.
#[examen_rt::test]
async fn scorers_match_inspect() {
    let fixture = fixture();
    let cases = fixture["scorers"].as_array().cloned().unwrap_or_default();
    assert!(cases.len() >= 30);
    for case in cases {
        let name = case["scorer"].as_str().unwrap_or_default().to_string();
        let args: serde_norway::Value =
            serde_json::from_value(case["args"].clone()).unwrap_or_else(|e| panic!("{e}"));
        let args = args
            .as_mapping()
            .is_some_and(|m| !m.is_empty())
            .then_some(args);
        let scorer = build_scorer(&name, args).unwrap_or_else(|e| panic!("{e}"));
        let completion = case["completion"].as_str().unwrap_or_default().to_string();
        let targets: Vec<String> = case["target"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let dataset =
            examen::dataset::Dataset::from_samples(vec![Sample::new("question", targets)])
                .unwrap_or_default();
        let task = Task::new("crosscheck", dataset).scorer(scorer);
        let reply = completion.clone();
        let (_, logged) = run(task, mock(move |_| reply.clone()), EvalOptions::default()).await;
        let sample = &logged.sorted_samples()[0];
        let score = sample
            .scores
            .as_ref()
            .and_then(|s| s.values().next())
            .cloned()
            .unwrap_or_else(|| panic!("score"));
        let theirs = value(&case["value"]);
        let same_value = match (&score.value, &theirs) {
            (Value::Float(a), Value::Float(b)) => (a - b).abs() <= 1e-12,
            (a, b) => a == b,
        };
        assert!(
            same_value,
            "{name} {} on {completion:?}: examen {:?} vs Inspect {theirs:?}",
            case["args"], score.value
        );
        assert_eq!(
            score.answer.as_deref(),
            case["answer"].as_str(),
            "{name} {} answer on {completion:?}",
            case["args"]
        );
    }
}

/// Multiple choice: the prompt sent, the parsed answer and the score.
#[examen_rt::test]
async fn multiple_choice_matches_inspect() {
    let fixture = fixture();
    for case in fixture["multiple_choice"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let choices: Vec<String> = case["choices"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        let target = match &case["target"] {
            JsonValue::Array(items) => examen::sample::Target::Many(
                items
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
            ),
            other => examen::sample::Target::One(other.as_str().unwrap_or_default().to_string()),
        };
        let multiple_correct = case["multiple_correct"].as_bool().unwrap_or(false);
        let sample = Sample::new("question", target).with_choices(choices);
        let task = Task::new(
            "mc",
            examen::dataset::Dataset::from_samples(vec![sample]).unwrap_or_default(),
        )
        .solver(Arc::new(examen::solver::MultipleChoice {
            multiple_correct,
            ..examen::solver::MultipleChoice::default()
        }))
        .scorer(examen::scorer::choice());
        let completion = case["completion"].as_str().unwrap_or_default().to_string();
        let reply = completion.clone();
        let (_, logged) = run(task, mock(move |_| reply.clone()), EvalOptions::default()).await;
        let sample = &logged.sorted_samples()[0];
        assert_eq!(
            Some(sample.messages[0].text().as_str()),
            case["prompt"].as_str(),
            "prompt"
        );
        let score = sample
            .scores
            .as_ref()
            .and_then(|s| s.get("choice"))
            .cloned()
            .unwrap_or_else(|| panic!("score"));
        assert_eq!(
            score.value,
            value(&case["value"]),
            "value for {completion:?}"
        );
        assert_eq!(
            score.answer.as_deref(),
            case["answer"].as_str(),
            "answer for {completion:?}"
        );
    }
}

#[test]
fn value_to_float_matches_inspect() {
    let fixture = fixture();
    for pair in fixture["value_to_float"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let ours = examen_types::value_to_float(&value(&pair[0]));
        assert_close(
            ours,
            float(&pair[1]),
            &format!("value_to_float({})", pair[0]),
        );
    }
}
