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
    /// [`condense`](Self::condense) does the same in place, without the copy.
    pub fn condensed(&self) -> EvalSample {
        let mut sample = self.clone();
        sample.condense();
        sample
    }

    /// Condenses the sample in place (see [`condensed`](Self::condensed)): each model
    /// event's input and raw request messages move into the pools, nothing is copied but
    /// the pool keys.
    pub fn condense(&mut self) {
        let data = condense_events_in_place(&mut self.events, self.events_data.take());
        self.events_data = Some(data);
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
    let mut events = events.to_vec();
    let data = condense_events_in_place(&mut events, existing.cloned());
    (events, data)
}

fn condense_events_in_place(events: &mut [Event], existing: Option<EventsData>) -> EventsData {
    let mut data = existing.unwrap_or_default();
    let mut messages = MessagePool::new(&data.messages, message_key);
    let mut calls = CallPool::new(&data.calls);
    for event in events.iter_mut() {
        if let Event::Model(model) = event {
            condense_model_event(model, &mut messages, &mut calls);
        }
    }
    let (new_messages, new_calls) = (messages.new_entries, calls.0.new_entries);
    data.messages.extend(new_messages);
    data.calls.extend(new_calls);
    data
}

fn condense_model_event(
    event: &mut ModelEvent,
    messages: &mut MessagePool<'_>,
    calls: &mut CallPool<'_>,
) {
    // `condense_model_event_inputs`: an event with an input is condensed (any
    // refs it had are replaced); one without (already condensed, or no input) is
    // kept as it is.
    if !event.input.is_empty() {
        event.input_refs = Some(messages.refs(std::mem::take(&mut event.input)));
    }
    if let Some(call) = event.call.as_mut() {
        calls.condense(call);
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
/// to the previous positions without computing keys: an entry equal to the pooled entry at
/// the previous list's position has that entry's key, so the result is the same as keying
/// every one.
struct Pool<'a, T, K> {
    existing: &'a [T],
    index: HashMap<K, u64>,
    new_entries: Vec<T>,
    key: fn(&mut T) -> K,
    prev_positions: Vec<u64>,
}

impl<'a, T: Clone + PartialEq, K: std::hash::Hash + Eq> Pool<'a, T, K> {
    fn new(existing: &'a [T], key: fn(&mut T) -> K) -> Self {
        let mut index = HashMap::new();
        for (i, entry) in existing.iter().enumerate() {
            // `_build_msg_index`: a later duplicate wins.
            index.insert(key(&mut entry.clone()), i as u64);
        }
        Self {
            existing,
            index,
            new_entries: Vec::new(),
            key,
            prev_positions: Vec::new(),
        }
    }

    fn entry(&self, position: u64) -> Option<&T> {
        let position = usize::try_from(position).ok()?;
        match position.checked_sub(self.existing.len()) {
            None => self.existing.get(position),
            Some(new) => self.new_entries.get(new),
        }
    }

    /// The refs of `entries`, moving the ones not pooled yet into the pool.
    fn refs(&mut self, entries: Vec<T>) -> Vec<(u64, u64)> {
        let prefix = entries
            .iter()
            .zip(&self.prev_positions)
            .take_while(|(entry, &position)| self.entry(position) == Some(*entry))
            .count();
        let mut positions = self.prev_positions[..prefix].to_vec();
        for mut entry in entries.into_iter().skip(prefix) {
            let key = (self.key)(&mut entry);
            let next = (self.existing.len() + self.new_entries.len()) as u64;
            let position = *self.index.entry(key).or_insert(next);
            if position == next {
                self.new_entries.push(entry);
            }
            positions.push(position);
        }
        let refs = compress_refs(&positions);
        self.prev_positions = positions;
        refs
    }
}

/// The message pool: content key (JSON without `id`) to position.
type MessagePool<'a> = Pool<'a, ChatMessage, Vec<u8>>;

/// A message's identity in the pool: its JSON without the `id` (taken out for the
/// serialization and put back).
fn message_key(message: &mut ChatMessage) -> Vec<u8> {
    let id = message.id_slot_mut().take();
    let key = serde_json::to_vec(&*message).unwrap_or_default();
    *message.id_slot_mut() = id;
    key
}

/// The call-message pool: JSON with sorted keys to position (serde_json's equality of the
/// prefix tells integers from floats, as Inspect's `_strict_eq` does).
struct CallPool<'a>(Pool<'a, JsonValue, String>);

impl<'a> CallPool<'a> {
    fn new(existing: &'a [JsonValue]) -> Self {
        Self(Pool::new(existing, |value| sorted_json(value)))
    }

    /// Pools the messages of a model event's `call` and points the call at them.
    fn condense(&mut self, call: &mut JsonValue) {
        let JsonValue::Object(obj) = call else {
            return;
        };
        if obj.get("call_refs").is_some_and(|refs| !refs.is_null()) {
            return;
        }
        let Some(JsonValue::Object(request)) = obj.get_mut("request") else {
            return;
        };
        let Some(key) = CALL_MESSAGE_KEYS
            .into_iter()
            .find(|k| request.contains_key(*k))
        else {
            return;
        };
        if !matches!(request.get(key), Some(JsonValue::Array(msgs)) if !msgs.is_empty()) {
            return;
        }
        // `shift_remove` keeps the order of the request's other fields.
        let Some(JsonValue::Array(msgs)) = request.shift_remove(key) else {
            return;
        };
        let refs = self.0.refs(msgs);
        // ModelCall's fields in order: request, response, error, time, call_refs,
        // call_key (the last two are new here, so they go at the end).
        obj.shift_remove("call_refs");
        obj.shift_remove("call_key");
        obj.insert(
            "call_refs".to_owned(),
            serde_json::to_value(refs).unwrap_or_default(),
        );
        obj.insert("call_key".to_owned(), JsonValue::String(key.to_owned()));
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
