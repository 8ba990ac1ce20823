//! A custom metric: how many samples were scored correct.

use examen::types::ValueToFloat;
use examen::{Args, Metric, MetricError, SampleScore, Value};

/// The number of scores that are correct (`C`, or 1 once reduced over epochs).
#[derive(Debug)]
pub struct CorrectCount;

impl Metric for CorrectCount {
    fn name(&self) -> &str {
        "correct_count"
    }

    fn compute(&self, scores: &[SampleScore]) -> Result<Value, MetricError> {
        let to_float = ValueToFloat::default();
        let correct = scores
            .iter()
            .filter(|s| to_float.convert(&s.value) == 1.0)
            .count();
        Ok(Value::Int(correct as i64))
    }
}

/// Takes no arguments.
pub fn factory(args: &Args<'_>) -> Result<CorrectCount, String> {
    args.none()?;
    Ok(CorrectCount)
}
