//! The steps `eval` (the runner) and re-scoring (`score.rs`) share: the
//! scorer step over one sample's state ([`run_scorers`]), the names scores
//! get ([`unique_scorer_name`], Inspect's rule), the running tally of
//! finished units ([`ScoreTally`]: scores kept for the results, units
//! finished, the running mean of the first scorer) and how many samples run
//! at once ([`max_samples`]).

use std::sync::Arc;

use examen_model::Model;
use examen_types::{GenerateConfig, ModelUsage, Score};
use indexmap::IndexMap;

use super::results::ScoreStore;
use crate::context::{SampleContext, SampleError};
use crate::scorer::DynScorer;
use crate::state::TaskState;
use crate::transcript::{Event, ScoreEvent};

/// Inspect's `unique_scorer_name`: `base` if unused, else `base1`, `base2`, ...
pub(crate) fn unique_scorer_name(base: &str, used: &[String]) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while used.contains(&name) {
        name = format!("{base}{n}");
        n += 1;
    }
    name
}

/// The names a task's scorers' scores get, in order (Inspect's
/// `unique_scorer_name` over the scorers, as `task/run.py` resolves them).
pub(crate) fn unique_scorer_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let unique = unique_scorer_name(name, &out);
        out.push(unique);
    }
    out
}

/// Samples × epochs run (or scored) at once: the option given, else the
/// generation config's `max_connections`, else the model's, else the model
/// layer's default; at least 1.
pub(crate) fn max_samples(given: Option<usize>, config: &GenerateConfig, model: &Model) -> usize {
    given
        .or_else(|| config.max_connections.map(|c| c as usize))
        .or_else(|| model.config().max_connections.map(|c| c as usize))
        .unwrap_or(examen_model::DEFAULT_MAX_CONNECTIONS)
        .max(1)
}

/// A scorer that failed on a sample, and why.
#[derive(Debug)]
pub(crate) struct ScorerFailure {
    /// The name its scores get.
    pub(crate) name: String,
    /// Its error.
    pub(crate) error: SampleError,
}

