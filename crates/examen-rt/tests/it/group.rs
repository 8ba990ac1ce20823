//! TaskGroup and the collect family: ordering, first-error cancellation, every error kept,
//! panics, and cancellation when the group or its awaiting future is dropped.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen_rt::{collect, collect_all, collect_limited, ErrorGroup, TaskGroup};
use futures_util::FutureExt;

use crate::support::{drop_channel, receive_ids, within_a_minute, DropGuard};

#[examen_rt::test]
async fn collect_keeps_input_order_whatever_the_finishing_order() {
    // Later inputs finish first.
    let values = collect((0..20u64).map(|n| {
        move || async move {
            examen_rt::sleep(Duration::from_millis(20 - n)).await;
            Ok::<_, String>(n * 10)
        }
    }))
    .await
    .unwrap();
    assert_eq!(values, (0..20u64).map(|n| n * 10).collect::<Vec<_>>());
}

#[examen_rt::test]
async fn collect_of_nothing_is_empty() {
    type Ready = std::future::Ready<Result<u8, String>>;
    let funcs: Vec<fn() -> Ready> = Vec::new();
    assert_eq!(collect(funcs).await.unwrap(), Vec::<u8>::new());
}

#[examen_rt::test]
async fn first_error_cancels_every_sibling() {
    let (dropped, guards) = drop_channel();
    let running = Arc::new(AtomicUsize::new(0));
    let funcs = (0..10usize).map(|id| {
        let dropped = dropped.clone();
        let running = running.clone();
        move || async move {
            let _guard = DropGuard { id, dropped };
            running.fetch_add(1, Ordering::SeqCst);
            if id == 3 {
                // Fail only once every sibling is running and holds its guard.
                while running.load(Ordering::SeqCst) < 10 {
                    examen_rt::yield_now().await;
                }
                return Err(format!("sample {id} failed"));
            }
            std::future::pending::<Result<(), String>>().await
        }
    });
    let err = within_a_minute("collect", collect(funcs))
        .await
        .unwrap_err();
    assert_eq!(err, "sample 3 failed");
    // Every child, the failing one included, has been dropped by the time collect returned.
    assert_eq!(receive_ids(&guards, 10).await, (0..10).collect::<Vec<_>>());
    assert!(guards.try_recv().is_none());
}

/// A gate the children wait at: the last to arrive opens it. Children released together fail
/// on their next poll, and a child whose own future is ready is never reported as cancelled, so
/// every one of their errors must reach the owner.
fn gate(n: usize) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    let arrived = Arc::new(AtomicUsize::new(0));
    let open = examen_rt::CancelToken::new();
    move || {
        let arrived = arrived.clone();
        let open = open.clone();
        Box::pin(async move {
            if arrived.fetch_add(1, Ordering::SeqCst) + 1 == n {
                open.cancel();
            } else {
                open.cancelled().await;
            }
        })
    }
}

#[examen_rt::test]
async fn collect_all_reports_every_error() {
    let wait_at_gate = Arc::new(gate(3));
    let funcs = (0..3usize).map(|id| {
        let wait_at_gate = wait_at_gate.clone();
        move || async move {
            wait_at_gate().await;
            Err::<(), _>(format!("error {id}"))
        }
    });
    let errors: ErrorGroup<String> = within_a_minute("collect_all", collect_all(funcs))
        .await
        .unwrap_err();
    let mut all: Vec<String> = errors.into_iter().collect();
    all.sort();
    assert_eq!(all, vec!["error 0", "error 1", "error 2"]);
}

#[examen_rt::test]
async fn collect_returns_only_the_first_error() {
    let wait_at_gate = Arc::new(gate(3));
    let funcs = (0..3usize).map(|id| {
        let wait_at_gate = wait_at_gate.clone();
        move || async move {
            wait_at_gate().await;
            Err::<(), _>(format!("error {id}"))
        }
    });
    let error = within_a_minute("collect", collect(funcs))
        .await
        .unwrap_err();
    assert!(error.starts_with("error "), "{error}");
}

