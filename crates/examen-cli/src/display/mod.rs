//! Showing an eval while it runs: displays are consumers of the engine's event stream
//! ([`examen::EvalEvent`]) plus a periodic tick with the models' gauges (connections in use,
//! retries), so a new view (a full-screen one) is one more [`Display`] implementation.
//!
//! - [`rich`]: a live progress bar per task × model, on stderr (indicatif).
//! - [`plain`]: a progress line at most every few seconds, on stderr.
//! - `none`: nothing.
//! - [`json`]: one JSON record per finished run on stdout (`--json`), beside any of the above.
//!
//! After the run, [`summary`] renders the results (to stdout): a panel for `rich`, the same
//! lines as text otherwise.

pub(crate) mod json;
pub(crate) mod plain;
pub(crate) mod rich;
pub(crate) mod summary;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use examen::EvalEvent;
use examen_model::Model;
use examen_types::ModelUsage;

use crate::args::DisplayMode;

/// The resolved display mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Rich,
    Plain,
    None,
}

impl Mode {
    /// `--display`, else `rich` on a terminal and `plain` when stdout is not one or `CI` is set.
    pub(crate) fn resolve(flag: Option<DisplayMode>) -> Mode {
        match flag {
            Some(DisplayMode::Rich) => Mode::Rich,
            Some(DisplayMode::Plain) => Mode::Plain,
            Some(DisplayMode::None) => Mode::None,
            None => {
                let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
                if !ci && std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
                    Mode::Rich
                } else {
                    Mode::Plain
                }
            }
        }
    }
}

/// Whether colour goes to stderr (NO_COLOR, CLICOLOR_FORCE and the terminal, as anstream
/// decides).
pub(crate) fn stderr_color() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Whether colour goes to stdout.
pub(crate) fn stdout_color() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// Live figures of one model, read on every tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gauge {
    pub(crate) model: String,
    pub(crate) in_use: usize,
    pub(crate) limit: usize,
    pub(crate) retries: u64,
}

/// Reads the gauges of `models`.
pub(crate) fn gauges(models: &[Model]) -> Vec<Gauge> {
    models
        .iter()
        .map(|model| {
            let (in_use, limit) = model.connections();
            Gauge {
                model: model.name().to_string(),
                in_use,
                limit,
                retries: model.retries(),
            }
        })
        .collect()
}

/// A view of a running eval.
pub(crate) trait Display: Send {
    /// One event from the engine, in the order they were sent.
    fn event(&mut self, event: &EvalEvent, progress: &Progress);
    /// Called every [`TICK`] (and once before [`close`](Self::close)) with the models' gauges.
    fn tick(&mut self, progress: &Progress, gauges: &[Gauge]);
    /// The eval is over: stop drawing.
    fn close(&mut self, progress: &Progress);
    /// A warning from the model layer (an option a provider does not send), shown once.
    fn warning(&mut self, _text: &str) {}
}

/// How often displays are ticked.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// A display that shows nothing (`--display none`, and under `--json`).
pub(crate) struct Silent;

impl Display for Silent {
    fn event(&mut self, _: &EvalEvent, _: &Progress) {}
    fn tick(&mut self, _: &Progress, _: &[Gauge]) {}
    fn close(&mut self, _: &Progress) {}
}

/// What is known about one task × model run, built from the events.
#[derive(Debug, Clone)]
pub(crate) struct RunProgress {
    pub(crate) task: String,
    pub(crate) model: String,
    pub(crate) total: usize,
    pub(crate) samples: usize,
    pub(crate) epochs: usize,
    pub(crate) completed: usize,
    pub(crate) errors: usize,
    pub(crate) sample_retries: u64,
    /// The model's retries, as its gauge last read (when the run finished, for a finished run).
    pub(crate) model_retries: u64,
    pub(crate) running: Option<(String, f64)>,
    pub(crate) connections: Option<(usize, usize)>,
    pub(crate) usage: ModelUsage,
    pub(crate) started: Instant,
    pub(crate) elapsed: Option<Duration>,
    pub(crate) finished: bool,
}

