//! `--display rich`: one live progress bar per task × model on stderr (indicatif, which needs no
//! async runtime): samples done/total, elapsed, ETA, the running metric, connections in use and
//! retries so far.

use examen::EvalEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Display, Gauge, Progress, RunProgress};

pub(crate) struct Rich {
    multi: MultiProgress,
    bars: Vec<Option<ProgressBar>>,
    style: ProgressStyle,
}

impl Rich {
    pub(crate) fn new(color: bool) -> Rich {
        let template = if color {
            "{prefix:.bold} {bar:30.cyan/blue} {pos:>5}/{len:<5} {elapsed_precise} {msg}"
        } else {
            "{prefix} {bar:30} {pos:>5}/{len:<5} {elapsed_precise} {msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Rich {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: Vec::new(),
            style,
        }
    }

    fn bar(&self, run: usize) -> Option<&ProgressBar> {
        self.bars.get(run).and_then(Option::as_ref)
    }

    fn refresh_prefixes(&self, progress: &Progress) {
        let width = progress
            .started()
            .map(|(_, r)| label(r).chars().count())
            .max()
            .unwrap_or(0);
        for (run, state) in progress.started() {
            if let Some(bar) = self.bar(run) {
                bar.set_prefix(format!("{:<width$}", label(state)));
            }
        }
    }
}

fn label(run: &RunProgress) -> String {
    format!("{} · {}", run.task, run.model)
}

/// `HH:MM:SS`, as indicatif shows the elapsed time.
fn clock(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// The text after the bar: the running metric, connections, retries, errors.
pub(crate) fn status_message(run: &RunProgress, gauge: Option<&Gauge>) -> String {
    let mut parts = Vec::new();
    if let Some((name, value)) = &run.running {
        parts.push(format!("{name} {}", super::format_metric(*value)));
    }
    let connections = gauge
        .filter(|g| g.limit > 0)
        .map(|g| (g.in_use, g.limit))
        .or(run.connections);
    if let Some((in_use, limit)) = connections {
        parts.push(format!("conn {in_use}/{limit}"));
    }
    let retries = gauge.map_or(run.model_retries, |g| g.retries) + run.sample_retries;
    parts.push(format!("retries {retries}"));
    if run.errors > 0 {
        parts.push(format!("errors {}", run.errors));
    }
    parts.join(" · ")
}

impl Display for Rich {
    fn event(&mut self, event: &EvalEvent, progress: &Progress) {
        match event {
            EvalEvent::TaskStarted { run, total, .. } => {
                let bar = self
                    .multi
                    .add(ProgressBar::new(*total as u64).with_style(self.style.clone()));
                if self.bars.len() <= *run {
                    self.bars.resize(*run + 1, None);
                }
                self.bars[*run] = Some(bar);
                self.refresh_prefixes(progress);
            }
            EvalEvent::SampleFinished { run, completed, .. } => {
                if let Some(bar) = self.bar(*run) {
                    bar.set_position(*completed as u64);
                }
            }
            EvalEvent::TaskFinished {
                run, status, error, ..
            } => {
                if let (Some(bar), Some(Some(state))) = (self.bar(*run), progress.runs.get(*run)) {
                    let mut message = status_message(state, None);
                    match error {
                        Some(error) => {
                            message = format!("{}: {error}", super::summary::status_name(*status));
                        }
                        None => message.push_str(" · done"),
                    }
                    bar.finish_with_message(message);
                }
            }
            _ => {}
        }
    }

    fn warning(&mut self, text: &str) {
        // Above the bars; a closed stderr must not stop the eval.
        let _ = self.multi.println(format!("warning: {text}"));
    }

    fn tick(&mut self, progress: &Progress, gauges: &[Gauge]) {
        for (run, state) in progress.started() {
            if state.finished {
                continue;
            }
            if let Some(bar) = self.bar(run) {
                let gauge = gauges.iter().find(|g| g.model == state.model);
                // The ETA at the pace so far (indicatif's own estimate lags behind bursts).
                let eta = state.eta().map_or_else(
                    || "ETA --:--:--".to_string(),
                    |eta| format!("ETA {}", clock(eta)),
                );
                bar.set_message(format!("{eta} · {}", status_message(state, gauge)));
                bar.tick();
            }
        }
    }

    fn close(&mut self, _progress: &Progress) {
        for bar in self.bars.iter().flatten() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    pub(crate) fn run_progress() -> RunProgress {
        RunProgress {
            task: "t".into(),
            model: "openai/m".into(),
            total: 10,
            samples: 5,
            epochs: 2,
            completed: 4,
            errors: 1,
            sample_retries: 2,
            model_retries: 0,
            running: Some(("match".into(), 0.5)),
            connections: Some((1, 4)),
            usage: examen_types::ModelUsage::default(),
            started: Instant::now(),
            elapsed: Some(Duration::from_secs(8)),
            finished: false,
        }
    }

    #[test]
    fn the_message_shows_metric_connections_retries_and_errors() {
        let run = run_progress();
        assert_eq!(
            status_message(&run, None),
            "match 0.500 · conn 1/4 · retries 2 · errors 1"
        );
        // Live gauges win over the last event; model retries add to sample retries.
        let gauge = Gauge {
            model: "openai/m".into(),
            in_use: 3,
            limit: 10,
            retries: 5,
        };
        assert_eq!(
            status_message(&run, Some(&gauge)),
            "match 0.500 · conn 3/10 · retries 7 · errors 1"
        );
        assert_eq!(clock(Duration::from_secs(3723)), "01:02:03");
    }
}
