//! CapacityLimiter: FIFO fairness, never more than N holders, resizing, cancel safety.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen_rt::{CapacityLimiter, TaskGroup};

use crate::support::within_a_minute;

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    within_a_minute(what, async {
        while !condition() {
            examen_rt::yield_now().await;
        }
    })
    .await
}

#[examen_rt::test]
async fn waiters_are_served_first_come_first_served() {
    let limiter = CapacityLimiter::new(1);
    let first = limiter.acquire().await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut group = TaskGroup::<String>::new();
    for id in 0..8usize {
        let limiter_for_task = limiter.clone();
        let order = order.clone();
        group.spawn(move || async move {
            let _permit = limiter_for_task.acquire().await;
            order.lock().unwrap().push(id);
            examen_rt::yield_now().await;
            Ok(())
        });
        // The next waiter is only started once this one is queued, so queue order is id order.
        let limiter = limiter.clone();
        wait_until("queueing", move || limiter.waiting() == id + 1).await;
    }
    drop(first);
    group.join().await.unwrap();
    assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
}

#[examen_rt::test]
async fn never_more_than_the_limit_and_the_limit_is_reached() {
    let limiter = CapacityLimiter::new(3);
    let holding = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = examen_rt::CancelToken::new();
    let mut group = TaskGroup::<String>::new();
    for _ in 0..40 {
        let limiter = limiter.clone();
        let holding = holding.clone();
        let peak = peak.clone();
        let gate = gate.clone();
        group.spawn(move || async move {
            let _permit = limiter.acquire().await;
            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // Hold until three holders have been seen at once, so the peak is deterministic.
            gate.cancelled().await;
            examen_rt::yield_now().await;
            holding.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }
    {
        let peak = peak.clone();
        wait_until("three holders", move || peak.load(Ordering::SeqCst) == 3).await;
    }
    assert_eq!(limiter.borrowed(), 3);
    gate.cancel();
    group.join().await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(limiter.borrowed(), 0);
}

#[examen_rt::test]
async fn raising_the_total_admits_waiters_and_lowering_it_drains() {
    let limiter = CapacityLimiter::new(1);
    let held: Arc<Mutex<Vec<examen_rt::Permit>>> = Arc::default();
    let mut group = TaskGroup::<String>::new();
    for _ in 0..5 {
        let limiter = limiter.clone();
        let held = held.clone();
        group.spawn(move || async move {
            let permit = limiter.acquire().await;
            held.lock().unwrap().push(permit);
            Ok(())
        });
    }
    {
        let held = held.clone();
        wait_until("one holder", move || held.lock().unwrap().len() == 1).await;
    }
    {
        let limiter = limiter.clone();
        wait_until("four waiters", move || limiter.waiting() == 4).await;
    }
    limiter.set_total(3);
    {
        let held = held.clone();
        wait_until("three holders", move || held.lock().unwrap().len() == 3).await;
    }
    assert_eq!(
        (limiter.borrowed(), limiter.total(), limiter.waiting()),
        (3, 3, 2)
    );
    // Lower below what is borrowed: releases must bring it under the new total before anyone
    // else gets in.
    limiter.set_total(1);
    held.lock().unwrap().pop();
    held.lock().unwrap().pop();
    assert_eq!((limiter.borrowed(), limiter.waiting()), (1, 2));
    held.lock().unwrap().pop();
    // The fourth task is granted the one permit the new total allows.
    {
        let held = held.clone();
        wait_until("the fourth holder", move || held.lock().unwrap().len() == 1).await;
    }
    assert_eq!((limiter.borrowed(), limiter.waiting()), (1, 1));
    held.lock().unwrap().clear();
    {
        let held = held.clone();
        wait_until("the fifth holder", move || held.lock().unwrap().len() == 1).await;
    }
    assert_eq!((limiter.borrowed(), limiter.waiting()), (1, 0));
    held.lock().unwrap().clear();
    group.join().await.unwrap();
    assert_eq!(limiter.borrowed(), 0);
}

#[examen_rt::test]
async fn a_cancelled_waiter_gives_up_its_place() {
    let limiter = CapacityLimiter::new(1);
    let permit = limiter.acquire().await;
    assert!(
        examen_rt::move_on_after(Duration::from_millis(5), limiter.acquire())
            .await
            .is_none()
    );
    assert_eq!(limiter.waiting(), 0);
    drop(permit);
    let again = within_a_minute("acquire", limiter.acquire()).await;
    assert_eq!(limiter.borrowed(), 1);
    drop(again);
    assert_eq!(limiter.borrowed(), 0);
    assert!(limiter.try_acquire().is_some());
}
