//! [`Model`], [`get_model`] and the generate loop: connection limit, attempts, retries, usage.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// `connect_timeout` (seconds); `mockllm` accepts `latency` (seconds) and `script` (a
    /// file of turns it plays with every sample, see [`MockLlm::read_script`]).
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
    api_name: String,
    api: Api,
    config: GenerateConfig,
    backoff: Backoff,
    limiter: Option<CapacityLimiter>,
    retries: AtomicU64,
    usage: Mutex<ModelUsage>,
    /// Options already warned about, and the warnings not yet taken.
    warnings: Mutex<(Vec<&'static str>, Vec<String>)>,
}

pub(crate) enum Api {
    Mock(MockLlm),
    Http(Box<HttpProvider>),
    Custom(Arc<dyn crate::api::DynModelApi>),
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
    let Some(factory) = crate::api::factory(provider) else {
        let known: Vec<String> = crate::api::model_apis()
            .iter()
            .map(|n| format!("`{n}`"))
            .collect();
        return Err(ModelError::new(ErrorKind::UnknownProvider {
            provider: provider.to_owned(),
            name: name.to_owned(),
            known: known.join(", "),
        }));
    };
    let spec = crate::api::ModelSpec {
        name,
        provider,
        model: rest,
        options: &options,
    };
    let api = factory(&spec)?.0;
    let api_name = provider.to_owned();
    let limiter = match &api {
        Api::Mock(_) | Api::Custom(_) => None,
        Api::Http(http) => {
            let limiter = shared_limiter(&api_name, &http.base_url, &http.key);
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
            warnings: Mutex::default(),
        }),
    })
}

/// The built-in model APIs, registered as [`register_model_api`](crate::register_model_api)
/// registers a program's own.
pub(crate) fn builtin_apis() -> Vec<(String, crate::api::Factory)> {
    use crate::api::{Factory, ModelSpec, Provider};
    let mockllm: Factory = Arc::new(|spec: &ModelSpec<'_>| {
        let mut mock = MockLlm::new();
        let mut latency = None;
        for (key, value) in &spec.options.args {
            match key.as_str() {
                "latency" => latency = Some(parse_seconds("mockllm", key, value)?),
                "script" => {
                    let turns =
                        MockLlm::read_script(std::path::Path::new(value)).map_err(|message| {
                            ModelError::bad_arg("mockllm", format!("`{key}`: {message}"))
                        })?;
                    mock = MockLlm::turns(turns);
                }
                _ => return Err(unknown_arg("mockllm", key, &["latency", "script"])),
            }
        }
        if let Some(latency) = latency {
            mock = mock.with_latency(latency);
        }
        Ok(Provider(Api::Mock(mock)))
    });
    let openai: Factory = Arc::new(|spec: &ModelSpec<'_>| {
        http_api(
            "openai".into(),
            Wire::OpenAi(Flavor::OpenAi),
            spec.model,
            "OPENAI",
            Some("https://api.openai.com/v1"),
            spec.options,
        )
        .map(Provider)
    });
    let anthropic: Factory = Arc::new(|spec: &ModelSpec<'_>| {
        http_api(
            "anthropic".into(),
            Wire::Anthropic,
            spec.model,
            "ANTHROPIC",
            Some("https://api.anthropic.com"),
            spec.options,
        )
        .map(Provider)
    });
    let compatible: Factory = Arc::new(|spec: &ModelSpec<'_>| {
        let (service, model) = spec
            .model
            .split_once('/')
            .filter(|(s, m)| !s.is_empty() && !m.is_empty())
            .ok_or_else(|| {
                ModelError::bad_name(
                    spec.name,
                    "`openai-api/<service>/<model>` (for example `openai-api/vllm/llama-3-8b`)",
                )
            })?;
        let prefix = service.to_ascii_uppercase().replace('-', "_");
        http_api(
            format!("openai-api/{service}"),
            Wire::OpenAi(Flavor::Compatible),
            model,
            &prefix,
            None,
            spec.options,
        )
        .map(Provider)
    });
    vec![
        ("mockllm".to_owned(), mockllm),
        ("openai".to_owned(), openai),
        ("anthropic".to_owned(), anthropic),
        ("openai-api".to_owned(), compatible),
    ]
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
    let endpoint = endpoint(wire, &base_url);
    if let Err(err) = examen_http::Request::post(&endpoint) {
        return Err(ModelError::bad_arg(
            &label,
            format!(
                "base URL `{}` is not usable: {err}",
                examen_http::redact_url(&base_url)
            ),
        ));
    }
    let client = match &options.client {
        Some(client) => client.clone(),
        None => build_client(&label, options)?,
    };
    let proxy_secrets = client
        .proxy_credentials()
        .into_iter()
        .map(Secret::new)
        .collect();
    Ok(Api::Http(Box::new(HttpProvider {
        label,
        wire,
        model: model.to_owned(),
        base_url,
        endpoint,
        key,
        key_var,
        base_var,
        proxy_secrets,
        client,
    })))
}