/// Runs `scorers` (each with the name its scores get) over `state`, in order
/// as Inspect does, so the transcript reads in order. Each runs in a span of
/// its own (kind `scorer`) inside the transcript's open span, with its model
/// calls recorded there; each score is recorded as a `score` event with the
/// scorer's arguments and the sample's model usage (`recorded_usage`, else
/// the usage of the transcript's model calls so far).
///
/// Stops at the first scorer that fails, its span closed.
pub(crate) async fn run_scorers<'a>(
    scorers: impl IntoIterator<Item = (&'a Arc<dyn DynScorer>, &'a str)>,
    state: &TaskState,
    generate: &SampleContext,
    recorded_usage: Option<&IndexMap<String, ModelUsage>>,
) -> Result<IndexMap<String, Score>, ScorerFailure> {
    let lock = || {
        generate
            .transcript
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    let mut scores = IndexMap::new();
    for (scorer, name) in scorers {
        lock().begin_span(name, "scorer");
        let result = scorer.score(state, &state.target, generate).await;
        let mut t = lock();
        if let Ok(Some(score)) = &result {
            let usage = match recorded_usage {
                Some(usage) => usage.clone(),
                None => usage_by_model(&t.events),
            };
            let base = t.base();
            t.push(Event::Score(Box::new(ScoreEvent {
                base,
                score: score.clone(),
                target: Some(state.target.clone()),
                intermediate: false,
                scorer: Some(name.to_string()),
                scorer_args: Some(scorer.params()),
                model_usage: (!usage.is_empty()).then_some(usage),
                role_usage: None,
            })));
        }
        t.end_span();
        drop(t);
        match result {
            Ok(Some(score)) => {
                scores.insert(name.to_string(), score);
            }
            Ok(None) => {}
            Err(error) => {
                return Err(ScorerFailure {
                    name: name.to_string(),
                    error,
                })
            }
        }
    }
    Ok(scores)
}

/// Token usage by model over the `model` events.
pub(crate) fn usage_by_model(events: &[Event]) -> IndexMap<String, ModelUsage> {
    let mut usage: IndexMap<String, ModelUsage> = IndexMap::new();
    for event in events {
        if let Event::Model(call) = event {
            if let Some(u) = &call.output.usage {
                *usage.entry(call.model.clone()).or_default() += u;
            }
        }
    }
    usage
}

/// The finished units of a run (or a re-scoring) as the results and the
/// progress display need them: their scores, how many finished, and the
/// running mean of the first scorer's values.
#[derive(Debug, Default)]
pub(crate) struct ScoreTally {
    /// The scores kept for the results.
    pub(crate) store: ScoreStore,
    /// Units finished (scored, or not).
    pub(crate) finished: usize,
    first_scorer: Option<String>,
    running_sum: f64,
    running_count: usize,
}

impl ScoreTally {
    /// A tally for `units` units, whose running mean follows `first_scorer`.
    pub(crate) fn new(units: usize, first_scorer: Option<String>) -> Self {
        Self {
            store: ScoreStore::with_capacity(units),
            first_scorer,
            ..Self::default()
        }
    }

    /// Counts a finished unit: its `scores` (if scored) for the results and
    /// the running mean, and whether it counts as completed. Returns the
    /// units finished so far and the running mean (named by the first
    /// scorer), once a value of it is in.
    pub(crate) fn record(
        &mut self,
        position: usize,
        epoch: usize,
        scores: Option<&IndexMap<String, Score>>,
        completed: bool,
    ) -> (usize, Option<(String, f64)>) {
        self.finished += 1;
        if completed {
            self.store.completed += 1;
        }
        if let Some(scores) = scores {
            for (name, score) in scores {
                self.store.add(name, position, epoch, score);
            }
            if let Some(first) = self.first_scorer.as_ref().and_then(|n| scores.get(n)) {
                if !first.value.is_nan() {
                    self.running_sum += first.value.to_float();
                    self.running_count += 1;
                }
            }
        }
        (self.finished, self.running())
    }

    /// The running mean of the first scorer's values, once one is in.
    pub(crate) fn running(&self) -> Option<(String, f64)> {
        let name = self.first_scorer.as_ref()?;
        (self.running_count > 0)
            .then(|| (name.clone(), self.running_sum / self.running_count as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_scorer_names_are_numbered_from_1_as_inspect_does() {
        assert_eq!(
            unique_scorer_names(["match", "includes", "match", "match"]),
            ["match", "includes", "match1", "match2"]
        );
        let used = vec!["includes".to_string(), "includes1".to_string()];
        assert_eq!(unique_scorer_name("includes", &used), "includes2");
        assert_eq!(unique_scorer_name("match", &used), "match");
    }

    #[test]
    fn the_running_mean_follows_the_first_scorer_and_skips_nan() {
        let mut tally = ScoreTally::new(3, Some("a".into()));
        let scores = |a: f64, b: f64| -> IndexMap<String, Score> {
            [
                ("a".to_string(), Score::new(a)),
                ("b".to_string(), Score::new(b)),
            ]
            .into()
        };
        assert_eq!(tally.record(0, 1, None, false), (1, None));
        assert_eq!(
            tally.record(1, 1, Some(&scores(1.0, 0.0)), true),
            (2, Some(("a".into(), 1.0)))
        );
        assert_eq!(
            tally.record(2, 1, Some(&scores(f64::NAN, 0.0)), true),
            (3, Some(("a".into(), 1.0)))
        );
        assert_eq!(
            tally.record(0, 2, Some(&scores(0.0, 1.0)), true),
            (4, Some(("a".into(), 0.5)))
        );
        assert_eq!(tally.store.completed, 3);
    }
}
