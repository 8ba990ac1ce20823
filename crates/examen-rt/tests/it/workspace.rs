//! The workspace's first invariant (ARCHITECTURE.md): only examen-rt names a runtime. Every
//! other crate reaches tokio and smol's parts through examen-rt, so that nothing can start a
//! second runtime behind the user's back. The one exception: hyper and h2 depend on tokio for
//! its I/O traits (and h2 on tokio-util's codec), never starting a runtime.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Command;

use serde_json::Value;

/// Crates that run tasks, timers or I/O: a runtime, or a part of one.
const RUNTIME_CRATES: &[&str] = &[
    "tokio",
    "smol",
    "async-io",
    "async-executor",
    "async-net",
    "async-process",
    "async-global-executor",
    "blocking",
    "async-std",
];

/// Dependency edges allowed to reach a runtime crate, as `(from, to)`.
const ALLOWED: &[(&str, &str)] = &[
    ("hyper", "tokio"),
    ("h2", "tokio"),
    ("h2", "tokio-util"),
    ("tokio-util", "tokio"),
    // aws-sigv4's support crates (S3 signing in examen-store) use tokio's `sync` feature only:
    // channels and semaphores, which need no runtime (no `rt`, `time`, `net` or `io` feature).
    ("aws-smithy-async", "tokio"),
    ("aws-smithy-runtime-api", "tokio"),
];

#[test]
fn only_examen_rt_depends_on_a_runtime() {
    // This machine's platform only: the other platforms' crates may not be downloaded.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host");
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let name_of: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let deps: HashMap<&str, Vec<(&str, bool)>> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|node| {
            let edges = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|dep| {
                    let dev_only = dep["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|kind| kind["kind"] == "dev");
                    (dep["pkg"].as_str().unwrap(), dev_only)
                })
                .collect();
            (node["id"].as_str().unwrap(), edges)
        })
        .collect();
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let mut violations = Vec::new();
    let mut checked = 0;
    for member in &members {
        let name = name_of[member];
        if name == "examen-rt" || name == "examen-rt-macros" {
            continue;
        }
        checked += 1;
        // Breadth first from the member (its dev-dependencies too: tests must not use a runtime
        // directly either), never through examen-rt, remembering how each crate was reached.
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut seen: HashSet<&str> = HashSet::from([*member]);
        let mut queue = VecDeque::from([*member]);
        while let Some(id) = queue.pop_front() {
            for &(dep, dev_only) in &deps[id] {
                if dev_only && id != *member {
                    continue;
                }
                let (from, to) = (name_of[id], name_of[dep]);
                if to == "examen-rt" || ALLOWED.contains(&(from, to)) || !seen.insert(dep) {
                    continue;
                }
                parent.insert(dep, id);
                if RUNTIME_CRATES.contains(&to) {
                    let mut path = vec![to];
                    let mut at = id;
                    while let Some(&up) = parent.get(at) {
                        path.push(name_of[at]);
                        at = up;
                    }
                    path.push(name);
                    path.reverse();
                    violations.push(path.join(" -> "));
                    continue;
                }
                queue.push_back(dep);
            }
        }
    }
    assert!(
        checked >= 6,
        "the workspace members were found: {members:?}"
    );
    assert!(
        violations.is_empty(),
        "crates other than examen-rt reach a runtime (use examen_rt instead):\n{}",
        violations.join("\n")
    );
}
