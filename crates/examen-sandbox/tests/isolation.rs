//! What an isolating sandbox must keep in: the network, writes outside its writable places,
//! processes past a timeout or the sample's end, the host's sockets. Tried on each provider in
//! [`isolating_providers`] (on tokio and on smol); `local` isolates nothing and is not one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

use support::{bwrap_available, sh, Sample};

use examen_sandbox::{
    BwrapProvider, ExecRequest, SampleInfo, SandboxConfig, SandboxError, SandboxProvider,
};

/// The providers that isolate (docker joins here). bwrap is skipped with a word when
/// bubblewrap is missing, except on CI (`CI=true`), where that fails the test.
fn isolating_providers() -> Vec<Arc<dyn SandboxProvider>> {
    let mut providers: Vec<Arc<dyn SandboxProvider>> = Vec::new();
    if bwrap_available() {
        providers.push(Arc::new(BwrapProvider::default()));
    }
    providers
}

/// A string no process on this machine has in its command line but those a test starts.
fn marker() -> String {
    format!("examen-marker-{}", examen_types::short_uuid())
}

/// The host's processes whose command line holds `marker`, by pid (zombies, whose command
/// line is empty, are dead and not counted).
fn host_processes_with(marker: &str) -> BTreeMap<u32, String> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // The process may end between the listing and the read.
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.insert(pid, cmdline);
        }
    }
    found
}

/// Waits (a second at most) until no host process holds `marker`: a process killed with the
/// rest of its PID namespace may still be exiting when the command's result comes back (one
/// whose output went elsewhere holds no pipe the result waits for).
async fn gone_within_a_second(marker: &str) -> BTreeMap<u32, String> {
    let start = Instant::now();
    loop {
        let left = examen_rt::to_thread({
            let marker = marker.to_owned();
            move || host_processes_with(&marker)
        })
        .await;
        if left.is_empty() || start.elapsed() > Duration::from_secs(1) {
            return left;
        }
        examen_rt::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the host's processes until at least `at_least` hold `marker` (so a test knows what
/// it kills was there), for `within` at most; gives the most it saw.
async fn seen_running(marker: &str, at_least: usize, within: Duration) -> usize {
    let start = Instant::now();
    let mut most = 0;
    while start.elapsed() < within {
        let now = examen_rt::to_thread({
            let marker = marker.to_owned();
            move || host_processes_with(&marker).len()
        })
        .await;
        most = most.max(now);
        if most >= at_least {
            break;
        }
        // Each look reads every process's command line: not so often that it slows down
        // what it watches.
        examen_rt::sleep(Duration::from_millis(50)).await;
    }
    most
}

#[examen_rt::test]
async fn nothing_outside_is_reachable_over_the_network() {
    for provider in isolating_providers() {
        let name = provider.name().to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();

        // Its own loopback works (so a failure below is the isolation's, not python's); the
        // host's listener and the outside world do not answer.
        let script = format!(
            r#"
import socket
inside = socket.socket()
inside.bind(("127.0.0.1", 0))
inside.listen()
socket.create_connection(inside.getsockname(), timeout=2).close()
print("own loopback: ok")
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print(host, "connected")
    except OSError as e:
        print(host, "failed")
"#
        );
        let result = sandbox
            .exec(ExecRequest::new(["python3", "-"]).input(script))
            .await
            .unwrap();
        assert_eq!(
            result.stdout, "own loopback: ok\n127.0.0.1 failed\n1.1.1.1 failed\n",
            "{name}: {result:?}"
        );
        // And with bash's /dev/tcp, for one without python.
        let bash = sandbox
            .exec(ExecRequest::new([
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/127.0.0.1/{port}"),
            ]))
            .await
            .unwrap();
        assert!(!bash.success, "{name}: {bash:?}");
        assert!(
            bash.stderr.contains("Connection refused"),
            "{name}: {bash:?}"
        );
        match listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("{name}: the host's listener was reached: {other:?}"),
        }
        sample.cleanup(false).await;
    }
}

#[examen_rt::test]
async fn nothing_outside_the_writable_places_can_be_written() {
    for provider in isolating_providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();
        let mark = examen_types::short_uuid();
        // A host directory that exists outside (the sandbox's /tmp is its own).
        let host_dir = std::env::temp_dir().join(format!("examen-isolation-{mark}"));
        std::fs::create_dir(&host_dir).unwrap();
        let host_file = host_dir.join("written");
        let targets = [
            format!("/usr/examen-{mark}"),
            format!("/etc/examen-{mark}"),
            format!("/examen-{mark}"),
            host_file.to_string_lossy().into_owned(),
        ];
        for target in &targets {
            let touched = sandbox
                .exec(ExecRequest::new(["touch", target]))
                .await
                .unwrap();
            assert!(!touched.success, "{name}: touch {target}: {touched:?}");
        }
        for target in &targets[..3] {
            let error = sandbox.write_file(target, b"x").await.unwrap_err();
            assert!(
                matches!(error, SandboxError::PermissionDenied { .. }),
                "{name}: write_file {target}: {error:?}"
            );
        }
        // Through the API, the host directory's path is the sandbox's /tmp: written there
        // (or refused), never on the host.
        let _ = sandbox.write_file(&host_file.to_string_lossy(), b"x").await;
        // Root in the sandbox cannot make a read-only bind writable again.
        let remount = sandbox
            .exec(sh(&format!(
                "mount -o remount,rw,bind /usr && touch /usr/examen-{mark}"
            )))
            .await
            .unwrap();
        assert!(!remount.success, "{name}: {remount:?}");
        for target in &targets[..2] {
            assert!(!Path::new(target).exists(), "{name}: {target} was written");
        }
        assert!(
            !host_file.exists(),
            "{name}: {} was written",
            host_file.display()
        );
        // The working directory and /tmp are writable, and keep what is written.
        sandbox
            .exec(sh("echo kept > /tmp/kept && echo here > here"))
            .await
            .unwrap();
        assert_eq!(sandbox.read_text("/tmp/kept").await.unwrap(), "kept\n");
        assert_eq!(sandbox.read_text("here").await.unwrap(), "here\n");
        std::fs::remove_dir_all(&host_dir).unwrap();
        sample.cleanup(false).await;
    }
}

