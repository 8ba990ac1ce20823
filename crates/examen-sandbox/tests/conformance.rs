//! The sandbox conformance suite: what every provider must do, tried on each one (on tokio
//! and on smol). A provider joins by adding itself to [`providers`].

mod support;

use support::{bwrap_available, sh, Sample};

use std::sync::Arc;
use std::time::Duration;

use examen_sandbox::bwrap::BwrapSandbox;
use examen_sandbox::{
    BwrapProvider, ExecRequest, LocalProvider, SampleInfo, SandboxConfig, SandboxError,
    SandboxProvider,
};

/// Output limit the suite's providers are made with, small enough to cross cheaply.
const LIMIT: usize = 4096;

fn providers() -> Vec<Arc<dyn SandboxProvider>> {
    let mut providers: Vec<Arc<dyn SandboxProvider>> = vec![Arc::new(LocalProvider {
        output_limit: LIMIT,
        ..LocalProvider::default()
    })];
    if bwrap_available() {
        providers.push(Arc::new(BwrapProvider {
            output_limit: LIMIT,
            ..BwrapProvider::default()
        }));
    }
    // Without docker (and outside CI) the suite runs on the others, having said so.
    if let Some(docker) = support::docker() {
        providers.push(Arc::new(docker.with_output_limit(LIMIT)));
    }
    providers
}

#[examen_rt::test]
async fn exec_gives_exit_codes_output_and_takes_input_cwd_and_env() {
    for provider in providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();

        let ok = sandbox.exec(sh("echo out; echo err >&2")).await.unwrap();
        assert!(ok.success, "{name}: {ok:?}");
        assert_eq!(
            (ok.returncode, ok.stdout.as_str(), ok.stderr.as_str()),
            (0, "out\n", "err\n"),
            "{name}"
        );
        assert!(!ok.truncated());

        let failed = sandbox.exec(sh("exit 3")).await.unwrap();
        assert_eq!((failed.success, failed.returncode), (false, 3), "{name}");

        let killed = sandbox.exec(sh("kill -9 $$")).await.unwrap();
        assert_eq!(
            killed.returncode,
            128 + 9,
            "{name}: a signal's death reads as a shell says"
        );

        let echoed = sandbox
            .exec(ExecRequest::new(["cat"]).input("line one\nline two"))
            .await
            .unwrap();
        assert_eq!(echoed.stdout, "line one\nline two", "{name}");

        let env = sandbox
            .exec(sh("printf %s \"$GREETING\"").env("GREETING", "hello there"))
            .await
            .unwrap();
        assert_eq!(env.stdout, "hello there", "{name}");

        // A relative cwd is the working directory's; none is the working directory itself.
        sandbox.write_file("sub/dir/marker", b"x").await.unwrap();
        let home = sandbox.exec(ExecRequest::new(["pwd"])).await.unwrap();
        let sub = sandbox
            .exec(ExecRequest::new(["pwd"]).cwd("sub/dir"))
            .await
            .unwrap();
        // A working directory of `/` (a container's) joins without a doubled slash.
        assert_eq!(
            sub.stdout.trim_end(),
            format!("{}/sub/dir", home.stdout.trim_end().trim_end_matches('/')),
            "{name}"
        );
        let listed = sandbox
            .exec(ExecRequest::new(["ls"]).cwd("sub/dir"))
            .await
            .unwrap();
        assert_eq!(listed.stdout, "marker\n", "{name}");

        let missing = sandbox
            .exec(ExecRequest::new(["no-such-program-here"]))
            .await
            .unwrap();
        assert_eq!(
            (missing.success, missing.returncode),
            (false, 127),
            "{name}: {missing:?}"
        );

        assert!(matches!(
            sandbox.exec(ExecRequest::default()).await,
            Err(SandboxError::Invalid(_))
        ));
        sample.cleanup(false).await;
    }
}

#[examen_rt::test]
async fn a_timeout_keeps_the_partial_output_and_kills_what_ignores_sigterm() {
    for provider in providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();

        // `sleep` inherits the ignored SIGTERM, so only the SIGKILL after the grace period
        // ends it; its pid is written first to check it is gone afterwards.
        let script =
            "trap '' TERM; echo started; echo warning >&2; sleep 60 & echo $! > sleeper.pid; wait";
        let error = sandbox
            .exec(sh(script).timeout(Duration::from_millis(300)))
            .await
            .expect_err("the command outlives its timeout");
        let SandboxError::Timeout { partial } = &error else {
            panic!("{name}: expected a timeout, got {error:?}");
        };
        assert_eq!(partial.stdout, "started\n", "{name}");
        assert_eq!(partial.stderr, "warning\n", "{name}");
        assert!(!partial.success, "{name}");
        assert_eq!(error.kind(), examen_types::ToolCallErrorType::Timeout);

        let pid = sandbox.read_text("sleeper.pid").await.unwrap();
        // Gone, or a zombie waiting for its new parent to reap it (dead all the same). A
        // killed process closes its pipes before it is a zombie, so it may still be exiting
        // when the exec returns: it is given a second to get there.
        let state = format!(
            "for i in $(seq 100); do \
               s=$(sed -n 's/^State:[[:space:]]*\\(.\\).*/\\1/p' /proc/{}/status 2>/dev/null); \
               if [ -z \"$s\" ] || [ \"$s\" = Z ]; then echo gone; exit; fi; sleep 0.01; \
             done; echo \"alive ($s)\"",
            pid.trim()
        );
        let alive = sandbox.exec(sh(&state)).await.unwrap();
        assert_eq!(
            alive.stdout, "gone\n",
            "{name}: the process that ignored SIGTERM is gone"
        );
        sample.cleanup(true).await;
    }
}

