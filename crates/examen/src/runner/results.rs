//! Results: the scores kept while a task runs (small: no messages, no
//! events) and the metrics computed from them at the end, per scorer and
//! per epoch reducer (Inspect's `eval_results`).

use std::sync::Arc;

use examen_types::{JsonObject, Scalar, Score, Value};
use indexmap::IndexMap;
use serde::Serialize;

use crate::metric::{Metric, SampleScore};
use crate::reducer::Reducer;
use crate::sample::{Sample, SampleId};

/// One metric value (Inspect's `EvalMetric`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalMetric {
    /// The metric's name (for a grouped metric: the group).
    pub name: String,
    /// The metric that produced it when it is one of several values (`grouped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The value.
    pub value: f64,
    /// The metric's arguments.
    pub params: JsonObject,
}

/// A scorer's metrics under one reducer (Inspect's `EvalScore`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalScore {
    /// The score's name.
    pub name: String,
    /// The scorer's name.
    pub scorer: String,
    /// The reducer, when the task names reducers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reducer: Option<String>,
    /// Samples with a value.
    pub scored_samples: usize,
    /// Samples whose value was NaN (left out of the metrics).
    pub unscored_samples: usize,
    /// The scorer's arguments.
    pub params: JsonObject,
    /// The metrics, by name.
    pub metrics: IndexMap<String, EvalMetric>,
}

/// Scores and metrics of a task run (Inspect's `EvalResults`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalResults {
    /// Sample runs planned (samples × epochs).
    pub total_samples: usize,
    /// Sample runs that finished without error.
    pub completed_samples: usize,
    /// One entry per scorer and reducer.
    pub scores: Vec<EvalScore>,
}

impl EvalResults {
    /// The value of `metric` for the first score named `scorer`.
    pub fn metric(&self, scorer: &str, metric: &str) -> Option<f64> {
        self.scores
            .iter()
            .find(|s| s.name == scorer)
            .and_then(|s| s.metrics.get(metric))
            .map(|m| m.value)
    }
}

/// One reduced score per sample, for one scorer and reducer (Inspect's
/// `EvalSampleReductions`).
#[derive(Debug, Clone, Serialize)]
pub struct SampleReductions {
    /// The score's name.
    pub scorer: String,
    /// The reducer, when the task names reducers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reducer: Option<String>,
    /// The reduced scores.
    pub samples: Vec<ReducedSampleScore>,
}

/// A reduced score (Inspect's `EvalSampleScore`).
#[derive(Debug, Clone, Serialize)]
pub struct ReducedSampleScore {
    /// The value.
    pub value: Value,
    /// The answer, when every epoch agreed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The explanation, when every epoch agreed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The reason, when every epoch agreed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The sample.
    pub sample_id: SampleId,
}

/// A scorer's identity for the results.
#[derive(Debug, Clone)]
pub(crate) struct ScorerSlot {
    pub(crate) name: String,
    pub(crate) scorer: String,
    pub(crate) params: JsonObject,
    pub(crate) metrics: Vec<Arc<dyn Metric>>,
}

/// The scores of a run, kept per scorer with the sample's position and
/// epoch so results do not depend on completion order.
///
/// Only what metrics and reducers read is kept, compactly: about 48 bytes a
/// score. The sample id and metadata come back from the sample's position
/// when results are computed; answers, reasons and string values go into one
/// text buffer rather than an allocation each (small allocations that live
/// for the whole run, scattered among the samples' short-lived ones, keep
/// the allocator from reusing the memory around them); and each scorer's
/// list is reserved for the whole run up front, never copied to grow.
#[derive(Debug, Default)]
pub(crate) struct ScoreStore {
    by_scorer: IndexMap<String, Vec<StoredScore>>,
    text: String,
    pub(crate) completed: usize,
    units: usize,
}

#[derive(Debug)]
struct StoredScore {
    position: usize,
    epoch: u32,
    value: StoredValue,
    answer: Option<Span>,
    reason: Option<Span>,
}

/// A string in the store's text buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// A score value: scalars inline, strings in the text buffer, lists and
/// dicts boxed.
#[derive(Debug)]
enum StoredValue {
    Str(Span),
    Int(i64),
    Float(f64),
    Bool(bool),
    Other(Box<Value>),
}

