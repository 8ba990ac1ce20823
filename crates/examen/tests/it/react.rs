//! The `react` agent on scripted mockllm: submission, attempts with intermediate scores,
//! `on_continue`, the agent without a submit tool, invalid submissions, limits. (Its
//! transcript against Inspect's own `react` is checked in `inspect_compat`.)

use std::sync::Arc;

use examen::solver::react::{
    AgentSubmit, Continue, OnContinue, React, DEFAULT_CONTINUE_PROMPT, DEFAULT_INCORRECT_MESSAGE,
};
use examen::task::{FailOnError, Limits};
use examen::tool::builtin::Think;
use examen::transcript::Event;
use examen::{scorer, EvalOptions, Task};
use examen_model::{MockLlm, Model};
use examen_types::{ChatMessage, EvalSample, ModelOutput, ToolCall};
use serde_json::json;

use crate::support::{dataset, run};

fn turn(content: &str, function: &str, arguments: serde_json::Value) -> ModelOutput {
    let serde_json::Value::Object(arguments) = arguments else {
        panic!("arguments are an object");
    };
    let call = ToolCall::new(format!("call_{function}"), function, arguments);
    ModelOutput::for_tool_call("mockllm/model", call, Some(content.to_owned()))
}

fn text(answer: &str) -> ModelOutput {
    ModelOutput::from_text("mockllm/model", answer)
}

async fn run_react(react: React, turns: Vec<ModelOutput>, limits: Limits) -> EvalSample {
    let task = Task::new("react", dataset(&[("What is 6 times 7?", "42")]))
        .solver(Arc::new(react))
        .scorer(scorer::includes())
        .limits(limits)
        .fail_on_error(FailOnError::Bool(false));
    let model = Model::from_mock(MockLlm::turns(turns));
    let (_, run) = run(task, model, EvalOptions::default()).await;
    let mut samples = run.sorted_samples();
    samples.remove(0)
}

fn roles(sample: &EvalSample) -> Vec<&str> {
    sample.messages.iter().map(ChatMessage::role).collect()
}

fn intermediate_scores(sample: &EvalSample) -> Vec<String> {
    sample
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Score(s) if s.intermediate => {
                Some(serde_json::to_string(&s.score.value).unwrap())
            }
            _ => None,
        })
        .collect()
}

#[examen_rt::test]
async fn a_submission_ends_the_agent_and_becomes_the_answer() {
    let react = React {
        tools: vec![Arc::new(Think)],
        ..React::default()
    };
    let sample = run_react(
        react,
        vec![
            turn("Thinking.", "think", json!({"thought": "6 * 7"})),
            turn("Done.", "submit", json!({"answer": "42"})),
        ],
        Limits::default(),
    )
    .await;
    assert!(sample.error.is_none(), "{:?}", sample.error);
    // The submit call and its result are gone; the answer follows the message's text.
    assert_eq!(
        roles(&sample),
        ["system", "user", "assistant", "tool", "assistant"]
    );
    let last = sample.messages.last().unwrap();
    assert_eq!(last.text(), "Done.\n\n42");
    let ChatMessage::Assistant(last) = last else {
        panic!("assistant")
    };
    assert_eq!(last.tool_calls.as_deref().map(<[_]>::len), Some(0));
    assert_eq!(sample.output.completion, "Done.\n\n42");
    assert_eq!(
        sample.scores.as_ref().unwrap()["includes"].value,
        examen_types::Value::from("C")
    );
    // One attempt: no scoring during the loop.
    assert!(intermediate_scores(&sample).is_empty());
    let spans: Vec<String> = sample
        .events
        .iter()
        .filter_map(|e| match e {
            Event::SpanBegin(b) => {
                Some(format!("{}:{}", b.kind.clone().unwrap_or_default(), b.name))
            }
            _ => None,
        })
        .collect();
    assert!(
        spans
            .windows(2)
            .any(|w| w == ["solver:react", "agent:react"]),
        "{spans:?}"
    );
}

