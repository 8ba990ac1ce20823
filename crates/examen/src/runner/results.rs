//! Results: the scores kept while a task runs (small: no messages, no
//! events) and the metrics computed from them at the end, per scorer and
//! per epoch reducer (Inspect's `eval_results`).

use std::sync::Arc;

use examen_types::{JsonObject, Scalar, Score, Value};
use indexmap::IndexMap;

use crate::metric::{Metric, SampleScore};
use crate::reducer::Reducer;
use crate::sample::{Sample, SampleId};

pub use examen_types::log::{
    EvalMetric, EvalResults, EvalSampleReductions, EvalSampleScore, EvalScore,
};

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
/// Only what metrics and reducers read is kept, compactly: 24 bytes a score
/// plus its answer and reason, if any. The sample id and metadata come back
/// from the sample's position when results are computed; answers, reasons and
/// string values go into one byte buffer rather than an allocation each (small
/// allocations that live for the whole run, scattered among the samples'
/// short-lived ones, keep the allocator from reusing the memory around them);
/// and each scorer's list is reserved for the whole run up front, never copied
/// to grow.
#[derive(Debug, Default)]
pub(crate) struct ScoreStore {
    by_scorer: IndexMap<String, Vec<StoredScore>>,
    /// String values, and each score's answer and reason as one record (see
    /// [`ScoreStore::keep_texts`]).
    text: Vec<u8>,
    /// Values that are neither scalars nor strings (lists and dicts: rare).
    others: Vec<Value>,
    pub(crate) completed: usize,
    units: usize,
}

/// One score: 24 bytes.
#[derive(Debug, Clone, Copy)]
struct StoredScore {
    /// The sample's position in the dataset.
    position: u32,
    epoch: u32,
    /// Where the answer and reason record starts in the text buffer
    /// ([`NO_TEXT`]: neither).
    texts: u32,
    kind: Kind,
    /// The value: an `i64` or `f64`'s bits, a bool, a string's place in the text
    /// buffer (start in the high half, length in the low), or an index into
    /// `others`.
    payload: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Other,
}

const NO_TEXT: u32 = u32::MAX;
const HAS_ANSWER: u8 = 1;
const HAS_REASON: u8 = 2;

