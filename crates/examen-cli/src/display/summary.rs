//! The results of an eval, once it is over: per task × model the status, samples, total time,
//! tokens, each metric and the log path. Rendered as a panel (`rich`), as text (`plain`) or as
//! one JSON record per run (`--json`).

use std::time::Duration;

use anstyle::{AnsiColor, Style};
use examen::runner::log::EvalStatus;
use examen::runner::results::EvalResults;
use examen::EvalOutcome;
use examen_types::ModelUsage;
use serde_json::json;

use super::{format_duration, format_metric, thousands, Progress, RunProgress};

/// `success`, `error`, `cancelled` (or `started`), as in the log.
pub(crate) fn status_name(status: EvalStatus) -> &'static str {
    status.as_str()
}

/// One scorer (under one reducer) and its metrics.
#[derive(Debug, Clone)]
pub(crate) struct ScoreLine {
    pub(crate) name: String,
    pub(crate) reducer: Option<String>,
    pub(crate) metrics: Vec<(String, f64)>,
}

/// Everything the summary shows about one task × model run.
#[derive(Debug, Clone)]
pub(crate) struct RunSummary {
    pub(crate) task: String,
    pub(crate) model: String,
    pub(crate) status: EvalStatus,
    pub(crate) total: usize,
    /// Sample × epoch units that finished, errored ones included: the count the progress
    /// line showed (the log's `completed_samples` is this less `errors`).
    pub(crate) completed: usize,
    pub(crate) samples: Option<(usize, usize)>,
    pub(crate) errors: u64,
    /// Retries: the model's and the samples', as the progress line counted them.
    pub(crate) retries: u64,
    pub(crate) elapsed: Option<Duration>,
    pub(crate) usage: ModelUsage,
    pub(crate) scores: Vec<ScoreLine>,
    pub(crate) error: Option<String>,
    pub(crate) log: Option<String>,
}

impl RunSummary {
    /// Builds the summaries of the outcomes, taking times from what the display saw.
    pub(crate) fn collect(outcomes: &[EvalOutcome], progress: &Progress) -> Vec<RunSummary> {
        let mut taken = Vec::new();
        outcomes
            .iter()
            .map(|outcome| {
                let run = progress.claim(&outcome.task, &outcome.model, &mut taken, |_| true);
                let usage = outcome
                    .model_usage
                    .values()
                    .fold(ModelUsage::default(), |acc, u| acc + u.clone());
                // One source for every count shown: what the event stream said (which the
                // progress line showed), else the engine's results.
                let errors = run.map_or(outcome.errored_samples, |r| r.errors as u64);
                let (total, completed) = match (run, &outcome.results) {
                    (Some(r), _) => (r.total, r.completed),
                    (None, Some(r)) => (
                        r.total_samples as usize,
                        r.completed_samples as usize + outcome.errored_samples as usize,
                    ),
                    (None, None) => (0, 0),
                };
                RunSummary {
                    task: outcome.task.clone(),
                    model: outcome.model.clone(),
                    status: outcome.status,
                    total,
                    completed,
                    samples: run.map(|r| (r.samples, r.epochs)),
                    errors,
                    retries: run.map_or(0, RunProgress::retries),
                    elapsed: run.map(super::RunProgress::elapsed),
                    usage,
                    scores: outcome
                        .results
                        .as_ref()
                        .map(score_lines)
                        .unwrap_or_default(),
                    error: outcome.error.as_ref().map(|e| e.message.clone()),
                    log: outcome.log_location.clone(),
                }
            })
            .collect()
    }

    /// The summary of a run that finished, from what the event stream said about it.
    pub(crate) fn from_progress(
        run: &RunProgress,
        status: EvalStatus,
        results: Option<&EvalResults>,
        error: Option<String>,
        log: Option<String>,
    ) -> RunSummary {
        RunSummary {
            task: run.task.clone(),
            model: run.model.clone(),
            status,
            total: run.total,
            completed: run.completed,
            samples: Some((run.samples, run.epochs)),
            errors: run.errors as u64,
            retries: run.retries(),
            elapsed: Some(run.elapsed()),
            usage: run.usage.clone(),
            scores: results.map(score_lines).unwrap_or_default(),
            error,
            log,
        }
    }

