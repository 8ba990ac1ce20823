use std::path::PathBuf;

use examen::dataset::{Dataset, DatasetError, DatasetOptions, FieldSpec};
use examen::sample::{SampleId, SampleInput, Target};
use examen_types::JsonValue;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn read(path: &PathBuf, options: &DatasetOptions) -> Dataset {
    Dataset::read(path, options).unwrap_or_else(|e| panic!("{e}"))
}

fn err(path: &PathBuf, options: &DatasetOptions) -> String {
    match Dataset::read(path, options) {
        Ok(d) => panic!("expected an error, read {} samples", d.len()),
        Err(e) => e.to_string(),
    }
}

fn mapped() -> DatasetOptions {
    DatasetOptions {
        fields: FieldSpec {
            input: "question".into(),
            target: "answer".into(),
            id: "key".into(),
            choices: "options".into(),
            metadata: Some(vec!["level".into()]),
            ..FieldSpec::default()
        },
        ..DatasetOptions::default()
    }
}

#[test]
fn jsonl_with_field_mapping() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(
        &dir,
        "d.jsonl",
        "{\"key\": \"a\", \"question\": \"Q1\", \"answer\": 4, \"level\": \"easy\", \"options\": [\"x\", \"y\"]}\n\n{\"question\": \"Q2\", \"answer\": [\"b\", \"c\"], \"level\": 2}\n",
    );
    let d = read(&path, &mapped());
    assert_eq!(d.name.as_deref(), Some("d"));
    assert_eq!(d.len(), 2);
    assert_eq!(d.samples[0].id, Some(SampleId::Str("a".into())));
    assert_eq!(d.samples[0].target, Target::One("4".into()));
    assert_eq!(d.samples[0].choices, Some(vec!["x".into(), "y".into()]));
    assert_eq!(
        d.samples[0].metadata.as_ref().and_then(|m| m.get("level")),
        Some(&JsonValue::from("easy"))
    );
    // The second record has no id: it gets its position.
    assert_eq!(d.samples[1].id, Some(SampleId::Int(2)));
    assert_eq!(
        d.samples[1].target,
        Target::Many(vec!["b".into(), "c".into()])
    );
}

#[test]
fn json_array_with_chat_input() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(
        &dir,
        "d.json",
        r#"[
  {"input": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Capital of France?"}], "target": "Paris"},
  {"input": "2+2?", "target": "4", "metadata": {"source": "x"}}
]"#,
    );
    let d = read(&path, &DatasetOptions::default());
    let SampleInput::Messages(messages) = &d.samples[0].input else {
        panic!("chat input")
    };
    assert_eq!(
        messages.iter().map(|m| m.role()).collect::<Vec<_>>(),
        vec!["system", "user"]
    );
    assert_eq!(d.samples[0].input.text(), "Capital of France?");
    assert_eq!(
        d.samples[1].metadata.as_ref().and_then(|m| m.get("source")),
        Some(&JsonValue::from("x"))
    );
    assert_eq!(
        d.samples.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![Some(SampleId::Int(1)), Some(SampleId::Int(2))]
    );
}

#[test]
fn csv_with_header_bom_and_quotes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(&dir, "d.csv", "\u{feff}key,question,answer,level,options\n7,\"Say \"\"hi\"\", please\",hi,easy,\"a,b\"\n,,,,\n8,Q2,x,hard,c\n");
    let d = read(&path, &mapped());
    assert_eq!(d.len(), 2, "the all-empty row is skipped");
    assert_eq!(
        d.samples[0].input,
        SampleInput::Text("Say \"hi\", please".into())
    );
    assert_eq!(d.samples[0].id, Some(SampleId::Str("7".into())));
    assert_eq!(d.samples[0].choices, Some(vec!["a".into(), "b".into()]));
    assert!(d.samples[0].id.as_ref().is_some_and(|id| id.matches("7")));
}

#[test]
fn malformed_jsonl_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(
        &dir,
        "d.jsonl",
        "{\"input\": \"a\", \"target\": \"\"}\n{\"input\": \"b\", \"target\": \"\"}\n{\"input\": oops}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e == format!("{}:3:11: invalid JSON: expected value", path.display()),
        "{e}"
    );
    let path = write(
        &dir,
        "e.jsonl",
        "{\"input\": \"a\", \"target\": \"\"}\n[1, 2]\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.ends_with(":2: expected a JSON object (one record per line), found an array"),
        "{e}"
    );
    let path = write(
        &dir,
        "f.jsonl",
        "{\"input\": \"a\", \"target\": \"\"}\n{\"target\": \"b\"}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.ends_with(":2: no input: the record has no `input` field"),
        "{e}"
    );
}

