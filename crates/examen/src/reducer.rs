//! Epoch reducers: combine the scores one sample got in each epoch into a
//! single score before metrics are computed (Inspect's `ScoreReducer`s:
//! `mean`, `median`, `mode`, `max`, `majority`, `at_least_k`, `pass_at_k`,
//! `pass_k_k`).
//!
//! Reducers skip unscored (NaN) epochs. Dict and list values are reduced
//! key by key and index by index, as in Inspect.

use std::fmt;
use std::sync::Arc;

use examen_types::{Scalar, Value, ValueToFloat};
use indexmap::IndexMap;

use crate::metric::{mean_of, SampleScore};

/// A reducer could not combine the scores (mixed value shapes, mismatched keys).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reducer `{reducer}`: {message}")]
pub struct ReducerError {
    /// The reducer's name.
    pub reducer: String,
    /// What went wrong.
    pub message: String,
}

/// A reducer written in Rust and registered by name
/// ([`Registry::reducer`](crate::Registry::reducer)): combines one sample's
/// epoch scores (in epoch order, unscored ones included as NaN) into one
/// value. The other fields of the reduced score (answer, explanation) are
/// kept where every epoch agrees, as for the built-in reducers.
pub trait ScoreReducer: Send + Sync + fmt::Debug + 'static {
    /// The name recorded in the log and the results.
    fn name(&self) -> &str;
    /// The reduced value.
    fn reduce(&self, scores: &[SampleScore]) -> Result<Value, String>;
}

/// A [`ScoreReducer`] held by a [`Reducer`] (compared by name).
#[derive(Debug, Clone)]
pub struct CustomReducer(pub Arc<dyn ScoreReducer>);

impl PartialEq for CustomReducer {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

/// The epoch reducers: the built-in ones and [`Reducer::Custom`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reducer {
    /// A reducer registered from Rust.
    Custom(CustomReducer),
    /// Mean of the epoch values.
    Mean,
    /// Median of the epoch values.
    Median,
    /// Most common value (ties go to the value seen first).
    Mode,
    /// Highest value (by its float mapping).
    Max,
    /// The value carried by more than half of the epochs, else unscored.
    Majority,
    /// 1 when at least `k` epochs reach `value`, else 0.
    AtLeast {
        /// Epochs that must reach the threshold.
        k: usize,
        /// The threshold (default 1.0).
        value: f64,
    },
    /// Unbiased pass@k (Chen et al. 2021): the chance that at least one of
    /// `k` epochs drawn without replacement reaches `value`.
    PassAt {
        /// Epochs drawn.
        k: usize,
        /// The threshold (default 1.0).
        value: f64,
    },
    /// pass^k: the chance that all `k` epochs drawn reach `value`.
    PassK {
        /// Epochs drawn.
        k: usize,
        /// The threshold (default 1.0).
        value: f64,
    },
}

impl fmt::Display for Reducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The reducer names (without the `_k` suffix) with a one-line description.
pub const REDUCERS: &[(&str, &str)] = &[
    ("mean", "mean of the epoch scores"),
    ("median", "median of the epoch scores"),
    ("mode", "most common epoch score"),
    ("max", "highest epoch score"),
    (
        "majority",
        "the score more than half of the epochs agree on, else unscored",
    ),
    (
        "at_least_k",
        "1 if at least k epochs are correct, else 0 (e.g. at_least_2)",
    ),
    (
        "pass_at_k",
        "unbiased pass@k: chance one of k epochs is correct (e.g. pass_at_2)",
    ),
    (
        "pass_k_k",
        "pass^k: chance all of k epochs are correct (e.g. pass_k_2)",
    ),
];

impl Reducer {
    /// Parses a reducer name as Inspect does: `mean`, `median`, `mode`,
    /// `max`, `majority`, or `at_least_<k>`, `pass_at_<k>`, `pass_k_<k>`.
    pub fn parse(name: &str) -> Option<Reducer> {
        let simple = match name {
            "mean" => Some(Reducer::Mean),
            "median" => Some(Reducer::Median),
            "mode" => Some(Reducer::Mode),
            "max" => Some(Reducer::Max),
            "majority" => Some(Reducer::Majority),
            _ => None,
        };
        if simple.is_some() {
            return simple;
        }
        let (base, k) = name.rsplit_once('_')?;
        let k: usize = k.parse().ok().filter(|k| *k > 0)?;
        match base {
            "at_least" => Some(Reducer::AtLeast { k, value: 1.0 }),
            "pass_at" => Some(Reducer::PassAt { k, value: 1.0 }),
            "pass_k" => Some(Reducer::PassK { k, value: 1.0 }),
            _ => None,
        }
    }

