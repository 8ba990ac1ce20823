//! One attempt against an HTTP model API, and its classification: success, retry (with the
//! reason and the server's `Retry-After`), or failure.

use std::time::{Duration, SystemTime};

use examen_http::{Bytes, Client, HeaderName, HeaderValue, Request, StatusCode};
use examen_types::{ChatMessage, GenerateConfig, ModelOutput, ToolChoice, ToolInfo};
use serde_json::Value;

use super::{anthropic, openai};
use crate::error::{ErrorKind, ModelError};
use crate::secret::Secret;

/// Which wire format and authentication an HTTP provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi(openai::Flavor),
    Anthropic,
}

/// A configured HTTP model API.
pub(crate) struct HttpProvider {
    /// Provider label for messages: `openai`, `anthropic`, `openai-api/<service>`.
    pub(crate) label: String,
    pub(crate) wire: Wire,
    /// The model name as the API knows it.
    pub(crate) model: String,
    pub(crate) base_url: String,
    pub(crate) endpoint: String,
    pub(crate) key: Secret,
    pub(crate) key_var: String,
    /// The variable the base URL is read from (`OPENAI_BASE_URL`).
    pub(crate) base_var: String,
    /// Credentials of the proxies in use (redacted from whatever a server echoes).
    pub(crate) proxy_secrets: Vec<Secret>,
    pub(crate) client: Client,
}

impl std::fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProvider")
            .field("label", &self.label)
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended.
pub(crate) enum Attempt {
    Done {
        output: Box<ModelOutput>,
        response: Value,
    },
    Retry {
        reason: String,
        retry_after: Option<Duration>,
        error: ModelError,
    },
    Fail(ModelError),
}