#[examen_rt::test]
async fn what_ignores_sigterm_or_leaves_the_session_is_gone_after_a_timeout() {
    for provider in isolating_providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();
        let marker = marker();
        // One in the foreground and one detached (its own session, output elsewhere), both
        // ignoring SIGTERM; the marker is in each one's command line.
        let script = format!(
            "setsid nohup sh -c \"trap '' TERM; sleep 1000; : {marker}\" >/dev/null 2>&1 & \
             trap '' TERM; echo started; sleep 1000; : {marker}"
        );
        let (result, seen) = futures_util::future::join(
            sandbox.exec(sh(&script).timeout(Duration::from_millis(1500))),
            // The provider's processes and both shells.
            seen_running(&marker, 3, Duration::from_millis(1500)),
        )
        .await;
        assert!(seen >= 3, "{name}: only {seen} processes ran");
        let Err(SandboxError::Timeout { partial }) = result else {
            panic!("{name}: expected a timeout, got {result:?}");
        };
        assert_eq!(partial.stdout, "started\n", "{name}");
        let left = gone_within_a_second(&marker).await;
        assert!(left.is_empty(), "{name}: still running: {left:?}");
        sample.cleanup(true).await;
        assert!(host_processes_with(&marker).is_empty(), "{name}");
    }
}

#[examen_rt::test]
async fn a_fork_bomb_is_gone_after_its_timeout() {
    for provider in isolating_providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();
        let marker = marker();
        // A bomb that forks as fast as it can, but to depth 8 (511 shells and a `sleep` each):
        // the sandbox sets no process limit (see the bwrap module), and an unbounded one would
        // take the shared host's process table down with it. Every shell carries the marker,
        // ignores SIGTERM and never ends by itself; once forked, each waits on its `sleep`
        // without using the CPU the rest of the bomb needs to spawn.
        let script = format!(
            "b() {{ if [ \"$1\" -gt 0 ]; then b $(($1 - 1)) & b $(($1 - 1)) & fi; \
               trap '' TERM; while :; do sleep 1000; done; }}; b 8; : {marker}"
        );
        let (result, seen) = futures_util::future::join(
            sandbox.exec(sh(&script).timeout(Duration::from_millis(1500))),
            seen_running(&marker, 200, Duration::from_millis(1500)),
        )
        .await;
        assert!(seen >= 200, "{name}: only {seen} processes ran");
        assert!(
            matches!(result, Err(SandboxError::Timeout { .. })),
            "{name}: {result:?}"
        );
        let left = gone_within_a_second(&marker).await;
        assert!(left.is_empty(), "{name}: {} still running", left.len());
        // The sandbox still works, and nothing came back.
        let after = sandbox.exec(ExecRequest::new(["true"])).await.unwrap();
        assert!(after.success, "{name}");
        sample.cleanup(true).await;
        assert!(host_processes_with(&marker).is_empty(), "{name}");
    }
}

