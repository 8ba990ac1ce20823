//! Fans 1,000 simulated model calls out on the backend named by `EXAMEN_ASYNC_BACKEND` (tokio
//! unless set), at most 100 at a time, and prints the results in input order as they complete.
//!
//! ```text
//! cargo run -p examen-rt --example fan_out
//! EXAMEN_ASYNC_BACKEND=smol cargo run -p examen-rt --example fan_out
//! ```

use std::time::{Duration, Instant};

use examen_rt::{Backend, CapacityLimiter, TaskGroup};
use futures_util::StreamExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = Backend::from_env()?;
    let started = Instant::now();
    let (total, checksum) = examen_rt::run(backend, async {
        let connections = CapacityLimiter::new(100);
        let (results, received) = examen_rt::channel(256);
        let mut group = TaskGroup::<std::io::Error>::new();
        for index in 0..1000u64 {
            let connections = connections.clone();
            let results = results.clone();
            group.spawn(move || async move {
                let _permit = connections.acquire().await;
                // A "model call" that takes 1 to 10 ms.
                examen_rt::sleep(Duration::from_millis(1 + index % 10)).await;
                let _ = results.send((index as usize, index * index)).await;
                Ok(())
            });
        }
        drop(results);
        let mut in_order = examen_rt::ordered(received);
        let (mut total, mut checksum) = (0u64, 0u64);
        while let Some(value) = in_order.next().await {
            total += 1;
            checksum = checksum.wrapping_mul(31).wrapping_add(value);
        }
        group.join().await.expect("no call fails");
        (total, checksum)
    });
    println!(
        "{total} calls on {backend} in {:.0?}, results in input order (checksum {checksum})",
        started.elapsed()
    );
    Ok(())
}
