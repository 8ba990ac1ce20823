//! `model_graded_qa` and `model_graded_fact`: a grader model reads the
//! question, the answer and the criterion, and replies `GRADE: C|P|I`.

use examen_types::{ChatMessage, GenerateConfig, JsonObject, JsonValue, Score};

use super::rules::{neutralize_structural_delimiters, GradeRule};
use super::Scorer;
use crate::context::{ModelRef, SampleContext, SampleError};
use crate::sample::Target;
use crate::state::TaskState;
use crate::template::format_template;

/// Inspect's `model_graded_qa` template.
pub const DEFAULT_MODEL_GRADED_QA_TEMPLATE: &str = "\nYou are assessing a submitted answer on a given task based on a criterion. Here is the data:\n\n[BEGIN DATA]\n***\n[Task]: {question}\n***\n[Submission]: {answer}\n***\n[Criterion]: {criterion}\n***\n[END DATA]\n\nDoes the submission meet the criterion?\n\n{instructions}\n";

/// Inspect's `model_graded_fact` template.
pub const DEFAULT_MODEL_GRADED_FACT_TEMPLATE: &str = "\nYou are comparing a submitted answer to an expert answer on a given question. Here is the data:\n\n[BEGIN DATA]\n************\n[Question]: {question}\n************\n[Expert]: {criterion}\n************\n[Submission]: {answer}\n************\n[END DATA]\n\nCompare the factual content of the submitted answer with the expert answer. Ignore any differences in style, grammar, or punctuation.\n\nDoes the submission contain the content in the expert answer?\n\n{instructions}\n";

/// Inspect's default grading instructions.
pub fn default_instructions(partial_credit: bool) -> String {
    let partial_letter = if partial_credit { "P" } else { "" };
    let partial_prompt = if partial_credit {
        "\"P\" for partially correct answers,"
    } else {
        ""
    };
    format!(
        "\nAfter assessing the submitted answer, reply with 'GRADE: $LETTER' (without quotes) where LETTER is one of C{partial_letter}I.  Please choose ONE option for the grade: either \"C\" for correct answers, {partial_prompt}or \"I\" for incorrect answers.\n\nFor example, after reviewing a correct answer you might write 'GRADE: C' or after reviewing an incorrect answer you might write 'GRADE: I'.\n\nFirst, write out in a step by step manner your reasoning about the criterion to be sure that your conclusion is correct. Avoid simply stating the correct answers at the outset. Then, end with your answer formatted as 'GRADE: $LETTER' (without quotes) where LETTER is one of C{partial_letter}I.\n"
    )
}

/// A model-graded scorer.
#[derive(Debug, Clone)]
pub struct ModelGraded {
    /// `model_graded_qa` or `model_graded_fact`.
    pub name: &'static str,
    /// The grading template.
    pub template: String,
    /// The instructions (Inspect's default when `None`).
    pub instructions: Option<String>,
    /// A custom grade pattern (Python regex with one group).
    pub grade_pattern: Option<String>,
    /// Present the whole conversation instead of the input.
    pub include_history: bool,
    /// Offer `P` for partial credit.
    pub partial_credit: bool,
    /// The grader: a model name, or the `grader` role (default; the
    /// evaluated model when no grader is bound).
    pub model: ModelRef,
    rule: GradeRule,
}

impl ModelGraded {
    /// `model_graded_qa` (`fact = false`) or `model_graded_fact` with
    /// Inspect's defaults, graded by the `grader` role.
    pub fn new(fact: bool) -> Self {
        Self {
            name: if fact {
                "model_graded_fact"
            } else {
                "model_graded_qa"
            },
            template: if fact {
                DEFAULT_MODEL_GRADED_FACT_TEMPLATE
            } else {
                DEFAULT_MODEL_GRADED_QA_TEMPLATE
            }
            .to_string(),
            instructions: None,
            grade_pattern: None,
            include_history: false,
            partial_credit: false,
            model: ModelRef::Role("grader".into()),
            rule: GradeRule::Offered {
                partial_credit: false,
            },
        }
    }

    /// A model-graded scorer; fails when `grade_pattern` is not a valid regex.
    pub fn with_options(
        fact: bool,
        template: Option<String>,
        instructions: Option<String>,
        grade_pattern: Option<String>,
        include_history: bool,
        partial_credit: bool,
        model: ModelRef,
    ) -> Result<Self, String> {
        let rule = GradeRule::new(
            instructions.is_some(),
            grade_pattern.as_deref(),
            partial_credit,
        )
        .map_err(|e| format!("invalid grade_pattern: {e}"))?;
        let default_template = if fact {
            DEFAULT_MODEL_GRADED_FACT_TEMPLATE
        } else {
            DEFAULT_MODEL_GRADED_QA_TEMPLATE
        };
        Ok(Self {
            name: if fact {
                "model_graded_fact"
            } else {
                "model_graded_qa"
            },
            template: template.unwrap_or_else(|| default_template.to_string()),
            instructions,
            grade_pattern,
            include_history,
            partial_credit,
            model,
            rule,
        })
    }
}