#[examen_rt::test]
async fn a_background_process_ends_with_its_command_and_the_sample() {
    for provider in isolating_providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();
        let marker = marker();
        // Detached and ignoring SIGTERM: the exec returns at once, with it still meant to run.
        let script = format!(
            "setsid nohup sh -c \"trap '' TERM; echo up > up; sleep 1000; : {marker}\" \
             >/dev/null 2>&1 & while [ ! -e up ]; do sleep 0.01; done; echo detached"
        );
        let result = sandbox.exec(sh(&script)).await.unwrap();
        assert_eq!(result.stdout, "detached\n", "{name}: {result:?}");
        // The command's end is its processes' end, for bwrap; a container's may live to the
        // sample's end: after it, nothing is left either way.
        if name == "bwrap" {
            let left = gone_within_a_second(&marker).await;
            assert!(left.is_empty(), "{name}: still running: {left:?}");
        }
        sample.cleanup(false).await;
        let left = gone_within_a_second(&marker).await;
        assert!(left.is_empty(), "{name}: still running: {left:?}");
    }
}

#[examen_rt::test]
async fn the_hosts_sockets_and_private_directories_are_not_there() {
    for provider in isolating_providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();
        let script = "for p in /usr/bin/env /var/run/docker.sock /run/docker.sock /run /var/run \
                      /var /root /home /sys; do \
                        if [ -e \"$p\" ] || [ -L \"$p\" ]; then echo \"$p there\"; else echo \"$p absent\"; fi; \
                      done";
        let result = sandbox.exec(sh(script)).await.unwrap();
        assert_eq!(
            result.stdout,
            "/usr/bin/env there\n/var/run/docker.sock absent\n/run/docker.sock absent\n\
             /run absent\n/var/run absent\n/var absent\n/root absent\n/home absent\n/sys absent\n",
            "{name}: {result:?}"
        );
        // It sees its own processes only.
        let ps = sandbox
            .exec(sh("ls /proc | grep -c '^[0-9]'"))
            .await
            .unwrap();
        let count: u32 = ps.stdout.trim().parse().unwrap();
        assert!(count < 10, "{name}: sees {count} processes");
        sample.cleanup(false).await;
    }
}

#[examen_rt::test]
async fn the_bwrap_sandbox_runs_as_the_current_user_only_and_limits_memory() {
    if !bwrap_available() {
        return;
    }
    let provider = Arc::new(BwrapProvider {
        memory_limit: Some(256 * 1024 * 1024),
        ..BwrapProvider::default()
    });
    let sample = Sample::start(provider).await;
    let sandbox = sample.sandbox();
    let uid = rustix_uid();
    let me = sandbox
        .exec(ExecRequest::new(["id", "-u"]).user(uid.to_string()))
        .await
        .unwrap();
    assert_eq!(me.stdout, format!("{uid}\n"));
    let other = if uid == 65534 { "root" } else { "nobody" };
    let refused = sandbox
        .exec(ExecRequest::new(["id", "-u"]).user(other))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, SandboxError::Invalid(m) if m.contains(&format!("cannot execute as '{other}'"))),
        "{refused:?}"
    );
    let grab = |mib: u32| {
        ExecRequest::new([
            "python3".to_owned(),
            "-c".to_owned(),
            format!("b = bytearray({mib} * 1024 * 1024); print('got it')"),
        ])
    };
    let small = sandbox.exec(grab(16)).await.unwrap();
    assert_eq!(small.stdout, "got it\n", "{small:?}");
    let large = sandbox.exec(grab(512)).await.unwrap();
    assert!(!large.success, "{large:?}");
    assert!(large.stderr.contains("MemoryError"), "{large:?}");
    sample.cleanup(false).await;
}

