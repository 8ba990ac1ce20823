//! Which async runtime runs the work: [`Backend`], parsed from flags and `EXAMEN_ASYNC_BACKEND`.

use std::fmt;
use std::str::FromStr;

/// The environment variable that selects the backend when no flag does.
pub const ASYNC_BACKEND_ENV: &str = "EXAMEN_ASYNC_BACKEND";

/// An async runtime examen can run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// tokio's multi-threaded runtime (the default).
    #[default]
    Tokio,
    /// smol's parts: an `async-executor` driven by examen's own threads plus the `async-io` reactor.
    Smol,
}

impl Backend {
    /// Every backend, in the order `--help` lists them.
    pub const ALL: [Backend; 2] = [Backend::Tokio, Backend::Smol];

    /// The name used on the command line and in `EXAMEN_ASYNC_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Tokio => "tokio",
            Backend::Smol => "smol",
        }
    }

    /// Reads `EXAMEN_ASYNC_BACKEND`: unset or empty means [`Backend::Tokio`].
    pub fn from_env() -> Result<Backend, UnknownBackend> {
        match std::env::var(ASYNC_BACKEND_ENV) {
            Ok(value) if !value.trim().is_empty() => {
                value.parse().map_err(|err: UnknownBackend| UnknownBackend {
                    source: Some(ASYNC_BACKEND_ENV),
                    ..err
                })
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Backend::Tokio),
            Err(std::env::VarError::NotUnicode(value)) => Err(UnknownBackend {
                value: value.to_string_lossy().into_owned(),
                source: Some(ASYNC_BACKEND_ENV),
            }),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(value: &str) -> Result<Backend, UnknownBackend> {
        let trimmed = value.trim();
        Backend::ALL
            .into_iter()
            .find(|backend| backend.name().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| UnknownBackend {
                value: value.to_string(),
                source: None,
            })
    }
}

/// A backend name that is neither `tokio` nor `smol`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownBackend {
    value: String,
    source: Option<&'static str>,
}

impl UnknownBackend {
    /// The value that was given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for UnknownBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown async backend '{}'", self.value)?;
        if let Some(source) = self.source {
            write!(f, " in {source}")?;
        }
        let valid: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
        write!(f, ": expected one of {}", valid.join(", "))
    }
}

impl std::error::Error for UnknownBackend {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("tokio".parse::<Backend>().unwrap(), Backend::Tokio);
        assert_eq!("SMOL".parse::<Backend>().unwrap(), Backend::Smol);
        assert_eq!(" Smol ".parse::<Backend>().unwrap(), Backend::Smol);
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "trio".parse::<Backend>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown async backend 'trio': expected one of tokio, smol"
        );
    }

    #[test]
    fn display_round_trips() {
        for backend in Backend::ALL {
            assert_eq!(backend.to_string().parse::<Backend>().unwrap(), backend);
        }
    }
}