impl RunProgress {
    /// Time since the run started, or its duration once finished.
    pub(crate) fn elapsed(&self) -> Duration {
        self.elapsed.unwrap_or_else(|| self.started.elapsed())
    }

    /// Retries so far: the model's (HTTP) and the samples' (`retry_on_error`).
    pub(crate) fn retries(&self) -> u64 {
        self.model_retries + self.sample_retries
    }

    /// Remaining time at the pace so far.
    pub(crate) fn eta(&self) -> Option<Duration> {
        if self.completed == 0 || self.finished {
            return None;
        }
        let left = self.total.saturating_sub(self.completed) as f64;
        Some(self.elapsed().mul_f64(left / self.completed as f64))
    }
}

/// Every run's progress, indexed by the engine's run number.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) runs: Vec<Option<RunProgress>>,
}

impl Progress {
    /// Updates the state with an event; returns the run it concerns.
    pub(crate) fn apply(&mut self, event: &EvalEvent) -> Option<usize> {
        match event {
            EvalEvent::TaskStarted {
                run,
                task,
                model,
                total,
                samples,
                epochs,
            } => {
                if self.runs.len() <= *run {
                    self.runs.resize(*run + 1, None);
                }
                self.runs[*run] = Some(RunProgress {
                    task: task.clone(),
                    model: model.clone(),
                    total: *total,
                    samples: *samples,
                    epochs: *epochs,
                    completed: 0,
                    errors: 0,
                    sample_retries: 0,
                    model_retries: 0,
                    running: None,
                    connections: None,
                    usage: ModelUsage::default(),
                    started: Instant::now(),
                    elapsed: None,
                    finished: false,
                });
                Some(*run)
            }
            EvalEvent::SampleFinished {
                run,
                usage,
                error,
                completed,
                running,
                ..
            } => {
                let state = self.run_mut(*run)?;
                state.completed = (*completed).max(state.completed);
                if error.is_some() {
                    state.errors += 1;
                }
                state.usage += usage.clone();
                if running.is_some() {
                    state.running.clone_from(running);
                }
                Some(*run)
            }
            EvalEvent::SampleRetry { run, .. } => {
                self.run_mut(*run)?.sample_retries += 1;
                Some(*run)
            }
            EvalEvent::Connections {
                run, in_use, limit, ..
            } => {
                self.run_mut(*run)?.connections = Some((*in_use, *limit));
                Some(*run)
            }
            EvalEvent::TaskFinished { run, .. } => {
                let state = self.run_mut(*run)?;
                state.elapsed = Some(state.started.elapsed());
                state.finished = true;
                Some(*run)
            }
            _ => None,
        }
    }

    /// Records the models' retry counts in the runs still going: what the progress line shows
    /// is what the summary shows.
    pub(crate) fn read_gauges(&mut self, gauges: &[Gauge]) {
        for run in self.runs.iter_mut().flatten().filter(|r| !r.finished) {
            if let Some(gauge) = gauges.iter().find(|g| g.model == run.model) {
                run.model_retries = gauge.retries;
            }
        }
    }

    fn run_mut(&mut self, run: usize) -> Option<&mut RunProgress> {
        self.runs.get_mut(run).and_then(Option::as_mut)
    }

    /// The runs that started, in run order.
    pub(crate) fn started(&self) -> impl Iterator<Item = (usize, &RunProgress)> {
        self.runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
    }

    /// The first started run for `task` × `model` not yet in `taken`, marking it taken (the
    /// engine's outcomes do not carry run numbers; the same task file may run twice).
    pub(crate) fn claim(
        &self,
        task: &str,
        model: &str,
        taken: &mut Vec<usize>,
        wanted: impl Fn(&RunProgress) -> bool,
    ) -> Option<&RunProgress> {
        let (index, run) = self
            .started()
            .find(|(i, r)| r.task == task && r.model == model && !taken.contains(i) && wanted(r))?;
        taken.push(index);
        Some(run)
    }
}

