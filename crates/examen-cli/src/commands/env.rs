//! `examen env`: prints the reference of the `EXAMEN_*` variables (the source of docs/src/env.md).

use std::io::Write;

use crate::error::{CliError, Exit};

pub(crate) fn run() -> Result<Exit, CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(crate::env_vars::markdown().as_bytes())?;
    stdout.flush()?;
    Ok(Exit::Success)
}
