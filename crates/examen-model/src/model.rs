//! [`Model`], [`get_model`] and the generate loop: connection limit, attempts, retries, usage.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use examen_http::Bytes;
use examen_rt::CapacityLimiter;
use examen_types::{
    ChatMessage, GenerateConfig, JsonValue, ModelOutput, ModelUsage, ToolChoice, ToolInfo,
};

use crate::env::Env;
use crate::error::{ErrorKind, ModelError};
use crate::providers::http::{Attempt, HttpProvider, Wire};
use crate::providers::mock::MockLlm;
use crate::providers::openai::Flavor;
use crate::retry::{Backoff, RetryRecord};
use crate::secret::Secret;

/// Inspect's default `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10;

/// How to build a model besides its name (Inspect's `get_model` keyword arguments).
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// Overrides the base URL from the environment (`--model-base-url`).
    pub base_url: Option<String>,
    /// Overrides the API key from the environment.
    pub api_key: Option<Secret>,
    /// Provider arguments (`-M key=value`). HTTP providers accept `http2` (`true`/`false`) and
    /// `connect_timeout` (seconds); `mockllm` accepts `latency` (seconds).
    pub args: BTreeMap<String, String>,
    /// The model's default generation config; per-call configs are layered over it.
    pub config: GenerateConfig,
    /// Where keys and base URLs are read from (default: the environment, then `.env`).
    pub env: Env,
    /// Backoff between retries (default: Inspect's 3 s initial, 30 min cap).
    pub backoff: Backoff,
    /// The HTTP client to use; by default each model builds its own (proxy settings from `env`).
    pub client: Option<examen_http::Client>,
}

/// The result of one successful [`Model::generate`].
#[derive(Debug, Clone)]
pub struct Generation {
    /// What the model answered.
    pub output: ModelOutput,
    /// Every retry made on the way, oldest first.
    pub retries: Vec<RetryRecord>,
    /// The raw request and response bodies of the successful attempt (for the log's model
    /// event). They never contain the API key, which travels only in a header. For
    /// `mockllm`, what Inspect's records: `{"model", "messages"}` and `{"content"}`.
    pub call: Option<ModelCall>,
    /// Time spent working: from the call to its return, less `limiter_wait`.
    pub working_time: Duration,
    /// Time spent waiting for a `max_connections` slot, which is not working time.
    pub limiter_wait: Duration,
}

/// The raw exchange with a model API (Inspect's `ModelCall`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCall {
    /// The JSON body sent.
    pub request: JsonValue,
    /// The JSON body received.
    pub response: JsonValue,
    /// How long the successful attempt took.
    pub time: Duration,
}

/// A model: its name, its provider, its connection limit and its default config.
///
/// Cheap to clone; clones share the connection pool, the counters ([`retries`](Self::retries),
/// [`usage`](Self::usage)) and the connection limit. The limit is shared further: every model in
/// the process with the same provider, base URL and key uses the same limiter.
#[derive(Clone)]
pub struct Model {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    api_name: &'static str,
    api: Api,
    config: GenerateConfig,
    backoff: Backoff,
    limiter: Option<CapacityLimiter>,
    retries: AtomicU64,
    usage: Mutex<ModelUsage>,
}

enum Api {
    Mock(MockLlm),
    Http(Box<HttpProvider>),
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Model");
        s.field("name", &self.inner.name);
        if let Api::Http(http) = &self.inner.api {
            s.field("api", http);
        }
        s.field("config", &self.inner.config).finish()
    }
}

