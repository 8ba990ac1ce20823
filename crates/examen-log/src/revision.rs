//! The source revision Inspect records in a log's header (`eval.revision`): the git checkout
//! the eval ran from.

use examen_types::log::EvalRevision;

/// The git revision of the checkout containing `dir`, as Inspect records it
/// (`git rev-parse --short HEAD`, the `origin` remote with any credentials
/// removed, and whether `git status --porcelain` shows changes); `None` outside
/// a git checkout or without `git`.
pub fn git_revision(dir: &std::path::Path) -> Option<EvalRevision> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
    };
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    if !commit.status.success() {
        return None;
    }
    let origin = git(&["remote", "get-url", "origin"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let dirty = git(&["status", "--porcelain"])
        .is_some_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty());
    Some(EvalRevision {
        kind: "git".into(),
        origin: redact_url_credentials(&origin),
        commit: String::from_utf8_lossy(&commit.stdout).trim().to_owned(),
        dirty: Some(dirty),
    })
}

/// Drops `user:password@` from a URL so tokens never reach a log.
fn redact_url_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (netloc, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match netloc.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_credentials_are_removed() {
        assert_eq!(
            redact_url_credentials("https://user:tok@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            redact_url_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
        assert_eq!(redact_url_credentials("https://host/x"), "https://host/x");
    }

    #[test]
    fn revision_detects_a_git_checkout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(git_revision(dir.path()), None);
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap()
        };
        git(&["init", "-q"]);
        git(&[
            "-c",
            "user.email=a@b",
            "-c",
            "user.name=a",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ]);
        git(&[
            "remote",
            "add",
            "origin",
            "https://u:secret@example.invalid/r.git",
        ]);
        let rev = git_revision(dir.path()).expect("a checkout");
        assert_eq!(rev.origin, "https://example.invalid/r.git");
        assert_eq!(rev.dirty, Some(false));
        assert!(!rev.commit.is_empty());
        std::fs::write(dir.path().join("f"), "x").unwrap();
        assert_eq!(git_revision(dir.path()).unwrap().dirty, Some(true));
    }
}