    /// The machine-readable record printed by `--json`: `task`, `model`, `status` (`success`,
    /// `error` or `cancelled`), `log` (path or null), `samples` (`total`, `finished`,
    /// `completed` and `errors`: `finished` counts errored samples too, `completed` does not,
    /// as in the log), `retries`, `time` (seconds or null), `tokens` (`input`, `output`, `total`), `scores`
    /// (`[{scorer, reducer, metrics: {name: value}}]`, NaN as null) and `error` (or null).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let scores: Vec<serde_json::Value> = self
            .scores
            .iter()
            .map(|s| {
                let metrics: serde_json::Map<String, serde_json::Value> = s
                    .metrics
                    .iter()
                    .map(|(name, value)| (name.clone(), finite(*value)))
                    .collect();
                json!({"scorer": s.name, "reducer": s.reducer, "metrics": metrics})
            })
            .collect();
        json!({
            "task": self.task,
            "model": self.model,
            "status": status_name(self.status),
            "log": self.log,
            "samples": {
                "total": self.total,
                "finished": self.completed,
                "completed": self.completed.saturating_sub(self.errors as usize),
                "errors": self.errors,
            },
            "retries": self.retries,
            "time": self.elapsed.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
            "tokens": {
                "input": self.usage.input_tokens,
                "output": self.usage.output_tokens,
                "total": self.usage.total_tokens,
            },
            "scores": scores,
            "error": self.error,
        })
    }

    /// `(label, value, style)` rows shown under the title.
    fn rows(&self) -> Vec<(String, String, Style)> {
        let value_style = Style::new().bold();
        let mut rows = Vec::new();
        let mut samples = format!("{}/{}", self.completed, self.total);
        if let Some((count, epochs)) = self.samples {
            if epochs > 1 {
                samples.push_str(&format!(" ({count} samples × {epochs} epochs)"));
            }
        }
        samples.push_str(&super::errors_text(self.errors));
        rows.push(("samples".into(), samples, Style::new()));
        if self.retries > 0 {
            rows.push(("retries".into(), self.retries.to_string(), Style::new()));
        }
        if let Some(elapsed) = self.elapsed {
            rows.push(("time".into(), format_duration(elapsed), Style::new()));
        }
        let mut tokens = thousands(self.usage.total_tokens);
        if self.usage.total_tokens > 0 {
            tokens.push_str(&format!(
                " (in {}, out {})",
                thousands(self.usage.input_tokens),
                thousands(self.usage.output_tokens)
            ));
        }
        rows.push(("tokens".into(), tokens, Style::new()));
        for score in &self.scores {
            let label = match &score.reducer {
                Some(reducer) => format!("{} ({reducer})", score.name),
                None => score.name.clone(),
            };
            let metrics: Vec<String> = score
                .metrics
                .iter()
                .map(|(name, value)| format!("{name} {}", format_metric(*value)))
                .collect();
            rows.push((label, metrics.join("  "), value_style));
        }
        if let Some(error) = &self.error {
            rows.push((
                "error".into(),
                error.clone(),
                Style::new().fg_color(Some(AnsiColor::Red.into())),
            ));
        }
        if let Some(log) = &self.log {
            rows.push(("log".into(), log.clone(), Style::new()));
        }
        rows
    }

    fn title(&self) -> String {
        format!("{} · {}", self.task, self.model)
    }

    fn status_style(&self) -> Style {
        let color = match self.status {
            EvalStatus::Success => AnsiColor::Green,
            EvalStatus::Error => AnsiColor::Red,
            EvalStatus::Cancelled | EvalStatus::Started => AnsiColor::Yellow,
        };
        Style::new().bold().fg_color(Some(color.into()))
    }
}

fn score_lines(results: &EvalResults) -> Vec<ScoreLine> {
    results
        .scores
        .iter()
        .map(|score| ScoreLine {
            name: score.name.clone(),
            reducer: score.reducer.clone(),
            metrics: score
                .metrics
                .iter()
                .map(|(name, metric)| (name.clone(), metric.value))
                .collect(),
        })
        .collect()
}