/// Resolves `provider/model` into a [`Model`].
///
/// Names: `mockllm/model`, `openai/<model>`, `anthropic/<model>` and
/// `openai-api/<service>/<model>` for any OpenAI-compatible server. Keys and base URLs come from
/// `options` first, then `options.env`: `OPENAI_API_KEY`/`OPENAI_BASE_URL`,
/// `ANTHROPIC_API_KEY`/`ANTHROPIC_BASE_URL`, `<SERVICE>_API_KEY`/`<SERVICE>_BASE_URL` (the service
/// upper-cased, `-` as `_`).
pub fn get_model(name: &str, options: ModelOptions) -> Result<Model, ModelError> {
    const EXPECTED: &str = "`provider/model` (for example `openai/gpt-4o-mini` or `mockllm/model`)";
    let (provider, rest) = name
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
        .ok_or_else(|| ModelError::bad_name(name, EXPECTED))?;
    let (api_name, api) = match provider {
        "mockllm" => {
            let mut mock = MockLlm::new();
            for (key, value) in &options.args {
                match key.as_str() {
                    "latency" => mock = mock.with_latency(parse_seconds("mockllm", key, value)?),
                    _ => return Err(unknown_arg("mockllm", key, &["latency"])),
                }
            }
            ("mockllm", Api::Mock(mock))
        }
        "openai" => (
            "openai",
            http_api(
                "openai".into(),
                Wire::OpenAi(Flavor::OpenAi),
                rest,
                "OPENAI",
                Some("https://api.openai.com/v1"),
                &options,
            )?,
        ),
        "anthropic" => (
            "anthropic",
            http_api(
                "anthropic".into(),
                Wire::Anthropic,
                rest,
                "ANTHROPIC",
                Some("https://api.anthropic.com"),
                &options,
            )?,
        ),
        "openai-api" => {
            let (service, model) = rest
                .split_once('/')
                .filter(|(s, m)| !s.is_empty() && !m.is_empty())
                .ok_or_else(|| {
                    ModelError::bad_name(
                        name,
                        "`openai-api/<service>/<model>` (for example `openai-api/vllm/llama-3-8b`)",
                    )
                })?;
            let prefix = service.to_ascii_uppercase().replace('-', "_");
            (
                "openai-api",
                http_api(
                    format!("openai-api/{service}"),
                    Wire::OpenAi(Flavor::Compatible),
                    model,
                    &prefix,
                    None,
                    &options,
                )?,
            )
        }
        _ => {
            return Err(ModelError::new(ErrorKind::UnknownProvider {
                provider: provider.to_owned(),
                name: name.to_owned(),
            }))
        }
    };
    let limiter = match &api {
        Api::Mock(_) => None,
        Api::Http(http) => {
            let limiter = shared_limiter(api_name, &http.base_url, &http.key);
            if let Some(max) = options.config.max_connections {
                resize(&limiter, max);
            }
            Some(limiter)
        }
    };
    Ok(Model {
        inner: Arc::new(Inner {
            name: name.to_owned(),
            api_name,
            api,
            config: options.config,
            backoff: options.backoff,
            limiter,
            retries: AtomicU64::new(0),
            usage: Mutex::new(ModelUsage::default()),
        }),
    })
}

fn http_api(
    label: String,
    wire: Wire,
    model: &str,
    env_prefix: &str,
    default_base_url: Option<&str>,
    options: &ModelOptions,
) -> Result<Api, ModelError> {
    let key_var = format!("{env_prefix}_API_KEY");
    let base_var = format!("{env_prefix}_BASE_URL");
    let key = match &options.api_key {
        Some(key) => key.clone(),
        None => options.env.get(&key_var)?.map(Secret::new).ok_or_else(|| {
            ModelError::new(ErrorKind::MissingKey {
                provider: label.clone(),
                var: key_var.clone(),
            })
        })?,
    };
    let base_url = match &options.base_url {
        Some(url) => url.clone(),
        None => match options.env.get(&base_var)? {
            Some(url) => url,
            None => default_base_url.map(str::to_owned).ok_or_else(|| {
                ModelError::new(ErrorKind::MissingBaseUrl {
                    provider: label.clone(),
                    var: base_var.clone(),
                })
            })?,
        },
    };
    let base_url = base_url.trim().trim_end_matches('/').to_owned();
    let endpoint = match wire {
        Wire::OpenAi(_) => format!("{base_url}/chat/completions"),
        // The Anthropic SDK appends the versioned path to the base URL.
        Wire::Anthropic => format!("{base_url}/v1/messages"),
    };
    if let Err(err) = examen_http::Request::post(&endpoint) {
        return Err(ModelError::bad_arg(
            &label,
            format!("base URL `{base_url}` is not usable: {err}"),
        ));
    }
    let client = match &options.client {
        Some(client) => client.clone(),
        None => build_client(&label, options)?,
    };
    Ok(Api::Http(Box::new(HttpProvider {
        label,
        wire,
        model: model.to_owned(),
        base_url,
        endpoint,
        key,
        key_var,
        client,
    })))
}

fn build_client(label: &str, options: &ModelOptions) -> Result<examen_http::Client, ModelError> {
    let mut builder = examen_http::Client::builder();
    for (key, value) in &options.args {
        builder = match key.as_str() {
            "http2" => builder.http2(parse_bool(label, key, value)?),
            "connect_timeout" => builder.connect_timeout(parse_seconds(label, key, value)?),
            _ => return Err(unknown_arg(label, key, &["http2", "connect_timeout"])),
        };
    }
    let env = &options.env;
    let env_error = std::cell::RefCell::new(None);
    let proxy = examen_http::ProxyConfig::from_lookup(|name| match env.get(name) {
        Ok(value) => value,
        Err(err) => {
            env_error.borrow_mut().get_or_insert(err);
            None
        }
    });
    if let Some(err) = env_error.into_inner() {
        return Err(err);
    }
    let proxy =
        proxy.map_err(|err| ModelError::bad_arg(label, format!("proxy settings: {err}")))?;
    builder
        .proxy(proxy)
        .build()
        .map_err(|err| ModelError::bad_arg(label, format!("HTTP client: {err}")))
}