    /// The name used in logs and results (`pass_at_2`).
    pub fn name(&self) -> String {
        match self {
            Reducer::Custom(custom) => custom.0.name().to_string(),
            Reducer::Mean => "mean".into(),
            Reducer::Median => "median".into(),
            Reducer::Mode => "mode".into(),
            Reducer::Max => "max".into(),
            Reducer::Majority => "majority".into(),
            Reducer::AtLeast { k, .. } => format!("at_least_{k}"),
            Reducer::PassAt { k, .. } => format!("pass_at_{k}"),
            Reducer::PassK { k, .. } => format!("pass_k_{k}"),
        }
    }

    /// The `k` of `at_least`/`pass_at`/`pass_k` (which must not exceed the
    /// number of epochs).
    pub fn k(&self) -> Option<usize> {
        match self {
            Reducer::AtLeast { k, .. } | Reducer::PassAt { k, .. } | Reducer::PassK { k, .. } => {
                Some(*k)
            }
            _ => None,
        }
    }

    fn error(&self, message: impl Into<String>) -> ReducerError {
        ReducerError {
            reducer: self.name(),
            message: message.into(),
        }
    }

    /// Reduces one sample's epoch scores (in epoch order) to one score.
    pub fn reduce(&self, scores: &[SampleScore]) -> Result<SampleScore, ReducerError> {
        let to_float = ValueToFloat::default();
        let Some(representative) = scores.iter().find(|s| !s.value.is_nan()) else {
            return Ok(reduced(Value::Float(f64::NAN), scores));
        };
        let shape = Shape::of(&representative.value);
        let value = match self {
            Reducer::Custom(custom) => custom
                .0
                .reduce(scores)
                .map_err(|message| self.error(message))?,
            Reducer::Mean => stat(self, scores, shape, &to_float, mean_of)?,
            Reducer::Median => stat(self, scores, shape, &to_float, median)?,
            Reducer::PassAt { k, value } => {
                stat(self, scores, shape, &to_float, |v| pass_at(v, *k, *value))?
            }
            Reducer::PassK { k, value } => {
                stat(self, scores, shape, &to_float, |v| pass_k(v, *k, *value))?
            }
            Reducer::Mode => count(self, scores, shape, |counts, _| counts[0].0.clone())?,
            Reducer::Majority => {
                let panel = scores.len();
                count(self, scores, shape, |counts, _| {
                    let (value, n) = &counts[0];
                    if n * 2 > panel {
                        value.clone()
                    } else {
                        Scalar::Float(f64::NAN)
                    }
                })?
            }
            Reducer::AtLeast { k, value } => count(self, scores, shape, |counts, _| {
                let reaching: usize = counts
                    .iter()
                    .filter(|(v, _)| to_float.convert_scalar(v) >= *value)
                    .map(|(_, n)| n)
                    .sum();
                Scalar::Int(i64::from(reaching >= *k))
            })?,
            Reducer::Max => max(self, scores, shape, &to_float)?,
        };
        Ok(reduced(value, scores))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    List,
    Dict,
}

impl Shape {
    fn of(value: &Value) -> Shape {
        match value {
            Value::List(_) => Shape::List,
            Value::Dict(_) => Shape::Dict,
            _ => Shape::Scalar,
        }
    }
}

/// Inspect's `_reduced_score`: other fields survive only when every epoch
/// agrees on them.
fn reduced(value: Value, scores: &[SampleScore]) -> SampleScore {
    let first = &scores[0];
    let same = |f: fn(&SampleScore) -> &Option<String>| {
        let v = f(first);
        scores
            .iter()
            .all(|s| f(s) == v)
            .then(|| v.clone())
            .flatten()
    };
    SampleScore {
        value,
        answer: same(|s| &s.answer),
        explanation: same(|s| &s.explanation),
        reason: same(|s| &s.reason),
        sample_id: first.sample_id.clone(),
        sample_metadata: first.sample_metadata.clone(),
    }
}

fn scalar_to_value(s: Scalar) -> Value {
    match s {
        Scalar::Str(v) => Value::Str(v),
        Scalar::Int(v) => Value::Int(v),
        Scalar::Float(v) => Value::Float(v),
        Scalar::Bool(v) => Value::Bool(v),
    }
}

fn is_nan_scalar(s: &Scalar) -> bool {
    matches!(s, Scalar::Float(f) if f.is_nan())
}

/// The dict-shaped scores (NaN-at-root skipped), checking that they share keys.
fn dict_scores<'a>(
    reducer: &Reducer,
    scores: &'a [SampleScore],
) -> Result<Vec<&'a IndexMap<String, Option<Scalar>>>, ReducerError> {
    let mut out = Vec::new();
    for s in scores {
        match &s.value {
            Value::Dict(d) => out.push(d),
            v if v.is_nan() => {}
            _ => {
                return Err(reducer
                    .error("attempting to reduce a dictionary score for a non-dictionary value"))
            }
        }
    }
    if let Some(first) = out.first() {
        for d in &out[1..] {
            if d.len() != first.len() || !first.keys().all(|k| d.contains_key(k)) {
                return Err(reducer.error("cannot reduce dictionary scores with mismatched keys; every epoch must score the same keys"));
            }
        }
    }
    Ok(out)
}