#[examen_rt::test]
async fn output_over_the_limit_is_counted_not_silently_cut() {
    for provider in providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();

        let total = 3 * LIMIT + 123;
        let script = format!("head -c {total} /dev/zero | tr '\\0' a; printf END; echo small >&2");
        let result = sandbox.exec(sh(&script)).await.unwrap();
        assert!(result.truncated(), "{name}");
        assert_eq!(result.stdout.len(), LIMIT, "{name}: the limit is kept");
        assert!(
            result.stdout.ends_with("aaaEND"),
            "{name}: the end is what is kept"
        );
        assert_eq!(
            result.stdout_truncated,
            (total + 3 - LIMIT) as u64,
            "{name}"
        );
        assert_eq!(
            (result.stderr.as_str(), result.stderr_truncated),
            ("small\n", 0),
            "{name}"
        );
        sample.cleanup(false).await;
    }
}

#[examen_rt::test]
async fn files_round_trip_as_text_and_bytes_and_fail_with_inspects_kinds() {
    for provider in providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();

        // Parents are made; CRLF and non-UTF-8 bytes come back as they went.
        sandbox
            .write_file("a/b/c.txt", b"one\r\ntwo\n")
            .await
            .unwrap();
        assert_eq!(
            sandbox.read_text("a/b/c.txt").await.unwrap(),
            "one\r\ntwo\n",
            "{name}"
        );
        let bytes: Vec<u8> = (0..=255).collect();
        sandbox.write_file("bytes.bin", &bytes).await.unwrap();
        assert_eq!(
            sandbox.read_file("bytes.bin").await.unwrap(),
            bytes,
            "{name}"
        );
        assert!(matches!(
            sandbox.read_text("bytes.bin").await,
            Err(SandboxError::UnicodeDecode { .. })
        ));
        // What a command sees is what was written, and the other way round.
        let seen = sandbox
            .exec(sh("cat a/b/c.txt | od -c | head -1"))
            .await
            .unwrap();
        assert!(seen.stdout.contains(r"\r  \n"), "{name}: {}", seen.stdout);
        sandbox.exec(sh("printf made > made.txt")).await.unwrap();
        assert_eq!(
            sandbox.read_text("made.txt").await.unwrap(),
            "made",
            "{name}"
        );
        // Overwriting replaces.
        sandbox.write_file("made.txt", b"again").await.unwrap();
        assert_eq!(
            sandbox.read_text("made.txt").await.unwrap(),
            "again",
            "{name}"
        );

        // A large file, both ways.
        let large: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        sandbox.write_file("large.bin", &large).await.unwrap();
        let size = sandbox.exec(sh("wc -c < large.bin")).await.unwrap();
        assert_eq!(size.stdout.trim(), large.len().to_string(), "{name}");
        assert!(
            sandbox.read_file("large.bin").await.unwrap() == large,
            "{name}"
        );

        let missing = sandbox.read_file("nope/missing.txt").await.unwrap_err();
        assert!(
            matches!(missing, SandboxError::FileNotFound { .. }),
            "{name}: {missing:?}"
        );
        assert_eq!(
            missing.kind(),
            examen_types::ToolCallErrorType::FileNotFound
        );
        let dir = sandbox.read_file("a/b").await.unwrap_err();
        assert!(
            matches!(dir, SandboxError::IsADirectory { .. }),
            "{name}: {dir:?}"
        );
        let onto_dir = sandbox.write_file("a", b"x").await.unwrap_err();
        assert!(
            matches!(onto_dir, SandboxError::IsADirectory { .. }),
            "{name}: {onto_dir:?}"
        );
        sample.cleanup(false).await;
    }
}