fn unknown_arg(provider: &str, key: &str, accepted: &[&str]) -> ModelError {
    ModelError::bad_arg(
        provider,
        format!(
            "unknown argument `{key}` (accepted: {})",
            accepted.join(", ")
        ),
    )
}

fn parse_seconds(provider: &str, key: &str, value: &str) -> Result<Duration, ModelError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            ModelError::bad_arg(provider, format!("`{key}` expects seconds, got `{value}`"))
        })
}

fn parse_bool(provider: &str, key: &str, value: &str) -> Result<bool, ModelError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ModelError::bad_arg(
            provider,
            format!("`{key}` expects true or false, got `{value}`"),
        )),
    }
}

/// One limiter per (provider, base URL, key) in the process, so that every task and sample
/// using the same account shares one `max_connections` budget.
fn shared_limiter(provider: &str, base_url: &str, key: &Secret) -> CapacityLimiter {
    type Registry = Mutex<HashMap<(String, String, u64), CapacityLimiter>>;
    static LIMITERS: OnceLock<Registry> = OnceLock::new();
    let registry = LIMITERS.get_or_init(Registry::default);
    let mut limiters = registry.lock().unwrap_or_else(|e| e.into_inner());
    limiters
        .entry((provider.to_owned(), base_url.to_owned(), key.fingerprint()))
        .or_insert_with(|| CapacityLimiter::new(DEFAULT_MAX_CONNECTIONS))
        .clone()
}

fn resize(limiter: &CapacityLimiter, max_connections: u32) {
    let total = (max_connections as usize).max(1);
    if limiter.total() != total {
        limiter.set_total(total);
    }
}

impl Model {
    /// A `mockllm/model` that answers as `mock` is scripted.
    pub fn from_mock(mock: MockLlm) -> Model {
        Model {
            inner: Arc::new(Inner {
                name: "mockllm/model".to_owned(),
                api_name: "mockllm",
                api: Api::Mock(mock),
                config: GenerateConfig::default(),
                backoff: Backoff::default(),
                limiter: None,
                retries: AtomicU64::new(0),
                usage: Mutex::new(ModelUsage::default()),
            }),
        }
    }

    /// The full name, `provider/model`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The provider: `mockllm`, `openai`, `anthropic` or `openai-api`.
    pub fn api_name(&self) -> &str {
        self.inner.api_name
    }

    /// The base URL requests go to (`None` for `mockllm`).
    pub fn base_url(&self) -> Option<&str> {
        match &self.inner.api {
            Api::Mock(_) => None,
            Api::Http(http) => Some(&http.base_url),
        }
    }

    /// The model's default generation config.
    pub fn config(&self) -> &GenerateConfig {
        &self.inner.config
    }

    /// Connections in use now and the limit (`max_connections`), shared by every model with the
    /// same provider, base URL and key. `mockllm` opens none: `(0, 0)`.
    pub fn connections(&self) -> (usize, usize) {
        self.inner
            .limiter
            .as_ref()
            .map_or((0, 0), |limiter| (limiter.borrowed(), limiter.total()))
    }

