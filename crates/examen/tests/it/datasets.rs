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
        "{\"input\": \"a\"}\n{\"input\": \"b\"}\n{\"input\": oops}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.starts_with(&format!("{}:3: column 11: invalid JSON", path.display())),
        "{e}"
    );
    let path = write(&dir, "e.jsonl", "{\"input\": \"a\"}\n[1, 2]\n");
    let e = err(&path, &DatasetOptions::default());
    assert!(
        e.ends_with(":2: expected a JSON object (one record per line), found an array"),
        "{e}"
    );
    let path = write(&dir, "f.jsonl", "{\"input\": \"a\"}\n{\"target\": \"b\"}\n");
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
        "[\n  {\"input\": \"a\"},\n  {\"input\": \"b\"\n]\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(e.starts_with(&format!("{}:4:", path.display())), "{e}");
    let path = write(&dir, "e.json", "[\n  {\"input\": \"a\"},\n  {\"input\": 3, \"target\": \"x\"},\n  {\"target\": \"b\"}\n]\n");
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
        "{\"id\": 1, \"input\": \"a\"}\n{\"input\": \"b\"}\n{\"id\": 1, \"input\": \"c\"}\n",
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
        "{\"input\": \"a\"}\n{\"id\": 1, \"input\": \"b\"}\n",
    );
    let e = err(&path, &DatasetOptions::default());
    assert!(e.ends_with("duplicate sample id `1` (first used by sample 1, again by sample 2); ids must be unique"), "{e}");
}

#[test]
fn shuffle_limit_and_selection() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text: String = (1..=30)
        .map(|i| format!("{{\"input\": \"q{i}\"}}\n"))
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
