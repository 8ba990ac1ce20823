//! The writer and reader together: both formats, streaming state, crash recovery.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use examen_log::{
    read_log, read_summaries, recover, EvalStatus, LogFormat, LogReader, LogWriter, ReadOptions,
    SampleId, WriterOptions,
};
use examen_types::Value;

fn opts(buffer: usize) -> WriterOptions {
    WriterOptions {
        buffer_samples: buffer,
        ..Default::default()
    }
}

fn keys(samples: impl IntoIterator<Item = (SampleId, u32)>) -> BTreeSet<String> {
    samples
        .into_iter()
        .map(|(id, epoch)| format!("{id}:{epoch}"))
        .collect()
}

fn write_full(dir: &Path, format: LogFormat, n: usize, epochs: u32) -> std::path::PathBuf {
    let ids = common::ids(n);
    let start = common::start("roundtrip", &ids, epochs);
    let mut w = LogWriter::create(dir, format, start.clone(), opts(3)).unwrap();
    for epoch in 1..=epochs {
        for (i, id) in ids.iter().enumerate() {
            w.write_sample(&common::sample(id.clone(), epoch, i))
                .unwrap();
        }
    }
    w.finish(&common::finish(&ids, epochs)).unwrap()
}

#[test]
fn both_formats_read_back_whole() {
    for format in [LogFormat::Eval, LogFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let path = write_full(dir.path(), format, 7, 2);
        assert_eq!(LogFormat::from_path(&path), Some(format));
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.contains("_roundtrip_"), "{name}");

        let log = read_log(&path, ReadOptions::default()).unwrap();
        assert_eq!(log.status, EvalStatus::Success);
        let samples = log.samples.as_ref().unwrap();
        assert_eq!(samples.len(), 14);
        // Inspect's order: epoch, then id (ints zero-padded, so 1 < 10 < s1)
        assert_eq!(samples[0].epoch, 1);
        assert_eq!(samples[7].epoch, 2);
        let first_ids: Vec<String> = samples[..7].iter().map(|s| s.id.to_string()).collect();
        assert_eq!(first_ids, ["1", "3", "4", "6", "7", "s1", "s4"]);
        // the NaN "unscored" value survives the round trip
        let nan = samples.iter().find(|s| s.metadata["index"] == 5).unwrap();
        assert!(nan.scores.as_ref().unwrap()["includes"].value.is_nan());
        let ok = samples.iter().find(|s| s.metadata["index"] == 0).unwrap();
        assert_eq!(
            ok.scores.as_ref().unwrap()["includes"].value,
            Value::from("C")
        );
        assert_eq!(ok.events.len(), 12);
        assert_eq!(ok.events[5].kind(), "model");

        let metrics = &log.results.as_ref().unwrap().scores[0].metrics;
        assert!(metrics["accuracy"].value > 0.0);
        assert!(log
            .reductions
            .as_ref()
            .is_some_and(|r| r[0].samples.len() == 7));

        let header = read_log(&path, ReadOptions { header_only: true }).unwrap();
        assert!(header.samples.is_none());
        assert_eq!(header.eval.eval_id, log.eval.eval_id);

        let summaries = read_summaries(&path).unwrap();
        assert_eq!(summaries.len(), 14);
        assert!(summaries
            .iter()
            .all(|s| s.completed && s.message_count == Some(2)));

        let reader = LogReader::open(&path).unwrap();
        let one = reader
            .read_sample(&SampleId::from("s4"), 2)
            .unwrap()
            .unwrap();
        assert_eq!(one.epoch, 2);
        assert!(reader.read_sample(&SampleId::Int(99), 1).unwrap().is_none());
        if format == LogFormat::Json {
            assert!(
                !examen_log_side_file(&path).exists(),
                "side file removed at finish"
            );
        }
    }
}

fn examen_log_side_file(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap().to_owned();
    name.push(".samples.partial");
    path.with_file_name(name)
}