fn list_scores<'a>(
    reducer: &Reducer,
    scores: &'a [SampleScore],
) -> Result<Vec<&'a Vec<Scalar>>, ReducerError> {
    let mut out = Vec::new();
    for s in scores {
        match &s.value {
            Value::List(l) => out.push(l),
            v if v.is_nan() => {}
            _ => {
                return Err(reducer.error("attempting to reduce a list score for a non-list value"))
            }
        }
    }
    if let Some(first) = out.first() {
        if out.iter().any(|l| l.len() != first.len()) {
            return Err(reducer.error("cannot reduce list scores with mismatched lengths; every epoch must produce the same number of values"));
        }
    }
    Ok(out)
}

/// Inspect's `_compute_*_stat`: a statistic over float-mapped values.
fn stat(
    reducer: &Reducer,
    scores: &[SampleScore],
    shape: Shape,
    to_float: &ValueToFloat,
    statistic: impl Fn(&[f64]) -> f64,
) -> Result<Value, ReducerError> {
    let apply = |values: Vec<f64>| {
        let kept: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        if kept.is_empty() {
            f64::NAN
        } else {
            statistic(&kept)
        }
    };
    Ok(match shape {
        Shape::Scalar => Value::Float(apply(
            scores.iter().map(|s| to_float.convert(&s.value)).collect(),
        )),
        Shape::Dict => {
            let dicts = dict_scores(reducer, scores)?;
            let mut out = IndexMap::new();
            for key in dicts[0].keys() {
                let values = dicts
                    .iter()
                    .map(|d| {
                        d.get(key)
                            .cloned()
                            .flatten()
                            .map_or(0.0, |s| to_float.convert_scalar(&s))
                    })
                    .collect();
                out.insert(key.clone(), Some(Scalar::Float(apply(values))));
            }
            Value::Dict(out)
        }
        Shape::List => {
            let lists = list_scores(reducer, scores)?;
            let out = (0..lists[0].len())
                .map(|idx| {
                    Scalar::Float(apply(
                        lists
                            .iter()
                            .map(|l| to_float.convert_scalar(&l[idx]))
                            .collect(),
                    ))
                })
                .collect();
            Value::List(out)
        }
    })
}

/// Counts values with Python equality (`1 == 1.0 == True`), in first-seen
/// order, most common first (ties keep first-seen order, as `Counter`).
fn counts(values: impl Iterator<Item = Scalar>) -> Vec<(Scalar, usize)> {
    let mut out: Vec<(Scalar, usize)> = Vec::new();
    for v in values.filter(|v| !is_nan_scalar(v)) {
        match out.iter_mut().find(|(seen, _)| *seen == v) {
            Some((_, n)) => *n += 1,
            None => out.push((v, 1)),
        }
    }
    out.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    out
}

/// Inspect's `_count_*`: a choice made from the counts of the values.
fn count(
    reducer: &Reducer,
    scores: &[SampleScore],
    shape: Shape,
    choose: impl Fn(&[(Scalar, usize)], usize) -> Scalar,
) -> Result<Value, ReducerError> {
    let decide = |values: Vec<Scalar>| {
        let n = values.len();
        let c = counts(values.into_iter());
        if c.is_empty() {
            Scalar::Float(f64::NAN)
        } else {
            choose(&c, n)
        }
    };
    Ok(match shape {
        Shape::Scalar => {
            let mut values = Vec::new();
            for s in scores {
                match s.value.as_scalar() {
                    Some(v) => values.push(v),
                    None => return Err(reducer.error("this score is not a scalar")),
                }
            }
            if values.iter().all(is_nan_scalar) {
                Value::Float(f64::NAN)
            } else {
                scalar_to_value(decide(values))
            }
        }
        Shape::Dict => {
            let dicts = dict_scores(reducer, scores)?;
            let mut out = IndexMap::new();
            for key in dicts[0].keys() {
                let values = dicts
                    .iter()
                    .filter_map(|d| d.get(key).cloned().flatten())
                    .collect();
                out.insert(key.clone(), Some(decide(values)));
            }
            Value::Dict(out)
        }
        Shape::List => {
            let lists = list_scores(reducer, scores)?;
            let out = (0..lists[0].len())
                .map(|idx| decide(lists.iter().map(|l| l[idx].clone()).collect()))
                .collect();
            Value::List(out)
        }
    })
}

