//! `--display plain`: lines on stderr, for logs and CI: one when a run starts, a progress line
//! per running run at most every [`INTERVAL`], one when a run finishes.

use std::io::Write;
use std::time::{Duration, Instant};

use examen::EvalEvent;

use super::{format_duration, Display, Gauge, Progress, RunProgress};

/// The least time between two progress lines.
pub(crate) const INTERVAL: Duration = Duration::from_secs(3);

pub(crate) struct Plain {
    out: Box<dyn Write + Send>,
    last: Instant,
}

impl Plain {
    pub(crate) fn new() -> Plain {
        Plain {
            out: Box::new(std::io::stderr()),
            last: Instant::now(),
        }
    }

    fn line(&mut self, text: &str) {
        // A closed stderr must not stop the eval.
        let _ = writeln!(self.out, "{text}");
    }
}

fn label(run: &RunProgress) -> String {
    format!("{} ({})", run.task, run.model)
}

/// `arithmetic (mockllm/model): 12/40 samples, 3.10s, ETA 7.00s, accuracy 0.250, conn 3/10, retries 0`
pub(crate) fn progress_line(run: &RunProgress, gauge: Option<&Gauge>) -> String {
    let mut line = format!(
        "{}: {}/{} samples, {}",
        label(run),
        run.completed,
        run.total,
        format_duration(run.elapsed())
    );
    if let Some(eta) = run.eta() {
        line.push_str(&format!(", ETA {}", format_duration(eta)));
    }
    let status = super::rich::status_message(run, gauge).replace(" · ", ", ");
    if !status.is_empty() {
        line.push_str(", ");
        line.push_str(&status);
    }
    line
}

impl Display for Plain {
    fn event(&mut self, event: &EvalEvent, progress: &Progress) {
        match event {
            EvalEvent::TaskStarted {
                run,
                total,
                samples,
                epochs,
                ..
            } => {
                if let Some(Some(state)) = progress.runs.get(*run) {
                    let text = format!(
                        "{}: started, {total} samples ({samples} × {epochs} epochs)",
                        label(state)
                    );
                    self.line(&text);
                }
            }
            EvalEvent::TaskFinished {
                run, status, error, ..
            } => {
                if let Some(Some(state)) = progress.runs.get(*run) {
                    let mut text = format!(
                        "{}: {}, {}/{} samples{} in {}",
                        label(state),
                        super::summary::status_name(*status),
                        state.completed,
                        state.total,
                        super::errors_text(state.errors as u64),
                        format_duration(state.elapsed())
                    );
                    if let Some(error) = error {
                        text.push_str(&format!(": {error}"));
                    }
                    self.line(&text);
                }
            }
            _ => {}
        }
    }

    fn warning(&mut self, text: &str) {
        self.line(&format!("warning: {text}"));
    }

    fn tick(&mut self, progress: &Progress, gauges: &[Gauge]) {
        if self.last.elapsed() < INTERVAL {
            return;
        }
        self.last = Instant::now();
        let lines: Vec<String> = progress
            .started()
            .filter(|(_, run)| !run.finished)
            .map(|(_, run)| {
                let gauge = gauges.iter().find(|g| g.model == run.model);
                progress_line(run, gauge)
            })
            .collect();
        for line in lines {
            self.line(&line);
        }
    }

    fn close(&mut self, _progress: &Progress) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_has_count_time_eta_and_gauges() {
        let mut run = crate::display::rich::tests::run_progress();
        run.errors = 0;
        run.connections = None;
        assert_eq!(
            progress_line(&run, None),
            "t (openai/m): 4/10 samples, 8.00s, ETA 12.00s, match 0.500, retries 2"
        );
    }
}
