//! `PreparedSample`: samples prepared off the writer's thread read back with their summaries.

mod common;

use examen_log::{
    EvalError, EvalSampleLimit, LogFormat, LogReader, LogWriter, PreparedSample, SampleId,
    WriterOptions,
};

/// Samples covering what the summary reads: scores (NaN included), errors,
/// retries, limits, string and integer ids.
fn samples() -> Vec<examen_log::EvalSample> {
    let mut out = Vec::new();
    for index in 0..8 {
        let id = if index % 2 == 0 {
            SampleId::Int(index as i64 + 1)
        } else {
            SampleId::Str(format!("s{index}"))
        };
        let mut s = common::sample(id, 1 + (index % 3) as u32, index);
        if index == 3 {
            s.error = Some(EvalError {
                message: "boom".into(),
                traceback: "Traceback".into(),
                traceback_ansi: "Traceback".into(),
            });
            s.error_retries = Some(Vec::new());
        }
        if index == 4 {
            s.limit = Some(EvalSampleLimit {
                kind: "message".into(),
                limit: 3.0,
                reason: None,
            });
            s.message_limit = Some(3);
        }
        out.push(s);
    }
    out
}

#[test]
fn prepared_samples_read_back_with_their_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let samples = samples();
    let ids: Vec<SampleId> = samples.iter().map(|s| s.id.clone()).collect();
    let mut writer = LogWriter::create(
        dir.path(),
        LogFormat::Eval,
        common::start("prepared", &ids, 3),
        WriterOptions::default(),
    )
    .unwrap();
    for sample in &samples {
        writer
            .write_prepared(PreparedSample::from_sample(sample).unwrap())
            .unwrap();
    }
    let path = writer.finish(&common::finish(&ids, 3)).unwrap();
    let reader = LogReader::open(&path).unwrap();
    let summaries = reader.summaries().unwrap();
    for sample in &samples {
        let read = reader
            .read_sample(&sample.id, sample.epoch)
            .unwrap()
            .unwrap();
        assert_eq!(read.id, sample.id);
        assert_eq!(read.messages, sample.messages);
        let summary = summaries
            .iter()
            .find(|s| s.id == sample.id && s.epoch == sample.epoch)
            .unwrap();
        assert_eq!(
            summary.error,
            sample.error.as_ref().map(|e| e.message.clone())
        );
        assert_eq!(summary.message_count, Some(sample.messages.len() as u64));
    }
}