/// The URL requests are posted to. Base URLs are accepted with or without the API version:
/// OpenAI-compatible servers are given `/v1` when the base URL has no path at all
/// (`http://localhost:8000` as `http://localhost:8000/v1`; a base URL with a path, like
/// `https://openrouter.ai/api/v1`, is used as it is), and Anthropic's `/v1` is not doubled
/// (the SDK appends `/v1/messages` to `https://api.anthropic.com`).
fn endpoint(wire: Wire, base_url: &str) -> String {
    let path = base_url.split_once("://").map_or("", |(_, rest)| {
        rest.find('/').map_or("", |slash| &rest[slash..])
    });
    match wire {
        Wire::OpenAi(_) if path.is_empty() => format!("{base_url}/v1/chat/completions"),
        Wire::OpenAi(_) => format!("{base_url}/chat/completions"),
        Wire::Anthropic => {
            let base = base_url.strip_suffix("/v1").unwrap_or(base_url);
            format!("{base}/v1/messages")
        }
    }
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
    let proxy = proxy.map_err(|err| {
        ModelError::new(ErrorKind::ProxyConfig {
            provider: label.to_owned(),
            message: std::error::Error::source(&err)
                .map_or_else(|| err.to_string(), ToString::to_string),
        })
    })?;
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
        .or_insert_with(|| CapacityLimiter::new(DEFAULT_MAX_CONNECTIONS.min(connection_ceiling())))
        .clone()
}

/// Connections one limiter may allow at most, whatever `max_connections` asks (see
/// [`set_connection_ceiling`]).
static CONNECTION_CEILING: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Caps every model's `max_connections` at `ceiling` in this process (at least 1).
///
/// Each connection holds a file descriptor: a limit above what the process may open makes
/// connections fail with "too many open files", which are retried, and leaves no descriptor to
/// finish the log. The `examen` command sets this from the open-file limit at start-up; call it
/// before building models.
pub fn set_connection_ceiling(ceiling: usize) {
    CONNECTION_CEILING.store(ceiling.max(1), Ordering::Relaxed);
}

/// The cap [`set_connection_ceiling`] set (`usize::MAX` when none was set).
pub fn connection_ceiling() -> usize {
    CONNECTION_CEILING.load(Ordering::Relaxed)
}

