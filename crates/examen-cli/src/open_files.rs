//! The open-file limit: raised at start-up, and turned into a ceiling on model connections.
//!
//! Every connection to a model API holds a file descriptor. Under a soft limit of 1,024 (a common
//! default), `--max-connections 2000` used to fail connections with "too many open files", retry
//! them without saying why, and leave no descriptor to finish the log. So `examen` raises its soft
//! limit to the hard one, as most servers do, and caps connections below what remains.

use rustix::process::{getrlimit, setrlimit, Resource};

/// Descriptors kept back from model connections: stdio, the log files (two per running log),
/// datasets, the `.env` file, DNS and the runtime's own (epoll, eventfds, timers).
pub(crate) const RESERVED: u64 = 128;

/// What start-up did to the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFiles {
    /// The soft limit now in force (`None`: unlimited).
    pub(crate) limit: Option<u64>,
    /// The soft limit before, when it was raised.
    pub(crate) raised_from: Option<u64>,
}

impl OpenFiles {
    /// Model connections this process can hold at once, leaving [`RESERVED`] descriptors.
    pub(crate) fn connection_ceiling(&self) -> usize {
        match self.limit {
            Some(limit) => {
                usize::try_from(limit.saturating_sub(RESERVED).max(1)).unwrap_or(usize::MAX)
            }
            None => usize::MAX,
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (keeping it where raising fails) and says
/// what is now in force.
pub(crate) fn raise_limit() -> OpenFiles {
    let before = getrlimit(Resource::Nofile);
    let Some(soft) = before.current else {
        return OpenFiles {
            limit: None,
            raised_from: None,
        };
    };
    // An unlimited hard limit cannot be the soft one for this resource (the kernel caps it at
    // `fs.nr_open`); ask for a generous finite value then.
    let wanted = before.maximum.unwrap_or(1 << 20);
    if wanted > soft {
        let mut raised = before;
        raised.current = Some(wanted);
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return OpenFiles {
                limit: Some(wanted),
                raised_from: Some(soft),
            };
        }
    }
    OpenFiles {
        limit: Some(soft),
        raised_from: None,
    }
}

/// The warning for a `max_connections` the limit cannot hold, if it cannot.
pub(crate) fn clamp_warning(
    open_files: &OpenFiles,
    max_connections: Option<u32>,
) -> Option<String> {
    let requested = max_connections? as usize;
    let ceiling = open_files.connection_ceiling();
    (requested > ceiling).then(|| {
        format!(
            "--max-connections {requested}: this process may open only {} files (ulimit -n; the \
             hard limit), so at most {ceiling} connections are used, keeping {RESERVED} for logs \
             and datasets; raise the hard limit to use more",
            open_files.limit.unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_keeps_descriptors_back() {
        let limited = OpenFiles {
            limit: Some(1024),
            raised_from: None,
        };
        assert_eq!(limited.connection_ceiling(), 1024 - RESERVED as usize);
        let tiny = OpenFiles {
            limit: Some(16),
            raised_from: None,
        };
        assert_eq!(tiny.connection_ceiling(), 1);
        let unlimited = OpenFiles {
            limit: None,
            raised_from: None,
        };
        assert_eq!(unlimited.connection_ceiling(), usize::MAX);
        assert!(clamp_warning(&limited, Some(2000))
            .unwrap()
            .contains("at most 896 connections"));
        assert_eq!(clamp_warning(&limited, Some(800)), None);
        assert_eq!(clamp_warning(&limited, None), None);
    }
}
