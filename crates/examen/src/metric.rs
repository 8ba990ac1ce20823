//! Metrics: aggregate the (epoch-reduced) scores of one scorer into the
//! numbers shown in results — `accuracy`, `mean`, `stderr`, `std`, `var`,
//! `bootstrap_stderr` and `grouped`, with Inspect's definitions.
//!
//! Every metric sees only scored samples: a score whose value is NaN (the
//! "unscored" sentinel) is counted as unscored and left out, as in Inspect.

use std::fmt;
use std::sync::Arc;

use examen_types::{JsonObject, JsonValue, Scalar, Value, ValueToFloat};
use indexmap::IndexMap;

use crate::rng::SplitMix64;
use crate::sample::SampleId;

/// The part of a sample's score that metrics and reducers read. It keeps
/// no messages or events, so holding one per sample stays small.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleScore {
    /// The score value.
    pub value: Value,
    /// The extracted answer, if any.
    pub answer: Option<String>,
    /// The explanation, if any.
    pub explanation: Option<String>,
    /// The reason for an abnormal score, if any.
    pub reason: Option<String>,
    /// The sample the score belongs to.
    pub sample_id: SampleId,
    /// The sample's metadata fields that metrics group by (only those).
    pub sample_metadata: Option<JsonObject>,
}

impl SampleScore {
    /// A score with only a value, for a sample id.
    pub fn new(sample_id: impl Into<SampleId>, value: impl Into<Value>) -> Self {
        Self {
            value: value.into(),
            answer: None,
            explanation: None,
            reason: None,
            sample_id: sample_id.into(),
            sample_metadata: None,
        }
    }
}

/// A metric could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric `{metric}`: {message}")]
pub struct MetricError {
    /// The metric's name.
    pub metric: String,
    /// What went wrong.
    pub message: String,
}

/// A metric over a list of sample scores.
pub trait Metric: Send + Sync + fmt::Debug {
    /// The registry name (`accuracy`, `stderr`, ...).
    fn name(&self) -> &str;

    /// The arguments the metric was created with (recorded in the log).
    fn params(&self) -> JsonObject {
        JsonObject::new()
    }

    /// Metadata keys whose values this metric reads from each sample.
    fn metadata_keys(&self) -> Vec<String> {
        Vec::new()
    }

    /// Computes the metric. `scores` holds scored samples only (never NaN).
    fn compute(&self, scores: &[SampleScore]) -> Result<Value, MetricError>;
}

fn floats(scores: &[SampleScore], to_float: &ValueToFloat) -> Vec<f64> {
    scores.iter().map(|s| to_float.convert(&s.value)).collect()
}

/// Sum with Neumaier compensation, so long runs of scores add up to what
/// numpy's pairwise sum gives (to the last bit or so).
pub(crate) fn sum(values: &[f64]) -> f64 {
    let mut total = 0.0;
    let mut compensation = 0.0;
    for &v in values {
        let t = total + v;
        if f64::abs(total) >= f64::abs(v) {
            compensation += (total - t) + v;
        } else {
            compensation += (v - t) + total;
        }
        total = t;
    }
    total + compensation
}

/// numpy's `mean`.
pub(crate) fn mean_of(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    sum(values) / values.len() as f64
}

/// numpy's `var(values, ddof)`.
pub(crate) fn var_of(values: &[f64], ddof: usize) -> f64 {
    let n = values.len();
    if n <= ddof {
        return f64::NAN;
    }
    let mean = mean_of(values);
    let squares: Vec<f64> = values.iter().map(|v| (v - mean) * (v - mean)).collect();
    sum(&squares) / (n - ddof) as f64
}