#[test]
fn every_flush_leaves_a_readable_started_log() {
    for format in [LogFormat::Eval, LogFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let ids = common::ids(10);
        let start = common::start("streaming", &ids, 1);
        let mut w = LogWriter::create(dir.path(), format, start.clone(), opts(100)).unwrap();
        let path = w.path().to_owned();
        // freshly created: a started log with no samples
        let log = read_log(&path, ReadOptions::default()).unwrap();
        assert_eq!(log.status, EvalStatus::Started);
        assert_eq!(log.samples.unwrap().len(), 0);
        for (i, id) in ids.iter().enumerate() {
            w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
            w.flush().unwrap();
            let rec = recover(&path).unwrap();
            assert_eq!(rec.sample_count(), i + 1, "{format:?} after flush {i}");
            assert!(!rec.finished);
            if format == LogFormat::Eval {
                // the .eval itself is complete after every flush
                let log = read_log(&path, ReadOptions::default()).unwrap();
                assert_eq!(log.status, EvalStatus::Started);
                assert_eq!(log.samples.unwrap().len(), i + 1);
                assert_eq!(read_summaries(&path).unwrap().len(), i + 1);
            }
        }
        // .json: the main file holds every sample as of its last (doubling) rewrite
        if format == LogFormat::Json {
            let log = read_log(&path, ReadOptions::default()).unwrap();
            assert_eq!(log.status, EvalStatus::Started);
            assert!(log.samples.unwrap().len() >= 5);
        }
        assert_eq!(w.stats().flushes, 10);
    }
}

#[test]
fn flushes_append_to_the_directory_without_rewriting_it() {
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(400);
    let start = common::start("amortised", &ids, 1);
    let mut w = LogWriter::create(dir.path(), LogFormat::Eval, start.clone(), opts(1)).unwrap();
    for (i, id) in ids.iter().enumerate() {
        w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
    }
    let before_finish = w.stats();
    // buffer of 1: a flush per sample, each a complete log
    assert_eq!(before_finish.flushes, 400, "{before_finish:?}");
    let path = w.finish(&common::finish(&ids, 1)).unwrap();
    let len = fs::metadata(&path).unwrap().len();
    let reader = LogReader::open(&path).unwrap();
    assert_eq!(reader.sample_count(), 400);
    // a flush per sample, yet the directory is not rewritten at each: moving it
    // to make room costs at most about as much as the samples themselves
    let amplification = before_finish.bytes_written as f64 / len as f64;
    assert!(
        amplification < 2.0,
        "write amplification {amplification} ({len} bytes)"
    );
}

/// Simulates a SIGKILL during every flush at many offsets: the file is the new
/// flush's bytes up to the crash point, then whatever the previous state held.
#[test]
fn recovery_after_crash_at_any_offset_keeps_every_flushed_sample() {
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(12);
    let start = common::start("crash", &ids, 1);
    let mut w = LogWriter::create(dir.path(), LogFormat::Eval, start.clone(), opts(100)).unwrap();
    let path = w.path().to_owned();
    // snapshots[k] = file bytes after flush k (k = 0: just created), with samples count
    let mut snapshots = vec![(fs::read(&path).unwrap(), 0usize)];
    for (i, id) in ids.iter().enumerate() {
        w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
        if i % 3 == 2 {
            w.flush().unwrap();
            snapshots.push((fs::read(&path).unwrap(), i + 1));
        }
    }
    let path_final = w.finish(&common::finish(&ids, 1)).unwrap();
    snapshots.push((fs::read(&path_final).unwrap(), ids.len()));

    let crashed = dir.path().join("crashed.eval");
    let mut checked = 0;
    for k in 1..snapshots.len() {
        let (before, durable) = &snapshots[k - 1];
        let (after, _) = &snapshots[k];
        for cut in (0..=after.len()).step_by(97).chain([after.len() - 1]) {
            let mut bytes = after[..cut].to_vec();
            if cut < before.len() {
                bytes.extend_from_slice(&before[cut..]);
            }
            fs::write(&crashed, &bytes).unwrap();
            let rec = recover(&crashed).unwrap_or_else(|e| panic!("flush {k}, cut {cut}: {e}"));
            let got: Vec<_> = rec
                .samples()
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|e| panic!("flush {k}, cut {cut}: {e}"));
            assert!(
                got.len() >= *durable,
                "flush {k}, cut {cut}: recovered {} of {durable} durable samples",
                got.len()
            );
            let want = keys(ids[..*durable].iter().map(|id| (id.clone(), 1)));
            let have = keys(got.iter().map(|s| (s.id.clone(), s.epoch)));
            assert!(
                have.is_superset(&want),
                "flush {k}, cut {cut}: missing samples"
            );
            assert_eq!(rec.log.eval.task, "crash");
            checked += 1;
        }
    }
    assert!(checked > 50);
}

