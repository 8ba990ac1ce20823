//! Model generation options (Inspect's `GenerateConfig`).

use serde::{Deserialize, Serialize};

use crate::{JsonObject, JsonValue};

/// Schema for structured output (`ResponseSchema`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseSchema {
    /// Name of the schema (`[a-zA-Z0-9_-]`, at most 64 characters).
    pub name: String,
    /// The JSON Schema the response must follow.
    pub json_schema: JsonValue,
    /// What the response format is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

macro_rules! generate_config {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty ),* $(,)?) => {
        /// Model generation options. Every field is optional and omitted from JSON
        /// when unset, as in Inspect's logs. Unknown fields are ignored on input
        /// (Inspect drops them when reading logs too).
        ///
        /// `Debug` lists only the fields that are set and redacts `extra_headers`
        /// values, which may carry credentials.
        #[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
        pub struct GenerateConfig {
            $(
                $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl GenerateConfig {
            /// Layers `overrides` over `self`: every field set in `overrides` replaces
            /// the one in `self` (Inspect's `GenerateConfig.merge`).
            #[must_use]
            pub fn merge(&self, overrides: &GenerateConfig) -> GenerateConfig {
                GenerateConfig {
                    $( $field: overrides.$field.clone().or_else(|| self.$field.clone()), )*
                }
            }

            /// True when no field is set.
            #[allow(clippy::nonminimal_bool)]
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )*
            }
        }

        impl std::fmt::Debug for GenerateConfig {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut s = f.debug_struct("GenerateConfig");
                $(
                    if let Some(v) = &self.$field {
                        if stringify!($field) == "extra_headers" {
                            s.field(stringify!($field), &RedactedHeaders(self.extra_headers.as_ref()));
                        } else {
                            s.field(stringify!($field), v);
                        }
                    }
                )*
                s.finish()
            }
        }
    };
}

struct RedactedHeaders<'a>(Option<&'a indexmap::IndexMap<String, String>>);

impl std::fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for k in self.0.into_iter().flat_map(|h| h.keys()) {
            m.entry(k, &"<redacted>");
        }
        m.finish()
    }
}

fn reasoning_history<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    // Older logs stored `reasoning_history` as a bool; Inspect migrates it.
    Ok(match Option::<JsonValue>::deserialize(d)? {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::Bool(true)) => Some("all".to_owned()),
        Some(JsonValue::Bool(false)) => Some("none".to_owned()),
        Some(JsonValue::String(s)) => Some(s),
        Some(other) => {
            return Err(serde::de::Error::custom(format_args!(
                "reasoning_history: expected a string or bool, found {other}"
            )))
        }
    })
}

/// Writes seconds as Inspect's `int` field: whole, a fraction rounded up (Inspect's reader
/// rejects `0.5` for an `int`).
fn whole_seconds<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(secs) if secs.is_finite() && *secs >= 0.0 && *secs < u64::MAX as f64 => {
            s.serialize_u64(secs.ceil() as u64)
        }
        Some(secs) => s.serialize_f64(*secs),
        None => s.serialize_none(),
    }
}

/// Reads seconds written as an integer or a float.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<JsonValue>::deserialize(d)? {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::Number(n)) => n.as_f64(),
        Some(other) => {
            return Err(serde::de::Error::custom(format_args!(
                "expected a number of seconds, found {other}"
            )))
        }
    })
}

generate_config! {
    /// Maximum number of retries (1 allows two attempts in total).
    max_retries: u32,
    /// Timeout in seconds for a whole request, retries included. Fractions are allowed; the log
    /// records whole seconds (Inspect's schema), a fraction rounded up.
    #[serde(serialize_with = "whole_seconds", deserialize_with = "seconds")]
    timeout: f64,
    /// Timeout in seconds for one attempt (fractions as for `timeout`).
    #[serde(serialize_with = "whole_seconds", deserialize_with = "seconds")]
    attempt_timeout: f64,
    /// Timeout in seconds on silence within a streaming response.
    stream_idle_timeout: u64,
    /// Maximum concurrent connections to the model API.
    max_connections: u32,
    /// Adaptive concurrency: a bool, an int, or an `AdaptiveConcurrency` object.
    adaptive_connections: JsonValue,
    /// Override the default system message.
    system_message: String,
    /// Maximum tokens to generate.
    max_tokens: u64,
    /// Nucleus sampling probability mass.
    top_p: f64,
    /// Sampling temperature.
    temperature: f64,
    /// Stop sequences.
    stop_seqs: Vec<String>,
    /// Server-side best-of (vLLM).
    best_of: u32,
    /// Frequency penalty (-2.0 to 2.0).
    frequency_penalty: f64,
    /// Presence penalty (-2.0 to 2.0).
    presence_penalty: f64,
    /// Token id → bias; keys are token ids written as strings in JSON.
    logit_bias: JsonObject,
    /// Random seed.
    seed: i64,
    /// Top-k sampling.
    top_k: u32,
    /// Number of completion choices.
    num_choices: u32,
    /// Return log probabilities of output tokens.
    logprobs: bool,
    /// Number of most likely tokens to return per position (0-20).
    top_logprobs: u32,
    /// Prompt log probabilities per token (1-20, vLLM).
    prompt_logprobs: u32,
    /// Enable parallel tool calls.
    parallel_tool_calls: bool,
    /// Map tools to model-internal implementations.
    internal_tools: bool,
    /// Maximum tool output in bytes.
    max_tool_output: u64,
    /// Prompt caching: `"auto"` or a bool.
    cache_prompt: JsonValue,
    /// Fallback models tried when the model refuses.
    fallback_models: Vec<String>,
    /// Fail the sample on a `content_filter` stop.
    fail_on_refusal: bool,
    /// `low`, `medium` or `high`.
    verbosity: String,
    /// `low`, `medium`, `high`, `xhigh` or `max`.
    effort: String,
    /// `none`, `minimal`, `low`, `medium`, `high`, `xhigh` or `max`.
    reasoning_effort: String,
    /// `standard` or `pro`.
    reasoning_mode: String,
    /// Maximum reasoning tokens.
    reasoning_tokens: u64,
    /// `none`, `concise`, `detailed` or `auto`.
    reasoning_summary: String,
    /// `none`, `all`, `last` or `auto` (older logs' bools are migrated).
    #[serde(deserialize_with = "reasoning_history")]
    reasoning_history: String,
    /// Structured output schema.
    response_schema: ResponseSchema,
    /// Extra HTTP headers.
    extra_headers: indexmap::IndexMap<String, String>,
    /// Extra body fields for OpenAI-compatible servers.
    extra_body: JsonObject,
    /// Additional output modalities.
    modalities: Vec<JsonValue>,
    /// Cache policy: a bool or a `CachePolicy` object.
    cache: JsonValue,
    /// Batch API use: a bool, an int or a `BatchConfig` object.
    batch: JsonValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_written_as_whole_seconds_and_read_as_either() {
        let config = GenerateConfig {
            timeout: Some(15.0),
            attempt_timeout: Some(0.5),
            ..GenerateConfig::default()
        };
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(json, r#"{"timeout":15,"attempt_timeout":1}"#);
        let read: GenerateConfig =
            serde_json::from_str(r#"{"timeout": 2.5, "attempt_timeout": 7}"#).unwrap();
        assert_eq!((read.timeout, read.attempt_timeout), (Some(2.5), Some(7.0)));
        assert!(serde_json::from_str::<GenerateConfig>(r#"{"timeout": "x"}"#).is_err());
    }
}
