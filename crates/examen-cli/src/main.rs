//! The `examen` command line: glue between the user and the engine (`examen`), the models
//! (`examen-model`) and the logs (`examen-log`).
//!
//! `main` parses the arguments (flags over `EXAMEN_*` variables over `.env`), runs the command
//! once on the async backend `--async-backend` names, and turns the outcome into an exit code:
//! 0 success, 1 the eval failed, 2 bad usage or input, 130 interrupted. A closed stdout (`| head`)
//! is not an error. Data goes to stdout; progress, warnings and errors go to stderr.
//!
//! Where things are:
//!
//! - `args.rs`: the clap definitions of every verb and option, and their value parsers;
//! - `env_vars.rs`: the one list of `EXAMEN_*` variables, their layering under the flags, and
//!   the generator of `docs/src/env.md` (`examen env`);
//! - `commands/<verb>.rs`: one file per verb (`eval`, `eval-retry`, `score`, `log`, `list`,
//!   `env`);
//! - `display/`: views of a running eval, fed by the engine's event stream (`rich`, `plain`,
//!   `json`), and the results summary;
//! - `error.rs`: one-line errors and their exit codes;
//! - `open_files.rs`: the open-file limit, raised at start-up and capping model connections;
//! - `reference.rs`: the generated pages of the user guide (`docs/src/cli.md`, the task-file
//!   tables), printed by the hidden `examen reference`.

/// mimalloc rather than the system allocator (see Cargo.toml): the engine's many small,
/// short-lived JSON values cost far less, from every thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod commands;
mod display;
mod env_vars;
mod error;
mod open_files;
mod reference;

use std::io::Write;
use std::process::ExitCode;

use crate::env_vars::{EnvSources, ParseError};
use crate::error::{CliError, Exit};

fn main() -> ExitCode {
    let sources = match EnvSources::load() {
        Ok(sources) => sources,
        Err(err) => return fail(&err),
    };
    let cli = match env_vars::parse(std::env::args_os().collect(), &sources) {
        Ok(cli) => cli,
        Err(ParseError::Clap(err)) => {
            let _ = err.print();
            // Help and version are not errors; a closed pipe while printing them is not either.
            return if err.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
        }
        Err(ParseError::Env(err)) => return fail(&err),
    };
    let backend = cli
        .command
        .run_args()
        .and_then(|run| run.async_backend)
        .unwrap_or_default();
    let cancel = examen_rt::CancelToken::new();
    match examen_rt::run(backend, commands::run(cli, cancel)) {
        Ok(exit) => exit.into(),
        Err(err) => fail(&err),
    }
}

fn fail(err: &CliError) -> ExitCode {
    if !err.is_silent() {
        let mut stderr = anstream::stderr().lock();
        let style = anstyle::Style::new()
            .bold()
            .fg_color(Some(anstyle::AnsiColor::Red.into()));
        let _ = writeln!(stderr, "{style}error:{style:#} {err}");
        if let Some(hint) = err.hint() {
            let _ = writeln!(stderr, "\nhint: {hint}");
        }
    }
    err.exit.into()
}
