//! [`Secret`]: an API key that cannot be printed by accident.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A credential. `Debug` and `Display` print `***`; the value is only reachable through
/// [`Secret::expose`], which the providers call to build the authentication header and nowhere
/// else. It is deliberately not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::from(value.into()))
    }

    /// The credential itself. Use it only to build the request header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A stable, non-reversible fingerprint, to key per-credential state (connection limits)
    /// without keeping a second copy of the key.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut hasher);
        hasher.finish()
    }

    /// Replaces every occurrence of the credential in `text` with `***` (for server error
    /// messages that echo what they were sent).
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.0.len() >= 4 && text.contains(&*self.0) {
            text.replace(&*self.0, "***")
        } else {
            text.to_owned()
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let secret = Secret::new("sk-live-abcdef123456");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(***))");
        assert_eq!(secret.expose(), "sk-live-abcdef123456");
        assert_eq!(
            secret.redact("bad key sk-live-abcdef123456 given"),
            "bad key *** given"
        );
        assert_eq!(
            secret.fingerprint(),
            Secret::new("sk-live-abcdef123456").fingerprint()
        );
        assert_ne!(secret.fingerprint(), Secret::new("other").fingerprint());
    }
}