#[test]
fn malformed_json_and_csv_name_the_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(
        &dir,
        "d.json",
        "[\n  {\"input\": \"a\", \"target\": \"\"},\n  {\"input\": \"b\"\n]\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(e.starts_with(&format!("{}:4:", path.display())), "{e}");
    let path = write(&dir, "e.json", "[\n  {\"input\": \"a\", \"target\": \"\"},\n  {\"input\": 3, \"target\": \"x\"},\n  {\"target\": \"b\"}\n]\n");
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.starts_with(&format!(
            "{}:3: `input` must be a string or a list of chat messages, found number",
            path.display()
        )),
        "{e}"
    );
    let path = write(&dir, "d.csv", "input,target\na,b\nc,d,e\n");
    let e = err(&path, &DatasetOptions::default());
    assert_eq!(
        e,
        format!(
            "{}:3: the row has 3 fields, the header has 2",
            path.display()
        )
    );
}

#[test]
fn duplicate_ids_are_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(
        &dir,
        "d.jsonl",
        "{\"id\": 1, \"input\": \"a\", \"target\": \"\"}\n{\"input\": \"b\", \"target\": \"\"}\n{\"id\": 1, \"input\": \"c\", \"target\": \"\"}\n",
    );
    let e = Dataset::read(&path, &DatasetOptions::default());
    assert!(
        matches!(
            e,
            Err(DatasetError::DuplicateId {
                first_position: 1,
                position: 3,
                ..
            })
        ),
        "{e:?}"
    );
    // An auto id can collide with an explicit one too.
    let path = write(
        &dir,
        "e.jsonl",
        "{\"input\": \"a\", \"target\": \"\"}\n{\"id\": 1, \"input\": \"b\", \"target\": \"\"}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(e.ends_with("duplicate sample id `1` (first used by sample 1, again by sample 2); ids must be unique"), "{e}");
}

#[test]
fn shuffle_limit_and_selection() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text: String = (1..=30)
        .map(|i| format!("{{\"input\": \"q{i}\", \"target\": \"\"}}\n"))
        .collect();
    let path = write(&dir, "d.jsonl", &text);
    let shuffled = |seed| {
        read(
            &path,
            &DatasetOptions {
                shuffle: Some(seed),
                limit: Some(10),
                ..DatasetOptions::default()
            },
        )
    };
    let a = shuffled(1);
    assert_eq!(a.len(), 10);
    assert_eq!(a.samples, shuffled(1).samples);
    assert_ne!(a.samples, shuffled(2).samples);
    // Ids follow the file, not the shuffle.
    for s in &a.samples {
        let SampleInput::Text(text) = &s.input else {
            panic!("text")
        };
        assert_eq!(Some(SampleId::Int(text[1..].parse().unwrap_or(0))), s.id);
    }
    let mut all = read(&path, &DatasetOptions::default());
    let missing = all.select_ids(&["5".into(), "12".into(), "nope".into()]);
    assert_eq!(missing, vec!["nope".to_string()]);
    assert_eq!(
        all.samples
            .iter()
            .filter_map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        vec![SampleId::Int(5), SampleId::Int(12)]
    );
}

#[test]
fn unknown_extension_and_missing_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(&dir, "d.txt", "x");
    assert!(err(&path, &DatasetOptions::default())
        .ends_with("unsupported dataset format; expected a .jsonl, .json or .csv file"));
    let missing = dir.path().join("none.jsonl");
    assert!(err(&missing, &DatasetOptions::default()).contains("none.jsonl: cannot read dataset"));
}

#[test]
fn an_empty_dataset_is_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in [
        ("e.jsonl", "\n\n"),
        ("e.json", "[]"),
        ("e.csv", "input,target\n"),
    ] {
        let path = write(&dir, name, text);
        let e = err(&path, &DatasetOptions::default());
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("the dataset has no samples"), "{e}");
    }
}

#[test]
fn a_csv_without_the_input_column_says_which_columns_it_has() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(&dir, "q.csv", "question,answer\n1+1,2\n");
    let e = err(&path, &DatasetOptions::default());
    assert_eq!(
        e,
        format!(
            "{}:1: no `input` column: the header has `question`, `answer`; name the input column with `fields: {{input: <column>}}`",
            path.display()
        )
    );
    assert_eq!(read(&path, &mapped()).len(), 1);
}

