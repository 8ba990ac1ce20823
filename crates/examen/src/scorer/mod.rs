//! Scorers: turn a finished [`TaskState`] into a [`Score`] (Inspect's
//! `match`, `includes`, `exact`, `f1`, `pattern`, `answer`, `choice`,
//! `model_graded_qa` and `model_graded_fact`). The text rules live in
//! [`rules`].

mod model_graded;
pub mod rules;

use std::fmt;
use std::sync::Arc;

use examen_types::{JsonObject, JsonValue, Score};
use fancy_regex::Regex;

use crate::context::{BoxFuture, SampleContext, SampleError};
use crate::metric::{Accuracy, Mean, Metric, Stderr};
use crate::sample::Target;
use crate::state::TaskState;
use rules::{MatchLocation, PatternOutcome};
use std::future::Future;

pub use model_graded::{
    default_instructions, ModelGraded, DEFAULT_MODEL_GRADED_FACT_TEMPLATE,
    DEFAULT_MODEL_GRADED_QA_TEMPLATE,
};

/// The object-safe form of [`Scorer`], which the engine holds
/// (`Arc<dyn DynScorer>`). Implemented for every [`Scorer`]; implement
/// [`Scorer`] rather than this.
pub trait DynScorer: Send + Sync + fmt::Debug {
    /// [`Scorer::name`].
    fn name(&self) -> &str;
    /// [`Scorer::params`].
    fn params(&self) -> JsonObject;
    /// [`Scorer::metrics`].
    fn metrics(&self) -> Vec<Arc<dyn Metric>>;
    /// [`Scorer::score`], boxed.
    fn score<'a>(
        &'a self,
        state: &'a TaskState,
        target: &'a Target,
        ctx: &'a SampleContext,
    ) -> BoxFuture<'a, Result<Option<Score>, SampleError>>;
}

impl<T: Scorer> DynScorer for T {
    fn name(&self) -> &str {
        Scorer::name(self)
    }
    fn params(&self) -> JsonObject {
        Scorer::params(self)
    }
    fn metrics(&self) -> Vec<Arc<dyn Metric>> {
        Scorer::metrics(self)
    }
    fn score<'a>(
        &'a self,
        state: &'a TaskState,
        target: &'a Target,
        ctx: &'a SampleContext,
    ) -> BoxFuture<'a, Result<Option<Score>, SampleError>> {
        Box::pin(Scorer::score(self, state, target, ctx))
    }
}

/// Turns a scorer into the engine's `Arc<dyn DynScorer>`: any [`Scorer`],
/// or an `Arc<dyn DynScorer>` as it is.
pub trait IntoScorer {
    /// The scorer, shared.
    fn into_scorer(self) -> Arc<dyn DynScorer>;
}

impl<T: Scorer> IntoScorer for T {
    fn into_scorer(self) -> Arc<dyn DynScorer> {
        Arc::new(self)
    }
}

impl IntoScorer for Arc<dyn DynScorer> {
    fn into_scorer(self) -> Arc<dyn DynScorer> {
        self
    }
}

/// Inspect's `CORRECT`.
pub const CORRECT: &str = "C";
/// Inspect's `INCORRECT`.
pub const INCORRECT: &str = "I";
/// Inspect's `PARTIAL`.
pub const PARTIAL: &str = "P";
/// Inspect's `NOANSWER`.
pub const NOANSWER: &str = "N";

/// Scores a sample.
///
/// Written with a plain `async fn`; the engine holds scorers as
/// `Arc<dyn DynScorer>` (every `Scorer` is one, through a blanket impl).
/// An error of any type converts into [`SampleError`] with `?`.
///
/// ```
/// use examen::{SampleContext, SampleError, Score, Scorer, Target, TaskState};
///
/// #[derive(Debug)]
/// struct Length;
///
/// impl Scorer for Length {
///     fn name(&self) -> &str {
///         "length"
///     }
///     async fn score(&self, state: &TaskState, _: &Target, _: &SampleContext) -> Result<Option<Score>, SampleError> {
///         Ok(Some(Score::new(state.output.completion.len() as i64)))
///     }
/// }
/// ```
pub trait Scorer: Send + Sync + fmt::Debug + 'static {
    /// The registry name (`match`, `includes`, ...), used as the score's name.
    fn name(&self) -> &str;

    /// The arguments it was created with (recorded in the log).
    fn params(&self) -> JsonObject {
        JsonObject::new()
    }

    /// The metrics computed over its scores (Inspect's `@scorer(metrics=...)`).
    fn metrics(&self) -> Vec<Arc<dyn Metric>> {
        vec![Arc::new(Accuracy::default()), Arc::new(Stderr::default())]
    }

    /// Scores the state. `None` means the scorer declines to score.
    fn score(
        &self,
        state: &TaskState,
        target: &Target,
        ctx: &SampleContext,
    ) -> impl Future<Output = Result<Option<Score>, SampleError>> + Send;
}

fn reason_if_empty(completion: &str) -> Option<String> {
    rules::no_response(completion).then(|| "no_response".to_string())
}