    /// Retries made so far through this model and its clones.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// Token usage so far through this model and its clones.
    pub fn usage(&self) -> ModelUsage {
        self.inner
            .usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Generates a reply to `input`, offering `tools` with tool choice `auto`.
    ///
    /// `config` is layered over the model's default config. Transient failures are retried
    /// (see the crate docs); the returned [`Generation`] lists them.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call: its connection slot is released at once.
    pub async fn generate(
        &self,
        input: &[ChatMessage],
        tools: &[ToolInfo],
        config: &GenerateConfig,
    ) -> Result<Generation, ModelError> {
        self.generate_with_tool_choice(input, tools, &ToolChoice::Auto, config)
            .await
    }

    /// [`generate`](Self::generate) with an explicit tool choice.
    pub async fn generate_with_tool_choice(
        &self,
        input: &[ChatMessage],
        tools: &[ToolInfo],
        tool_choice: &ToolChoice,
        config: &GenerateConfig,
    ) -> Result<Generation, ModelError> {
        let started = Instant::now();
        match &self.inner.api {
            Api::Mock(mock) => {
                // The mock ignores config, so the merge is skipped unless someone set something.
                let output = if config.is_empty() {
                    mock.generate(input, tools, &self.inner.config).await?
                } else {
                    mock.generate(input, tools, &self.inner.config.merge(config))
                        .await?
                };
                let mut output = output;
                let elapsed = started.elapsed();
                output.time = Some(elapsed.as_secs_f64());
                self.add_usage(&output);
                let call = mock.call_record(&self.inner.name, input, &output, elapsed);
                Ok(Generation {
                    output,
                    retries: Vec::new(),
                    call: Some(call),
                    working_time: elapsed,
                    limiter_wait: Duration::ZERO,
                })
            }
            Api::Http(http) => {
                let config = self.inner.config.merge(config);
                self.generate_http(http, input, tools, tool_choice, &config, started)
                    .await
            }
        }
    }

    async fn generate_http(
        &self,
        http: &HttpProvider,
        input: &[ChatMessage],
        tools: &[ToolInfo],
        tool_choice: &ToolChoice,
        config: &GenerateConfig,
        started: Instant,
    ) -> Result<Generation, ModelError> {
        let request_json = http.request_body(input, tools, tool_choice, config);
        let body = Bytes::from(serde_json::to_vec(&request_json).map_err(|err| {
            ModelError::new(ErrorKind::Http {
                provider: http.label.clone(),
                message: format!("could not encode the request: {err}"),
            })
        })?);
        let limiter = self
            .inner
            .limiter
            .as_ref()
            .expect("HTTP models always have a limiter");
        if let Some(max) = config.max_connections {
            resize(limiter, max);
        }
        let total_timeout = config.timeout.map(Duration::from_secs);
        let deadline = total_timeout.map(|limit| started + limit);
        let attempt_timeout = config.attempt_timeout.map(Duration::from_secs);
        let mut retries: Vec<RetryRecord> = Vec::new();
        let mut limiter_wait = Duration::ZERO;
        let mut attempt_number: u32 = 0;
        loop {
            attempt_number += 1;
            let waiting = Instant::now();
            let permit = limiter.acquire().await;
            limiter_wait += waiting.elapsed();
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let limit = match (attempt_timeout, remaining) {
                (Some(a), Some(r)) => Some(a.min(r)),
                (a, r) => a.or(r),
            };
            let attempt_started = Instant::now();
            let outcome = http.attempt(body.clone(), config, limit).await;
            // The slot is not held through the backoff: other calls may use it meanwhile.
            drop(permit);
            match outcome {
                Attempt::Done {
                    mut output,
                    response,
                } => {
                    let time = attempt_started.elapsed();
                    output.time = Some(time.as_secs_f64());
                    self.add_usage(&output);
                    let elapsed = started.elapsed();
                    return Ok(Generation {
                        output: *output,
                        retries,
                        call: Some(ModelCall {
                            request: request_json,
                            response,
                            time,
                        }),
                        working_time: elapsed.saturating_sub(limiter_wait),
                        limiter_wait,
                    });
                }
                Attempt::Fail(err) => return Err(err.with_retries(retries)),
                Attempt::Retry {
                    reason,
                    retry_after,
                    error,
                } => {
                    let retry_number = retries.len() as u32 + 1;
                    if let Some(max) = config.max_retries {
                        if retries.len() as u32 >= max {
                            let limit = format!("max_retries {max} reached");
                            return Err(gave_up(http, attempt_number, limit, &error, retries));
                        }
                    }
                    let wait = self.inner.backoff.wait(retry_number, retry_after);
                    if let (Some(deadline), Some(total)) = (deadline, total_timeout) {
                        if Instant::now() + wait >= deadline {
                            let limit = format!("timeout {}s reached", total.as_secs());
                            return Err(gave_up(http, attempt_number, limit, &error, retries));
                        }
                    }
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    retries.push(RetryRecord {
                        attempt: attempt_number,
                        reason,
                        wait,
                    });
                    examen_rt::sleep(wait).await;
                }
            }
        }
    }

    fn add_usage(&self, output: &ModelOutput) {
        if let Some(usage) = &output.usage {
            *self.inner.usage.lock().unwrap_or_else(|e| e.into_inner()) += usage;
        }
    }
}

fn gave_up(
    http: &HttpProvider,
    attempts: u32,
    limit: String,
    last: &ModelError,
    retries: Vec<RetryRecord>,
) -> ModelError {
    let (last_text, status, timeout) = match last.kind() {
        ErrorKind::Transient {
            reason,
            status,
            timeout,
            ..
        } => (reason.clone(), *status, *timeout),
        _ => (last.to_string(), last.status(), last.is_timeout()),
    };
    ModelError::new(ErrorKind::GaveUp {
        provider: http.label.clone(),
        attempts,
        limit,
        last: last_text,
        status,
        timeout,
    })
    .with_retries(retries)
}