macro_rules! simple_metric {
    ($(#[$doc:meta])* $name:ident, $registry:literal, |$values:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default)]
        pub struct $name {
            /// How score values map to floats.
            pub to_float: ValueToFloat,
        }

        impl Metric for $name {
            fn name(&self) -> &str {
                $registry
            }

            fn compute(&self, scores: &[SampleScore]) -> Result<Value, MetricError> {
                let $values = floats(scores, &self.to_float);
                Ok(Value::Float($body))
            }
        }
    };
}

simple_metric!(
    /// Proportion of correct answers: the mean of the values as floats
    /// (`C` = 1, `P` = 0.5, `I` = `N` = 0); 0 with no scores.
    Accuracy,
    "accuracy",
    |values| if values.is_empty() { 0.0 } else { sum(&values) / values.len() as f64 }
);

simple_metric!(
    /// Mean of the values; 0 with no scores.
    Mean,
    "mean",
    |values| if values.is_empty() { 0.0 } else { mean_of(&values) }
);

simple_metric!(
    /// Standard error of the mean: the sample standard deviation (ddof 1)
    /// over √n; 0 with fewer than two scores.
    Stderr,
    "stderr",
    |values| if values.len() < 2 { 0.0 } else { var_of(&values, 1).sqrt() / (values.len() as f64).sqrt() }
);

simple_metric!(
    /// Sample standard deviation (ddof 1); 0 with fewer than two scores.
    Std,
    "std",
    |values| if values.len() < 2 { 0.0 } else { var_of(&values, 1).sqrt() }
);

simple_metric!(
    /// Sample variance (ddof 1); 0 with fewer than two scores.
    Var,
    "var",
    |values| if values.len() < 2 { 0.0 } else { var_of(&values, 1) }
);

/// Standard error of the mean by bootstrap: the standard deviation
/// (ddof 0) of the means of `num_samples` resamples with replacement.
///
/// Inspect draws from numpy's global generator; examen draws from
/// [`SplitMix64`] seeded with `seed`, so the value is reproducible (and the
/// same on every backend) but not bit-identical to Inspect's, which varies
/// from run to run.
#[derive(Debug, Clone)]
pub struct BootstrapStderr {
    /// Number of resamples (Inspect's default: 1000).
    pub num_samples: usize,
    /// Seed of the resampling generator.
    pub seed: u64,
    /// How score values map to floats.
    pub to_float: ValueToFloat,
}

impl Default for BootstrapStderr {
    fn default() -> Self {
        Self {
            num_samples: 1000,
            seed: 0,
            to_float: ValueToFloat::default(),
        }
    }
}

impl Metric for BootstrapStderr {
    fn name(&self) -> &str {
        "bootstrap_stderr"
    }

    fn params(&self) -> JsonObject {
        let mut params = JsonObject::new();
        params.insert("num_samples".into(), JsonValue::from(self.num_samples));
        params
    }

    fn compute(&self, scores: &[SampleScore]) -> Result<Value, MetricError> {
        let values = floats(scores, &self.to_float);
        if values.is_empty() {
            return Ok(Value::Float(0.0));
        }
        let mut rng = SplitMix64::new(self.seed);
        let mut resample = vec![0.0; values.len()];
        let means: Vec<f64> = (0..self.num_samples)
            .map(|_| {
                for slot in &mut resample {
                    *slot = values[rng.index(values.len())];
                }
                mean_of(&resample)
            })
            .collect();
        Ok(Value::Float(var_of(&means, 0).sqrt()))
    }
}

/// How `grouped` reports the aggregate over all groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupedAll {
    /// The metric over all samples (Inspect's default, `"samples"`).
    Samples,
    /// The mean of the group values (`"groups"`).
    Groups,
    /// No aggregate (`false`).
    None,
}

/// A metric computed per value of a metadata key, plus an aggregate.
#[derive(Debug, Clone)]
pub struct Grouped {
    /// The metric applied to each group.
    pub metric: Arc<dyn Metric>,
    /// The metadata key that names each sample's group.
    pub group_key: String,
    /// How the aggregate is computed.
    pub all: GroupedAll,
    /// The aggregate's key (default `all`).
    pub all_label: String,
}

