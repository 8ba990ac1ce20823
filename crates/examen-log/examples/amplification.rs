//! Measures write amplification and memory of the `.eval` writer.
//!
//! `cargo run --release -p examen-log --example amplification -- [samples] [buffer] [eval|json]`
//! (defaults: 100000 samples, buffer 10, eval). Prints bytes written, final size,
//! their ratio, the flush count, and resident memory at 10% and at the end (Linux).

use std::time::{Duration, Instant};

use examen_log::events::{EventBase, SpanBeginEvent, SpanEndEvent};
use examen_log::{
    EvalDataset, EvalPlan, EvalSample, EvalSpec, Event, LogFinish, LogFormat, LogStart, LogWriter,
    SampleId, WriterOptions, LOG_SCHEMA_VERSION,
};
use examen_types::{ChatMessage, ModelOutput, ModelUsage, Score};

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn sample(i: u64) -> EvalSample {
    let question = format!(
        "Question {i}: {}",
        "Summarise the following passage. ".repeat(8)
    );
    let reply = format!(
        "Answer {i}: {}",
        "The passage says several things. ".repeat(10)
    );
    let mut s = EvalSample::new(SampleId::Int(i as i64 + 1), 1, question.as_str(), "42");
    s.messages = vec![
        ChatMessage::user(question.as_str()),
        ChatMessage::assistant(reply.as_str()),
    ];
    s.output = ModelOutput::from_text("mockllm/model", reply.clone());
    s.output.usage = Some(ModelUsage::new(120, 80));
    let mut scores = indexmap::IndexMap::new();
    scores.insert(
        "match".to_owned(),
        Score::new(if i.is_multiple_of(2) { "C" } else { "I" }).with_answer(reply),
    );
    s.scores = Some(scores);
    s.uuid = Some(examen_types::short_uuid());
    let span = examen_types::short_uuid();
    s.events = vec![
        Event::SpanBegin(SpanBeginEvent {
            base: EventBase::new(Some(span.clone()), 0.0),
            id: span.clone(),
            parent_id: None,
            kind: Some("solvers".into()),
            name: "solvers".into(),
        }),
        Event::SpanEnd(SpanEndEvent {
            base: EventBase::new(Some(span.clone()), 0.5),
            id: span,
        }),
    ];
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let buffer: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let format = match args.get(3).map(String::as_str) {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Eval,
    };
    let dir = std::env::temp_dir().join(format!("examen-amplification-{}", std::process::id()));
    let start = LogStart {
        version: LOG_SCHEMA_VERSION,
        eval: EvalSpec::new("amplification", "mockllm/model", EvalDataset::default()),
        plan: EvalPlan::default(),
    };
    let opts = WriterOptions {
        buffer_samples: buffer,
        flush_interval: Duration::from_secs(10),
        ..Default::default()
    };
    let mut w = LogWriter::create(&dir, format, start, opts).expect("create log");
    let t = Instant::now();
    let mut rss_10 = 0;
    let mut sample_bytes = 0u64;
    for i in 0..n {
        let s = sample(i);
        if i == 0 {
            sample_bytes = serde_json::to_vec(&s).map(|v| v.len() as u64).unwrap_or(0);
        }
        w.write_sample(&s).expect("write sample");
        if i + 1 == n / 10 {
            rss_10 = rss_kib("VmRSS:");
        }
    }
    let (path, stats) = w.finish_with_stats(&LogFinish::default()).expect("finish");
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let elapsed = t.elapsed();
    println!("format: {format:?}, samples: {n}, buffer: {buffer}, sample JSON ~{sample_bytes} B");
    println!("flushes: {}", stats.flushes);
    println!("bytes written: {}", stats.bytes_written);
    println!("final file size: {len}");
    println!(
        "write amplification (bytes written / final size): {:.3}",
        stats.bytes_written as f64 / len as f64
    );
    // Inspect copies its whole temp zip to the destination at every flush.
    let flushes_inspect = n.div_ceil(buffer as u64);
    let inspect_bytes: f64 = (1..=flushes_inspect)
        .map(|k| len as f64 * k as f64 / flushes_inspect as f64)
        .sum();
    println!(
        "Inspect-style full copy per flush ({flushes_inspect} flushes): ~{:.0} bytes, amplification ~{:.0}",
        inspect_bytes,
        inspect_bytes / len as f64
    );
    println!(
        "RSS at 10%: {} KiB, at end: {} KiB, peak: {} KiB",
        rss_10,
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:")
    );
    println!("elapsed: {elapsed:.2?}");
    let _ = std::fs::remove_dir_all(&dir);
}