/// Inspect's `str_match_scorer`: `C` when `check` matches any target.
fn str_match_score(
    state: &TaskState,
    target: &Target,
    check: impl Fn(&str, &str) -> (String, bool),
) -> Score {
    let completion = &state.output.completion;
    let mut answer = None;
    for t in target.as_list() {
        let (found, matched) = check(completion, &t);
        if matched {
            let mut score = Score::new(CORRECT)
                .with_answer(found)
                .with_explanation(completion.clone());
            score.reason = reason_if_empty(completion);
            return score;
        }
        answer = Some(found);
    }
    let mut score = Score::new(INCORRECT).with_explanation(completion.clone());
    score.answer = answer;
    score.reason = reason_if_empty(completion);
    score
}

/// Matches the target at the beginning, end or anywhere in the output, or
/// exactly; optionally as numbers (Inspect's `match`).
#[derive(Debug, Clone)]
pub struct Match {
    /// Where to look.
    pub location: MatchLocation,
    /// Compare case-insensitively (default true).
    pub ignore_case: bool,
    /// Compare numbers (default false).
    pub numeric: bool,
}

impl Default for Match {
    fn default() -> Self {
        Self {
            location: MatchLocation::End,
            ignore_case: true,
            numeric: false,
        }
    }
}

/// `match` with Inspect's defaults (`location: end`).
pub fn match_() -> Arc<dyn DynScorer> {
    Arc::new(Match::default())
}

impl Scorer for Match {
    fn name(&self) -> &str {
        "match"
    }

    fn params(&self) -> JsonObject {
        let mut p = JsonObject::new();
        p.insert("location".into(), JsonValue::from(self.location.as_str()));
        p.insert("ignore_case".into(), JsonValue::from(self.ignore_case));
        p.insert("numeric".into(), JsonValue::from(self.numeric));
        p
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        _ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        Ok(Some(str_match_score(state, target, |v, t| {
            rules::match_str(v, t, self.location, self.ignore_case, true, self.numeric)
        })))
    }
}

/// The target appears in the output (Inspect's `includes`).
#[derive(Debug, Clone)]
pub struct Includes {
    /// Compare case-insensitively (default true).
    pub ignore_case: bool,
}

/// `includes`, case-insensitive.
pub fn includes() -> Arc<dyn DynScorer> {
    Arc::new(Includes { ignore_case: true })
}

impl Scorer for Includes {
    fn name(&self) -> &str {
        "includes"
    }

    fn params(&self) -> JsonObject {
        let mut p = JsonObject::new();
        p.insert("ignore_case".into(), JsonValue::from(self.ignore_case));
        p
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        _ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        Ok(Some(str_match_score(state, target, |v, t| {
            rules::includes(v, t, self.ignore_case)
        })))
    }
}

/// The normalised output equals a normalised target (Inspect's `exact`).
#[derive(Debug, Clone, Default)]
pub struct Exact;

/// `exact`.
pub fn exact() -> Arc<dyn DynScorer> {
    Arc::new(Exact)
}

impl Scorer for Exact {
    fn name(&self) -> &str {
        "exact"
    }

    fn metrics(&self) -> Vec<Arc<dyn Metric>> {
        vec![Arc::new(Mean::default()), Arc::new(Stderr::default())]
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        _ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        let completion = &state.output.completion;
        let value = if rules::max_exact_score(completion, &target.as_list()) == 1.0 {
            CORRECT
        } else {
            INCORRECT
        };
        let mut score = Score::new(value).with_answer(completion.clone());
        score.reason = reason_if_empty(completion);
        Ok(Some(score))
    }
}

/// Token-overlap F1 between the output and the best target (Inspect's `f1`).
#[derive(Debug, Clone, Default)]
pub struct F1 {
    /// Words ignored when comparing.
    pub stop_words: Option<Vec<String>>,
}

/// `f1`.
pub fn f1() -> Arc<dyn DynScorer> {
    Arc::new(F1::default())
}

impl Scorer for F1 {
    fn name(&self) -> &str {
        "f1"
    }

    fn params(&self) -> JsonObject {
        let mut p = JsonObject::new();
        if let Some(words) = &self.stop_words {
            p.insert("stop_words".into(), JsonValue::from(words.clone()));
        }
        p
    }

    fn metrics(&self) -> Vec<Arc<dyn Metric>> {
        vec![Arc::new(Mean::default()), Arc::new(Stderr::default())]
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        _ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        let completion = &state.output.completion;
        let value = rules::max_f1_score(completion, &target.as_list(), self.stop_words.as_deref());
        let mut score = Score::new(value).with_answer(completion.clone());
        score.reason = reason_if_empty(completion);
        Ok(Some(score))
    }
}

/// Extracts the answer with a regular expression and compares it with the
/// targets (Inspect's `pattern`; `answer` is `pattern` with a built-in
/// `ANSWER:` expression).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The registry name: `pattern` or `answer`.
    pub name: &'static str,
    /// The expression as written (Python syntax).
    pub pattern: String,
    /// The compiled expression.
    pub regex: Regex,
    /// Compare case-insensitively (default true).
    pub ignore_case: bool,
    /// With several groups, all must match (default false).
    pub match_all: bool,
    /// Extra parameters to record (for `answer`: the pattern kind).
    pub log_params: JsonObject,
}

