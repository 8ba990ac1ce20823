//! Realistic logs built by hand (the engine does not exist yet): a task with
//! several samples over two epochs, an `includes`-style scorer, accuracy and stderr
//! computed here, and the event sequence Inspect records for a generate+score run.

#![allow(dead_code, unreachable_pub)]

use examen_log::events::{
    EventBase, LoggerEvent, LoggingMessage, ModelEvent, SampleInitEvent, ScoreEvent,
    SpanBeginEvent, SpanEndEvent,
};
use examen_log::{
    EvalConfig, EvalDataset, EvalMetric, EvalPlan, EvalPlanStep, EvalResults, EvalSample,
    EvalSampleReductions, EvalSampleScore, EvalScore, EvalScorer, EvalSpec, EvalStats, Event,
    LogFinish, LogStart, SampleId, LOG_SCHEMA_VERSION,
};
use examen_types::{
    ChatMessage, GenerateConfig, JsonObject, MessageSource, ModelOutput, ModelUsage, Score,
    ToolChoice, Value,
};

pub const MODEL: &str = "mockllm/model";

pub fn start(task: &str, ids: &[SampleId], epochs: u32) -> LogStart {
    let dataset = EvalDataset {
        name: Some("compat".into()),
        location: Some("compat.jsonl".into()),
        samples: Some(ids.len() as u64),
        sample_ids: Some(ids.to_vec()),
        shuffled: Some(false),
    };
    let mut eval = EvalSpec::new(task, MODEL, dataset);
    eval.task_registry_name = Some(task.into());
    eval.task_display_name = Some(task.into());
    eval.model_base_url = Some("http://127.0.0.1:9/v1".into());
    eval.config = EvalConfig {
        epochs: Some(epochs),
        fail_on_error: Some(true.into()),
        log_samples: Some(true),
        ..Default::default()
    };
    eval.packages
        .insert("examen".into(), env!("CARGO_PKG_VERSION").into());
    let mut metrics = serde_json::Map::new();
    metrics.insert("name".into(), "inspect_ai/accuracy".into());
    eval.scorers = Some(vec![EvalScorer {
        name: "includes".into(),
        options: Some(JsonObject::new()),
        metrics: Some(serde_json::json!([
            {"name": "inspect_ai/accuracy", "options": {}},
            {"name": "inspect_ai/stderr", "options": {}}
        ])),
        metadata: Some(JsonObject::new()),
    }]);
    let mut step = EvalPlanStep::new("generate");
    step.params.insert("tool_calls".into(), "loop".into());
    LogStart {
        version: LOG_SCHEMA_VERSION,
        eval,
        plan: EvalPlan {
            steps: vec![step],
            ..Default::default()
        },
    }
}

fn base(span: &str, at: f64) -> EventBase {
    EventBase::new(Some(span.to_owned()), at)
}

