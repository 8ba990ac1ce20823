//! Shielded cleanup finishes even when the work around it is cancelled, and `run` waits for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examen_rt::Backend;

use crate::support::within_a_minute;

#[examen_rt::test]
async fn shielded_cleanup_completes_when_its_caller_is_cancelled() {
    let (started, started_rx) = examen_rt::channel::<()>(1);
    let (finished, finished_rx) = examen_rt::channel::<&'static str>(1);
    let mut task = examen_rt::spawn(async move {
        examen_rt::shield(async move {
            started.send(()).await.ok();
            examen_rt::sleep(Duration::from_millis(20)).await;
            finished.send("flushed").await.ok();
        })
        .await
    });
    started_rx.recv().await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(
        within_a_minute("shielded cleanup", finished_rx.recv()).await,
        Some("flushed")
    );
}

#[examen_rt::test]
async fn shielded_work_gives_its_output() {
    assert_eq!(examen_rt::shield(async { 41 + 1 }).await, Some(42));
}

#[examen_rt::test]
async fn a_panic_in_shielded_work_resumes_in_the_caller() {
    use futures_util::FutureExt;
    // Finishing at once (run in place) and after waiting (run as a task): both re-raise.
    let at_once = std::panic::AssertUnwindSafe(examen_rt::shield(async { panic!("at once") }))
        .catch_unwind()
        .await;
    assert!(at_once.is_err());
    let later = std::panic::AssertUnwindSafe(examen_rt::shield(async {
        examen_rt::sleep(Duration::from_millis(1)).await;
        panic!("after waiting")
    }))
    .catch_unwind()
    .await;
    assert!(later.is_err());
}

#[examen_rt::test]
async fn the_grace_period_bounds_shielded_work() {
    let output =
        examen_rt::shield_with_grace(Duration::from_millis(5), std::future::pending::<()>()).await;
    assert_eq!(output, None);
}

#[test]
fn run_waits_for_shielded_cleanup_before_shutting_down() {
    for backend in Backend::ALL {
        let flushed = Arc::new(AtomicBool::new(false));
        let flag = flushed.clone();
        examen_rt::run(backend, async move {
            let (started, started_rx) = examen_rt::channel::<()>(1);
            let task = examen_rt::spawn(async move {
                examen_rt::shield(async move {
                    started.send(()).await.ok();
                    examen_rt::sleep(Duration::from_millis(30)).await;
                    flag.store(true, Ordering::SeqCst);
                })
                .await
            });
            started_rx.recv().await.unwrap();
            // Cancel the caller and leave at once: the cleanup is still sleeping.
            drop(task);
        });
        assert!(
            flushed.load(Ordering::SeqCst),
            "cleanup finished on {backend}"
        );
    }
}

/// The shielded work's first poll (run in place, on the caller's thread) makes progress the
/// main future sees and is still running when the main future leaves: `run` must count the
/// work from before that poll, not only once it has become a task of its own.
#[test]
fn run_waits_for_shielded_work_still_in_its_first_poll() {
    use std::sync::mpsc;
    struct SignalOnDrop(mpsc::Sender<()>);
    impl Drop for SignalOnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    for backend in Backend::ALL {
        let flushed = Arc::new(AtomicBool::new(false));
        let flag = flushed.clone();
        let (leaving, leaving_rx) = mpsc::channel::<()>();
        examen_rt::run(backend, async move {
            let (started, started_rx) = examen_rt::channel::<()>(1);
            let task = examen_rt::spawn(async move {
                examen_rt::shield(async move {
                    started.send(()).await.ok();
                    // Still inside the first poll: wait until the main future is leaving, then
                    // take a moment more before the work first waits. (Bounded: on smol this
                    // task may share a thread with the main future, which then cannot leave.)
                    let _ = leaving_rx.recv_timeout(Duration::from_secs(2));
                    std::thread::sleep(Duration::from_millis(20));
                    examen_rt::sleep(Duration::from_millis(5)).await;
                    flag.store(true, Ordering::SeqCst);
                })
                .await
            });
            // Keep this thread busy for a moment so that another thread takes the task: on smol
            // the main future's thread runs tasks too, and the task blocks its thread below.
            std::thread::sleep(Duration::from_millis(10));
            started_rx.recv().await.unwrap();
            // Dropped as the main future completes, just before `run` checks for outstanding
            // work. Cancelling the caller takes effect only once the first poll has returned.
            let _leaving = SignalOnDrop(leaving);
            drop(task);
        });
        assert!(
            flushed.load(Ordering::SeqCst),
            "shielded work finished on {backend}"
        );
    }
}

#[test]
fn run_waits_for_abandoned_blocking_work() {
    for backend in Backend::ALL {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        examen_rt::run(backend, async move {
            let (started, started_rx) = std::sync::mpsc::channel::<()>();
            let call = examen_rt::to_thread(move || {
                started.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(30));
                flag.store(true, Ordering::SeqCst);
            });
            // Start the call, then abandon it.
            let _ = examen_rt::move_on_after(Duration::from_millis(1), call).await;
            examen_rt::to_thread(move || started_rx.recv().unwrap()).await;
        });
        assert!(
            done.load(Ordering::SeqCst),
            "blocking work finished on {backend}"
        );
    }
}

/// Cancelled right after it started (polled once, before any pool thread can have taken it), a
/// blocking call still runs, on both backends alike.
#[test]
fn blocking_work_cancelled_as_it_starts_still_runs() {
    for backend in Backend::ALL {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        examen_rt::run(backend, async move {
            let mut call = Box::pin(examen_rt::to_thread(move || {
                flag.store(true, Ordering::SeqCst);
            }));
            // One poll starts it (it may even finish on a warm pool thread); then leave.
            let _ = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::future::Future::poll(call.as_mut(), cx))
            })
            .await;
            drop(call);
        });
        assert!(
            done.load(Ordering::SeqCst),
            "blocking work ran on {backend}"
        );
    }
}

#[examen_rt::test]
async fn to_thread_returns_the_value_and_re_raises_panics() {
    assert_eq!(examen_rt::to_thread(|| 6 * 7).await, 42);
    use futures_util::FutureExt;
    let caught = std::panic::AssertUnwindSafe(examen_rt::to_thread(|| panic!("disk on fire")))
        .catch_unwind()
        .await;
    assert!(caught.is_err());
}

/// Cleanup started from a `Drop` (the guard of work a deadline cancelled) with `shield_detached` runs to its
/// end, and `run` waits for it before returning.
#[test]
fn cleanup_started_from_a_drop_finishes_before_run_returns() {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            let flag = self.0.clone();
            examen_rt::shield_detached(async move {
                examen_rt::sleep(Duration::from_millis(30)).await;
                flag.store(true, Ordering::SeqCst);
            });
        }
    }
    for backend in Backend::ALL {
        let cleaned = Arc::new(AtomicBool::new(false));
        let flag = cleaned.clone();
        examen_rt::run(backend, async move {
            // A deadline cancels the work (drops it, and its guard, which starts the cleanup);
            // then `run`'s future ends at once.
            examen_rt::move_on_after(Duration::from_millis(10), async move {
                let _guard = Guard(flag);
                std::future::pending::<()>().await;
            })
            .await;
        });
        assert!(
            cleaned.load(Ordering::SeqCst),
            "cleanup finished on {backend}"
        );
    }
}