#[test]
fn json_recovery_reads_the_side_file() {
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(5);
    let start = common::start("jsoncrash", &ids, 1);
    let mut w = LogWriter::create(dir.path(), LogFormat::Json, start.clone(), opts(2)).unwrap();
    let path = w.path().to_owned();
    for (i, id) in ids.iter().enumerate() {
        w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
    }
    // 4 samples flushed (buffer 2), the 5th still buffered; simulate the writer
    // dying while appending a line
    drop(w);
    let side = examen_log_side_file(&path);
    let mut f = fs::OpenOptions::new().append(true).open(&side).unwrap();
    std::io::Write::write_all(&mut f, b"{\"id\": 99, \"epo").unwrap();
    let rec = recover(&path).unwrap();
    assert_eq!(rec.sample_count(), 4);
    assert!(rec.stopped.is_some());
    assert_eq!(rec.samples().filter(|s| s.is_ok()).count(), 4);
}

#[test]
fn reader_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_full(dir.path(), LogFormat::Eval, 3, 1);
    let bytes = fs::read(&path).unwrap();
    let cut = dir.path().join("x.eval");
    fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let err = LogReader::open(&cut).err().unwrap().to_string();
    assert!(err.starts_with(&cut.display().to_string()), "{err}");
    assert!(err.contains("not a zip file"), "{err}");

    let text = dir.path().join("notes.json");
    fs::write(&text, "hello").unwrap();
    let err = LogReader::open(&text).err().unwrap().to_string();
    assert!(
        err.contains("notes.json") && err.contains("not an eval log"),
        "{err}"
    );

    let broken = dir.path().join("broken.json");
    fs::write(
        &broken,
        r#"{"version": 2, "status": "success", "eval": {"task": 1}}"#,
    )
    .unwrap();
    let err = LogReader::open(&broken).err().unwrap().to_string();
    assert!(
        err.contains("broken.json") && err.contains("line 1"),
        "{err}"
    );
}

/// A child process writes a log flushing after every sample and reports each flush;
/// the parent SIGKILLs it mid-stream and recovers every reported sample.
#[cfg(unix)]
#[test]
fn sigkill_mid_write_loses_no_flushed_sample() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    if let Ok(path) = std::env::var("EXAMEN_LOG_KILL_CHILD") {
        // child: write until killed
        let ids: Vec<SampleId> = (0..1_000_000).map(|i| SampleId::Int(i + 1)).collect();
        let start = common::start("killed", &ids[..10], 1);
        let mut w = LogWriter::create_at(Path::new(&path), LogFormat::Eval, start.clone(), opts(1))
            .unwrap();
        for (i, id) in ids.iter().enumerate() {
            w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
            w.flush().unwrap();
            println!("flushed {}", i + 1);
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.eval");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_mid_write_loses_no_flushed_sample",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EXAMEN_LOG_KILL_CHILD", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut flushed = 0usize;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("flushed ") {
            flushed = n.parse().unwrap();
            if flushed >= 300 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(flushed >= 300, "child stopped early");
    let rec = recover(&path).unwrap();
    assert!(!rec.finished);
    let have: BTreeSet<i64> = rec
        .samples()
        .map(|s| match s.unwrap().id {
            SampleId::Int(i) => i,
            other => panic!("unexpected id {other}"),
        })
        .collect();
    for i in 1..=flushed as i64 {
        assert!(
            have.contains(&i),
            "sample {i} was flushed before the kill but is lost"
        );
    }
}

#[test]
fn flush_interval_bounds_how_long_samples_wait() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(4);
    let start = common::start("interval", &ids, 1);
    // interval zero: every sample is flushed at once, however large the buffer
    let eager = WriterOptions {
        buffer_samples: 1000,
        flush_interval: Duration::ZERO,
        ..Default::default()
    };
    let mut w = LogWriter::create(dir.path(), LogFormat::Eval, start.clone(), eager).unwrap();
    for (i, id) in ids.iter().enumerate() {
        w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
        assert_eq!(recover(w.path()).unwrap().sample_count(), i + 1);
    }
    // an interval that cannot elapse during the test: samples wait in the buffer
    let lazy = WriterOptions {
        buffer_samples: 1000,
        flush_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    let mut w = LogWriter::create(dir.path(), LogFormat::Eval, start.clone(), lazy).unwrap();
    w.write_sample(&common::sample(ids[0].clone(), 1, 0))
        .unwrap();
    w.flush_if_due().unwrap();
    assert_eq!(recover(w.path()).unwrap().sample_count(), 0);
    w.flush().unwrap();
    assert_eq!(recover(w.path()).unwrap().sample_count(), 1);
}

#[test]
fn writer_and_reader_can_move_to_worker_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<LogWriter>();
    assert_send::<LogReader>();
    assert_send::<examen_log::LogError>();
}