#[test]
fn integer_ids_are_kept_exactly_as_inspect_reads_them() {
    // Item 8: ids beyond i64 were turned into strings (or, beyond 2^53 as floats, collided),
    // ids beyond 64 bits collided, and `2.5` became the string "2.5". Inspect reads `id: int | str` through pydantic: any
    // integer exactly, `2.0` as the integer 2, `2.5` refused.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(
        &dir,
        "d.jsonl",
        "{\"id\": 9223372036854775808, \"input\": \"a\", \"target\": \"\"}\n\
         {\"id\": 18446744073709551615, \"input\": \"b\", \"target\": \"\"}\n\
         {\"id\": 18446744073709551614, \"input\": \"c\", \"target\": \"\"}\n\
         {\"id\": -5, \"input\": \"d\", \"target\": \"\"}\n\
         {\"id\": 2.0, \"input\": \"e\", \"target\": \"\"}\n\
         {\"id\": \"18446744073709551613\", \"input\": \"f\", \"target\": \"\"}\n",
    );
    let d = read(&path, &DatasetOptions::default());
    let ids: Vec<SampleId> = d.samples.iter().filter_map(|s| s.id.clone()).collect();
    assert!(
        matches!(ids[0], SampleId::UInt(9_223_372_036_854_775_808)),
        "{ids:?}"
    );
    assert!(matches!(ids[1], SampleId::UInt(u64::MAX)), "{ids:?}");
    assert!(
        matches!(ids[2], SampleId::UInt(18_446_744_073_709_551_614)),
        "{ids:?}"
    );
    assert!(matches!(ids[3], SampleId::Int(-5)), "{ids:?}");
    assert!(matches!(ids[4], SampleId::Int(2)), "{ids:?}");
    assert!(
        matches!(&ids[5], SampleId::Str(s) if s == "18446744073709551613"),
        "{ids:?}"
    );
    assert!(ids[1].matches("18446744073709551615"));
    // They reach the log as the integers they are.
    assert_eq!(
        serde_json::to_string(&ids[1]).unwrap_or_default(),
        "18446744073709551615"
    );

    // Beyond 64 bits: kept exactly, as Python keeps them, in both JSON formats; `2^64` and
    // `2^64+1` are two samples. A float literal is the integer it is equal to, as in Inspect.
    let records = [
        r#"{"id": 18446744073709551616, "input": "a", "target": ""}"#,
        r#"{"id": 18446744073709551617, "input": "b", "target": ""}"#,
        r#"{"input": "c", "target": "", "id": -123456789012345678901234567890}"#,
        r#"{"id": 1e20, "input": "d", "target": ""}"#,
    ];
    let expected = [
        "18446744073709551616",
        "18446744073709551617",
        "-123456789012345678901234567890",
        "100000000000000000000",
    ];
    for (name, text) in [
        ("e.jsonl", records.join("\n")),
        ("e.json", format!("[\n{}\n]", records.join(",\n"))),
    ] {
        let path = write(&dir, name, &text);
        let d = read(&path, &DatasetOptions::default());
        let ids: Vec<SampleId> = d.samples.iter().filter_map(|s| s.id.clone()).collect();
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(texts, expected, "{name}");
        assert!(ids.iter().all(SampleId::is_int), "{ids:?}");
        assert!(ids[0] < ids[1] && ids[2] < ids[0], "{ids:?}");
        assert_eq!(
            serde_json::to_string(&ids).unwrap_or_else(|e| panic!("{e}")),
            format!("[{}]", expected.join(","))
        );
        assert!(ids[1].matches("18446744073709551617") && !ids[1].matches("18446744073709551616"));
    }
    let path = write(
        &dir,
        "same.jsonl",
        "{\"id\": 18446744073709551616, \"input\": \"a\", \"target\": \"\"}\n\
         {\"id\": 18446744073709551616, \"input\": \"b\", \"target\": \"\"}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.contains("duplicate sample id `18446744073709551616`"),
        "{e}"
    );
    let path = write(
        &dir,
        "f.jsonl",
        "{\"id\": 2.5, \"input\": \"a\", \"target\": \"\"}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.contains("f.jsonl:1: `id` is 2.5, which is not a whole number"),
        "{e}"
    );
    // `2.0` is the integer 2, as in Inspect: the same id as `2`.
    let path = write(
        &dir,
        "g.jsonl",
        "{\"id\": 2, \"input\": \"a\", \"target\": \"\"}\n{\"id\": 2.0, \"input\": \"b\", \"target\": \"\"}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(e.contains("duplicate sample id `2`"), "{e}");
}