#[examen_rt::test]
async fn task_group_returns_every_error() {
    /// Counts the child as cancelled unless it got to return its error.
    struct Cancelled(Arc<AtomicUsize>, bool);
    impl Drop for Cancelled {
        fn drop(&mut self) {
            if !self.1 {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let wait_at_gate = Arc::new(gate(4));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let mut group = TaskGroup::new();
    for id in 0..4usize {
        let wait_at_gate = wait_at_gate.clone();
        let failed = failed.clone();
        let cancelled = cancelled.clone();
        group.spawn(move || async move {
            let mut guard = Cancelled(cancelled, false);
            wait_at_gate().await;
            guard.1 = true;
            failed.lock().unwrap().push(format!("child {id}"));
            Err(format!("child {id}"))
        });
    }
    let errors = within_a_minute("join", group.join()).await.unwrap_err();
    let mut reported: Vec<String> = errors.into_iter().collect();
    reported.sort();
    let mut failed = failed.lock().unwrap().clone();
    failed.sort();
    // Every child that failed is reported, none twice. Released together, each child
    // either fails or is cancelled by a sibling's failure first: which, is the
    // scheduler's choice (as in trio), so the test does not fix how many fail.
    assert_eq!(reported, failed);
    assert!(!failed.is_empty());
    assert_eq!(failed.len() + cancelled.load(Ordering::SeqCst), 4);
}

#[examen_rt::test]
async fn task_group_waits_for_every_child() {
    let finished = Arc::new(AtomicUsize::new(0));
    let mut group = TaskGroup::<String>::new();
    for n in 0..50u64 {
        let finished = finished.clone();
        group.spawn(move || async move {
            examen_rt::sleep(Duration::from_millis(n % 7)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    group.join().await.unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 50);
}

#[examen_rt::test]
async fn a_child_panic_cancels_siblings_and_resumes_in_the_owner() {
    let (dropped, guards) = drop_channel();
    let mut group = TaskGroup::<String>::new();
    for id in 0..5usize {
        let dropped = dropped.clone();
        group.spawn(move || async move {
            let _guard = DropGuard { id, dropped };
            if id == 2 {
                examen_rt::yield_now().await;
                panic!("child 2 exploded");
            }
            std::future::pending().await
        });
    }
    let caught = within_a_minute("join", AssertUnwindSafe(group.join()).catch_unwind()).await;
    let payload = caught.expect_err("the panic reaches the owner");
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default()
        .to_string();
    assert_eq!(message, "child 2 exploded");
    assert_eq!(receive_ids(&guards, 5).await, vec![0, 1, 2, 3, 4]);
}

#[examen_rt::test]
async fn dropping_a_group_cancels_its_children() {
    let (dropped, guards) = drop_channel();
    let steps = Arc::new(AtomicUsize::new(0));
    let mut group = TaskGroup::<String>::new();
    for id in 0..4usize {
        let dropped = dropped.clone();
        let steps = steps.clone();
        group.spawn(move || async move {
            let _guard = DropGuard { id, dropped };
            loop {
                steps.fetch_add(1, Ordering::SeqCst);
                examen_rt::sleep(Duration::from_millis(1)).await;
            }
        });
    }
    // Wait until the children are running.
    while steps.load(Ordering::SeqCst) < 4 {
        examen_rt::yield_now().await;
    }
    drop(group);
    assert_eq!(receive_ids(&guards, 4).await, vec![0, 1, 2, 3]);
    // Every child future is gone, so nothing can take another step.
    let after_drop = steps.load(Ordering::SeqCst);
    examen_rt::sleep(Duration::from_millis(20)).await;
    assert_eq!(steps.load(Ordering::SeqCst), after_drop);
}

#[examen_rt::test]
async fn dropping_the_future_awaiting_join_cancels_the_children() {
    let (dropped, guards) = drop_channel();
    let mut group = TaskGroup::<String>::new();
    for id in 0..3usize {
        let dropped = dropped.clone();
        group.spawn(move || async move {
            let _guard = DropGuard { id, dropped };
            std::future::pending().await
        });
    }
    let outcome = examen_rt::move_on_after(Duration::from_millis(10), group.join()).await;
    assert!(outcome.is_none(), "the children never finish on their own");
    assert_eq!(receive_ids(&guards, 3).await, vec![0, 1, 2]);
}

#[examen_rt::test]
async fn dropping_collect_cancels_its_children() {
    let (dropped, guards) = drop_channel();
    let funcs = (0..5usize).map(|id| {
        let dropped = dropped.clone();
        move || async move {
            let _guard = DropGuard { id, dropped };
            std::future::pending::<Result<(), String>>().await
        }
    });
    assert!(
        examen_rt::move_on_after(Duration::from_millis(10), collect(funcs))
            .await
            .is_none()
    );
    assert_eq!(receive_ids(&guards, 5).await, vec![0, 1, 2, 3, 4]);
}

#[examen_rt::test]
async fn collect_limited_never_runs_more_than_the_limit() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let funcs = (0..60u64).map(|n| {
        let running = running.clone();
        let peak = peak.clone();
        move || async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            examen_rt::sleep(Duration::from_millis(1 + n % 3)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(n)
        }
    });
    let values = collect_limited(4, funcs).await.unwrap();
    assert_eq!(values, (0..60).collect::<Vec<_>>());
    assert!(peak.load(Ordering::SeqCst) <= 4);
    assert!(peak.load(Ordering::SeqCst) >= 1);
}

#[examen_rt::test]
async fn collect_limited_stops_starting_work_after_an_error() {
    let started = Arc::new(AtomicUsize::new(0));
    let funcs = (0..100usize).map(|n| {
        let started = started.clone();
        move || async move {
            started.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                Err(format!("input {n} is bad"))
            } else {
                examen_rt::sleep(Duration::from_millis(1)).await;
                Ok(n)
            }
        }
    });
    let err = collect_limited(2, funcs).await.unwrap_err();
    assert_eq!(err, "input 0 is bad");
    assert!(
        started.load(Ordering::SeqCst) < 100,
        "work after the failure was not started"
    );
}

#[test]
fn error_group_lists_every_error() {
    let group = ErrorGroup::new(vec!["disk full".to_string(), "timeout".to_string()]);
    assert_eq!(
        group.to_string(),
        "2 errors:\n- Error 1: disk full\n- Error 2: timeout"
    );
    assert_eq!(
        format!("{group:?}"),
        "ErrorGroup (2 errors):\n- Error 1: \"disk full\"\n- Error 2: \"timeout\"\n"
    );
    assert_eq!(group.into_first(), "disk full");
}