fn push_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_len(bytes: &[u8], at: &mut usize) -> usize {
    let mut len = 0usize;
    let mut shift = 0;
    while let Some(&byte) = bytes.get(*at) {
        *at += 1;
        len |= usize::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    len
}

impl ScoreStore {
    /// A store for a run of `units` sample × epoch units.
    pub(crate) fn with_capacity(units: usize) -> Self {
        Self {
            units,
            ..Self::default()
        }
    }

    /// Whether `extra` more bytes keep every offset of the text buffer within
    /// `u32` (4 GiB).
    fn text_fits(&self, extra: usize) -> bool {
        self.text
            .len()
            .checked_add(extra)
            .is_some_and(|end| u32::try_from(end).is_ok())
    }

    /// Keeps an answer and a reason as one record: a flags byte, then each
    /// present one as its length and bytes. `NO_TEXT` when both are absent, or
    /// once the buffer would pass 4 GiB (results then go without them).
    fn keep_texts(&mut self, answer: Option<&str>, reason: Option<&str>) -> u32 {
        if answer.is_none() && reason.is_none() {
            return NO_TEXT;
        }
        let len = 21 + answer.map_or(0, str::len) + reason.map_or(0, str::len);
        if !self.text_fits(len) {
            return NO_TEXT;
        }
        let start = self.text.len() as u32;
        let flags = if answer.is_some() { HAS_ANSWER } else { 0 }
            | if reason.is_some() { HAS_REASON } else { 0 };
        self.text.push(flags);
        for text in [answer, reason].into_iter().flatten() {
            push_len(&mut self.text, text.len());
            self.text.extend_from_slice(text.as_bytes());
        }
        start
    }

    /// The answer and reason kept at `start`.
    fn texts(&self, start: u32) -> (Option<String>, Option<String>) {
        if start == NO_TEXT {
            return (None, None);
        }
        let mut at = start as usize;
        let flags = self.text.get(at).copied().unwrap_or(0);
        at += 1;
        let mut next = |present: bool| {
            present.then(|| {
                let len = read_len(&self.text, &mut at);
                let bytes = self.text.get(at..at + len).unwrap_or_default();
                at += len;
                String::from_utf8_lossy(bytes).into_owned()
            })
        };
        let answer = next(flags & HAS_ANSWER != 0);
        let reason = next(flags & HAS_REASON != 0);
        (answer, reason)
    }

    fn keep_value(&mut self, value: &Value) -> (Kind, u64) {
        match value {
            Value::Str(s) if self.text_fits(s.len()) => {
                let start = self.text.len() as u64;
                self.text.extend_from_slice(s.as_bytes());
                (Kind::Str, (start << 32) | s.len() as u64)
            }
            Value::Int(i) => (Kind::Int, *i as u64),
            Value::Float(f) => (Kind::Float, f.to_bits()),
            Value::Bool(b) => (Kind::Bool, u64::from(*b)),
            other => {
                self.others.push(other.clone());
                (Kind::Other, (self.others.len() - 1) as u64)
            }
        }
    }

    fn value(&self, stored: &StoredScore) -> Value {
        let payload = stored.payload;
        match stored.kind {
            Kind::Str => {
                let start = (payload >> 32) as usize;
                let len = (payload & u64::from(u32::MAX)) as usize;
                let bytes = self.text.get(start..start + len).unwrap_or_default();
                Value::Str(String::from_utf8_lossy(bytes).into_owned())
            }
            Kind::Int => Value::Int(payload as i64),
            Kind::Float => Value::Float(f64::from_bits(payload)),
            Kind::Bool => Value::Bool(payload != 0),
            Kind::Other => self
                .others
                .get(payload as usize)
                .cloned()
                .unwrap_or(Value::Float(f64::NAN)),
        }
    }

    pub(crate) fn add(&mut self, scorer: &str, position: usize, epoch: usize, score: &Score) {
        let (kind, payload) = self.keep_value(&score.value);
        // Explanations can be as long as the completion; the log has them,
        // results do not need them.
        let texts = self.keep_texts(score.answer.as_deref(), score.reason.as_deref());
        let units = self.units;
        let list = match self.by_scorer.get_mut(scorer) {
            Some(list) => list,
            None => self
                .by_scorer
                .entry(scorer.to_string())
                .or_insert_with(|| Vec::with_capacity(units)),
        };
        list.push(StoredScore {
            // Positions index a dataset held in memory: far below 2^32.
            position: u32::try_from(position).unwrap_or(u32::MAX),
            epoch: u32::try_from(epoch).unwrap_or(u32::MAX),
            texts,
            kind,
            payload,
        });
    }

    /// A stored score as metrics and reducers take it.
    fn sample_score(
        &self,
        stored: &StoredScore,
        samples: &[Sample],
        metadata_keys: &[String],
    ) -> SampleScore {
        let sample = &samples[stored.position as usize];
        let (answer, reason) = self.texts(stored.texts);
        SampleScore {
            value: self.value(stored),
            answer,
            explanation: None,
            reason,
            sample_id: sample.id.clone().unwrap_or(SampleId::Int(0)),
            sample_metadata: metadata_subset(sample.metadata.as_ref(), metadata_keys),
        }
    }
}

/// Computes results from the stored scores (consumed). Scores are turned
/// into [`SampleScore`]s one sample at a time as they are reduced, so the
/// peak is the store plus one reduced score per sample, not every epoch's
/// score in full.
pub(crate) fn compute_results(
    mut store: ScoreStore,
    scorers: &[ScorerSlot],
    reducers: &[Reducer],
    total_samples: usize,
    samples: &[Sample],
    metadata_keys: &[String],
) -> Result<(EvalResults, Vec<EvalSampleReductions>), String> {
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
        // Epochs of one sample are adjacent once sorted: reduce them as runs.
        let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
        for (idx, entry) in entries.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if entries[run.start].position == entry.position => run.end = idx + 1,
                _ => runs.push(idx..idx + 1),
            }
        }
        let mut epoch_scores = Vec::new();
        for (reducer, reducer_name) in &views {
            let mut reduced = Vec::with_capacity(runs.len());
            for run in &runs {
                epoch_scores.clear();
                epoch_scores.extend(
                    entries[run.clone()]
                        .iter()
                        .map(|s| store.sample_score(s, samples, metadata_keys)),
                );
                reduced.push(reducer.reduce(&epoch_scores).map_err(|e| e.to_string())?);
            }
            epoch_scores.clear();
            let unscored = reduced.iter().filter(|s| s.value.is_nan()).count();
            // NaN values are left out of the metrics; copy the rest only when
            // there are some.
            let filtered: Vec<SampleScore>;
            let scored: &[SampleScore] = if unscored == 0 {
                &reduced
            } else {
                filtered = reduced
                    .iter()
                    .filter(|s| !s.value.is_nan())
                    .cloned()
                    .collect();
                &filtered
            };
            let mut metrics = IndexMap::new();
            for metric in &slot.metrics {
                let value = if scored.is_empty() {
                    match metric.compute(&[]) {
                        Ok(Value::Dict(d)) if !d.is_empty() => Value::Dict(d),
                        _ => Value::Float(f64::NAN),
                    }
                } else {
                    metric.compute(scored).map_err(|e| e.to_string())?
                };
                add_metric(&mut metrics, metric.as_ref(), value);
            }
            scores_out.push(EvalScore {
                name: slot.name.clone(),
                scorer: slot.scorer.clone(),
                reducer: reducer_name.clone(),
                scored_samples: Some(scored.len() as u64),
                unscored_samples: Some(unscored as u64),
                params: slot.params.clone(),
                metrics,
                metadata: None,
            });
            reductions.push(EvalSampleReductions {
                scorer: slot.name.clone(),
                reducer: reducer_name.clone(),
                samples: reduced
                    .into_iter()
                    .map(|s| EvalSampleScore {
                        score: Score {
                            value: s.value,
                            answer: s.answer,
                            explanation: s.explanation,
                            reason: s.reason,
                            metadata: None,
                            history: Vec::new(),
                        },
                        sample_id: Some(s.sample_id),
                    })
                    .collect(),
            });
        }
    }
    Ok((
        EvalResults {
            total_samples: total_samples as u64,
            completed_samples: store.completed as u64,
            scores: scores_out,
            ..EvalResults::default()
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
                            metadata: None,
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
                        metadata: None,
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
                    metadata: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn score(value: Value, answer: Option<&str>, reason: Option<&str>) -> Score {
        let mut score = Score::new(value);
        score.answer = answer.map(str::to_string);
        score.explanation = Some("not kept".into());
        score.reason = reason.map(str::to_string);
        score
    }

    #[test]
    fn stored_scores_come_back_as_they_went_in() {
        assert_eq!(std::mem::size_of::<StoredScore>(), 24);
        let long = "é".repeat(200);
        let values = [
            (Value::Str("C".into()), Some("A"), None),
            (Value::Str(String::new()), None, Some("why")),
            (Value::Int(-7), Some(""), Some(long.as_str())),
            (Value::Float(0.25), None, None),
            (Value::Float(f64::NAN), Some(long.as_str()), None),
            (Value::Bool(true), Some("yes"), Some("")),
            (
                Value::List(vec![Scalar::Int(1), Scalar::Str("x".into())]),
                None,
                None,
            ),
        ];
        let samples: Vec<Sample> = (0..values.len())
            .map(|i| Sample::new(format!("q{i}"), "t").with_id(i.to_string()))
            .collect();
        let mut store = ScoreStore::with_capacity(values.len());
        for (position, (value, answer, reason)) in values.iter().enumerate() {
            store.add("s", position, 1, &score(value.clone(), *answer, *reason));
        }
        let entries = store.by_scorer.get("s").cloned().unwrap_or_default();
        for (entry, (value, answer, reason)) in entries.iter().zip(&values) {
            let back = store.sample_score(entry, &samples, &[]);
            match (&back.value, value) {
                (Value::Float(a), Value::Float(b)) if b.is_nan() => assert!(a.is_nan()),
                (a, b) => assert_eq!(a, b),
            }
            assert_eq!(back.answer.as_deref(), *answer);
            assert_eq!(back.reason.as_deref(), *reason);
            assert_eq!(back.explanation, None);
            assert_eq!(back.sample_id, SampleId::Str(entry.position.to_string()));
        }
    }
}