/// The generation options that belong in a request body (others, like `timeout` or
/// `max_connections`, are the model layer's or the engine's own).
fn request_options(config: &GenerateConfig) -> [(&'static str, bool); 21] {
    [
        ("max_tokens", config.max_tokens.is_some()),
        ("temperature", config.temperature.is_some()),
        ("top_p", config.top_p.is_some()),
        ("top_k", config.top_k.is_some()),
        ("stop_seqs", config.stop_seqs.is_some()),
        ("seed", config.seed.is_some()),
        ("frequency_penalty", config.frequency_penalty.is_some()),
        ("presence_penalty", config.presence_penalty.is_some()),
        ("logit_bias", config.logit_bias.is_some()),
        ("best_of", config.best_of.is_some()),
        ("num_choices", config.num_choices.is_some()),
        ("logprobs", config.logprobs.is_some()),
        ("top_logprobs", config.top_logprobs.is_some()),
        ("prompt_logprobs", config.prompt_logprobs.is_some()),
        ("reasoning_effort", config.reasoning_effort.is_some()),
        ("reasoning_tokens", config.reasoning_tokens.is_some()),
        ("reasoning_summary", config.reasoning_summary.is_some()),
        ("verbosity", config.verbosity.is_some()),
        ("effort", config.effort.is_some()),
        ("response_schema", config.response_schema.is_some()),
        ("modalities", config.modalities.is_some()),
    ]
}

impl HttpProvider {
    /// Whether this provider's wire format sends the request option `name`.
    fn sends(&self, name: &str) -> bool {
        const OPENAI: &[&str] = &[
            "max_tokens",
            "temperature",
            "top_p",
            "stop_seqs",
            "seed",
            "frequency_penalty",
            "presence_penalty",
            "logit_bias",
            "num_choices",
            "logprobs",
            "top_logprobs",
            "reasoning_effort",
            "response_schema",
        ];
        // OpenAI-compatible servers (vLLM and the like) take OpenAI's options and these.
        const COMPATIBLE_EXTRA: &[&str] = &["top_k", "best_of"];
        const ANTHROPIC: &[&str] = &[
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "stop_seqs",
            "reasoning_tokens",
        ];
        match self.wire {
            Wire::OpenAi(openai::Flavor::OpenAi) => OPENAI.contains(&name),
            Wire::OpenAi(openai::Flavor::Compatible) => {
                OPENAI.contains(&name) || COMPATIBLE_EXTRA.contains(&name)
            }
            Wire::Anthropic => ANTHROPIC.contains(&name),
        }
    }

    /// The request options set in `config` that this provider does not send.
    pub(crate) fn unsent_options(&self, config: &GenerateConfig) -> Vec<&'static str> {
        request_options(config)
            .into_iter()
            .filter(|(name, set)| *set && !self.sends(name))
            .map(|(name, _)| name)
            .collect()
    }

    pub(crate) fn request_body(
        &self,
        input: &[ChatMessage],
        tools: &[ToolInfo],
        tool_choice: &ToolChoice,
        config: &GenerateConfig,
    ) -> Value {
        match self.wire {
            Wire::OpenAi(flavor) => {
                openai::request_body(flavor, &self.model, input, tools, tool_choice, config)
            }
            Wire::Anthropic => {
                anthropic::request_body(&self.model, input, tools, tool_choice, config)
            }
        }
    }

    fn request(&self, body: Bytes, config: &GenerateConfig) -> Result<Request, ModelError> {
        let http_error = |err: examen_http::Error| {
            ModelError::new(ErrorKind::Http {
                provider: self.label.clone(),
                message: err.to_string(),
            })
        };
        let mut request = Request::post(&self.endpoint)
            .map_err(http_error)?
            .json(body);
        request = match self.wire {
            Wire::OpenAi(_) => request.bearer_auth(self.key.expose()),
            Wire::Anthropic => request
                .header(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(anthropic::API_VERSION),
                )
                .secret_header(HeaderName::from_static("x-api-key"), self.key.expose()),
        }
        .map_err(|_| {
            // The key itself is unusable in a header (a stray newline, say): name the variable.
            ModelError::new(ErrorKind::Http {
                provider: self.label.clone(),
                message: format!(
                    "the API key in {} is not a valid header value",
                    self.key_var
                ),
            })
        })?;
        for (name, value) in config.extra_headers.iter().flatten() {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| {
                ModelError::bad_arg(&self.label, format!("`{name}` is not a valid header name"))
            })?;
            // Extra headers may carry credentials of their own: keep them out of Debug output.
            request = request.secret_header(name, value).map_err(|_| {
                ModelError::bad_arg(
                    &self.label,
                    "an extra header value is not a valid header value",
                )
            })?;
        }
        Ok(request)
    }

    /// Sends the request once and classifies the outcome. `limit` bounds the whole exchange.
    /// Besides the outcome: the JSON body of a response that was not a success (an error
    /// object), for the record of a failed call.
    pub(crate) async fn attempt(
        &self,
        body: Bytes,
        config: &GenerateConfig,
        limit: Option<Duration>,
    ) -> (Attempt, Option<Value>) {
        let mut request = match self.request(body, config) {
            Ok(request) => request,
            Err(err) => return (Attempt::Fail(err), None),
        };
        if let Some(limit) = limit {
            request = request.timeout(limit);
        }
        let exchange = async {
            let response = self.client.send(request).await?;
            let status = response.status();
            let retry_after = examen_http::retry_after(response.headers(), SystemTime::now());
            let bytes = response.bytes().await?;
            Ok::<_, examen_http::Error>((status, retry_after, bytes))
        };
        match exchange.await {
            Ok((status, retry_after, bytes)) => {
                let outcome = self.classify(status, retry_after, &bytes);
                let response = match &outcome {
                    Attempt::Done { .. } => None,
                    // Error bodies echo what they were sent: clean them like messages.
                    _ => serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .filter(Value::is_object)
                        .map(|mut json| {
                            self.redact_json(&mut json);
                            json
                        }),
                };
                (outcome, response)
            }
            Err(err) => (self.transport_failure(&err), None),
        }
    }

    fn classify(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        bytes: &Bytes,
    ) -> Attempt {
        let code = status.as_u16();
        if status.is_success() {
            let Ok(json) = serde_json::from_slice::<Value>(bytes) else {
                let reason = format!("HTTP {code} with a body that is not valid JSON");
                return Attempt::Retry {
                    error: self.transient(reason.clone(), Some(code), false),
                    reason,
                    retry_after: None,
                };
            };
            let parsed = match self.wire {
                Wire::OpenAi(_) => openai::parse_response(&json),
                Wire::Anthropic => anthropic::parse_response(&json),
            };
            return match parsed {
                Ok(output) => Attempt::Done {
                    output: Box::new(output),
                    response: json,
                },
                Err(why) => {
                    let detail = server_message(bytes, &self.secrets())
                        .map_or(why.clone(), |message| format!("{why} ({message})"));
                    Attempt::Fail(ModelError::new(ErrorKind::BadResponse {
                        provider: self.label.clone(),
                        message: detail,
                    }))
                }
            };
        }
        match code {
            401 | 403 => Attempt::Fail(ModelError::new(ErrorKind::Auth {
                provider: self.label.clone(),
                status: code,
                // A proxy passes on its upstream's rejection, naming the key it used: the
                // server's words come first, the variable is only a hint.
                message: server_message(bytes, &self.secrets())
                    .map_or_else(String::new, |message| format!(": {message}")),
                var: self.key_var.clone(),
            })),
            408 | 409 | 429 | 500..=599 => {
                let mut reason = format!("HTTP {code}");
                if let Some(canonical) = status.canonical_reason() {
                    reason = format!("{reason} {canonical}");
                }
                // The retry list keeps the short reason; the error (what a user sees when
                // retrying stops) keeps the server's message too.
                let detail = match server_message(bytes, &self.secrets()) {
                    Some(message) => format!("{reason}: {message}"),
                    None => reason.clone(),
                };
                Attempt::Retry {
                    error: self.transient(detail, Some(code), false),
                    reason,
                    retry_after,
                }
            }
            _ => {
                let mut message = server_message(bytes, &self.secrets())
                    .unwrap_or_else(|| "no error message in the response".to_owned());
                if code == 404 {
                    // Usually a base URL with a path too many or too few: say what was asked.
                    message = format!(
                        "{message} (POST {}); hint: check the base URL ({})",
                        examen_http::redact_url(&self.endpoint),
                        self.base_var
                    );
                }
                Attempt::Fail(ModelError::new(ErrorKind::Rejected {
                    provider: self.label.clone(),
                    status: code,
                    message,
                }))
            }
        }
    }

    fn transport_failure(&self, err: &examen_http::Error) -> Attempt {
        if !err.is_transient() {
            return Attempt::Fail(ModelError::new(ErrorKind::Http {
                provider: self.label.clone(),
                message: self.redact(&err.to_string()),
            }));
        }
        let reason = match err.io_error_kind() {
            // A silent proxy is named, with the stage it stalled in.
            _ if err.is_timeout() && err.is_connect() && err.proxy().is_some() => {
                self.redact(&err.to_string())
            }
            _ if err.is_timeout() && err.is_connect() => "connect timed out".to_owned(),
            _ if err.is_timeout() => {
                // "request timed out after 5s (host)" → keep the part before the host.
                let text = err.to_string();
                let head = text.split(" (").next().unwrap_or(&text);
                head.replace("request timed out", "attempt timed out")
            }
            // A dead proxy is not the model's server refusing: say which proxy.
            Some(std::io::ErrorKind::ConnectionRefused) => match err.proxy() {
                Some(proxy) => format!("the proxy {proxy} refused the connection"),
                None => "connection refused".to_owned(),
            },
            Some(std::io::ErrorKind::ConnectionReset) => "connection reset".to_owned(),
            _ if err.is_closed() => "connection dropped before the response completed".to_owned(),
            _ => self.redact(&err.to_string()),
        };
        Attempt::Retry {
            error: self.transient(reason.clone(), None, err.is_timeout()),
            reason,
            retry_after: None,
        }
    }

    /// What a server's text is cleaned of before it is shown or logged: the API key, and the
    /// proxy's credentials.
    fn secrets(&self) -> Vec<&Secret> {
        std::iter::once(&self.key)
            .chain(self.proxy_secrets.iter())
            .collect()
    }

    fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.redact(text),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }

    fn redact(&self, text: &str) -> String {
        self.secrets()
            .iter()
            .fold(text.to_owned(), |text, secret| secret.redact(&text))
    }

    fn transient(&self, reason: String, status: Option<u16>, timeout: bool) -> ModelError {
        ModelError::new(ErrorKind::Transient {
            provider: self.label.clone(),
            reason,
            status,
            timeout,
        })
    }
}