impl Grouped {
    /// `metric` per value of `group_key`, with the aggregate over all samples.
    pub fn new(metric: Arc<dyn Metric>, group_key: impl Into<String>) -> Self {
        Self {
            metric,
            group_key: group_key.into(),
            all: GroupedAll::Samples,
            all_label: "all".to_string(),
        }
    }
}

impl Metric for Grouped {
    fn name(&self) -> &str {
        "grouped"
    }

    /// Inspect's registry form: the inner metric as `{"type": "metric", "name", "params"}`
    /// (Inspect's viewer lays the groups out only for that form), then `group_key`, then the
    /// arguments given other than their defaults.
    fn params(&self) -> JsonObject {
        let mut metric = JsonObject::new();
        metric.insert("type".into(), JsonValue::from("metric"));
        metric.insert("name".into(), JsonValue::from(self.metric.name()));
        metric.insert("params".into(), JsonValue::Object(self.metric.params()));
        let mut params = JsonObject::new();
        params.insert("metric".into(), JsonValue::Object(metric));
        params.insert("group_key".into(), JsonValue::from(self.group_key.as_str()));
        match self.all {
            GroupedAll::Samples => {}
            GroupedAll::Groups => {
                params.insert("all".into(), JsonValue::from("groups"));
            }
            GroupedAll::None => {
                params.insert("all".into(), JsonValue::from(false));
            }
        }
        if self.all_label != "all" {
            params.insert("all_label".into(), JsonValue::from(self.all_label.as_str()));
        }
        params
    }

    fn metadata_keys(&self) -> Vec<String> {
        let mut keys = self.metric.metadata_keys();
        keys.push(self.group_key.clone());
        keys
    }