#[test]
fn a_sample_written_twice_reads_as_its_latest_record() {
    for format in [LogFormat::Eval, LogFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let ids = common::ids(2);
        let start = common::start("retry", &ids, 1);
        let mut w = LogWriter::create(dir.path(), format, start.clone(), opts(1)).unwrap();
        let mut first = common::sample(ids[0].clone(), 1, 0);
        first.metadata.insert("attempt".into(), 1.into());
        w.write_sample(&first).unwrap();
        w.flush().unwrap();
        w.write_sample(&common::sample(ids[1].clone(), 1, 1))
            .unwrap();
        let mut retried = first.clone();
        retried.metadata.insert("attempt".into(), 2.into());
        w.write_sample(&retried).unwrap();
        let path = w.finish(&common::finish(&ids, 1)).unwrap();
        let log = read_log(&path, ReadOptions::default()).unwrap();
        let samples = log.samples.unwrap();
        assert_eq!(samples.len(), 2, "{format:?}");
        let s = samples.iter().find(|s| s.id == ids[0]).unwrap();
        assert_eq!(s.metadata["attempt"], 2, "{format:?}");
        assert_eq!(read_summaries(&path).unwrap().len(), 2, "{format:?}");
    }
}

#[test]
fn convert_between_formats_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let original = write_full(dir.path(), LogFormat::Eval, 5, 2);
    let as_json =
        examen_log::convert_log(&original, &dir.path().join("c.json"), LogFormat::Json).unwrap();
    let back =
        examen_log::convert_log(&as_json, &dir.path().join("c.eval"), LogFormat::Eval).unwrap();
    let a = read_log(&original, ReadOptions::default()).unwrap();
    for path in [&as_json, &back] {
        let b = read_log(path, ReadOptions::default()).unwrap();
        assert_eq!(b.status, a.status);
        assert_eq!(b.eval, a.eval);
        assert_eq!(b.results, a.results);
        assert_eq!(b.reductions, a.reductions);
        let (sa, sb) = (a.samples.as_ref().unwrap(), b.samples.as_ref().unwrap());
        assert_eq!(sa.len(), sb.len());
        for (x, y) in sa.iter().zip(sb) {
            // NaN != NaN, so compare the serialized forms
            assert_eq!(
                serde_json::to_string(x).unwrap(),
                serde_json::to_string(y).unwrap()
            );
        }
    }
}