#[examen_rt::test]
async fn concurrent_execs_in_one_sandbox_each_get_their_own_result() {
    for provider in providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let sandbox = sample.sandbox();
        let results = examen_rt::collect((0..16).map(|i| {
            let sandbox = sandbox.clone();
            move || async move {
                let request = sh(&format!(
                    "sleep 0.1; echo {i}; echo e{i} >&2; exit {}",
                    i % 4
                ));
                sandbox.exec(request).await
            }
        }))
        .await
        .unwrap();
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result.stdout, format!("{i}\n"), "{name}");
            assert_eq!(result.stderr, format!("e{i}\n"), "{name}");
            assert_eq!(result.returncode, (i % 4) as i32, "{name}");
        }
        sample.cleanup(false).await;
    }
}

#[examen_rt::test]
async fn cleanup_removes_the_working_directory_and_the_default_is_first() {
    for provider in providers() {
        let name = provider.name().to_owned();
        let sample = Sample::start(provider).await;
        let envs = sample.envs.as_ref().unwrap();
        assert_eq!(envs.names().next(), Some("default"), "{name}");
        let sandbox = sample.sandbox();
        sandbox.write_file("left.txt", b"behind").await.unwrap();
        let connection = sandbox.connection().unwrap();
        assert_eq!(connection.kind, name);
        let dir = sandbox
            .exec(ExecRequest::new(["pwd"]))
            .await
            .unwrap()
            .stdout;
        let dir = std::path::PathBuf::from(dir.trim_end());
        assert!(
            connection.command.contains(&*dir.to_string_lossy()),
            "{connection:?}"
        );
        // Where the working directory is on this machine.
        let host_dir = match sandbox.as_any().downcast_ref::<BwrapSandbox>() {
            Some(bwrap) => {
                assert_eq!(dir, std::path::Path::new(examen_sandbox::bwrap::WORKDIR));
                Some(bwrap.dir().to_owned())
            }
            None if name == "local" => Some(dir.clone()),
            None => None,
        };
        if let Some(host_dir) = &host_dir {
            let left = if name == "bwrap" {
                host_dir.join("work/left.txt")
            } else {
                host_dir.join("left.txt")
            };
            assert!(left.is_file(), "{name}: {}", left.display());
        }
        drop(sandbox);
        sample.cleanup(false).await;
        if let Some(host_dir) = host_dir {
            assert!(
                !host_dir.exists(),
                "{name}: {} is still there",
                host_dir.display()
            );
        }
    }
}

#[test]
fn the_registry_knows_local_and_names_the_known_ones_for_an_unknown_one() {
    let registry = examen_sandbox::ProviderRegistry::new();
    assert_eq!(registry.get("local").unwrap().name(), "local");
    let error = registry.get("dokcer").unwrap_err().to_string();
    assert_eq!(
        error,
        "unknown sandbox type `dokcer`; expected one of: local, bwrap, docker"
    );
}

#[examen_rt::test]
async fn the_local_sandbox_runs_as_the_current_user_only() {
    let sample = Sample::start(providers().remove(0)).await;
    let sandbox = sample.sandbox();
    let uid = sandbox
        .exec(ExecRequest::new(["id", "-u"]))
        .await
        .unwrap()
        .stdout;
    let name = sandbox
        .exec(ExecRequest::new(["id", "-un"]))
        .await
        .unwrap()
        .stdout;
    for user in [uid.trim(), name.trim()] {
        let me = sandbox
            .exec(ExecRequest::new(["id", "-u"]).user(user))
            .await
            .unwrap();
        assert_eq!(me.stdout, uid, "as `{user}`");
    }
    let other = if uid.trim() == "65534" {
        "root"
    } else {
        "nobody"
    };
    let refused = sandbox
        .exec(ExecRequest::new(["id", "-u"]).user(other))
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!("LocalSandboxEnvironment cannot execute as '{other}'; only the current effective user is supported.")
    );
    sample.cleanup(false).await;
}

#[examen_rt::test]
async fn what_is_not_cleaned_up_is_found_by_its_label_and_removed() {
    for provider in providers() {
        let name = provider.name().to_owned();
        let eval_id = format!("leftover{}", examen_types::short_uuid());
        let sample = SampleInfo {
            eval_id: eval_id.clone(),
            sample_id: "1".to_owned(),
            ..SampleInfo::default()
        };
        let envs = provider
            .sample_init(&SandboxConfig::default(), &sample)
            .await
            .unwrap();
        let sandbox = envs.default_sandbox().cloned().unwrap();
        sandbox.write_file("kept.txt", b"still here").await.unwrap();
        drop((sandbox, envs)); // as under --no-sandbox-cleanup: no sample_cleanup

        let mine = |all: Vec<examen_sandbox::Leftover>| -> Vec<examen_sandbox::Leftover> {
            all.into_iter().filter(|l| l.eval_id == eval_id).collect()
        };
        let found = mine(provider.leftovers().await.unwrap());
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        provider.remove_leftover(&found[0]).await.unwrap();
        let after = mine(provider.leftovers().await.unwrap());
        assert!(after.is_empty(), "{name}: still there: {after:?}");
    }
}
