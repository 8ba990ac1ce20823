//! The reader never panics, whatever the bytes: random files, and valid logs with
//! bytes flipped or cut off. Every entry point must return `Ok` or an `Err`.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use examen_log::{
    read_log, read_summaries, recover, LogFormat, LogReader, LogWriter, ReadOptions, WriterOptions,
};
use proptest::prelude::*;

/// Exercises every reader entry point on `path`, discarding results.
fn read_everything(path: &Path) {
    if let Ok(reader) = LogReader::open(path) {
        for sample in reader.samples() {
            let _ = sample;
        }
        let _ = reader.summaries();
    }
    let _ = read_log(path, ReadOptions::default());
    let _ = read_log(path, ReadOptions { header_only: true });
    let _ = read_summaries(path);
    if let Ok(rec) = recover(path) {
        for sample in rec.samples() {
            let _ = sample;
        }
    }
}

/// A small valid log of each format, written once.
fn valid_logs() -> &'static [(Vec<u8>, Vec<u8>)] {
    static LOGS: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ids = common::ids(3);
        let mut out = Vec::new();
        let mut formats = Vec::new();
        for format in [LogFormat::Eval, LogFormat::Json] {
            let start = common::start("fuzz", &ids, 1);
            let mut w =
                LogWriter::create(dir.path(), format, start.clone(), WriterOptions::default())
                    .unwrap();
            for (i, id) in ids.iter().enumerate() {
                w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
            }
            let path = w.finish(&common::finish(&ids, 1)).unwrap();
            formats.push(std::fs::read(path).unwrap());
        }
        out.push((formats[0].clone(), formats[1].clone()));
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_do_not_panic(prefix in prop_oneof![Just(&b"PK\x03\x04"[..]), Just(&b"{"[..]), Just(&b""[..])],
                                 body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.eval");
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&body);
        std::fs::write(&path, &bytes).unwrap();
        read_everything(&path);
    }

    #[test]
    fn mutated_logs_do_not_panic(json in any::<bool>(),
                                 flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
                                 cut in any::<prop::sample::Index>(),
                                 truncate in any::<bool>()) {
        let (eval, json_log) = &valid_logs()[0];
        let mut bytes = if json { json_log.clone() } else { eval.clone() };
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if json { "m.json" } else { "m.eval" });
        std::fs::write(&path, &bytes).unwrap();
        read_everything(&path);
    }
}