impl ScoreStore {
    /// A store for a run of `units` sample × epoch units.
    pub(crate) fn with_capacity(units: usize) -> Self {
        Self {
            units,
            ..Self::default()
        }
    }

    /// Keeps `text`; `None` once the buffer would pass 4 GiB.
    fn keep(&mut self, text: &str) -> Option<Span> {
        let start = u32::try_from(self.text.len()).ok()?;
        let len = u32::try_from(text.len()).ok()?;
        start.checked_add(len)?;
        self.text.push_str(text);
        Some(Span { start, len })
    }

    fn text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text
            .get(start..start + span.len as usize)
            .unwrap_or_default()
    }

    pub(crate) fn add(&mut self, scorer: &str, position: usize, epoch: usize, score: &Score) {
        let value = match &score.value {
            Value::Str(s) => match self.keep(s) {
                Some(span) => StoredValue::Str(span),
                None => StoredValue::Other(Box::new(score.value.clone())),
            },
            Value::Int(i) => StoredValue::Int(*i),
            Value::Float(f) => StoredValue::Float(*f),
            Value::Bool(b) => StoredValue::Bool(*b),
            other => StoredValue::Other(Box::new(other.clone())),
        };
        let answer = score.answer.as_deref().and_then(|a| self.keep(a));
        // Explanations can be as long as the completion; the log has them,
        // results do not need them.
        let reason = score.reason.as_deref().and_then(|r| self.keep(r));
        let units = self.units;
        let list = match self.by_scorer.get_mut(scorer) {
            Some(list) => list,
            None => self
                .by_scorer
                .entry(scorer.to_string())
                .or_insert_with(|| Vec::with_capacity(units)),
        };
        list.push(StoredScore {
            position,
            epoch: u32::try_from(epoch).unwrap_or(u32::MAX),
            value,
            answer,
            reason,
        });
    }

    /// A stored score as metrics and reducers take it.
    fn sample_score(
        &self,
        stored: StoredScore,
        samples: &[Sample],
        metadata_keys: &[String],
    ) -> SampleScore {
        let sample = &samples[stored.position];
        SampleScore {
            value: match stored.value {
                StoredValue::Str(span) => Value::Str(self.text(span).to_string()),
                StoredValue::Int(i) => Value::Int(i),
                StoredValue::Float(f) => Value::Float(f),
                StoredValue::Bool(b) => Value::Bool(b),
                StoredValue::Other(v) => *v,
            },
            answer: stored.answer.map(|span| self.text(span).to_string()),
            explanation: None,
            reason: stored.reason.map(|span| self.text(span).to_string()),
            sample_id: sample.id.clone().unwrap_or(SampleId::Int(0)),
            sample_metadata: metadata_subset(sample.metadata.as_ref(), metadata_keys),
        }
    }
}