#[test]
fn a_log_of_the_same_name_is_never_overwritten() {
    // A retry keeps the task id; started in the same second, it would take the same name.
    for format in [LogFormat::Eval, LogFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let first = write_full(dir.path(), format, 3, 1);
        let ids = common::ids(2);
        let header = read_log(&first, ReadOptions { header_only: true }).unwrap();
        let start = examen_log::LogStart {
            version: header.version,
            eval: header.eval.clone(),
            plan: header.plan.clone(),
        };
        let mut w = LogWriter::create(dir.path(), format, start.clone(), opts(3)).unwrap();
        assert_ne!(w.path(), first, "{format:?}");
        for (i, id) in ids.iter().enumerate() {
            w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
        }
        let second = w.finish(&common::finish(&ids, 1)).unwrap();
        let a = read_log(&first, ReadOptions::default()).unwrap();
        let b = read_log(&second, ReadOptions::default()).unwrap();
        assert_eq!(
            a.samples.map(|s| s.len()),
            Some(3),
            "{format:?}: the first log is intact"
        );
        assert_eq!(b.samples.map(|s| s.len()), Some(2));
        assert_eq!(a.eval.task_id, b.eval.task_id);
        // The second moved its `created` on by a second, as Inspect does.
        let (ta, tb) = (
            examen_log::time::parse_iso(&a.eval.created).unwrap(),
            examen_log::time::parse_iso(&b.eval.created).unwrap(),
        );
        assert_eq!(tb.duration_since(ta).unwrap().as_secs(), 1, "{format:?}");
        assert_eq!(
            examen_log::log_file_name(&b.eval, format),
            second.file_name().unwrap().to_string_lossy()
        );
    }
}

#[test]
fn an_id_too_long_for_a_zip_member_name_is_refused_not_written() {
    // Item 3 (defence in depth; datasets refuse such ids first): a member name longer than
    // 65,535 bytes overflowed the zip's 16-bit name length and corrupted the log.
    let dir = tempfile::tempdir().unwrap();
    let long = SampleId::from("x".repeat(70_000));
    let ids = vec![SampleId::Int(1), long.clone(), SampleId::Int(2)];
    let start = common::start("long-id", &ids, 1);
    let mut w = LogWriter::create(dir.path(), LogFormat::Eval, start, opts(1)).unwrap();
    let path = w.path().to_owned();
    w.write_sample(&common::sample(ids[0].clone(), 1, 0))
        .unwrap();
    let err = w
        .write_sample(&common::sample(long, 1, 1))
        .expect_err("a 70,000-byte id cannot name a zip member");
    assert!(err.to_string().contains("70000 bytes long"), "{err}");
    w.write_sample(&common::sample(ids[2].clone(), 1, 2))
        .unwrap();
    w.flush().unwrap();
    let rec = recover(&path).unwrap();
    assert_eq!(rec.sample_count(), 2);
    let path = w.finish(&common::finish(&ids[..1], 1)).unwrap();
    let log = read_log(&path, ReadOptions::default()).unwrap();
    assert_eq!(log.samples.unwrap().len(), 2);
}