/// Inspect's `chat_history`: the conversation up to the last assistant
/// turn, without system messages.
fn chat_history(state: &TaskState) -> String {
    let mut messages: Vec<&ChatMessage> = state
        .messages
        .iter()
        .filter(|m| !matches!(m, ChatMessage::System(_)))
        .collect();
    if let Some(last) = messages
        .iter()
        .rposition(|m| matches!(m, ChatMessage::Assistant(_)))
    {
        messages.truncate(last);
    }
    let mut history = Vec::new();
    if let Some(first) = messages.first() {
        history.push(first.text());
        for m in &messages[1..] {
            match m {
                ChatMessage::User(_) => history.push(format!("User: {}", m.text())),
                ChatMessage::Assistant(_) => history.push(format!("Assistant: {}", m.text())),
                ChatMessage::Tool(t) => history.push(format!(
                    "Tool ({}): {}",
                    t.function.clone().unwrap_or_default(),
                    m.text()
                )),
                ChatMessage::System(_) => {}
            }
        }
    }
    history.join("\n\n")
}

fn sanitize(value: &JsonValue) -> JsonValue {
    match value {
        JsonValue::String(s) => JsonValue::String(neutralize_structural_delimiters(s)),
        JsonValue::Array(items) => JsonValue::Array(items.iter().map(sanitize).collect()),
        JsonValue::Object(map) => {
            JsonValue::Object(map.iter().map(|(k, v)| (k.clone(), sanitize(v))).collect())
        }
        other => other.clone(),
    }
}

impl Scorer for ModelGraded {
    fn name(&self) -> &str {
        self.name
    }

    fn params(&self) -> JsonObject {
        let mut p = JsonObject::new();
        if let Some(i) = &self.instructions {
            p.insert("instructions".into(), JsonValue::from(i.as_str()));
        }
        if let Some(g) = &self.grade_pattern {
            p.insert("grade_pattern".into(), JsonValue::from(g.as_str()));
        }
        p.insert(
            "include_history".into(),
            JsonValue::from(self.include_history),
        );
        p.insert(
            "partial_credit".into(),
            JsonValue::from(self.partial_credit),
        );
        match &self.model {
            ModelRef::Named(name) => {
                p.insert("model".into(), JsonValue::from(name.as_str()));
            }
            ModelRef::Role(role) => {
                p.insert("model_role".into(), JsonValue::from(role.as_str()));
            }
            ModelRef::Evaluated => {}
        }
        p
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        let question = if self.include_history {
            chat_history(state)
        } else {
            state.input_text()
        };
        let instructions = self
            .instructions
            .clone()
            .unwrap_or_else(|| default_instructions(self.partial_credit));
        let mut values = JsonObject::new();
        for (k, v) in &state.metadata {
            if !matches!(
                k.as_str(),
                "question" | "answer" | "criterion" | "instructions"
            ) {
                values.insert(k.clone(), sanitize(v));
            }
        }
        values.insert(
            "question".into(),
            JsonValue::from(neutralize_structural_delimiters(&question)),
        );
        values.insert(
            "answer".into(),
            JsonValue::from(neutralize_structural_delimiters(&state.output.completion)),
        );
        values.insert(
            "criterion".into(),
            JsonValue::from(neutralize_structural_delimiters(&target.text())),
        );
        values.insert("instructions".into(), JsonValue::from(instructions));
        let prompt = format_template(&self.template, &values)
            .map_err(|e| SampleError::failed(format!("{}: {e}", self.name)))?;
        let prompt_message = ChatMessage::user(prompt);
        let result = ctx
            .call_model(
                &self.model,
                std::slice::from_ref(&prompt_message),
                &GenerateConfig::default(),
                None,
            )
            .await?;
        let mut metadata = JsonObject::new();
        let grader_message = result
            .message()
            .cloned()
            .map(ChatMessage::from)
            .unwrap_or_else(|| ChatMessage::assistant(result.completion.as_str()));
        metadata.insert(
            "grading".into(),
            JsonValue::Array(vec![
                serde_json::to_value(&prompt_message).unwrap_or(JsonValue::Null),
                serde_json::to_value(&grader_message).unwrap_or(JsonValue::Null),
            ]),
        );
        let score = match self.rule.extract(&result.completion) {
            Some(grade) => {
                let mut score = Score::new(grade.as_str())
                    .with_answer(state.output.completion.clone())
                    .with_explanation(result.completion.clone());
                score.metadata = Some(metadata);
                score
            }
            None => {
                let mut score = Score::unscored(Some("grader_failed".into()))
                    .with_answer(state.output.completion.clone())
                    .with_explanation(format!(
                        "Grade not found in model output: {}",
                        result.completion
                    ));
                score.metadata = Some(metadata);
                score
            }
        };
        Ok(Some(score))
    }
}