fn finite(value: f64) -> serde_json::Value {
    if value.is_finite() {
        json!(value)
    } else {
        serde_json::Value::Null
    }
}

fn paint(text: &str, style: Style, color: bool) -> String {
    if color && style != Style::new() {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// The summary as text: a title line per run, then indented `label  value` rows.
pub(crate) fn render_plain(runs: &[RunSummary]) -> String {
    let mut out = String::new();
    for run in runs {
        out.push_str(&format!("{}: {}\n", run.title(), status_name(run.status)));
        let rows = run.rows();
        let width = rows
            .iter()
            .map(|(l, _, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        for (label, value, _) in rows {
            out.push_str(&format!("  {label:<width$}  {value}\n"));
        }
    }
    out
}

/// The summary as panels: one box per run, coloured when `color`.
pub(crate) fn render_rich(runs: &[RunSummary], color: bool) -> String {
    let mut out = String::new();
    let dim = Style::new().dimmed();
    for run in runs {
        let rows = run.rows();
        let label_width = rows
            .iter()
            .map(|(l, _, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let title = run.title();
        let status = status_name(run.status);
        let title_width = title.chars().count() + 2 + status.chars().count();
        let inner = rows
            .iter()
            .map(|(_, v, _)| label_width + 2 + v.chars().count())
            .chain(std::iter::once(title_width))
            .max()
            .unwrap_or(0);
        let rule = "─".repeat(inner + 2);
        out.push_str(&paint(&format!("╭{rule}╮"), dim, color));
        out.push('\n');
        let pad = " ".repeat(inner - title_width);
        out.push_str(&format!(
            "{} {}  {}{pad} {}\n",
            paint("│", dim, color),
            paint(&title, Style::new().bold(), color),
            paint(status, run.status_style(), color),
            paint("│", dim, color),
        ));
        out.push_str(&paint(&format!("├{rule}┤"), dim, color));
        out.push('\n');
        for (label, value, style) in rows {
            let used = label_width + 2 + value.chars().count();
            let pad = " ".repeat(inner - used);
            out.push_str(&format!(
                "{} {}  {}{pad} {}\n",
                paint("│", dim, color),
                paint(&format!("{label:<label_width$}"), dim, color),
                paint(&value, style, color),
                paint("│", dim, color),
            ));
        }
        out.push_str(&paint(&format!("╰{rule}╯"), dim, color));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunSummary {
        RunSummary {
            task: "arithmetic".into(),
            model: "mockllm/model".into(),
            status: EvalStatus::Success,
            total: 40,
            completed: 40,
            samples: Some((20, 2)),
            errors: 0,
            retries: 0,
            elapsed: Some(Duration::from_millis(1500)),
            usage: ModelUsage::new(1000, 234),
            scores: vec![ScoreLine {
                name: "match".into(),
                reducer: Some("mean".into()),
                metrics: vec![("accuracy".into(), 0.25), ("stderr".into(), f64::NAN)],
            }],
            error: None,
            log: Some("logs/x.eval".into()),
        }
    }

    #[test]
    fn plain_summary() {
        assert_eq!(
            render_plain(&[sample()]),
            "arithmetic · mockllm/model: success\n\
             \x20 samples       40/40 (20 samples × 2 epochs)\n\
             \x20 time          1.50s\n\
             \x20 tokens        1,234 (in 1,000, out 234)\n\
             \x20 match (mean)  accuracy 0.250  stderr nan\n\
             \x20 log           logs/x.eval\n"
        );
    }

    #[test]
    fn rich_panel_is_aligned_and_plain_without_color() {
        let text = render_rich(&[sample()], false);
        let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(!text.contains('\x1b'));
        assert!(render_rich(&[sample()], true).contains('\x1b'));
    }

    #[test]
    fn json_record() {
        let record = sample().to_json();
        assert_eq!(record["status"], "success");
        assert_eq!(record["log"], "logs/x.eval");
        assert_eq!(record["scores"][0]["metrics"]["accuracy"], 0.25);
        assert!(record["scores"][0]["metrics"]["stderr"].is_null());
        assert_eq!(record["tokens"]["total"], 1234);
    }
}