fn max(
    reducer: &Reducer,
    scores: &[SampleScore],
    shape: Shape,
    to_float: &ValueToFloat,
) -> Result<Value, ReducerError> {
    let pick = |values: Vec<Scalar>| {
        let mut best: Option<Scalar> = None;
        for v in values.into_iter().filter(|v| !is_nan_scalar(v)) {
            let better = best
                .as_ref()
                .is_none_or(|b| to_float.convert_scalar(&v) > to_float.convert_scalar(b));
            if better {
                best = Some(v);
            }
        }
        best.unwrap_or(Scalar::Float(f64::NAN))
    };
    Ok(match shape {
        Shape::Scalar => {
            let values = scores.iter().filter_map(|s| s.value.as_scalar()).collect();
            scalar_to_value(pick(values))
        }
        Shape::Dict => {
            let dicts = dict_scores(reducer, scores)?;
            let mut out = IndexMap::new();
            for key in dicts[0].keys() {
                let values = dicts
                    .iter()
                    .filter_map(|d| d.get(key).cloned().flatten())
                    .collect();
                out.insert(key.clone(), Some(pick(values)));
            }
            Value::Dict(out)
        }
        Shape::List => {
            let lists = list_scores(reducer, scores)?;
            Value::List(
                (0..lists[0].len())
                    .map(|idx| pick(lists.iter().map(|l| l[idx].clone()).collect()))
                    .collect(),
            )
        }
    })
}

/// Python's `statistics.median`.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Inspect's pass@k: `1 - prod(1 - k / arange(n - c + 1, n + 1))`.
fn pass_at(values: &[f64], k: usize, threshold: f64) -> f64 {
    let total = values.len();
    let correct = values.iter().filter(|v| **v >= threshold).count();
    if total < k {
        return f64::NAN;
    }
    if total - correct < k {
        return 1.0;
    }
    let product: f64 = ((total - correct + 1)..=total)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    1.0 - product
}

/// Inspect's pass^k: `comb(c, k) / comb(n, k)`.
fn pass_k(values: &[f64], k: usize, threshold: f64) -> f64 {
    let total = values.len();
    if total < k {
        return f64::NAN;
    }
    let correct = values.iter().filter(|v| **v >= threshold).count();
    comb(correct, k) / comb(total, k)
}

