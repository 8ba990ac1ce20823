//! The task-file parser never panics, whatever the text: random bytes, random YAML-ish text,
//! and the README's example task with bytes flipped, lines dropped or doubled, or cut off, with
//! and without `-T` overrides. Every call returns the task or an error naming the file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use examen::taskfile::{parse_task, parse_task_with_args};
use proptest::prelude::*;

/// A directory with the example task and its dataset, so mutated files can still reach it.
fn example() -> &'static (tempfile::TempDir, String) {
    static EXAMPLE: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/arithmetic");
        for name in ["task.yaml", "arithmetic.jsonl"] {
            std::fs::copy(source.join(name), dir.path().join(name))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let text =
            std::fs::read_to_string(source.join("task.yaml")).unwrap_or_else(|e| panic!("{e}"));
        (dir, text)
    })
}

fn task_path() -> PathBuf {
    example().0.path().join("task.yaml")
}

/// Parses `text`; an error must name the file and fit on its first line.
fn check(text: &str, args: &[(String, String)]) {
    let path = task_path();
    let result = if args.is_empty() {
        parse_task(text, &path)
    } else {
        parse_task_with_args(text, &path, args)
    };
    if let Err(e) = result {
        let message = e.to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "the error names the file: {message}"
        );
    }
}

/// Text built from YAML's own punctuation and the task file's keys, more likely than random
/// bytes to get deep into the parser.
fn yamlish() -> impl Strategy<Value = String> {
    let atoms = prop_oneof![
        Just("name: t\n"),
        Just("dataset:\n"),
        Just("  path: arithmetic.jsonl\n"),
        Just("  samples: [{input: a, target: b}]\n"),
        Just("solver: [generate, {chain_of_thought: {}}]\n"),
        Just("scorer: {match: {location: end}}\n"),
        Just("epochs: {epochs: 2, reducer: [pass_at_3]}\n"),
        Just("metrics: [accuracy, {grouped: {metric: stderr}}]\n"),
        Just("fail_on_error: 0.5\n"),
        Just("config: {temperature: x}\n"),
        Just("- "),
        Just(": "),
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just("&a "),
        Just("*a "),
        Just("!!binary "),
        Just("'"),
        Just("\""),
        Just("\t"),
        Just("\n"),
        Just("  "),
        Just("~"),
        Just("1e999"),
        Just("-1"),
        Just("\u{feff}"),
        Just("é"),
    ];
    proptest::collection::vec(atoms, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_text_does_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes), &[]);
    }

    #[test]
    fn yaml_like_text_does_not_panic(text in yamlish()) {
        check(&text, &[]);
    }

    #[test]
    fn mutated_example_does_not_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        dropped in proptest::option::of(any::<prop::sample::Index>()),
        doubled in proptest::option::of(any::<prop::sample::Index>()),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = example().1.clone().into_bytes();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut lines: Vec<&str> = text.lines().collect();
        if let Some(at) = dropped {
            lines.remove(at.index(lines.len()));
        }
        if let Some(at) = doubled {
            let i = at.index(lines.len());
            lines.insert(i, lines[i]);
        }
        let mut text = lines.join("\n");
        if let Some(at) = cut {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.truncate(i);
        }
        check(&text, &[]);
    }

    #[test]
    fn overrides_do_not_panic(
        key in prop_oneof![
            Just("epochs".to_string()),
            Just("config.temperature".to_string()),
            Just("dataset.limit".to_string()),
            Just("dataset.path".to_string()),
            Just("scorer".to_string()),
            Just("name.first".to_string()),
            "[a-z._]{0,12}",
        ],
        value in prop_oneof![yamlish(), "\\PC{0,16}"],
        mutate in any::<bool>(),
        at in any::<prop::sample::Index>(),
    ) {
        let mut text = example().1.clone();
        if mutate {
            let mut i = at.index(text.len());
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.insert(i, ':');
        }
        check(&text, &[(key, value)]);
    }
}