fn resize(limiter: &CapacityLimiter, max_connections: u32) {
    let total = (max_connections as usize).clamp(1, connection_ceiling());
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
                api_name: "mockllm".to_owned(),
                api: Api::Mock(mock),
                config: GenerateConfig::default(),
                backoff: Backoff::default(),
                limiter: None,
                retries: AtomicU64::new(0),
                usage: Mutex::new(ModelUsage::default()),
                warnings: Mutex::default(),
            }),
        }
    }

    /// A model named `name` (`provider/model`) that calls `api` (see
    /// [`register_model_api`](crate::register_model_api) to make `get_model` find it by name).
    pub fn from_api(name: impl Into<String>, api: impl crate::ModelApi) -> Model {
        let name = name.into();
        let api_name = name.split('/').next().unwrap_or_default().to_owned();
        Model {
            inner: Arc::new(Inner {
                name,
                api_name,
                api: Api::Custom(Arc::new(api)),
                config: GenerateConfig::default(),
                backoff: Backoff::default(),
                limiter: None,
                retries: AtomicU64::new(0),
                usage: Mutex::new(ModelUsage::default()),
                warnings: Mutex::default(),
            }),
        }
    }

    /// The full name, `provider/model`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The provider: `mockllm`, `openai`, `anthropic`, `openai-api` or a registered one.
    pub fn api_name(&self) -> &str {
        &self.inner.api_name
    }

    /// The base URL requests go to (`None` for `mockllm`).
    pub fn base_url(&self) -> Option<&str> {
        match &self.inner.api {
            Api::Mock(_) | Api::Custom(_) => None,
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
            Api::Custom(api) => {
                let config = self.inner.config.merge(config);
                let mut output = api
                    .generate(input, tools, tool_choice, &config)
                    .await
                    .map_err(|e| {
                        ModelError::new(ErrorKind::Api {
                            provider: self.inner.api_name.clone(),
                            message: e.to_string(),
                        })
                    })?;
                let elapsed = started.elapsed();
                output.time = Some(elapsed.as_secs_f64());
                self.add_usage(&output);
                Ok(Generation {
                    output,
                    retries: Vec::new(),
                    call: None,
                    working_time: elapsed,
                    limiter_wait: Duration::ZERO,
                })
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
        let unsent = http.unsent_options(config);
        if !unsent.is_empty() {
            self.warn_unsent(http, &unsent);
        }
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
        let (total_timeout, attempt_timeout) = timeouts(&http.label, config)?;
        let deadline = total_timeout.map(|limit| started + limit);
        let mut retries: Vec<RetryRecord> = Vec::new();
        let mut limiter_wait = Duration::ZERO;
        let mut attempt_number: u32 = 0;
        // Set once the backoff would have crossed the deadline: the attempt then made gets what
        // is left of the budget, and is the last.
        let mut last_attempt = false;
        loop {
            attempt_number += 1;
            let waiting = Instant::now();
            let permit = limiter.acquire().await;
            limiter_wait += waiting.elapsed();
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let limit = remaining.map_or(attempt_timeout, |r| r.min(attempt_timeout));
            let attempt_started = Instant::now();
            let (outcome, failed_response) = http.attempt(body.clone(), config, Some(limit)).await;
            // The slot is not held through the backoff: other calls may use it meanwhile.
            drop(permit);
            let attempt_time = attempt_started.elapsed();
            // A failed call is recorded as a successful one is: the request, the error body,
            // the retries and the working time.
            let record = |err: ModelError| {
                let call = ModelCall {
                    request: request_json.clone(),
                    response: failed_response.clone().unwrap_or(JsonValue::Null),
                    time: attempt_time,
                };
                let working_time = started.elapsed().saturating_sub(limiter_wait);
                err.with_call(call, working_time, limiter_wait)
            };
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
                Attempt::Fail(err) => return Err(record(err.with_retries(retries))),
                Attempt::Retry {
                    reason,
                    retry_after,
                    error,
                } => {
                    let retry_number = retries.len() as u32 + 1;
                    if let Some(max) = config.max_retries {
                        if retries.len() as u32 >= max {
                            let limit = format!("max_retries {max} reached");
                            return Err(record(gave_up(
                                http,
                                attempt_number,
                                limit,
                                &error,
                                retries,
                            )));
                        }
                    }
                    let mut wait = self.inner.backoff.wait(retry_number, retry_after);
                    if let (Some(deadline), Some(total)) = (deadline, total_timeout) {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let total = format_seconds(total);
                        let stop = if left.is_zero() {
                            Some(format!("timeout {total} reached"))
                        } else if last_attempt {
                            Some(format!("timeout {total}: no time left for another attempt"))
                        } else {
                            retry_after.filter(|asked| *asked >= left).map(|asked| {
                                format!(
                                    "timeout {total}: the server asked to wait {}, past it",
                                    format_seconds(asked)
                                )
                            })
                        };
                        if let Some(limit) = stop {
                            return Err(record(gave_up(
                                http,
                                attempt_number,
                                limit,
                                &error,
                                retries,
                            )));
                        }
                        if wait >= left {
                            // The whole budget is used: rather than give up now, wait half of
                            // what is left (at least what the server asked) and make a last
                            // attempt bounded by the rest.
                            wait = retry_after.unwrap_or_default().max(left / 2);
                            last_attempt = true;
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

    /// Warnings raised by calls so far and not yet taken, oldest first: each generation option
    /// that the provider does not send (`top_k` to `openai/`), once per option for this model
    /// and its clones. Displays show them; nothing is printed by this crate.
    pub fn take_warnings(&self) -> Vec<String> {
        let mut warnings = self
            .inner
            .warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut warnings.1)
    }

    fn warn_unsent(&self, http: &HttpProvider, unsent: &[&'static str]) {
        let mut warnings = self
            .inner
            .warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for option in unsent {
            if !warnings.0.contains(option) {
                warnings.0.push(option);
                warnings.1.push(format!(
                    "{}: generation option `{option}` is not supported by this provider and is not sent",
                    http.label
                ));
            }
        }
    }

    fn add_usage(&self, output: &ModelOutput) {
        if let Some(usage) = &output.usage {
            *self.inner.usage.lock().unwrap_or_else(|e| e.into_inner()) += usage;
        }
    }
}

/// Inspect's default limit on one attempt, as its HTTP clients set it
/// (`DEFAULT_REQUEST_TIMEOUT`, 600 s, for the OpenAI and Anthropic SDKs): used when
/// `attempt_timeout` is not set, so a server that accepts a request and never answers is retried
/// rather than waited on forever.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(600);

/// The total timeout (if any) and the limit on one attempt, from `config`. Zero, negative or
/// non-finite values are refused: zero would fail every call or retry forever.
fn timeouts(
    provider: &str,
    config: &GenerateConfig,
) -> Result<(Option<Duration>, Duration), ModelError> {
    let seconds = |key: &str, value: Option<f64>| -> Result<Option<Duration>, ModelError> {
        value
            .map(|secs| {
                Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        ModelError::bad_config(
                            provider,
                            format!(
                                "`{key}` must be a number of seconds greater than 0, got {secs}"
                            ),
                        )
                    })
            })
            .transpose()
    };
    let total = seconds("timeout", config.timeout)?;
    let attempt = seconds("attempt_timeout", config.attempt_timeout)?;
    Ok((total, attempt.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT)))
}

/// `15s`, `0.5s`.
fn format_seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}s")
    } else {
        format!("{}s", (secs * 1000.0).round() / 1000.0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_with_or_without_the_version() {
        let openai = Wire::OpenAi(Flavor::OpenAi);
        for (base, expected) in [
            ("http://h:1", "http://h:1/v1/chat/completions"),
            ("http://h:1/v1", "http://h:1/v1/chat/completions"),
            (
                "https://openrouter.ai/api/v1",
                "https://openrouter.ai/api/v1/chat/completions",
            ),
            (
                "https://g.example/v1beta/openai",
                "https://g.example/v1beta/openai/chat/completions",
            ),
        ] {
            assert_eq!(endpoint(openai, base), expected, "{base}");
        }
        for (base, expected) in [
            (
                "https://api.anthropic.com",
                "https://api.anthropic.com/v1/messages",
            ),
            (
                "https://api.anthropic.com/v1",
                "https://api.anthropic.com/v1/messages",
            ),
            ("http://h:1/proxy", "http://h:1/proxy/v1/messages"),
        ] {
            assert_eq!(endpoint(Wire::Anthropic, base), expected, "{base}");
        }
    }

    #[test]
    fn the_default_attempt_timeout_is_finite() {
        let (total, attempt) = timeouts("openai", &GenerateConfig::default()).unwrap();
        assert_eq!(total, None);
        assert_eq!(attempt, DEFAULT_ATTEMPT_TIMEOUT);
        assert_eq!(DEFAULT_ATTEMPT_TIMEOUT, Duration::from_secs(600));
    }

    #[test]
    fn fractional_timeouts_are_kept_and_zero_is_refused() {
        let config = GenerateConfig {
            timeout: Some(2.5),
            attempt_timeout: Some(0.25),
            ..GenerateConfig::default()
        };
        assert_eq!(
            timeouts("openai", &config).unwrap(),
            (
                Some(Duration::from_millis(2500)),
                Duration::from_millis(250)
            )
        );
        for (key, bad) in [
            ("timeout", 0.0),
            ("attempt_timeout", 0.0),
            ("timeout", -1.0),
        ] {
            let mut config = GenerateConfig::default();
            match key {
                "timeout" => config.timeout = Some(bad),
                _ => config.attempt_timeout = Some(bad),
            }
            let err = timeouts("openai", &config).unwrap_err();
            assert!(err.is_configuration(), "{err}");
            assert!(
                err.to_string().contains(&format!("`{key}` must be")),
                "{err}"
            );
        }
        assert_eq!(format_seconds(Duration::from_secs(15)), "15s");
        assert_eq!(format_seconds(Duration::from_millis(500)), "0.5s");
    }
}