impl Pattern {
    /// A `pattern` scorer; the expression uses Python's syntax.
    pub fn new(pattern: &str, ignore_case: bool, match_all: bool) -> Result<Self, String> {
        let flagged = if ignore_case {
            format!("(?i){pattern}")
        } else {
            pattern.to_string()
        };
        let regex = rules::compile_python_regex(&flagged)
            .map_err(|e| format!("invalid pattern `{pattern}`: {e}"))?;
        let mut log_params = JsonObject::new();
        log_params.insert("pattern".into(), JsonValue::from(pattern));
        log_params.insert("ignore_case".into(), JsonValue::from(ignore_case));
        log_params.insert("match_all".into(), JsonValue::from(match_all));
        Ok(Self {
            name: "pattern",
            pattern: pattern.to_string(),
            regex,
            ignore_case,
            match_all,
            log_params,
        })
    }

    /// An `answer` scorer for `letter`, `word` or `line`.
    pub fn answer(kind: &str) -> Result<Self, String> {
        let pattern = match kind {
            "letter" => rules::ANSWER_PATTERN_LETTER,
            "word" => rules::ANSWER_PATTERN_WORD,
            "line" => rules::ANSWER_PATTERN_LINE,
            other => {
                return Err(format!(
                    "unknown answer pattern `{other}`; expected one of: letter, word, line"
                ))
            }
        };
        let mut scorer = Self::new(pattern, true, false)?;
        scorer.name = "answer";
        let mut params = JsonObject::new();
        params.insert("pattern".into(), JsonValue::from(kind));
        scorer.log_params = params;
        Ok(scorer)
    }
}

impl Scorer for Pattern {
    fn name(&self) -> &str {
        self.name
    }

    fn params(&self) -> JsonObject {
        self.log_params.clone()
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        _ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        let completion = &state.output.completion;
        let empty = rules::no_response(completion);
        let score = match rules::pattern_match(
            &self.regex,
            completion,
            &target.as_list(),
            self.ignore_case,
            self.match_all,
        ) {
            PatternOutcome::Matched { answer, correct } => {
                let mut score = Score::new(if correct { CORRECT } else { INCORRECT })
                    .with_explanation(completion.clone());
                score.answer = answer;
                score.reason = empty.then(|| "no_response".to_string());
                score
            }
            PatternOutcome::NotMatched => {
                let mut score = Score::new(INCORRECT).with_explanation(format!(
                    "Scoring pattern not matched in output: {completion}"
                ));
                score.reason = Some(
                    if empty {
                        "no_response"
                    } else {
                        "invalid_response_format"
                    }
                    .to_string(),
                );
                score
            }
        };
        Ok(Some(score))
    }
}

/// Scores the choices a `multiple_choice` solver marked against the target
/// letters (Inspect's `choice`).
#[derive(Debug, Clone, Default)]
pub struct ChoiceScorer;

/// `choice`.
pub fn choice() -> Arc<dyn DynScorer> {
    Arc::new(ChoiceScorer)
}

impl Scorer for ChoiceScorer {
    fn name(&self) -> &str {
        "choice"
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        _ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        if state.choices.is_empty() {
            return Err(SampleError::failed(
                "the choice scorer requires samples with choices",
            ));
        }
        let completion = &state.output.completion;
        let (choices, explanation) = if state.choices.are_shuffled() {
            let picked: Vec<String> = state
                .choices
                .0
                .iter()
                .enumerate()
                .filter(|(_, c)| c.correct == Some(true))
                .map(|(i, _)| rules::answer_character(i))
                .collect();
            let explanation = format!(
                "Choices were shuffled before generating a response, the following was sent to the model:\n\n{}\nShuffled answer:\nANSWER: {}",
                crate::solver::answer_options_for(&state.choices),
                picked.join(", ")
            );
            (state.choices.unshuffled(), explanation)
        } else {
            (state.choices.clone(), completion.clone())
        };
        let mut positions = rules::choice_target_positions(&target.as_list(), choices.len())
            .map_err(SampleError::failed)?;
        positions.sort_unstable();
        let selected: Vec<usize> = choices
            .0
            .iter()
            .enumerate()
            .filter(|(_, c)| c.correct == Some(true))
            .map(|(i, _)| i)
            .collect();
        let answers: Vec<String> = selected
            .iter()
            .map(|&i| rules::answer_character(i))
            .collect();
        let score = if selected == positions {
            Score::new(CORRECT)
                .with_answer(answers.join(", "))
                .with_explanation(explanation)
        } else if selected.is_empty() {
            let mut score = if rules::no_response(completion) {
                Score::new(NOANSWER)
            } else {
                Score::new(INCORRECT)
            };
            score.reason = Some(
                if rules::no_response(completion) {
                    "no_response"
                } else {
                    "invalid_response_format"
                }
                .to_string(),
            );
            score.with_answer("").with_explanation(explanation)
        } else {
            Score::new(INCORRECT)
                .with_answer(answers.join(", "))
                .with_explanation(explanation)
        };
        Ok(Some(score))
    }
}