/// The longest server message kept (a whole HTML error page is not worth more).
const MAX_SERVER_MESSAGE: usize = 64 * 1024;

/// The server's own error message: `error.message` in OpenAI and Anthropic error bodies, else
/// the body's text. Whole (up to 64 KiB), on one line, every secret redacted.
fn server_message(bytes: &[u8], secrets: &[&Secret]) -> Option<String> {
    let from_json = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|json| {
            let error = json.get("error")?;
            error
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| error.as_str())
                .map(str::to_owned)
        });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    if line.len() > MAX_SERVER_MESSAGE {
        let mut end = MAX_SERVER_MESSAGE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let cut = line.len() - end;
        line.truncate(end);
        line.push_str(&format!("… ({cut} more bytes)"));
    }
    for secret in secrets {
        line = secret.redact(&line);
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(wire: Wire) -> HttpProvider {
        HttpProvider {
            label: "p".into(),
            wire,
            model: "m".into(),
            base_url: "http://h".into(),
            endpoint: "http://h/x".into(),
            key: Secret::new("k"),
            key_var: "K".into(),
            base_var: "B".into(),
            proxy_secrets: Vec::new(),
            client: Client::builder()
                .proxy(examen_http::ProxyConfig::none())
                .build()
                .unwrap(),
        }
    }

    /// Each option a wire claims to send changes its request body when set; each it does not
    /// claim leaves the body as it was (so the warning never lies either way).
    #[test]
    fn sent_options_are_exactly_those_in_the_request_body() {
        let set_one = |name: &str| {
            let mut config: serde_json::Map<String, Value> = serde_json::Map::new();
            let value = match name {
                "stop_seqs" | "modalities" => serde_json::json!(["x"]),
                "logit_bias" => serde_json::json!({"1": 1}),
                "logprobs" => serde_json::json!(true),
                "reasoning_effort" | "reasoning_summary" | "verbosity" | "effort" => {
                    serde_json::json!("low")
                }
                "response_schema" => serde_json::json!({"name": "s", "json_schema": {}}),
                _ => serde_json::json!(3),
            };
            config.insert(name.to_owned(), value);
            serde_json::from_value::<GenerateConfig>(Value::Object(config)).unwrap()
        };
        for wire in [
            Wire::OpenAi(openai::Flavor::OpenAi),
            Wire::OpenAi(openai::Flavor::Compatible),
            Wire::Anthropic,
        ] {
            let provider = provider(wire);
            let input = [ChatMessage::user("x")];
            let base =
                provider.request_body(&input, &[], &ToolChoice::Auto, &GenerateConfig::default());
            for (name, _) in request_options(&GenerateConfig::default()) {
                let config = set_one(name);
                let body = provider.request_body(&input, &[], &ToolChoice::Auto, &config);
                let sent = body != base;
                assert_eq!(
                    provider.unsent_options(&config).is_empty(),
                    sent,
                    "{wire:?}: `{name}` (sent: {sent})"
                );
            }
        }
    }
}
