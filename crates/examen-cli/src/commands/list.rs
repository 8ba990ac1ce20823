//! `examen list solvers|scorers|metrics|reducers|tools|providers`: one line of help per name, from the
//! engine's registry (and the model layer's providers).

use std::io::Write;

use examen::registry::{self, Entry};

use crate::args::{ListArgs, ListKind};
use crate::error::{CliError, Exit};

/// The model providers `--model provider/model` accepts, with the variables they read.
pub(crate) const PROVIDERS: &[(&str, &str)] = &[
    (
        "mockllm/model",
        "built-in mock, no network: answers \"Default output from mockllm/model\"",
    ),
    (
        "openai/<model>",
        "OpenAI chat completions (OPENAI_API_KEY, OPENAI_BASE_URL)",
    ),
    (
        "anthropic/<model>",
        "Anthropic messages (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL)",
    ),
    (
        "openai-api/<service>/<model>",
        "any OpenAI-compatible server: vLLM, Ollama, Together, ... (<SERVICE>_API_KEY, <SERVICE>_BASE_URL)",
    ),
];

/// `(name, description)` rows for a kind.
pub(crate) fn rows(what: ListKind) -> Vec<(String, String)> {
    let from = |entries: &[Entry]| {
        entries
            .iter()
            .map(|e| {
                let description = if e.args.is_empty() {
                    e.description.to_string()
                } else {
                    format!("{} — args: {}", e.description, e.args)
                };
                (e.name.to_string(), description)
            })
            .collect()
    };
    match what {
        ListKind::Tools => from(
            &registry::entries()
                .into_iter()
                .filter(|e| e.kind == registry::Kind::Tool)
                .collect::<Vec<_>>(),
        ),
        ListKind::Solvers => from(registry::SOLVERS),
        ListKind::Scorers => from(registry::SCORERS),
        ListKind::Metrics => from(registry::METRICS),
        ListKind::Reducers => examen::reducer::REDUCERS
            .iter()
            .map(|(name, description)| ((*name).to_string(), (*description).to_string()))
            .collect(),
        ListKind::Providers => PROVIDERS
            .iter()
            .map(|(name, description)| ((*name).to_string(), (*description).to_string()))
            .collect(),
    }
}

pub(crate) fn run(args: &ListArgs) -> Result<Exit, CliError> {
    let rows = rows(args.what);
    let width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let mut stdout = std::io::stdout().lock();
    for (name, description) in rows {
        writeln!(stdout, "{name:<width$}  {description}")?;
    }
    stdout.flush()?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_kind_lists_something_with_help() {
        for kind in ListKind::value_variants() {
            let rows = rows(*kind);
            assert!(!rows.is_empty(), "{kind:?}");
            assert!(rows.iter().all(|(n, d)| !n.is_empty() && !d.is_empty()));
        }
    }

    /// `examen list providers` describes exactly the model APIs the model layer registers.
    #[test]
    fn providers_are_the_registered_model_apis() {
        let mut listed: Vec<&str> = PROVIDERS
            .iter()
            .map(|(name, _)| name.split('/').next().unwrap_or_default())
            .collect();
        listed.sort_unstable();
        let mut registered = examen::model::model_apis();
        registered.sort_unstable();
        assert_eq!(listed, registered);
    }
}
