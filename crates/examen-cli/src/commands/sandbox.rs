//! `examen sandbox cleanup`: removes what evals' sandboxes left behind (a run under
//! `--no-sandbox-cleanup`, or one that was killed), found by each provider from its labels.

use std::io::Write;

use examen_sandbox::ProviderRegistry;

use crate::args::{SandboxCleanupArgs, SandboxCommand};
use crate::error::{CliError, Exit};

pub(crate) async fn run(command: SandboxCommand) -> Result<Exit, CliError> {
    match command {
        SandboxCommand::Cleanup(args) => cleanup(args).await,
    }
}

async fn cleanup(args: SandboxCleanupArgs) -> Result<Exit, CliError> {
    let registry = ProviderRegistry::default();
    let providers = match &args.provider {
        Some(name) => vec![registry
            .get(name)
            .map_err(|e| CliError::usage(e.to_string()))?],
        None => registry
            .names()
            .filter_map(|name| registry.get(name).ok())
            .collect(),
    };
    let mut stdout = std::io::stdout().lock();
    let mut failures = Vec::new();
    let (mut removed, mut found_any) = (0usize, false);
    for provider in providers {
        let name = provider.name().to_owned();
        let leftovers = match provider.leftovers().await {
            Ok(leftovers) => leftovers,
            // Without a type named, a type whose tool is missing has nothing to clean.
            Err(e) if args.provider.is_none() => {
                writeln!(stdout, "{name}: skipped ({e})")?;
                continue;
            }
            Err(e) => return Err(CliError::usage(format!("{name}: {e}"))),
        };
        let selected: Vec<_> = leftovers
            .into_iter()
            .filter(|l| args.id.as_ref().is_none_or(|id| &l.id == id))
            .collect();
        if let (Some(id), true) = (&args.id, selected.is_empty()) {
            return Err(CliError::usage(format!(
                "no {name} sandbox `{id}` to remove (`examen sandbox cleanup {name} --dry-run` lists them)"
            )));
        }
        for leftover in &selected {
            found_any = true;
            let eval = if leftover.eval_id.is_empty() {
                String::new()
            } else {
                format!(" (eval {})", leftover.eval_id)
            };
            if args.dry_run {
                writeln!(
                    stdout,
                    "{name} {}: {}{eval}",
                    leftover.id, leftover.description
                )?;
                continue;
            }
            match provider.remove_leftover(leftover).await {
                Ok(()) => {
                    removed += 1;
                    writeln!(
                        stdout,
                        "removed {name} {}: {}{eval}",
                        leftover.id, leftover.description
                    )?;
                }
                Err(e) => failures.push(format!("{name} {}: {e}", leftover.id)),
            }
        }
    }
    if !found_any {
        writeln!(stdout, "no sandboxes to remove")?;
    } else if !args.dry_run {
        writeln!(stdout, "{removed} removed")?;
    }
    stdout.flush()?;
    if failures.is_empty() {
        Ok(Exit::Success)
    } else {
        Err(CliError::failed(format!(
            "could not remove {} sandbox(es):\n  {}",
            failures.len(),
            failures.join("\n  ")
        )))
    }
}