/// The effective uid of this process, from /proc (the tests have no rustix of their own).
fn rustix_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[examen_rt::test]
async fn a_missing_bwrap_is_named_with_the_package_to_install() {
    let provider = BwrapProvider {
        bwrap: Some("/nonexistent/bwrap".into()),
        ..BwrapProvider::default()
    };
    let error = provider
        .sample_init(&SandboxConfig::default(), &SampleInfo::default())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("/nonexistent/bwrap")
            && message.contains("bubblewrap")
            && message.contains("apt-get install bubblewrap")
            && message.contains("dnf install bubblewrap"),
        "{message}"
    );
    let error = provider
        .task_init("task", &SandboxConfig::default())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), message);
}

#[examen_rt::test]
async fn a_config_that_is_not_a_directory_is_refused() {
    if !bwrap_available() {
        return;
    }
    let provider = BwrapProvider::default();
    let config = SandboxConfig {
        config: Some("/nonexistent/rootfs".to_owned()),
    };
    let error = provider.task_init("task", &config).await.unwrap_err();
    assert!(
        matches!(&error, SandboxError::Invalid(m) if m.contains("/nonexistent/rootfs is not one")),
        "{error:?}"
    );
}

/// A root file system of a few of the host's programs and the libraries they load, in a new
/// directory, with `sbin` a link to `bin`.
fn small_rootfs() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("examen-rootfs-{}", examen_types::short_uuid()));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::os::unix::fs::symlink("bin", root.join("sbin")).unwrap();
    let programs = [
        ("/bin/dash", "sh"),
        ("/bin/cat", "cat"),
        ("/bin/head", "head"),
        ("/bin/mkdir", "mkdir"),
        ("/bin/dirname", "dirname"),
        ("/bin/wc", "wc"),
        ("/bin/ls", "ls"),
    ];
    for (program, name) in programs {
        std::fs::copy(program, root.join("bin").join(name)).unwrap();
        let ldd = std::process::Command::new("ldd")
            .arg(program)
            .output()
            .unwrap();
        for library in String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter(|word| word.starts_with('/'))
        {
            let copy = root.join(library.trim_start_matches('/'));
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(library, copy).unwrap();
        }
    }
    root
}

#[examen_rt::test]
async fn a_configured_root_file_system_is_the_sandboxs_root() {
    if !bwrap_available() {
        return;
    }
    let rootfs = examen_rt::to_thread(small_rootfs).await;
    let provider: Arc<dyn SandboxProvider> = Arc::new(BwrapProvider::default());
    let config = SandboxConfig {
        config: Some(rootfs.to_string_lossy().into_owned()),
    };
    provider.task_init("task", &config).await.unwrap();
    let envs = provider
        .sample_init(&config, &SampleInfo::default())
        .await
        .unwrap();
    let sandbox = envs.default_sandbox().cloned().unwrap();
    let listed = sandbox
        .exec(sh(
            "ls /; ls /usr 2>&1 || echo no usr; /sbin/sh -c 'echo linked'; pwd",
        ))
        .await
        .unwrap();
    assert_eq!(
        listed.stdout,
        "bin\ndev\nlib\nlib64\nproc\nsbin\ntmp\nwork\nls: cannot access '/usr': No such file or directory\nno usr\nlinked\n/work\n",
        "{listed:?}"
    );
    sandbox
        .write_file("sub/kept", b"in the rootfs")
        .await
        .unwrap();
    assert_eq!(
        sandbox.read_text("/work/sub/kept").await.unwrap(),
        "in the rootfs"
    );
    let error = sandbox.write_file("/bin/x", b"x").await.unwrap_err();
    assert!(
        matches!(error, SandboxError::PermissionDenied { .. }),
        "{error:?}"
    );
    assert!(!rootfs.join("bin/x").exists());
    provider.sample_cleanup(&config, envs, false).await.unwrap();
    std::fs::remove_dir_all(&rootfs).unwrap();
}
