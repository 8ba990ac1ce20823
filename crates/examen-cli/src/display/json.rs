//! `--json`: one JSON record per task × model run on stdout, printed as each run finishes (see
//! [`RunSummary::to_json`] for the fields). Runs that fail before they start are printed by
//! the eval command at the end, from the engine's outcomes.

use std::io::Write;

use examen::EvalEvent;

use super::summary::RunSummary;
use super::{Display, Gauge, Progress};

pub(crate) struct JsonLines;

impl Display for JsonLines {
    fn event(&mut self, event: &EvalEvent, progress: &Progress) {
        let EvalEvent::TaskFinished {
            run,
            status,
            results,
            error,
            log_location,
        } = event
        else {
            return;
        };
        let Some(Some(state)) = progress.runs.get(*run) else {
            return;
        };
        let summary = RunSummary::from_progress(
            state,
            *status,
            results.as_ref(),
            error.clone(),
            log_location.clone(),
        );
        let mut stdout = std::io::stdout().lock();
        // A reader that went away (`| head -1`) does not stop the eval.
        let _ = writeln!(stdout, "{}", summary.to_json());
        let _ = stdout.flush();
    }

    fn tick(&mut self, _: &Progress, _: &[Gauge]) {}

    fn close(&mut self, _: &Progress) {}
}

/// Two displays fed the same stream (a progress view on stderr and JSON records on stdout).
pub(crate) struct Both(pub(crate) Box<dyn Display>, pub(crate) Box<dyn Display>);

impl Display for Both {
    fn event(&mut self, event: &EvalEvent, progress: &Progress) {
        self.0.event(event, progress);
        self.1.event(event, progress);
    }

    fn tick(&mut self, progress: &Progress, gauges: &[Gauge]) {
        self.0.tick(progress, gauges);
        self.1.tick(progress, gauges);
    }

    fn close(&mut self, progress: &Progress) {
        self.0.close(progress);
        self.1.close(progress);
    }
}
