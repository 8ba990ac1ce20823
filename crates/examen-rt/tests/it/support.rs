//! Helpers shared by the tests: drop guards that report when a future is dropped, and a
//! deadlock guard for waits that should end promptly.

use std::future::Future;
use std::time::Duration;

use examen_rt::{Receiver, Sender};

/// Sends its id when dropped: proof that the future holding it was cancelled (or finished).
pub(crate) struct DropGuard {
    pub(crate) id: usize,
    pub(crate) dropped: Sender<usize>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        let _ = self.dropped.try_send(self.id);
    }
}

pub(crate) fn drop_channel() -> (Sender<usize>, Receiver<usize>) {
    examen_rt::channel(1024)
}

/// Fails the test if `future` has not finished within a minute: a deadlock guard, not a timing
/// assertion.
pub(crate) async fn within_a_minute<F: Future>(what: &str, future: F) -> F::Output {
    match examen_rt::timeout(Duration::from_secs(60), future).await {
        Ok(output) => output,
        Err(_) => panic!("deadlock guard: {what} did not finish within a minute"),
    }
}

/// Receives exactly `n` ids and returns them sorted.
pub(crate) async fn receive_ids(receiver: &Receiver<usize>, n: usize) -> Vec<usize> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(
            within_a_minute("waiting for drop guards", receiver.recv())
                .await
                .expect("guard channel open"),
        );
    }
    ids.sort_unstable();
    ids
}
