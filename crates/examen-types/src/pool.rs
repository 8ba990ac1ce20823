//! Condensed transcripts: each model event's input (and its raw request's messages)
//! pooled once per sample in `events_data`, the events pointing into the pools by
//! range-encoded `input_refs` / `call.call_refs`, as Inspect writes its logs.
//!
//! This follows inspect_ai 0.3.285 `event/_pool.py` (`condense_model_event_inputs`,
//! `condense_model_event_calls`, `resolve_model_event_inputs`,
//! `resolve_model_event_calls`, `_compress_refs`, `_expand_refs`), as called by
//! `log/_condense.py:condense_sample` (every sample Inspect's recorders write) and
//! `log/_resolve.py:resolve_sample_events_data` (every sample its readers read):
//!
//! - a message is pooled once per distinct content: two messages whose JSON is
//!   the same but for `id` share the first one's entry (Inspect hashes
//!   `model_dump_json(exclude={"id"})`), so a resolved input carries the first
//!   occurrence's id;
//! - the messages of a raw request (`call.request["messages"|"contents"|"input"|
//!   "inputs"]`, the first key present) are pooled in `calls`, keyed by their JSON
//!   with sorted keys, the key removed from the request and `call_refs` and
//!   `call_key` added to the call;
//! - refs are `[start, end)` ranges over consecutive pool positions;
//! - events already condensed (refs set, input empty) and the pools already in
//!   `events_data` are kept: condensing a condensed sample changes nothing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::{Event, ModelEvent};
use crate::log::EvalSample;
use crate::{ChatMessage, JsonValue};

/// Pooled data of a condensed sample (Inspect's `EventsData`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventsData {
    /// Distinct model-event input messages.
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    /// Distinct messages of the model events' raw requests.
    #[serde(default)]
    pub calls: Vec<JsonValue>,
}

/// The keys under which a provider's raw request carries its messages, in the
/// order Inspect looks for them (`_CALL_MESSAGE_KEYS`).
const CALL_MESSAGE_KEYS: [&str; 4] = ["messages", "contents", "input", "inputs"];

impl EvalSample {
    /// The sample as Inspect's recorders write it (`condense_sample`): its model
    /// events' inputs and raw request messages moved into `events_data`, each event
    /// pointing into it. Everything else is copied; no input is copied twice.
    pub fn condensed(&self) -> EvalSample {
        let EvalSample {
            id,
            epoch,
            input,
            choices,
            target,
            description,
            sandbox,
            files,
            setup,
            messages,
            output,
            scores,
            metadata,
            store,
            events,
            timelines,
            model_usage,
            role_usage,
            model_fallbacks,
            started_at,
            completed_at,
            total_time,
            working_time,
            uuid,
            invalidation,
            error,
            error_retries,
            attachments,
            events_data,
            limit,
            turn_count,
            token_limit,
            token_limit_type,
            token_limit_usage,
            message_limit,
            time_limit,
        } = self;
        let (events, events_data) = condense_events(events, events_data.as_ref());
        EvalSample {
            id: id.clone(),
            epoch: *epoch,
            input: input.clone(),
            choices: choices.clone(),
            target: target.clone(),
            description: description.clone(),
            sandbox: sandbox.clone(),
            files: files.clone(),
            setup: setup.clone(),
            messages: messages.clone(),
            output: output.clone(),
            scores: scores.clone(),
            metadata: metadata.clone(),
            store: store.clone(),
            events,
            timelines: timelines.clone(),
            model_usage: model_usage.clone(),
            role_usage: role_usage.clone(),
            model_fallbacks: model_fallbacks.clone(),
            started_at: started_at.clone(),
            completed_at: completed_at.clone(),
            total_time: *total_time,
            working_time: *working_time,
            uuid: uuid.clone(),
            invalidation: invalidation.clone(),
            error: error.clone(),
            error_retries: error_retries.clone(),
            attachments: attachments.clone(),
            events_data: Some(events_data),
            limit: limit.clone(),
            turn_count: *turn_count,
            token_limit: *token_limit,
            token_limit_type: token_limit_type.clone(),
            token_limit_usage: *token_limit_usage,
            message_limit: *message_limit,
            time_limit: *time_limit,
        }
    }

    /// Gives every model event its full input (and raw request messages) back from
    /// `events_data`, which is then dropped (`resolve_sample_events_data`, which
    /// Inspect's readers call on every sample they read). A sample without
    /// `events_data` is left as it is.
    pub fn resolve_events_data(&mut self) {
        let Some(data) = self.events_data.take() else {
            return;
        };
        for event in &mut self.events {
            if let Event::Model(event) = event {
                resolve_model_event(event, &data);
            }
        }
    }
}