/// Computes results from the stored scores (consumed: the scores are
/// moved, not copied, so the peak stays near one copy of the small score data).
pub(crate) fn compute_results(
    mut store: ScoreStore,
    scorers: &[ScorerSlot],
    reducers: &[Reducer],
    total_samples: usize,
    samples: &[Sample],
    metadata_keys: &[String],
) -> Result<(EvalResults, Vec<SampleReductions>), String> {
    let mut scores_out = Vec::new();
    let mut reductions = Vec::new();
    let views: Vec<(Reducer, Option<String>)> = if reducers.is_empty() {
        vec![(Reducer::Mean, None)]
    } else {
        reducers
            .iter()
            .map(|r| (r.clone(), Some(r.name())))
            .collect()
    };
    for slot in scorers {
        let mut entries = store.by_scorer.shift_remove(&slot.name).unwrap_or_default();
        entries.sort_by_key(|s| (s.position, s.epoch));
        // Epochs of one sample are adjacent once sorted: reduce them as
        // slices of one vector rather than copying them into groups.
        let (keys, epoch_scores): (Vec<(usize, u32)>, Vec<SampleScore>) = entries
            .into_iter()
            .map(|s| {
                let key = (s.position, s.epoch);
                (key, store.sample_score(s, samples, metadata_keys))
            })
            .unzip();
        let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
        for (idx, (position, _)) in keys.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if keys[run.start].0 == *position => run.end = idx + 1,
                _ => runs.push(idx..idx + 1),
            }
        }
        drop(keys);
        for (reducer, reducer_name) in &views {
            let mut reduced = Vec::with_capacity(runs.len());
            for run in &runs {
                reduced.push(
                    reducer
                        .reduce(&epoch_scores[run.clone()])
                        .map_err(|e| e.to_string())?,
                );
            }
            reductions.push(SampleReductions {
                scorer: slot.name.clone(),
                reducer: reducer_name.clone(),
                samples: reduced
                    .iter()
                    .map(|s| ReducedSampleScore {
                        value: s.value.clone(),
                        answer: s.answer.clone(),
                        explanation: s.explanation.clone(),
                        reason: s.reason.clone(),
                        sample_id: s.sample_id.clone(),
                    })
                    .collect(),
            });
            reduced.retain(|s| !s.value.is_nan());
            let scored = reduced;
            let unscored = runs.len() - scored.len();
            let mut metrics = IndexMap::new();
            for metric in &slot.metrics {
                let value = if scored.is_empty() {
                    match metric.compute(&[]) {
                        Ok(Value::Dict(d)) if !d.is_empty() => Value::Dict(d),
                        _ => Value::Float(f64::NAN),
                    }
                } else {
                    metric.compute(&scored).map_err(|e| e.to_string())?
                };
                add_metric(&mut metrics, metric.as_ref(), value);
            }
            scores_out.push(EvalScore {
                name: slot.name.clone(),
                scorer: slot.scorer.clone(),
                reducer: reducer_name.clone(),
                scored_samples: scored.len(),
                unscored_samples: unscored,
                params: slot.params.clone(),
                metrics,
            });
        }
    }
    Ok((
        EvalResults {
            total_samples,
            completed_samples: store.completed,
            scores: scores_out,
        },
        reductions,
    ))
}

fn unique_key(key: &str, existing: &IndexMap<String, EvalMetric>) -> String {
    if !existing.contains_key(key) {
        return key.to_string();
    }
    let mut index = 2;
    while existing.contains_key(&format!("{key}{index}")) {
        index += 1;
    }
    format!("{key}{index}")
}

fn scalar_float(s: &Scalar) -> f64 {
    match s {
        Scalar::Int(i) => *i as f64,
        Scalar::Float(f) => *f,
        Scalar::Bool(b) => f64::from(u8::from(*b)),
        Scalar::Str(s) => s.parse().unwrap_or(f64::NAN),
    }
}

/// Inspect's `scorer_for_metrics` naming: a scalar metric is stored under
/// its name; a dict metric (grouped) contributes one entry per key.
fn add_metric(metrics: &mut IndexMap<String, EvalMetric>, metric: &dyn Metric, value: Value) {
    let params = metric.params();
    match value {
        Value::Dict(d) => {
            for (key, v) in d {
                if let Some(v) = v {
                    let name = unique_key(&key, metrics);
                    metrics.insert(
                        name,
                        EvalMetric {
                            name: key,
                            group: Some(metric.name().to_string()),
                            value: scalar_float(&v),
                            params: params.clone(),
                        },
                    );
                }
            }
        }
        Value::List(items) => {
            for (idx, v) in items.iter().enumerate() {
                let name = unique_key(&format!("{}-{}", metric.name(), idx + 1), metrics);
                metrics.insert(
                    name,
                    EvalMetric {
                        name: (idx + 1).to_string(),
                        group: Some(metric.name().to_string()),
                        value: scalar_float(v),
                        params: params.clone(),
                    },
                );
            }
        }
        other => {
            let key = unique_key(metric.name(), metrics);
            metrics.insert(
                key,
                EvalMetric {
                    name: metric.name().to_string(),
                    group: None,
                    value: other.as_scalar().map_or(f64::NAN, |s| scalar_float(&s)),
                    params,
                },
            );
        }
    }
}

/// The metadata subset a sample's scores keep: only keys metrics read.
pub(crate) fn metadata_subset(
    metadata: Option<&JsonObject>,
    keys: &[String],
) -> Option<JsonObject> {
    if keys.is_empty() {
        return None;
    }
    let metadata = metadata?;
    let mut out = JsonObject::new();
    for key in keys {
        if let Some(v) = metadata.get(key) {
            out.insert(key.clone(), v.clone());
        }
    }
    Some(out)
}