fn show_warnings(display: &mut dyn Display, models: &[Model]) {
    for model in models {
        for warning in model.take_warnings() {
            display.warning(&warning);
        }
    }
}

/// Runs a display until the event stream ends (the engine dropped its sender), ticking it with
/// the models' gauges; returns the progress it saw.
pub(crate) async fn consume(
    events: examen_rt::Receiver<EvalEvent>,
    mut display: Box<dyn Display>,
    models: Vec<Model>,
) -> Progress {
    let mut progress = Progress::default();
    let mut next_tick = Instant::now() + TICK;
    loop {
        match examen_rt::timeout_at(next_tick, events.recv()).await {
            Ok(Some(event)) => {
                if matches!(event, EvalEvent::TaskFinished { .. }) {
                    // The retries as the run ends, before it is marked finished.
                    progress.read_gauges(&gauges(&models));
                }
                progress.apply(&event);
                if let EvalEvent::Warning { message, .. } = &event {
                    display.warning(message);
                }
                display.event(&event, &progress);
            }
            Ok(None) => break,
            Err(_) => {}
        }
        if Instant::now() >= next_tick {
            show_warnings(display.as_mut(), &models);
            let gauges = gauges(&models);
            progress.read_gauges(&gauges);
            display.tick(&progress, &gauges);
            next_tick = Instant::now() + TICK;
        }
    }
    show_warnings(display.as_mut(), &models);
    let last = gauges(&models);
    progress.read_gauges(&last);
    display.tick(&progress, &last);
    display.close(&progress);
    progress
}

/// `3/10 samples` and `, 1 error` when there are errors: how every view (progress line, final
/// line, summary) shows a run's counts, which all come from the same [`RunProgress`].
/// `finished` counts every sample × epoch that finished, errored ones included.
pub(crate) fn errors_text(errors: u64) -> String {
    match errors {
        0 => String::new(),
        1 => ", 1 error".into(),
        n => format!(", {n} errors"),
    }
}

/// `1.23s`, `4m 05s`, `1h 02m 03s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.2}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!(
            "{}h {:02}m {:02}s",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )
    }
}

/// `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A metric value as Inspect shows it (three decimals; `nan` for NaN).
pub(crate) fn format_metric(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(format_duration(Duration::from_millis(1234)), "1.23s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m 05s");
        assert_eq!(format_duration(Duration::from_secs(3723)), "1h 02m 03s");
        assert_eq!(format_metric(f64::NAN), "nan");
        assert_eq!(format_metric(0.5), "0.500");
    }

    #[test]
    fn progress_follows_the_events() {
        let mut progress = Progress::default();
        progress.apply(&EvalEvent::TaskStarted {
            run: 1,
            task: "t".into(),
            model: "m".into(),
            total: 4,
            samples: 2,
            epochs: 2,
        });
        assert!(progress.runs[0].is_none());
        for completed in 1..=2 {
            progress.apply(&EvalEvent::SampleFinished {
                run: 1,
                sample_id: examen::sample::SampleId::Int(1),
                epoch: 1,
                scores: IndexMap::new(),
                usage: ModelUsage::new(10, 5),
                error: (completed == 2).then(|| "boom".to_string()),
                limit: None,
                completed,
                running: Some(("accuracy".into(), 0.5)),
            });
        }
        let run = progress.runs[1].as_ref().unwrap();
        assert_eq!((run.completed, run.errors, run.total), (2, 1, 4));
        assert_eq!(run.usage.total_tokens, 30);
        assert!(run.eta().is_some());
        let mut taken = Vec::new();
        assert!(progress
            .claim("t", "m", &mut taken, |r| r.finished)
            .is_none());
        assert!(progress.claim("t", "m", &mut taken, |_| true).is_some());
        assert!(progress.claim("t", "m", &mut taken, |_| true).is_none());
    }
}
