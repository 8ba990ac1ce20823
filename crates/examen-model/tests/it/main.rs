//! Integration tests for examen-model against the loopback server in `server.rs`, each async
//! test on tokio and on smol.

mod config;
mod limits;
mod mock;
mod providers;
mod retries;
mod secrets;
mod server;

use std::time::Duration;

use examen_model::{get_model, Backoff, Env, Model, ModelOptions, Secret};

pub(crate) const TEST_KEY: &str = "sk-test-0123456789-SECRET";

/// Backoff small enough that retry tests run in milliseconds.
pub(crate) fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
    }
}

/// A model pointed at `base_url` with the test key, an empty environment and fast backoff.
pub(crate) fn model_at(name: &str, base_url: &str, config: examen_model::GenerateConfig) -> Model {
    model_with_backoff(name, base_url, config, fast_backoff())
}

/// [`model_at`] with another backoff.
pub(crate) fn model_with_backoff(
    name: &str,
    base_url: &str,
    config: examen_model::GenerateConfig,
    backoff: Backoff,
) -> Model {
    get_model(
        name,
        ModelOptions {
            base_url: Some(base_url.to_owned()),
            api_key: Some(Secret::new(TEST_KEY)),
            env: Env::from_pairs(Vec::<(String, String)>::new()),
            backoff,
            config,
            ..ModelOptions::default()
        },
    )
    .unwrap()
}
