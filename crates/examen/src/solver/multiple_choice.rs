//! The `multiple_choice` solver: formats the question with lettered
//! choices, generates, and marks the choices the model picked.

use examen_types::{GenerateConfig, JsonObject, JsonValue};

use super::{set_user_prompt, Solver};
use crate::context::{SampleContext, SampleError};
use crate::scorer::rules::{answer_character, answer_index, parse_mc_answers};
use crate::state::{Choices, TaskState};
use crate::template::{format_strict, TemplateParams};

/// Inspect's single-answer template.
pub const SINGLE_ANSWER_TEMPLATE: &str = "Answer the following multiple choice question. The entire content of your response should be of the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of {letters}.\n\n{question}\n\n{choices}";
/// Inspect's single-answer template with chain of thought.
pub const SINGLE_ANSWER_TEMPLATE_COT: &str = "Answer the following multiple choice question. The last line of your response should be of the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of {letters}. Think step by step before answering.\n\n{question}\n\n{choices}";
/// Inspect's multiple-answer template.
pub const MULTIPLE_ANSWER_TEMPLATE: &str = "Answer the following multiple choice question where multiple answers may be correct. The entire content of your response should be of the following format: 'ANSWER: $LETTERS' (without quotes) where LETTERS is one or more of {letters}.\n\n{question}\n\n{choices}";
/// Inspect's multiple-answer template with chain of thought.
pub const MULTIPLE_ANSWER_TEMPLATE_COT: &str = "Answer the following multiple choice question where multiple answers may be correct. The last line of your response should be of the following format: 'ANSWER: $LETTERS' (without quotes) where LETTERS is one or more of {letters}. Think step by step before answering.\n\n{question}\n\n{choices}";

/// Formats a multiple-choice question, generates, and marks the picked
/// choices (Inspect's `multiple_choice`). Use it with the `choice` scorer.
#[derive(Debug, Clone, Default)]
pub struct MultipleChoice {
    /// The template (`{question}`, `{choices}`, `{letters}`); `None` picks
    /// Inspect's default for `cot` and `multiple_correct`.
    pub template: Option<String>,
    /// Ask for reasoning before the answer.
    pub cot: bool,
    /// Several choices may be correct.
    pub multiple_correct: bool,
    /// `max_tokens` for the generate call.
    pub max_tokens: Option<u64>,
}

impl MultipleChoice {
    /// Checks a custom template has the `{question}` and `{choices}` placeholders.
    pub fn validate(&self) -> Result<(), String> {
        match &self.template {
            Some(t) if !(t.contains("{question}") && t.contains("{choices}")) => {
                Err("the multiple_choice template must contain `{question}` and `{choices}` placeholders".into())
            }
            _ => Ok(()),
        }
    }

    fn template(&self) -> &str {
        match (&self.template, self.multiple_correct, self.cot) {
            (Some(t), _, _) => t,
            (None, true, true) => MULTIPLE_ANSWER_TEMPLATE_COT,
            (None, true, false) => MULTIPLE_ANSWER_TEMPLATE,
            (None, false, true) => SINGLE_ANSWER_TEMPLATE_COT,
            (None, false, false) => SINGLE_ANSWER_TEMPLATE,
        }
    }
}

/// Inspect's `answer_options`: `A) first\nB) second`.
pub(crate) fn answer_options(choices: &Choices) -> String {
    choices
        .0
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}) {}", answer_character(i), c.value))
        .collect::<Vec<_>>()
        .join("\n")
}

fn prompt(question: &str, choices: &Choices, template: &str) -> Result<String, SampleError> {
    let letters: Vec<String> = (0..choices.len()).map(answer_character).collect();
    let mut values = TemplateParams::new();
    values.insert("choices".into(), JsonValue::from(answer_options(choices)));
    values.insert("letters".into(), JsonValue::from(letters.join(",")));
    values.insert("question".into(), JsonValue::from(question));
    format_strict(template, &values)
        .map_err(|e| SampleError::failed(format!("multiple_choice: {e}")))
}

impl Solver for MultipleChoice {
    fn name(&self) -> &str {
        "multiple_choice"
    }

    fn params(&self) -> JsonObject {
        let mut params = JsonObject::new();
        if let Some(t) = &self.template {
            params.insert("template".into(), JsonValue::from(t.as_str()));
        }
        params.insert("cot".into(), JsonValue::from(self.cot));
        params.insert(
            "multiple_correct".into(),
            JsonValue::from(self.multiple_correct),
        );
        if let Some(m) = self.max_tokens {
            params.insert("max_tokens".into(), JsonValue::from(m));
        }
        params
    }

    async fn solve(&self, state: &mut TaskState, ctx: &SampleContext) -> Result<(), SampleError> {
        if state.choices.is_empty() {
            return Err(SampleError::failed(
                "the multiple_choice solver requires samples with choices",
            ));
        }
        let question = state.user_prompt_text().ok_or_else(|| {
            SampleError::failed("multiple_choice: no user prompt in the conversation")
        })?;
        set_user_prompt(state, prompt(&question, &state.choices, self.template())?)?;
        let config = GenerateConfig {
            max_tokens: self.max_tokens,
            ..GenerateConfig::default()
        };
        ctx.generate(state, &config).await?;
        let answers = parse_mc_answers(
            &state.output.completion,
            state.choices.len(),
            self.multiple_correct,
        );
        if !answers.is_empty() {
            let picked: Vec<usize> = answers
                .iter()
                .filter_map(|a| answer_index(a).ok())
                .collect();
            for i in 0..state.choices.len() {
                state.choices.mark(i, picked.contains(&i));
            }
        }
        Ok(())
    }
}