/// Condenses `events` onto the pools of `existing` (`condense_sample` with the
/// sample's `events_data`): returns the condensed events and the grown pools.
pub fn condense_events(
    events: &[Event],
    existing: Option<&EventsData>,
) -> (Vec<Event>, EventsData) {
    let mut data = existing.cloned().unwrap_or_default();
    let mut messages = MessagePool::new(&data.messages, message_key);
    let mut calls = CallPool::new(&data.calls);
    let events = events
        .iter()
        .map(|event| match event {
            Event::Model(model) => Event::Model(Box::new(condense_model_event(
                model,
                &mut messages,
                &mut calls,
            ))),
            other => other.clone(),
        })
        .collect();
    data.messages.extend(messages.new_entries);
    data.calls.extend(calls.0.new_entries);
    (events, data)
}

fn condense_model_event(
    event: &ModelEvent,
    messages: &mut MessagePool,
    calls: &mut CallPool,
) -> ModelEvent {
    // Clone everything but the input, which is what is pooled.
    let ModelEvent {
        base,
        model,
        role,
        requested_model,
        input,
        input_refs,
        tools,
        tool_choice,
        config,
        output,
        retries,
        request_ids,
        error,
        traceback,
        traceback_ansi,
        cache,
        call,
        completed,
        working_time,
    } = event;
    // `condense_model_event_inputs`: an event with an input is condensed (any
    // refs it had are replaced); one without (already condensed, or no input) is
    // kept as it is.
    let input_refs = if input.is_empty() {
        input_refs.clone()
    } else {
        Some(messages.refs(input))
    };
    ModelEvent {
        base: base.clone(),
        model: model.clone(),
        role: role.clone(),
        requested_model: requested_model.clone(),
        input: Vec::new(),
        input_refs,
        tools: tools.clone(),
        tool_choice: tool_choice.clone(),
        config: config.clone(),
        output: output.clone(),
        retries: *retries,
        request_ids: request_ids.clone(),
        error: error.clone(),
        traceback: traceback.clone(),
        traceback_ansi: traceback_ansi.clone(),
        cache: cache.clone(),
        call: call.as_ref().map(|call| calls.condense(call)),
        completed: completed.clone(),
        working_time: *working_time,
    }
}

fn resolve_model_event(event: &mut ModelEvent, data: &EventsData) {
    // `resolve_model_event_inputs`: an empty pool resolves nothing.
    if !data.messages.is_empty() {
        if let Some(refs) = event.input_refs.take() {
            event.input = expand_refs(&refs, &data.messages);
        }
    }
    // `resolve_model_event_calls`: only calls with non-empty refs.
    if data.calls.is_empty() {
        return;
    }
    let Some(JsonValue::Object(call)) = event.call.as_mut() else {
        return;
    };
    let refs: Option<Vec<(u64, u64)>> = call
        .get("call_refs")
        .and_then(|refs| serde_json::from_value(refs.clone()).ok());
    let Some(refs) = refs.filter(|refs| !refs.is_empty()) else {
        return;
    };
    let key = match call.get("call_key") {
        Some(JsonValue::String(key)) => key.clone(),
        _ => "messages".to_owned(),
    };
    let msgs = expand_refs(&refs, &data.calls);
    let mut rebuilt = serde_json::Map::new();
    for (k, v) in std::mem::take(call) {
        if k == "call_refs" || k == "call_key" {
            continue;
        }
        rebuilt.insert(k, v);
    }
    if !matches!(rebuilt.get("request"), Some(JsonValue::Object(_))) {
        rebuilt.insert("request".to_owned(), JsonValue::Object(Default::default()));
    }
    if let Some(JsonValue::Object(request)) = rebuilt.get_mut("request") {
        // `new_request[msg_key] = msgs`: appended unless the key is there already.
        request.insert(key, JsonValue::Array(msgs));
    }
    *call = rebuilt;
}

/// `_expand_refs`: `pool[start:end]` for each range, out-of-range parts dropped.
fn expand_refs<T: Clone>(refs: &[(u64, u64)], pool: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &(start, end) in refs {
        let len = pool.len() as u64;
        let (start, end) = (start.min(len) as usize, end.min(len) as usize);
        if start < end {
            out.extend_from_slice(&pool[start..end]);
        }
    }
    out
}

/// `_compress_refs`: consecutive positions as `[start, end)` ranges.
pub fn compress_refs(indices: &[u64]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut iter = indices.iter().copied();
    let Some(first) = iter.next() else {
        return out;
    };
    let (mut start, mut end) = (first, first + 1);
    for i in iter {
        if i == end {
            end += 1;
        } else {
            out.push((start, end));
            start = i;
            end = i + 1;
        }
    }
    out.push((start, end));
    out
}

/// A pool being built: each entry's key to its position, and the entries this sample adds.
///
/// A conversation re-sends its history, so the equal prefix of the previous list is resolved
/// to the previous positions without computing keys (an equal entry has an equal key, so the
/// result is the same as keying every one).
struct Pool<T, K> {
    index: HashMap<K, u64>,
    len: u64,
    new_entries: Vec<T>,
    key: fn(&T) -> K,
    prev: Vec<T>,
    prev_positions: Vec<u64>,
}