/// A `.json` log whose writer died: the main file holds the samples of its last (doubling)
/// rewrite, the side file every flushed one. Every reader sees every flushed sample, in the
/// writer's order, a sample written twice as its latest record, a torn last line left out.
#[test]
fn every_reader_of_a_crashed_json_log_sees_every_flushed_sample() {
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(7);
    let start = common::start("jsoncrash", &ids, 2);
    // The first flush (10 samples) rewrites the main file; the next five, one sample each,
    // stay short of doubling the side file, so only the side file has them.
    let mut w = LogWriter::create(dir.path(), LogFormat::Json, start.clone(), opts(10)).unwrap();
    let path = w.path().to_owned();
    let mut flushed = BTreeSet::new();
    for epoch in [2, 1] {
        for (i, id) in ids.iter().enumerate().rev() {
            w.write_sample(&common::sample(id.clone(), epoch, i))
                .unwrap();
            if flushed.len() >= 10 {
                w.flush().unwrap();
            }
            flushed.insert(format!("{id}:{epoch}"));
        }
    }
    // A retried sample: its later record is the one to keep.
    let mut again = common::sample(ids[3].clone(), 1, 3);
    again.uuid = Some("the-latest-record".into());
    w.write_sample(&again).unwrap();
    w.flush().unwrap();
    // The writer dies without running anything more (no destructor), mid-line.
    std::mem::forget(w);
    let side = examen_log_side_file(&path);
    let mut f = fs::OpenOptions::new().append(true).open(&side).unwrap();
    std::io::Write::write_all(&mut f, b"{\"id\": 99, \"epo").unwrap();
    drop(f);
    // The main file alone holds fewer (those of its last rewrite).
    let aside = dir.path().join("aside");
    fs::rename(&side, &aside).unwrap();
    let main_only = read_log(&path, ReadOptions::default()).unwrap();
    assert_eq!(
        main_only.samples.unwrap().len(),
        10,
        "the premise: the main file lags"
    );
    fs::rename(&aside, &side).unwrap();

    let check = |what: &str, got: Vec<(SampleId, u32)>| {
        assert_eq!(got.len(), 14, "{what}: every flushed sample once");
        assert_eq!(keys(got.clone()), flushed, "{what}");
        let mut sorted = got.clone();
        sorted.sort_by_key(|(id, epoch)| (*epoch, id.sort_key()));
        assert_eq!(got, sorted, "{what}: Inspect's order");
    };
    let log = read_log(&path, ReadOptions::default()).unwrap();
    assert_eq!(log.status, EvalStatus::Started);
    let samples = log.samples.unwrap();
    check(
        "read_log",
        samples.iter().map(|s| (s.id.clone(), s.epoch)).collect(),
    );
    let retried = samples
        .iter()
        .find(|s| s.id == ids[3] && s.epoch == 1)
        .unwrap();
    assert_eq!(retried.uuid.as_deref(), Some("the-latest-record"));

    let reader = LogReader::open(&path).unwrap();
    assert_eq!(reader.sample_count(), 14);
    assert!(
        reader.stopped().unwrap().contains("partial sample line 16"),
        "{:?}",
        reader.stopped()
    );
    let by_id = reader.read_sample(&ids[3], 1).unwrap().unwrap();
    assert_eq!(by_id.uuid.as_deref(), Some("the-latest-record"));
    check(
        "read_summaries",
        read_summaries(&path)
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s.epoch))
            .collect(),
    );
    let rec = recover(&path).unwrap();
    assert!(!rec.finished && rec.stopped.is_some());
    check(
        "recover",
        rec.samples()
            .map(|s| s.map(|s| (s.id, s.epoch)).unwrap())
            .collect(),
    );

    for format in [LogFormat::Eval, LogFormat::Json] {
        let dest = dir.path().join(format!("converted.{}", format.extension()));
        examen_log::convert_log(&path, &dest, format).unwrap();
        let converted = read_log(&dest, ReadOptions::default()).unwrap();
        assert_eq!(
            converted.status,
            EvalStatus::Started,
            "still to be finished by a retry"
        );
        check(
            &format!("convert to {format:?}"),
            converted
                .samples
                .unwrap()
                .iter()
                .map(|s| (s.id.clone(), s.epoch))
                .collect(),
        );
    }
}

/// The writer's lock tells a log in progress from one whose writer died, in both formats:
/// held from creation to `finish` (or drop), by a writer in this process or in another, and
/// gone when that process is killed; a second writer cannot take a log being written.
#[cfg(unix)]
#[test]
fn a_live_writer_holds_the_log_until_it_finishes_or_dies() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let format_of = |name: &str| match name {
        "json" => LogFormat::Json,
        _ => LogFormat::Eval,
    };
    if let (Ok(path), Ok(format)) = (
        std::env::var("EXAMEN_LOG_LOCK_CHILD"),
        std::env::var("EXAMEN_LOG_LOCK_FORMAT"),
    ) {
        // child: write a sample, report it, then wait to be killed (or for the parent to
        // go away: its end of stdin closes)
        let ids = common::ids(3);
        let start = common::start("locked", &ids, 1);
        let mut w =
            LogWriter::create_at(Path::new(&path), format_of(&format), start, opts(1)).unwrap();
        w.write_sample(&common::sample(ids[0].clone(), 1, 0))
            .unwrap();
        println!("flushed");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        return;
    }
    for format in [LogFormat::Eval, LogFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let ids = common::ids(4);

        // In this process: held until finish, or until the writer is dropped unfinished.
        let start = common::start("lock", &ids, 1);
        let mut w = LogWriter::create(dir.path(), format, start.clone(), opts(1)).unwrap();
        let path = w.path().to_owned();
        assert!(
            examen_log::is_being_written(&path),
            "{format:?}: once created"
        );
        w.write_sample(&common::sample(ids[0].clone(), 1, 0))
            .unwrap();
        assert!(
            examen_log::is_being_written(&path),
            "{format:?}: after a flush"
        );
        let second = LogWriter::create_at(&path, format, start.clone(), opts(1));
        let err = second.err().unwrap().to_string();
        assert!(err.contains("another process is writing this log"), "{err}");
        assert_eq!(
            recover(&path).unwrap().sample_count(),
            1,
            "untouched by the second"
        );
        w.finish(&common::finish(&ids[..1], 1)).unwrap();
        assert!(!examen_log::is_being_written(&path), "{format:?}: finished");
        let dropped = dir.path().join(format!("dropped.{}", format.extension()));
        let w = LogWriter::create_at(&dropped, format, start.clone(), opts(1)).unwrap();
        assert!(examen_log::is_being_written(&dropped));
        drop(w);
        assert!(
            !examen_log::is_being_written(&dropped),
            "{format:?}: dropped"
        );

        // In another process, killed while it holds the log.
        let killed = dir.path().join(format!("killed.{}", format.extension()));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_live_writer_holds_the_log_until_it_finishes_or_dies",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("EXAMEN_LOG_LOCK_CHILD", &killed)
            .env("EXAMEN_LOG_LOCK_FORMAT", format.extension())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let flushed = lines.map_while(Result::ok).any(|l| l.ends_with("flushed"));
        assert!(flushed, "the child wrote its sample");
        assert!(
            examen_log::is_being_written(&killed),
            "{format:?}: the child writes it"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(
            !examen_log::is_being_written(&killed),
            "{format:?}: its writer died"
        );
        let rec = recover(&killed).unwrap();
        assert!(!rec.finished);
        assert_eq!(rec.sample_count(), 1);
    }
}