#[test]
fn ids_too_long_for_an_eval_log_are_refused() {
    // Item 3: a zip member name is at most 65,535 bytes.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let longest = "x".repeat(SampleId::MAX_LEN);
    let text = format!(
        "{{\"id\": \"{longest}\", \"input\": \"a\", \"target\": \"\"}}\n{{\"id\": \"{longest}y\", \"input\": \"b\", \"target\": \"\"}}\n"
    );
    let path = write(&dir, "d.jsonl", &text);
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.contains(&format!(
            "d.jsonl:2: `id` is {} bytes long; sample ids are at most {} bytes",
            SampleId::MAX_LEN + 1,
            SampleId::MAX_LEN
        )),
        "{e}"
    );
    let name = examen_log::sample_member_name(&SampleId::from(longest.as_str()), u32::MAX);
    assert!(name.len() <= usize::from(u16::MAX), "{}", name.len());
    // In-memory datasets too.
    let e = Dataset::from_samples(vec![
        examen::sample::Sample::new("a", "").with_id(format!("{longest}y"))
    ])
    .map(|_| ())
    .map_err(|e| e.to_string());
    assert!(
        e.as_ref().is_err_and(|e| e.contains("sample 1: its id is")),
        "{e:?}"
    );
}

#[test]
fn a_missing_target_is_an_error_like_a_missing_input() {
    // Item 6: a misspelled target mapping gave every sample an empty target.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(&dir, "d.jsonl", "{\"input\": \"a\", \"answer\": \"b\"}\n");
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.contains("d.jsonl:1: no target: the record has no `target` field"),
        "{e}"
    );
    let path = write(&dir, "d.csv", "input,answer\na,b\n");
    let e = err(&path, &DatasetOptions::default());
    assert!(e.contains("d.csv:1: no `target` column"), "{e}");
    // An explicit empty target is a sample without one.
    let path = write(&dir, "e.jsonl", "{\"input\": \"a\", \"target\": \"\"}\n");
    assert_eq!(
        read(&path, &DatasetOptions::default()).samples[0].target,
        Target::One(String::new())
    );
}

#[test]
fn sandbox_files_and_setup_fields_are_read_and_resolved_beside_the_dataset() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(&dir, "compose.yaml", "services: {}\n");
    write(&dir, "setup.sh", "echo hi\n");
    write(&dir, "input.txt", "contents\n");
    let jsonl = write(
        &dir,
        "d.jsonl",
        concat!(
            r#"{"input": "a", "target": "b", "sandbox": ["docker", "compose.yaml"], "files": {"in.txt": "input.txt", "note": "just text"}, "setup": "setup.sh"}"#,
            "\n",
            r#"{"input": "a", "target": "b", "sandbox": "local", "setup": "echo inline"}"#,
            "\n",
        ),
    );
    let d = read(&jsonl, &DatasetOptions::default());
    let beside = |name: &str| dir.path().join(name).display().to_string();
    assert_eq!(
        d.samples[0].sandbox,
        Some(serde_json::json!({"type": "docker", "config": beside("compose.yaml")}))
    );
    let files = d.samples[0].files.as_ref().unwrap();
    assert_eq!(files["in.txt"], JsonValue::from(beside("input.txt")));
    assert_eq!(files["note"], JsonValue::from("just text"));
    assert_eq!(
        d.samples[0].setup.as_deref(),
        Some(beside("setup.sh").as_str())
    );
    assert_eq!(
        d.samples[1].sandbox,
        Some(serde_json::json!({"type": "local"}))
    );
    assert_eq!(d.samples[1].setup.as_deref(), Some("echo inline"));

    // A CSV cell holds a JSON list or object.
    let csv = write(
        &dir,
        "d.csv",
        "input,target,sandbox,files\na,b,\"[\"\"local\"\", \"\"x.yaml\"\"]\",\"{\"\"f.txt\"\": \"\"text\"\"}\"\n",
    );
    let d = read(&csv, &DatasetOptions::default());
    assert_eq!(
        d.samples[0].sandbox,
        Some(serde_json::json!({"type": "local", "config": "x.yaml"}))
    );
    assert_eq!(
        d.samples[0].files.as_ref().unwrap()["f.txt"],
        JsonValue::from("text")
    );

    // A malformed one names the line and what was expected.
    let bad = write(
        &dir,
        "bad.jsonl",
        "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"a\", \"target\": \"b\", \"files\": {\"x\": 3}}\n",
    );
    let message = err(&bad, &DatasetOptions::default());
    assert!(message.contains("bad.jsonl:2"), "{message}");
    assert!(
        message.contains("`x` must be a file name, a data URI or text, got number"),
        "{message}"
    );
    let bad = write(
        &dir,
        "bad2.jsonl",
        "{\"input\": \"a\", \"target\": \"b\", \"sandbox\": [1, 2, 3]}\n",
    );
    let message = err(&bad, &DatasetOptions::default());
    assert!(
        message.contains("bad2.jsonl:1: the `sandbox` field: a list of 3 items"),
        "{message}"
    );
}
