//! The tests' S3-protocol server (moto on 127.0.0.1, started by `scripts/s3.sh up`): skipped
//! without it, except under `CI=true`, where its absence fails the test.

use std::path::Path;

/// The server's endpoint, starting it if needed.
pub(crate) fn s3_endpoint() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/s3.sh"))
        .arg("up")
        .output();
    let endpoint = out.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("AWS_ENDPOINT_URL=").map(str::to_owned))
    });
    if endpoint.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and the S3 server could not start"
        );
        eprintln!("SKIPPED: the S3 server (scripts/s3.sh up) could not start");
    }
    endpoint
}
