//! Condensed transcripts: a sample's model-event inputs are written once, in
//! `events_data`, the events pointing into it (as Inspect's recorders write), and
//! every reader gives the events their full inputs back.

mod common;

use std::collections::HashSet;
use std::path::Path;

use examen_log::{read_log, LogFormat, LogWriter, PreparedSample, ReadOptions, WriterOptions};
use serde_json::Value as Json;

/// Writes `sample` as the only sample of a finished log.
fn write(dir: &Path, format: LogFormat, sample: &examen_log::EvalSample) -> std::path::PathBuf {
    let ids = [sample.id.clone()];
    let start = common::start("condensed", &ids, 1);
    let mut w = LogWriter::create(dir, format, start, WriterOptions::default()).unwrap();
    w.write_sample(sample).unwrap();
    w.finish(&common::finish(&ids, 1)).unwrap()
}

#[test]
fn a_multi_turn_log_stores_each_message_once_and_reads_back_whole() {
    let turns = 6;
    let sample = common::agent_sample("agent".into(), turns);
    let original = common::model_events(&sample);
    let dir = tempfile::tempdir().unwrap();
    for format in [LogFormat::Eval, LogFormat::Json] {
        let path = write(dir.path(), format, &sample);
        let stored = common::stored_sample(&path);

        // Each distinct input message once in the pool: system, user, an assistant
        // and a tool message per turn but the last (whose messages no call is sent),
        // and the grader's prompt.
        let pool = stored["events_data"]["messages"].as_array().unwrap();
        assert_eq!(pool.len(), 2 + 2 * (turns - 1) + 1, "{}", path.display());
        let ids: HashSet<&str> = pool.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), pool.len());
        // The wire messages of the requests, once each too.
        let calls = stored["events_data"]["calls"].as_array().unwrap();
        assert_eq!(calls.len(), pool.len());

        let events: Vec<&Json> = stored["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "model")
            .collect();
        assert_eq!(events.len(), turns + 1);
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event["input"], Json::Array(vec![]), "event {i}");
            let call = &event["call"];
            assert!(
                call["request"].get("messages").is_none(),
                "event {i}: {call}"
            );
            assert_eq!(call["call_key"], "messages");
            assert_eq!(call["request"]["temperature"], 0.5);
        }
        // A conversation re-sent each turn is one range into the pool; the grader's
        // prompt is the pool's last message.
        for (turn, event) in events.iter().take(turns).enumerate() {
            let want = serde_json::json!([[0, 2 + 2 * turn]]);
            assert_eq!(event["input_refs"], want, "turn {turn}");
            assert_eq!(event["call"]["call_refs"], want, "turn {turn}");
        }
        let last = pool.len();
        assert_eq!(
            events[turns]["input_refs"],
            serde_json::json!([[last - 1, last]])
        );
        // No input message is stored in the events (an assistant message is, once,
        // as the output of the call that made it).
        let events_text = serde_json::to_string(&stored["events"]).unwrap();
        let inputs = pool.iter().filter(|m| m["role"] != "assistant");
        for id in inputs.map(|m| m["id"].as_str().unwrap()) {
            assert!(
                !events_text.contains(id),
                "message {id} copied into the events"
            );
        }

        // Read back, every model event has its input and its request's messages.
        let read = read_log(&path, ReadOptions::default()).unwrap();
        let s = &read.samples.as_ref().unwrap()[0];
        assert!(s.events_data.is_none());
        let resolved = common::model_events(s);
        assert_eq!(resolved.len(), original.len());
        for (got, want) in resolved.iter().zip(&original) {
            assert_eq!(got.input, want.input);
            assert!(got.input_refs.is_none());
            assert_eq!(got.call, want.call);
            assert_eq!(**got, **want);
        }
        assert_eq!(s.events, sample.events);

        // Written again (as `examen score` and `log convert` do), it is stored the same.
        let again = write(&dir.path().join("again"), format, s);
        assert_eq!(
            common::stored_sample(&again)["events_data"],
            stored["events_data"],
            "{}",
            path.display()
        );
    }
}

#[test]
fn condensing_a_condensed_sample_changes_nothing() {
    let sample = common::agent_sample("agent".into(), 3);
    let once = sample.condensed();
    let twice = once.condensed();
    assert_eq!(once, twice);
    let mut resolved = twice;
    resolved.resolve_events_data();
    assert_eq!(resolved.events, sample.events);
}

/// Messages equal but for their id share one pool entry (Inspect keys the pool by
/// the message without its id), so the resolved input carries the first one's id.
#[test]
fn messages_differing_only_by_id_share_an_entry() {
    let mut sample = common::agent_sample("agent".into(), 2);
    let examen_log::Event::Model(second) = sample
        .events
        .iter_mut()
        .filter(|e| matches!(e, examen_log::Event::Model(_)))
        .nth(1)
        .unwrap()
    else {
        unreachable!()
    };
    let first_id = second.input[0].id().unwrap().to_owned();
    let copy = second.input[0].clone().with_id("another-id");
    second.input.push(copy);
    let condensed = sample.condensed();
    let pool = &condensed.events_data.as_ref().unwrap().messages;
    assert_eq!(pool.len(), 2 + 2 + 1);
    let refs = common::model_events(&condensed)[1]
        .input_refs
        .clone()
        .unwrap();
    assert_eq!(refs, vec![(0, 4), (0, 1)]);
    let mut resolved = condensed;
    resolved.resolve_events_data();
    let input = &common::model_events(&resolved)[1].input;
    assert_eq!(input.len(), 5);
    assert_eq!(input[4].id(), Some(first_id.as_str()));
}

/// The figure for a 50-turn agent sample: its JSON as written before condensing
/// (every model event copying the conversation) and after.
#[test]
fn a_fifty_turn_sample_is_much_smaller_condensed() {
    let sample = common::agent_sample("agent".into(), 50);
    let inputs: usize = common::model_events(&sample)
        .iter()
        .map(|e| e.input.len())
        .sum();
    let whole = examen_log::to_python_json(&sample).unwrap().len();
    let condensed = PreparedSample::from_sample(&sample).unwrap().json().len();
    let dir = tempfile::tempdir().unwrap();
    let eval = std::fs::metadata(write(dir.path(), LogFormat::Eval, &sample))
        .unwrap()
        .len();
    let json = std::fs::metadata(write(dir.path(), LogFormat::Json, &sample))
        .unwrap()
        .len();
    println!(
        "50 turns, {inputs} input messages: sample JSON {whole} bytes uncondensed, \
         {condensed} condensed; .eval file {eval} bytes, .json file {json} bytes"
    );
    assert!(condensed * 5 < whole, "{condensed} vs {whole}");
    assert!((json as usize) < whole, "{json} vs {whole}");
}