fn comb(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    let mut result: u128 = 1;
    for i in 0..k {
        result = result * (n - i) as u128 / (i + 1) as u128;
    }
    result as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(values: &[Value]) -> Vec<SampleScore> {
        values
            .iter()
            .map(|v| SampleScore::new(1, v.clone()))
            .collect()
    }

    fn reduce(r: &Reducer, values: &[Value]) -> Value {
        match r.reduce(&epochs(values)) {
            Ok(s) => s.value,
            Err(e) => panic!("{e}"),
        }
    }

    fn c() -> Value {
        Value::from("C")
    }
    fn i() -> Value {
        Value::from("I")
    }

    #[test]
    fn parse_names() {
        assert_eq!(
            Reducer::parse("pass_at_2"),
            Some(Reducer::PassAt { k: 2, value: 1.0 })
        );
        assert_eq!(
            Reducer::parse("at_least_3"),
            Some(Reducer::AtLeast { k: 3, value: 1.0 })
        );
        assert_eq!(
            Reducer::parse("pass_k_2"),
            Some(Reducer::PassK { k: 2, value: 1.0 })
        );
        assert_eq!(Reducer::parse("mean"), Some(Reducer::Mean));
        assert_eq!(Reducer::parse("pass_at_0"), None);
        assert_eq!(Reducer::parse("avg"), None);
        assert_eq!(Reducer::PassAt { k: 2, value: 1.0 }.name(), "pass_at_2");
    }

    #[test]
    fn mean_median_of_letters() {
        // C, I, C -> 1, 0, 1: mean 2/3, median 1
        assert_eq!(
            reduce(&Reducer::Mean, &[c(), i(), c()]),
            Value::Float(2.0 / 3.0)
        );
        assert_eq!(
            reduce(&Reducer::Median, &[c(), i(), c()]),
            Value::Float(1.0)
        );
        // median of 1, 0, 0, 1 -> (0 + 1) / 2
        assert_eq!(
            reduce(&Reducer::Median, &[c(), i(), i(), c()]),
            Value::Float(0.5)
        );
    }

    #[test]
    fn mode_and_majority() {
        assert_eq!(reduce(&Reducer::Mode, &[i(), c(), c()]), c());
        // tie: first seen wins
        assert_eq!(reduce(&Reducer::Mode, &[i(), c()]), i());
        assert_eq!(reduce(&Reducer::Majority, &[i(), c(), c()]), c());
        // 2 of 4 is not a strict majority
        assert!(reduce(&Reducer::Majority, &[i(), c(), c(), i()]).is_nan());
        // an unscored epoch still counts towards the panel
        assert!(reduce(&Reducer::Majority, &[c(), Value::Float(f64::NAN)]).is_nan());
        // Python equality: 1, 1.0 and True are one value
        assert_eq!(
            reduce(
                &Reducer::Mode,
                &[Value::Int(1), Value::Float(1.0), Value::Int(0)]
            ),
            Value::Int(1)
        );
    }

    #[test]
    fn max_keeps_the_original_value() {
        assert_eq!(
            reduce(&Reducer::Max, &[i(), Value::from("P"), c(), i()]),
            c()
        );
        assert_eq!(
            reduce(&Reducer::Max, &[Value::Float(0.2), Value::Float(0.7)]),
            Value::Float(0.7)
        );
    }

    #[test]
    fn at_least_k() {
        let r = Reducer::parse("at_least_2").unwrap_or(Reducer::Mean);
        assert_eq!(reduce(&r, &[c(), i(), c()]), Value::Int(1));
        assert_eq!(reduce(&r, &[c(), i(), i()]), Value::Int(0));
    }

    #[test]
    fn pass_at_k_hand_computed() {
        let r = Reducer::PassAt { k: 2, value: 1.0 };
        // n = 4, c = 1: 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5
        let v = reduce(&r, &[c(), i(), i(), i()]);
        assert!((v.to_float() - 0.5).abs() < 1e-12);
        // n - c < k -> 1
        assert_eq!(reduce(&r, &[c(), c(), i()]), Value::Float(1.0));
        // fewer scored epochs than k -> unscored
        assert!(reduce(&r, &[c(), Value::Float(f64::NAN)]).is_nan());
        // n = 5, c = 2, k = 3: 1 - C(3,3)/C(5,3) = 1 - 1/10 = 0.9
        let r3 = Reducer::PassAt { k: 3, value: 1.0 };
        let v = reduce(&r3, &[c(), i(), c(), i(), i()]);
        assert!((v.to_float() - 0.9).abs() < 1e-12);
    }

    #[test]
    fn pass_k_hand_computed() {
        // n = 4, c = 3, k = 2: C(3,2)/C(4,2) = 3/6
        let v = reduce(&Reducer::PassK { k: 2, value: 1.0 }, &[c(), c(), i(), c()]);
        assert!((v.to_float() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn dict_values_reduce_per_key() {
        let d = |a: f64, b: &str| {
            let mut m = IndexMap::new();
            m.insert("a".to_string(), Some(Scalar::Float(a)));
            m.insert("b".to_string(), Some(Scalar::Str(b.to_string())));
            Value::Dict(m)
        };
        let v = reduce(&Reducer::Mean, &[d(1.0, "C"), d(0.0, "I")]);
        let Value::Dict(m) = v else { panic!("dict") };
        assert_eq!(m.get("a").cloned().flatten(), Some(Scalar::Float(0.5)));
        assert_eq!(m.get("b").cloned().flatten(), Some(Scalar::Float(0.5)));
        let mismatched = {
            let mut m = IndexMap::new();
            m.insert("z".to_string(), Some(Scalar::Float(1.0)));
            Value::Dict(m)
        };
        assert!(Reducer::Mean
            .reduce(&epochs(&[d(1.0, "C"), mismatched]))
            .is_err());
    }

    #[test]
    fn fields_survive_only_when_equal() {
        let mut a = SampleScore::new(1, c());
        a.answer = Some("4".into());
        a.explanation = Some("x".into());
        let mut b = a.clone();
        b.explanation = Some("y".into());
        let Ok(out) = Reducer::Mean.reduce(&[a, b]) else {
            panic!("reduces")
        };
        assert_eq!(out.answer.as_deref(), Some("4"));
        assert_eq!(out.explanation, None);
    }

    #[test]
    fn all_unscored_gives_unscored() {
        assert!(reduce(
            &Reducer::Mean,
            &[Value::Float(f64::NAN), Value::Float(f64::NAN)]
        )
        .is_nan());
    }
}