    fn compute(&self, scores: &[SampleScore]) -> Result<Value, MetricError> {
        if scores.is_empty() {
            let mut out = IndexMap::new();
            if self.all != GroupedAll::None {
                out.insert(self.all_label.clone(), Some(Scalar::Float(f64::NAN)));
            }
            return Ok(Value::Dict(out));
        }
        let mut groups: IndexMap<String, Vec<SampleScore>> = IndexMap::new();
        for score in scores {
            let group = score
                .sample_metadata
                .as_ref()
                .and_then(|m| m.get(&self.group_key))
                .ok_or_else(|| MetricError {
                    metric: "grouped".into(),
                    message: format!(
                        "sample {} has no `{}` metadata; to compute a grouped metric each sample's metadata must have a value for `{}`",
                        score.sample_id, self.group_key, self.group_key
                    ),
                })?;
            groups
                .entry(crate::template::py_str(group))
                .or_default()
                .push(score.clone());
        }
        let mut out: IndexMap<String, Option<Scalar>> = IndexMap::new();
        let mut group_values = Vec::new();
        for (name, group_scores) in &groups {
            let value = self.metric.compute(group_scores)?;
            group_values.push(value.to_float());
            out.insert(name.clone(), value.as_scalar());
        }
        match self.all {
            GroupedAll::None => {}
            GroupedAll::Samples | GroupedAll::Groups => {
                if out.contains_key(&self.all_label) {
                    return Err(MetricError {
                        metric: "grouped".into(),
                        message: format!("group name `{}` collides with the aggregate's label; choose another `all_label`", self.all_label),
                    });
                }
                let all = if self.all == GroupedAll::Samples {
                    self.metric.compute(scores)?.as_scalar()
                } else {
                    Some(Scalar::Float(mean_of(&group_values)))
                };
                out.insert(self.all_label.clone(), all);
            }
        }
        Ok(Value::Dict(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(values: &[Value]) -> Vec<SampleScore> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| SampleScore::new(i64::try_from(i).unwrap_or(0) + 1, v.clone()))
            .collect()
    }

    fn float(metric: &dyn Metric, values: &[Value]) -> f64 {
        match metric.compute(&scores(values)) {
            Ok(Value::Float(f)) => f,
            other => panic!("expected a float, got {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn accuracy_maps_letters() {
        let v = [
            Value::from("C"),
            Value::from("I"),
            Value::from("P"),
            Value::from("N"),
        ];
        // (1 + 0 + 0.5 + 0) / 4
        assert!(close(float(&Accuracy::default(), &v), 0.375));
        assert_eq!(float(&Accuracy::default(), &[]), 0.0);
    }

    #[test]
    fn mean_of_numbers() {
        let v = [
            Value::from(1.0),
            Value::from(2i64),
            Value::from(true),
            Value::from("4"),
        ];
        // (1 + 2 + 1 + 4) / 4
        assert!(close(float(&Mean::default(), &v), 2.0));
    }

    #[test]
    fn stderr_std_var_hand_computed() {
        // values 1, 0, 1, 1: mean 0.75, squared deviations 0.0625*3 + 0.5625 = 0.75,
        // var (ddof 1) = 0.25, std = 0.5, stderr = 0.5 / 2 = 0.25
        let v = [
            Value::from("C"),
            Value::from("I"),
            Value::from("C"),
            Value::from("C"),
        ];
        assert!(close(float(&Var::default(), &v), 0.25));
        assert!(close(float(&Std::default(), &v), 0.5));
        assert!(close(float(&Stderr::default(), &v), 0.25));
        // fewer than two scores
        assert_eq!(float(&Stderr::default(), &[Value::from("C")]), 0.0);
        assert_eq!(float(&Std::default(), &[Value::from("C")]), 0.0);
        assert_eq!(float(&Var::default(), &[]), 0.0);
    }

    #[test]
    fn bootstrap_is_seeded_and_near_the_analytic_value() {
        let v: Vec<Value> = (0..200)
            .map(|i| Value::from(if i % 3 == 0 { "C" } else { "I" }))
            .collect();
        let a = float(&BootstrapStderr::default(), &v);
        let b = float(&BootstrapStderr::default(), &v);
        assert_eq!(a, b);
        // p = 67/200; the analytic stderr sqrt(p(1-p)/n) is about 0.0334
        assert!((a - 0.0334).abs() < 0.005, "bootstrap stderr {a}");
        // constant values have no spread
        let constant: Vec<Value> = (0..10).map(|_| Value::from(1.0)).collect();
        assert_eq!(float(&BootstrapStderr::default(), &constant), 0.0);
    }

    #[test]
    fn grouped_by_metadata() {
        let mut all = Vec::new();
        for (i, (level, value)) in [("a", "C"), ("a", "I"), ("b", "C"), ("a", "C")]
            .iter()
            .enumerate()
        {
            let mut meta = JsonObject::new();
            meta.insert("level".into(), JsonValue::from(*level));
            let mut s = SampleScore::new(i64::try_from(i).unwrap_or(0), Value::from(*value));
            s.sample_metadata = Some(meta);
            all.push(s);
        }
        let grouped = Grouped::new(Arc::new(Accuracy::default()), "level");
        let Ok(Value::Dict(out)) = grouped.compute(&all) else {
            panic!("grouped returns a dict");
        };
        let get = |k: &str| out.get(k).cloned().flatten();
        assert_eq!(get("a"), Some(Scalar::Float(2.0 / 3.0)));
        assert_eq!(get("b"), Some(Scalar::Float(1.0)));
        assert_eq!(get("all"), Some(Scalar::Float(0.75)));
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["a", "b", "all"]);

        let by_groups = Grouped {
            all: GroupedAll::Groups,
            ..grouped.clone()
        };
        let Ok(Value::Dict(out)) = by_groups.compute(&all) else {
            panic!("grouped returns a dict");
        };
        assert_eq!(
            out.get("all").cloned().flatten(),
            Some(Scalar::Float((2.0 / 3.0 + 1.0) / 2.0))
        );

        all[0].sample_metadata = None;
        assert!(grouped.compute(&all).is_err());
    }
}
