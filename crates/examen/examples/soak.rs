//! Soak: N samples (default 100,000) through a slow mock model with
//! `max_samples` 1,000 and an `.eval` log, on one backend. Reads the resident
//! set size (`VmRSS`) when 10,000 and when all N samples have finished, then
//! checks that every sample landed in the log exactly once. Exits non-zero
//! when the log is incomplete.
//!
//! Next to each RSS it prints the live heap (a counting wrapper around the
//! system allocator): a heap that stays flat while RSS grows is the allocator
//! keeping freed memory, not the engine keeping data. The peak is the eval's
//! own, finishing the log included. `SOAK_VERBOSE=1` also prints RSS and heap
//! every 10,000 samples.
//!
//! glibc raises its mmap threshold to the largest mmapped block freed so far
//! (up to 32 MiB) and its trim threshold to twice that, after which every
//! arena may keep that much freed memory resident: RSS then creeps up over the
//! run although the heap does not. `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072`
//! pins the thresholds, to tell the two apart.
//!
//! ```text
//! cargo build --release -p examen --example soak
//! EXAMEN_ASYNC_BACKEND=tokio target/release/examples/soak [N] [latency ms] [log dir]
//! EXAMEN_ASYNC_BACKEND=smol  target/release/examples/soak
//! ```
//!
//! `crates/examen/soak.sh` runs it on both backends.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examen::dataset::Dataset;
use examen::runner::log::EvalLogger;
use examen::runner::LogDir;
use examen::sample::Sample;
use examen::{scorer, EvalEvent, EvalOptions, Task};
use examen_log::{LogFormat, LogReader};
use examen_model::{MockLlm, Model};
use examen_types::ModelOutput;

/// The system allocator, counting the bytes it has live: the heap's share of
/// the resident set (the rest is allocator slack, stacks and code), so a growing
/// RSS can be told apart from a growing heap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// Reason: a global allocator cannot be written without `unsafe`; this one only
// forwards to `System` and counts, and lives in this example, not in a library.
// SAFETY: every call is forwarded to `System` unchanged; only a counter is added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live heap bytes in MiB.
fn heap_mib() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
}

/// Resident and peak resident set size in MiB, from `/proc/self/status`.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let latency_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("examen-soak-{}", std::process::id())),
        PathBuf::from,
    );
    let backend = examen_rt::Backend::from_env().unwrap_or(examen_rt::Backend::Tokio);
    let checkpoint = 10_000.min(n);
    // SOAK_VERBOSE=1: also print RSS and heap every 10,000 samples.
    let verbose = std::env::var_os("SOAK_VERBOSE").is_some();

    let samples = (0..n)
        .map(|i| Sample::new(format!("What is {i} + 1?"), (i + 1).to_string()))
        .collect();
    let dataset = Dataset::from_samples(samples).unwrap_or_default();
    let task = Task::new("soak", dataset).scorer(Arc::new(scorer::Match {
        numeric: true,
        ..scorer::Match::default()
    }));
    let model = Model::from_mock(
        MockLlm::from_fn(|_| ModelOutput::from_text("mockllm/model", "ANSWER: 1"))
            .with_latency(Duration::from_millis(latency_ms)),
    );
    let options = EvalOptions {
        max_samples: Some(1000),
        logger: Some(Arc::new(LogDir::new(&dir, LogFormat::Eval)) as Arc<dyn EvalLogger>),
        ..EvalOptions::default()
    };

    if verbose {
        eprintln!(
            "  before the eval (dataset built): RSS {:.1} MiB, heap {:.1} MiB",
            rss_mib().0,
            heap_mib()
        );
    }
    let started = Instant::now();
    let (rss_at_checkpoint, rss_at_end, outcome) = examen_rt::run(backend, async move {
        let (events, receiver) = examen_rt::channel(4096);
        let watcher = examen_rt::spawn(async move {
            let mut at_checkpoint = None;
            let mut at_end = None;
            while let Some(event) = receiver.recv().await {
                if let EvalEvent::SampleFinished { completed, .. } = event {
                    if completed == checkpoint {
                        at_checkpoint = Some((rss_mib().0, heap_mib()));
                    }
                    if completed == n {
                        at_end = Some((rss_mib().0, heap_mib()));
                    }
                    if verbose && completed % 10_000 == 0 {
                        eprintln!(
                            "  {completed}: RSS {:.1} MiB, heap {:.1} MiB (peak so far {:.1} MiB)",
                            rss_mib().0,
                            heap_mib(),
                            PEAK.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
                        );
                    }
                }
            }
            (at_checkpoint, at_end)
        });
        let outcome = examen::eval(vec![task], vec![model], options, Some(events)).await;
        let (at_checkpoint, at_end) = watcher.await.unwrap_or((None, None));
        (at_checkpoint, at_end, outcome)
    });
    let elapsed = started.elapsed().as_secs_f64();
    if verbose {
        eprintln!(
            "  after the eval: RSS {:.1} MiB, heap {:.1} MiB (peak {:.1} MiB)",
            rss_mib().0,
            heap_mib(),
            PEAK.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
        );
    }
    // The peak of the eval itself (finishing the log included), before the
    // checks below read the log back.
    let (_, peak) = rss_mib();
    let outcome = match outcome {
        Ok(mut outcomes) => outcomes.remove(0),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Some(location) = outcome.log_location.clone() else {
        eprintln!("error: no log written ({:?})", outcome.error);
        return std::process::ExitCode::FAILURE;
    };

    let reader = match LogReader::open(std::path::Path::new(&location)) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let summaries = reader.summaries().unwrap_or_default();
    let unique: HashSet<String> = summaries
        .iter()
        .map(|s| format!("{}:{}", s.id, s.epoch))
        .collect();
    let complete = reader.sample_count() == n && summaries.len() == n && unique.len() == n;
    let size = std::fs::metadata(&location).map_or(0, |m| m.len());
    let fmt = |v: Option<(f64, f64)>| {
        v.map_or("?".into(), |(rss, heap)| {
            format!("{rss:.1} MiB (heap {heap:.1} MiB)")
        })
    };
    let growth = match (rss_at_checkpoint, rss_at_end) {
        (Some((at_checkpoint, _)), Some((at_end, _))) => {
            format!("{:+.1}%", (at_end / at_checkpoint - 1.0) * 100.0)
        }
        _ => "?".into(),
    };
    println!(
        "{backend}: {n} samples, latency {latency_ms} ms, max_samples 1000: {elapsed:.1}s \
         ({:.0} samples/s); RSS at {checkpoint}: {}, at {n}: {} ({growth}), peak {peak:.1} MiB; \
         log {:.1} MB with {} samples ({} unique), status {:?}",
        n as f64 / elapsed,
        fmt(rss_at_checkpoint),
        fmt(rss_at_end),
        size as f64 / 1e6,
        reader.sample_count(),
        unique.len(),
        outcome.status,
        backend = backend.name(),
    );
    let _ = std::fs::remove_file(&location);
    let _ = std::fs::remove_dir(&dir);
    if complete {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("error: the log does not hold every sample exactly once");
        std::process::ExitCode::FAILURE
    }
}
