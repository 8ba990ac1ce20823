//! Model APIs by name: the part of `provider/model` before the first `/`.
//!
//! [`get_model`](crate::get_model) looks the provider up in a process-wide
//! table (as Inspect's `@modelapi` registry is): `mockllm`, `openai`,
//! `anthropic` and `openai-api` are registered at start, and
//! [`register_model_api`] adds more, so `get_model("myapi/some-model", ..)`
//! reaches a program's own [`ModelApi`]:
//!
//! ```
//! use examen_model::{register_model_api, ApiError, ModelApi, ModelSpec};
//! use examen_types::{ChatMessage, GenerateConfig, ModelOutput, ToolChoice, ToolInfo};
//!
//! struct Echo {
//!     model: String,
//! }
//!
//! impl ModelApi for Echo {
//!     async fn generate(
//!         &self,
//!         input: &[ChatMessage],
//!         _tools: &[ToolInfo],
//!         _tool_choice: &ToolChoice,
//!         _config: &GenerateConfig,
//!     ) -> Result<ModelOutput, ApiError> {
//!         let last = input.last().map(ChatMessage::text).unwrap_or_default();
//!         Ok(ModelOutput::from_text(&self.model, last))
//!     }
//! }
//!
//! register_model_api("echo", |spec: &ModelSpec<'_>| {
//!     Ok::<_, ApiError>(Echo { model: spec.model.to_string() })
//! });
//! let model = examen_model::get_model("echo/any", Default::default()).unwrap();
//! assert_eq!(model.api_name(), "echo");
//! ```
//!
//! A registered API's calls are not retried and hold no connection slot
//! (`max_connections` is for the HTTP providers); its usage is counted and
//! its output timed as the built-in providers' are.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

use examen_types::{ChatMessage, GenerateConfig, ModelOutput, ToolChoice, ToolInfo};

use crate::error::{ErrorKind, ModelError};
use crate::model::{Api, ModelOptions};

/// An error from a [`ModelApi`]: any error type converts into it with `?`
/// (and a `String` or `&str` with `.into()`).
pub type ApiError = Box<dyn std::error::Error + Send + Sync>;

/// A model API: turns a conversation into the model's answer.
pub trait ModelApi: Send + Sync + 'static {
    /// Generates a reply to `input`, offering `tools` with `tool_choice`.
    /// `config` is the model's default config with the call's layered over it.
    fn generate(
        &self,
        input: &[ChatMessage],
        tools: &[ToolInfo],
        tool_choice: &ToolChoice,
        config: &GenerateConfig,
    ) -> impl Future<Output = Result<ModelOutput, ApiError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe form of [`ModelApi`] that models hold.
pub(crate) trait DynModelApi: Send + Sync {
    fn generate<'a>(
        &'a self,
        input: &'a [ChatMessage],
        tools: &'a [ToolInfo],
        tool_choice: &'a ToolChoice,
        config: &'a GenerateConfig,
    ) -> BoxFuture<'a, Result<ModelOutput, ApiError>>;
}

impl<T: ModelApi> DynModelApi for T {
    fn generate<'a>(
        &'a self,
        input: &'a [ChatMessage],
        tools: &'a [ToolInfo],
        tool_choice: &'a ToolChoice,
        config: &'a GenerateConfig,
    ) -> BoxFuture<'a, Result<ModelOutput, ApiError>> {
        Box::pin(ModelApi::generate(self, input, tools, tool_choice, config))
    }
}

/// What a model API's factory is given: the model name, split, and the
/// options passed to [`get_model`](crate::get_model).
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec<'a> {
    /// The whole name (`myapi/some-model`).
    pub name: &'a str,
    /// The provider (`myapi`).
    pub provider: &'a str,
    /// The rest (`some-model`; it may hold further `/`).
    pub model: &'a str,
    /// Base URL, API key, `-M` arguments, config, environment.
    pub options: &'a ModelOptions,
}

/// A built model API, as a factory returns it: a [`ModelApi`] (through
/// [`IntoProvider`]) or one of the built-in providers.
pub struct Provider(pub(crate) Api);

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Provider")
    }
}

impl Provider {
    /// A provider calling `api`.
    pub fn new(api: impl ModelApi) -> Self {
        Provider(Api::Custom(Arc::new(api)))
    }
}

/// What a model API factory may return: any [`ModelApi`], or a [`Provider`].
pub trait IntoProvider {
    /// The provider.
    fn into_provider(self) -> Provider;
}

impl<T: ModelApi> IntoProvider for T {
    fn into_provider(self) -> Provider {
        Provider::new(self)
    }
}

impl IntoProvider for Provider {
    fn into_provider(self) -> Provider {
        self
    }
}

pub(crate) type Factory = Arc<dyn Fn(&ModelSpec<'_>) -> Result<Provider, ModelError> + Send + Sync>;

fn table() -> &'static RwLock<Vec<(String, Factory)>> {
    static TABLE: OnceLock<RwLock<Vec<(String, Factory)>>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(crate::model::builtin_apis()))
}

/// Registers a model API under `name` for this process (replacing an
/// earlier one of that name, built-ins included): `get_model("name/...")`
/// then calls `factory` to build it. The factory's error is reported as the
/// model's (`name: message`).
pub fn register_model_api<A, F>(name: &str, factory: F)
where
    A: IntoProvider,
    F: Fn(&ModelSpec<'_>) -> Result<A, ApiError> + Send + Sync + 'static,
{
    let provider = name.to_string();
    let factory: Factory = Arc::new(move |spec: &ModelSpec<'_>| {
        factory(spec).map(IntoProvider::into_provider).map_err(|e| {
            ModelError::new(ErrorKind::ApiSetup {
                provider: provider.clone(),
                message: e.to_string(),
            })
        })
    });
    let mut table = table().write().unwrap_or_else(|e| e.into_inner());
    match table.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = factory,
        None => table.push((name.to_string(), factory)),
    }
}

/// The names of the registered model APIs, in the order registered.
pub fn model_apis() -> Vec<String> {
    let table = table().read().unwrap_or_else(|e| e.into_inner());
    table.iter().map(|(n, _)| n.clone()).collect()
}

pub(crate) fn factory(provider: &str) -> Option<Factory> {
    let table = table().read().unwrap_or_else(|e| e.into_inner());
    table
        .iter()
        .find(|(n, _)| n == provider)
        .map(|(_, f)| f.clone())
}