impl<T: Clone + PartialEq, K: std::hash::Hash + Eq> Pool<T, K> {
    fn new(existing: &[T], key: fn(&T) -> K) -> Self {
        let mut index = HashMap::new();
        for (i, entry) in existing.iter().enumerate() {
            // `_build_msg_index`: a later duplicate wins.
            index.insert(key(entry), i as u64);
        }
        Self {
            index,
            len: existing.len() as u64,
            new_entries: Vec::new(),
            key,
            prev: Vec::new(),
            prev_positions: Vec::new(),
        }
    }

    /// The refs of `entries`, adding the ones not pooled yet.
    fn refs(&mut self, entries: &[T]) -> Vec<(u64, u64)> {
        let prefix = entries
            .iter()
            .zip(&self.prev)
            .take_while(|(a, b)| a == b)
            .count();
        let mut positions = self.prev_positions[..prefix].to_vec();
        for entry in &entries[prefix..] {
            let key = (self.key)(entry);
            let position = match self.index.get(&key) {
                Some(&position) => position,
                None => {
                    let position = self.len + self.new_entries.len() as u64;
                    self.index.insert(key, position);
                    self.new_entries.push(entry.clone());
                    position
                }
            };
            positions.push(position);
        }
        let refs = compress_refs(&positions);
        self.prev = entries.to_vec();
        self.prev_positions = positions;
        refs
    }
}

/// The message pool: content key (JSON without `id`) to position.
type MessagePool = Pool<ChatMessage, Vec<u8>>;

/// A message's identity in the pool: its JSON without the `id`.
fn message_key(message: &ChatMessage) -> Vec<u8> {
    let mut message = message.clone();
    *message.id_slot_mut() = None;
    serde_json::to_vec(&message).unwrap_or_default()
}

/// The call-message pool: JSON with sorted keys to position (serde_json's equality of the
/// prefix tells integers from floats, as Inspect's `_strict_eq` does).
struct CallPool(Pool<JsonValue, String>);

impl CallPool {
    fn new(existing: &[JsonValue]) -> Self {
        Self(Pool::new(existing, sorted_json))
    }

    /// A model event's `call` with its request's messages pooled.
    fn condense(&mut self, call: &JsonValue) -> JsonValue {
        let JsonValue::Object(obj) = call else {
            return call.clone();
        };
        if obj.get("call_refs").is_some_and(|refs| !refs.is_null()) {
            return call.clone();
        }
        let Some(JsonValue::Object(request)) = obj.get("request") else {
            return call.clone();
        };
        let Some(key) = CALL_MESSAGE_KEYS
            .into_iter()
            .find(|k| request.contains_key(*k))
        else {
            return call.clone();
        };
        let msgs = match request.get(key) {
            Some(JsonValue::Array(msgs)) if !msgs.is_empty() => msgs,
            _ => return call.clone(),
        };
        let refs = self.0.refs(msgs);
        // ModelCall's fields in order: request, response, error, time, call_refs,
        // call_key (the last two are new here, so they go at the end).
        let mut out = serde_json::Map::new();
        for (k, v) in obj {
            if k == "call_refs" || k == "call_key" {
                continue;
            }
            if k == "request" {
                let request: serde_json::Map<String, JsonValue> = request
                    .iter()
                    .filter(|(rk, _)| rk.as_str() != key)
                    .map(|(rk, rv)| (rk.clone(), rv.clone()))
                    .collect();
                out.insert(k.clone(), JsonValue::Object(request));
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
        out.insert(
            "call_refs".to_owned(),
            serde_json::to_value(refs).unwrap_or_default(),
        );
        out.insert("call_key".to_owned(), JsonValue::String(key.to_owned()));
        JsonValue::Object(out)
    }
}

/// JSON with object keys sorted at every level (`json.dumps(..., sort_keys=True)`,
/// Inspect's `_call_hash`), used only as a pool key.
fn sorted_json(value: &JsonValue) -> String {
    fn write(value: &JsonValue, out: &mut String) {
        match value {
            JsonValue::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            JsonValue::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&serde_json::to_string(scalar).unwrap_or_default()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress_refs_as_inspect() {
        assert_eq!(compress_refs(&[]), vec![]);
        assert_eq!(compress_refs(&[0, 1, 2, 3]), vec![(0, 4)]);
        assert_eq!(
            compress_refs(&[0, 3, 4, 5, 9]),
            vec![(0, 1), (3, 6), (9, 10)]
        );
        assert_eq!(compress_refs(&[2, 5, 8]), vec![(2, 3), (5, 6), (8, 9)]);
        assert_eq!(
            compress_refs(&[0, 4, 2, 4]),
            vec![(0, 1), (4, 5), (2, 3), (4, 5)]
        );
    }

    #[test]
    fn expand_refs_truncates_out_of_range() {
        let pool = [1, 2, 3];
        assert_eq!(expand_refs(&[(0, 2), (2, 9), (7, 8)], &pool), vec![1, 2, 3]);
    }

    #[test]
    fn sorted_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": [{"z": 1, "a": 1.0}], "a": null});
        assert_eq!(sorted_json(&v), r#"{"a":null,"b":[{"a":1.0,"z":1}]}"#);
    }
}