#[test]
fn integer_ids_beyond_64_bits_are_written_and_read_back_exactly() {
    // Issue 12, item 8: `2^64` and `2^64+1` are two samples, in every record that names a
    // sample (sample, summary, `eval.dataset.sample_ids`, reductions, `sample_init`), in both
    // formats, finished or recovered from a crash.
    let wide = |text: &str| SampleId::parse_int(text).unwrap();
    let ids = vec![
        wide("18446744073709551616"),
        wide("18446744073709551617"),
        wide("-99999999999999999999999999999999999999999"),
        SampleId::Int(5),
    ];
    let texts: BTreeSet<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(texts.len(), 4);
    for format in [LogFormat::Eval, LogFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let start = common::start("wide", &ids, 1);
        let mut w = LogWriter::create(dir.path(), format, start.clone(), opts(2)).unwrap();
        for (i, id) in ids.iter().enumerate() {
            w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
        }
        w.flush().unwrap();
        let live = w.path().to_owned();
        let recovered = recover(&live).unwrap();
        let mut crashed = recovered.log.clone();
        crashed.samples = Some(recovered.samples().collect::<Result<_, _>>().unwrap());
        let path = w.finish(&common::finish(&ids, 1)).unwrap();

        for log in [read_log(&path, ReadOptions::default()).unwrap(), crashed] {
            let samples = log.samples.as_ref().unwrap();
            let read: BTreeSet<String> = samples.iter().map(|s| s.id.to_string()).collect();
            assert_eq!(read, texts, "{format:?}");
            for sample in samples {
                let Some(examen_log::Event::SampleInit(init)) = sample.events.get(1) else {
                    panic!(
                        "no sample_init event: {:?}",
                        sample.events.get(1).map(|e| e.kind())
                    );
                };
                assert_eq!(init.sample.id.as_ref(), Some(&sample.id));
            }
            let spec_ids = log.eval.dataset.sample_ids.as_ref().unwrap();
            assert_eq!(spec_ids, &ids);
        }
        let log = read_log(&path, ReadOptions::default()).unwrap();
        let reduced: Vec<SampleId> = log.reductions.as_ref().unwrap()[0]
            .samples
            .iter()
            .filter_map(|s| s.sample_id.clone())
            .collect();
        assert_eq!(reduced, ids);
        let summaries: BTreeSet<String> = read_summaries(&path)
            .unwrap()
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        assert_eq!(summaries, texts);
        let reader = LogReader::open(&path).unwrap();
        let one = reader.read_sample(&ids[1], 1).unwrap().unwrap();
        assert_eq!(one.id.to_string(), "18446744073709551617");
        assert!(reader
            .read_sample(&wide("18446744073709551618"), 1)
            .unwrap()
            .is_none());
    }
}