#[examen_rt::test]
async fn attempts_are_scored_and_a_correct_one_ends_the_agent_early() {
    let react = React {
        attempts: 3,
        ..React::default()
    };
    let sample = run_react(
        react,
        vec![
            turn("", "submit", json!({"answer": "41"})),
            turn("", "submit", json!({"answer": "42"})),
            // Never reached: the second answer is scored correct.
            turn("", "submit", json!({"answer": "43"})),
        ],
        Limits::default(),
    )
    .await;
    assert!(sample.error.is_none(), "{:?}", sample.error);
    assert_eq!(intermediate_scores(&sample), ["\"I\"", "\"C\""]);
    let told: Vec<String> = sample
        .messages
        .iter()
        .filter(|m| m.role() == "user")
        .map(ChatMessage::text)
        .collect();
    assert_eq!(told, ["What is 6 times 7?", DEFAULT_INCORRECT_MESSAGE]);
    assert_eq!(sample.output.completion, "42");
}

#[examen_rt::test]
async fn a_turn_without_tool_calls_is_urged_on_and_a_bad_submit_is_no_submission() {
    let sample = run_react(
        React::default(),
        vec![
            text("Hmm."),
            // Arguments that do not fit the submit tool: a parsing error, not an answer.
            turn("", "submit", json!({"text": "42"})),
            turn("", "submit", json!({"answer": "42"})),
        ],
        Limits::default(),
    )
    .await;
    assert!(sample.error.is_none(), "{:?}", sample.error);
    let continue_prompt = DEFAULT_CONTINUE_PROMPT.replace("{submit}", "submit");
    assert_eq!(sample.messages[3].text(), continue_prompt);
    // Every submit call leaves the conversation, as Inspect removes them; the failed one's
    // parsing error is in its tool event.
    assert!(!sample.messages.iter().any(|m| m.role() == "tool"));
    let errors: Vec<String> = sample
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Tool(t) => t.error.as_ref().map(|e| e.message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("'answer' is a required property"),
        "{errors:?}"
    );
    assert_eq!(sample.output.completion, "42");
}

#[examen_rt::test]
async fn without_a_submit_tool_the_agent_stops_when_it_calls_no_tool() {
    let react = React {
        submit: None,
        tools: vec![Arc::new(Think)],
        ..React::default()
    };
    let sample = run_react(
        react,
        vec![
            turn("Thinking.", "think", json!({"thought": "6 * 7"})),
            text("42"),
        ],
        Limits::default(),
    )
    .await;
    assert_eq!(
        roles(&sample),
        ["system", "user", "assistant", "tool", "assistant"]
    );
    assert!(!sample.messages[0].text().contains("submit()"));
    assert_eq!(sample.output.completion, "42");
}

#[examen_rt::test]
async fn on_continue_can_send_a_message_or_stop() {
    let react = React {
        on_continue: OnContinue::Message("Keep going; call {submit}() when done.".into()),
        ..React::default()
    };
    let sample = run_react(
        react,
        vec![text("Hmm."), turn("", "submit", json!({"answer": "42"}))],
        Limits::default(),
    )
    .await;
    assert_eq!(
        sample.messages[3].text(),
        "Keep going; call submit() when done."
    );

    let react = React {
        on_continue: OnContinue::callback(|state: &examen::TaskState| {
            let turns = state
                .messages
                .iter()
                .filter(|m| m.role() == "assistant")
                .count();
            async move {
                if turns >= 2 {
                    Continue::Stop
                } else {
                    Continue::With("One more.".into())
                }
            }
        }),
        submit: Some(AgentSubmit {
            keep_in_messages: true,
            ..AgentSubmit::default()
        }),
        ..React::default()
    };
    let sample = run_react(
        react,
        vec![text("a"), text("b"), text("c")],
        Limits::default(),
    )
    .await;
    assert_eq!(
        roles(&sample),
        ["system", "user", "assistant", "user", "assistant"]
    );
    assert_eq!(sample.messages[3].text(), "One more.");
}

#[examen_rt::test]
async fn a_limit_inside_the_agent_ends_the_sample_which_is_still_scored() {
    let forever: Vec<ModelOutput> = (0..20)
        .map(|_| turn("", "think", json!({"thought": "again"})))
        .collect();
    let react = React {
        tools: vec![Arc::new(Think)],
        ..React::default()
    };
    let limits = Limits {
        message_limit: Some(6),
        ..Limits::default()
    };
    let sample = run_react(react, forever, limits).await;
    assert!(sample.error.is_none(), "{:?}", sample.error);
    assert_eq!(
        sample.limit.as_ref().map(|l| l.kind.as_str()),
        Some("message")
    );
    assert!(sample.scores.is_some(), "still scored");
}