/// A sample as the engine would log it: correct when `index` is even. A `NaN`
/// (unscored) value for index 5 exercises Python's constants.
pub fn sample(id: SampleId, epoch: u32, index: usize) -> EvalSample {
    let question = format!("Question {index}: what is {index} + {index}?");
    let answer = (2 * index).to_string();
    let reply = if index.is_multiple_of(2) {
        format!("The answer is {answer}.")
    } else {
        "I am not sure.".to_owned()
    };
    let mut s = EvalSample::new(id.clone(), epoch, question.as_str(), answer.as_str());
    s.uuid = Some(examen_types::short_uuid());
    let user = ChatMessage::user(question.as_str())
        .with_id(examen_types::short_uuid())
        .with_source(MessageSource::Input);
    let mut output = ModelOutput::from_text(MODEL, reply.clone());
    output.usage = Some(ModelUsage::new(12, 7));
    output.time = Some(0.01);
    output.choices[0].message.id = Some(examen_types::short_uuid());
    let assistant = ChatMessage::Assistant(output.choices[0].message.clone());
    s.messages = vec![user.clone(), assistant];
    s.output = output.clone();
    let value = if index == 5 {
        Value::Float(f64::NAN)
    } else if index.is_multiple_of(2) {
        Value::from("C")
    } else {
        Value::from("I")
    };
    let mut score = Score::new(value).with_answer(reply.clone());
    score.explanation = Some(reply.clone());
    let mut scores = indexmap::IndexMap::new();
    scores.insert("includes".to_owned(), score.clone());
    s.scores = Some(scores);
    s.metadata.insert("index".into(), (index as u64).into());
    let mut usage = indexmap::IndexMap::new();
    usage.insert(MODEL.to_owned(), ModelUsage::new(12, 7));
    s.model_usage = usage.clone();
    s.started_at = Some(examen_log::time::iso_now_micros());
    s.completed_at = Some(examen_log::time::iso_now_micros());
    s.total_time = Some(0.02);
    s.working_time = Some(0.015);

    let init = examen_types::short_uuid();
    let solvers = examen_types::short_uuid();
    let gen = examen_types::short_uuid();
    let scorers = examen_types::short_uuid();
    s.events = vec![
        Event::SpanBegin(SpanBeginEvent {
            base: base(&init, 0.0),
            id: init.clone(),
            parent_id: None,
            kind: Some("init".into()),
            name: "init".into(),
        }),
        Event::SampleInit(Box::new(SampleInitEvent {
            base: base(&init, 0.0),
            sample: examen_types::Sample {
                input: s.input.clone(),
                choices: None,
                target: s.target.clone(),
                id: Some(id),
                metadata: None,
                sandbox: None,
                files: None,
                setup: None,
            },
            state: serde_json::json!({"messages": [user], "tools": [], "store": {}, "completed": false, "metadata": {}}),
        })),
        Event::SpanEnd(SpanEndEvent {
            base: base(&init, 0.0),
            id: init.clone(),
        }),
        Event::SpanBegin(SpanBeginEvent {
            base: base(&solvers, 0.001),
            id: solvers.clone(),
            parent_id: None,
            kind: Some("solvers".into()),
            name: "solvers".into(),
        }),
        Event::SpanBegin(SpanBeginEvent {
            base: base(&gen, 0.001),
            id: gen.clone(),
            parent_id: Some(solvers.clone()),
            kind: Some("solver".into()),
            name: "generate".into(),
        }),
        model_event(base(&gen, 0.002), vec![s.messages[0].clone()], output, None),
        Event::Logger(LoggerEvent {
            base: base(&gen, 0.012),
            message: LoggingMessage {
                name: Some("examen".into()),
                level: "info".into(),
                message: "generated".into(),
                created: 1_700_000_000.0,
                filename: "engine.rs".into(),
                module: "engine".into(),
                lineno: 1,
            },
        }),
        Event::SpanEnd(SpanEndEvent {
            base: base(&gen, 0.012),
            id: gen,
        }),
        Event::SpanEnd(SpanEndEvent {
            base: base(&solvers, 0.012),
            id: solvers,
        }),
        Event::SpanBegin(SpanBeginEvent {
            base: base(&scorers, 0.013),
            id: scorers.clone(),
            parent_id: None,
            kind: Some("scorers".into()),
            name: "scorers".into(),
        }),
        Event::Score(Box::new(ScoreEvent {
            base: base(&scorers, 0.014),
            score,
            target: Some(s.target.clone()),
            intermediate: false,
            scorer: Some("includes".into()),
            scorer_args: Some(JsonObject::new()),
            model_usage: Some(usage),
            role_usage: None,
        })),
        Event::SpanEnd(SpanEndEvent {
            base: base(&scorers, 0.015),
            id: scorers,
        }),
    ];
    s
}

/// Accuracy and stderr (Inspect's `accuracy()` and `stderr()`: mean of
/// value_to_float, sample standard deviation / sqrt(n)), skipping NaN (unscored).
pub fn accuracy_stderr(values: &[f64]) -> (f64, f64) {
    let scored: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let n = scored.len() as f64;
    let mean = scored.iter().sum::<f64>() / n;
    let var = scored.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var).sqrt() / n.sqrt())
}

/// The finish record for samples written with [`sample`]: epoch-reduced (mean)
/// scores, accuracy and stderr over the reduced values.
pub fn finish(ids: &[SampleId], epochs: u32) -> LogFinish {
    let mut reduced = Vec::new();
    let mut per_sample = Vec::new();
    for (index, id) in ids.iter().enumerate() {
        let values: Vec<f64> = (1..=epochs)
            .map(|epoch| sample(id.clone(), epoch, index).scores.unwrap()["includes"].as_float())
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        per_sample.push(mean);
        reduced.push(EvalSampleScore {
            score: Score::new(mean),
            sample_id: Some(id.clone()),
        });
    }
    let (acc, se) = accuracy_stderr(&per_sample);
    let mut metrics = indexmap::IndexMap::new();
    metrics.insert("accuracy".to_owned(), EvalMetric::new("accuracy", acc));
    metrics.insert("stderr".to_owned(), EvalMetric::new("stderr", se));
    let scored = per_sample.iter().filter(|v| !v.is_nan()).count() as u64;
    let results = EvalResults {
        total_samples: ids.len() as u64 * u64::from(epochs),
        completed_samples: ids.len() as u64 * u64::from(epochs),
        scores: vec![EvalScore {
            name: "includes".into(),
            scorer: "includes".into(),
            reducer: None,
            scored_samples: Some(scored),
            unscored_samples: Some(ids.len() as u64 - scored),
            params: JsonObject::new(),
            metrics,
            metadata: None,
        }],
        ..Default::default()
    };
    let mut usage = indexmap::IndexMap::new();
    usage.insert(
        MODEL.to_owned(),
        (0..ids.len() * epochs as usize)
            .map(|_| ModelUsage::new(12, 7))
            .sum(),
    );
    LogFinish {
        status: examen_log::EvalStatus::Success,
        results: Some(results),
        stats: EvalStats {
            started_at: examen_log::time::iso_now(),
            completed_at: examen_log::time::iso_now(),
            model_usage: usage,
            ..Default::default()
        },
        error: None,
        reductions: Some(vec![EvalSampleReductions {
            scorer: "includes".into(),
            reducer: None,
            samples: reduced,
        }]),
        invalidated: false,
    }
}

