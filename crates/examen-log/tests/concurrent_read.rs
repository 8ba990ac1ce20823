//! One `LogReader` shared by several threads reads every sample correctly (positioned reads;
//! a shared file cursor would hand threads each other's bytes).

mod common;

use std::sync::Arc;

use examen_log::{LogFormat, LogReader, LogWriter, WriterOptions};

#[test]
fn threads_sharing_an_eval_reader_read_the_same_samples() {
    threads_sharing_a_reader_read_the_same_samples(LogFormat::Eval);
}

#[test]
fn threads_sharing_a_json_reader_read_the_same_samples() {
    threads_sharing_a_reader_read_the_same_samples(LogFormat::Json);
}

fn threads_sharing_a_reader_read_the_same_samples(format: LogFormat) {
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(64);
    let mut writer = LogWriter::create(
        dir.path(),
        format,
        common::start("concurrent", &ids, 1),
        WriterOptions::default(),
    )
    .unwrap();
    for (index, id) in ids.iter().enumerate() {
        writer
            .write_sample(&common::sample(id.clone(), 1, index))
            .unwrap();
    }
    let path = writer.finish(&common::finish(&ids, 1)).unwrap();

    let reader = Arc::new(LogReader::open(&path).unwrap());
    let expected: Vec<String> = ids
        .iter()
        .map(|id| {
            let sample = reader.read_sample(id, 1).unwrap().expect("sample present");
            serde_json::to_string(&sample).unwrap()
        })
        .collect();
    let expected = Arc::new(expected);
    let by_position: Vec<String> = (0..reader.sample_count())
        .map(|index| serde_json::to_string(&reader.sample_at(index).unwrap()).unwrap())
        .collect();
    let by_position = Arc::new(by_position);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let reader = reader.clone();
            let ids = ids.clone();
            let expected = expected.clone();
            let by_position = by_position.clone();
            std::thread::spawn(move || {
                for round in 0..20 {
                    for (index, id) in ids.iter().enumerate().skip((t + round) % 3) {
                        // (A `.json` log finds a sample by id by reading them all: only
                        // `.eval` is read by id here, or the test takes minutes.)
                        if format == LogFormat::Eval {
                            let sample = reader.read_sample(id, 1).unwrap().expect("present");
                            assert_eq!(serde_json::to_string(&sample).unwrap(), expected[index]);
                        }
                        // By position too (what `examen log dump` does from several threads).
                        let sample = reader.sample_at(index).unwrap();
                        assert!(
                            serde_json::to_string(&sample).unwrap() == by_position[index],
                            "sample at {index} differs"
                        );
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
