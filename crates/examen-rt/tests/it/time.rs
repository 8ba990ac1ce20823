//! Time: sleeps, timeouts and deadlines cancel the work they cut short.

use std::time::{Duration, Instant};

use examen_rt::{fail_after, move_on_after, timeout, timeout_at};

use crate::support::{drop_channel, receive_ids, DropGuard};

#[examen_rt::test]
async fn sleep_waits_at_least_its_duration() {
    let start = Instant::now();
    examen_rt::sleep(Duration::from_millis(15)).await;
    assert!(start.elapsed() >= Duration::from_millis(15));
}

#[examen_rt::test]
async fn timeout_passes_the_output_through() {
    assert_eq!(timeout(Duration::from_secs(60), async { 7 }).await, Ok(7));
}

#[examen_rt::test]
async fn an_expired_timeout_drops_the_work() {
    let (dropped, guards) = drop_channel();
    let work = async move {
        let _guard = DropGuard { id: 1, dropped };
        std::future::pending::<()>().await
    };
    let err = timeout(Duration::from_millis(5), work).await.unwrap_err();
    assert_eq!(err.duration(), Some(Duration::from_millis(5)));
    assert_eq!(receive_ids(&guards, 1).await, vec![1]);
}

#[examen_rt::test]
async fn deadlines_in_the_past_expire_at_once() {
    let result = timeout_at(Instant::now(), std::future::pending::<()>()).await;
    assert!(result.is_err());
}

#[examen_rt::test]
async fn move_on_after_gives_none_and_fail_after_an_error() {
    assert_eq!(
        move_on_after(Duration::from_millis(2), std::future::pending::<u8>()).await,
        None
    );
    assert_eq!(
        move_on_after(Duration::from_secs(60), async { 3 }).await,
        Some(3)
    );
    let err = fail_after(Duration::from_millis(2), std::future::pending::<u8>())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "deadline passed after 2ms");
}