pub fn ids(n: usize) -> Vec<SampleId> {
    (0..n)
        .map(|i| {
            if i % 3 == 1 {
                SampleId::Str(format!("s{i}"))
            } else {
                SampleId::Int(i as i64 + 1)
            }
        })
        .collect()
}

/// An agent-style sample: `turns` model calls, each sent the whole conversation so
/// far (system, user, then an assistant tool call and its tool result per turn) and
/// recording a raw `call` whose request carries the wire form of those messages;
/// then a grader call with a prompt of its own. Every message has its own id, so a
/// condensed log resolves back to exactly these inputs.
pub fn agent_sample(id: SampleId, turns: usize) -> EvalSample {
    let mut s = sample(id, 1, 0);
    let span = examen_types::short_uuid();
    let mut conversation = vec![
        ChatMessage::system("You are an agent. Use the add tool.")
            .with_id(examen_types::short_uuid()),
        ChatMessage::user("Add the numbers of each turn.")
            .with_id(examen_types::short_uuid())
            .with_source(MessageSource::Input),
    ];
    let wire = |m: &ChatMessage| serde_json::json!({"role": m.role(), "content": m.text()});
    let model_event = |input: Vec<ChatMessage>, output: ModelOutput, at: f64| {
        let request = serde_json::json!({
            "model": "model",
            "messages": input.iter().map(wire).collect::<Vec<_>>(),
            "temperature": 0.5,
        });
        model_event(
            base(&span, at),
            input,
            output,
            Some(serde_json::json!({
                "request": request,
                "response": {"id": format!("resp-{at}")},
                "time": 0.01,
            })),
        )
    };
    let mut events = Vec::new();
    for turn in 0..turns {
        let call_id = format!("call_{turn}");
        let mut args = JsonObject::new();
        args.insert("a".into(), (turn as u64).into());
        args.insert("b".into(), 1.5.into());
        let mut assistant =
            examen_types::ChatMessageAssistant::new(format!("Turn {turn}: adding."));
        assistant.id = Some(examen_types::short_uuid());
        assistant.model = Some("model".into());
        assistant.source = Some(MessageSource::Generate);
        assistant.tool_calls = Some(vec![examen_types::ToolCall::new(
            call_id.clone(),
            "add",
            args,
        )]);
        let output = ModelOutput::from_message(
            MODEL,
            assistant.clone(),
            examen_types::StopReason::ToolCalls,
        );
        events.push(model_event(conversation.clone(), output, 0.1 + turn as f64));
        conversation.push(ChatMessage::Assistant(assistant));
        conversation.push(
            ChatMessage::tool(format!("{}", turn as f64 + 1.5), call_id, "add")
                .with_id(examen_types::short_uuid()),
        );
    }
    let grader =
        vec![ChatMessage::user("Grade the conversation.").with_id(examen_types::short_uuid())];
    events.push(model_event(
        grader,
        ModelOutput::from_text(MODEL, "GRADE: C"),
        0.2 + turns as f64,
    ));
    s.messages = conversation;
    s.events = events;
    s
}

/// The model events of a sample.
pub fn model_events(s: &EvalSample) -> Vec<&ModelEvent> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Model(m) => Some(&**m),
            _ => None,
        })
        .collect()
}

/// The first sample's JSON as stored in an `.eval` or `.json` log.
pub fn stored_sample(path: &std::path::Path) -> serde_json::Value {
    if path.extension().is_some_and(|e| e == "eval") {
        let reader = examen_log::LogReader::open(path).unwrap();
        let name = reader
            .member_names()
            .into_iter()
            .find(|n| n.starts_with("samples/"))
            .unwrap()
            .to_owned();
        serde_json::from_slice(&reader.member_bytes(&name).unwrap().unwrap()).unwrap()
    } else {
        // (Python's JSON: a one-sample stderr is `NaN`.)
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("NaN", "null");
        let log: serde_json::Value = serde_json::from_str(&text).unwrap();
        log["samples"][0].clone()
    }
}

/// A model event of `MODEL` that completed in 10 ms.
pub fn model_event(
    base: EventBase,
    input: Vec<ChatMessage>,
    output: ModelOutput,
    call: Option<serde_json::Value>,
) -> Event {
    Event::Model(Box::new(ModelEvent {
        base,
        model: MODEL.into(),
        role: None,
        requested_model: None,
        input,
        input_refs: None,
        tools: Vec::new(),
        tool_choice: ToolChoice::None,
        config: GenerateConfig::default(),
        output,
        retries: None,
        request_ids: None,
        error: None,
        traceback: None,
        traceback_ansi: None,
        cache: None,
        call,
        completed: Some(examen_log::time::iso_now_micros()),
        working_time: Some(0.01),
    }))
}
