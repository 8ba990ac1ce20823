//! One `LogReader` shared by several threads reads every sample correctly (positioned reads;
//! a shared file cursor would hand threads each other's bytes).

mod common;

use std::sync::Arc;

use examen_log::{LogFormat, LogReader, LogWriter, WriterOptions};

#[test]
fn threads_sharing_a_reader_read_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(64);
    let mut writer = LogWriter::create(
        dir.path(),
        LogFormat::Eval,
        &common::start("concurrent", &ids, 1),
        WriterOptions::default(),
    )
    .unwrap();
    for (index, id) in ids.iter().enumerate() {
        writer
            .write_sample(&common::sample(id.clone(), 1, index))
            .unwrap();
    }
    let path = writer.finish(common::finish(&ids, 1)).unwrap();

    let reader = Arc::new(LogReader::open(&path).unwrap());
    let expected: Vec<String> = ids
        .iter()
        .map(|id| {
            let sample = reader.read_sample(id, 1).unwrap().expect("sample present");
            serde_json::to_string(&sample).unwrap()
        })
        .collect();
    let expected = Arc::new(expected);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let reader = reader.clone();
            let ids = ids.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                for round in 0..20 {
                    for (index, id) in ids.iter().enumerate().skip((t + round) % 3) {
                        let sample = reader.read_sample(id, 1).unwrap().expect("sample present");
                        assert_eq!(serde_json::to_string(&sample).unwrap(), expected[index]);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
