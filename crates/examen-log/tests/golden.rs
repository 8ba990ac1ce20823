//! Golden files for the wire format: the members of a small `.eval` log, exactly
//! as written (ids and times filtered).

mod common;

use examen_log::{LogFormat, LogReader, LogWriter, WriterOptions};

fn pretty(bytes: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("member is plain JSON");
    serde_json::to_string_pretty(&v).unwrap()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r#""[2-9A-HJ-NP-Za-km-z]{22}""#, r#""[id]""#);
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", "[time]");
    s.add_filter(r#""examen": "[^"]+""#, r#""examen": "[version]""#);
    s
}

#[test]
fn eval_members_match_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let ids = common::ids(2);
    let start = common::start("golden", &ids, 1);
    let mut w = LogWriter::create(
        dir.path(),
        LogFormat::Eval,
        start.clone(),
        WriterOptions::default(),
    )
    .unwrap();
    for (i, id) in ids.iter().enumerate() {
        w.write_sample(&common::sample(id.clone(), 1, i)).unwrap();
    }
    let path = w.finish(&common::finish(&ids, 1)).unwrap();
    let reader = LogReader::open(&path).unwrap();
    let member = |name: &str| reader.member_bytes(name).unwrap().unwrap();

    settings().bind(|| {
        insta::assert_snapshot!("members", reader.member_names().join("\n"));
        insta::assert_snapshot!("header", pretty(&member("header.json")));
        insta::assert_snapshot!("start", pretty(&member("_journal/start.json")));
        insta::assert_snapshot!("sample", pretty(&member("samples/1_epoch_1.json")));
        insta::assert_snapshot!("summaries", pretty(&member("summaries.json")));
        insta::assert_snapshot!("reductions", pretty(&member("reductions.json")));
    });
    // the journal summary of the only flush is what summaries.json collects
    assert_eq!(
        member("_journal/summaries/1.json"),
        member("summaries.json")
    );
}
