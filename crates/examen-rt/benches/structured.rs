//! Structured-concurrency overhead, each backend beside raw tokio.
//!
//! `cargo bench -p examen-rt --bench structured`
//!
//! - spawn and join 100k trivial tasks through `TaskGroup` on tokio and smol, beside tokio's own
//!   `JoinSet` on a runtime built the same way (the goal: within 2× of `JoinSet`);
//! - `collect` of 100k trivial futures;
//! - a channel carrying 100k items from 4 producers to 4 consumers.
//!
//! Every measurement includes starting and stopping a runtime, the same for every row.

use examen_rt::{Backend, TaskGroup};

const TASKS: usize = 100_000;
const ITEMS: usize = 100_000;

fn main() {
    divan::main();
}

#[divan::bench(args = [Backend::Tokio, Backend::Smol], sample_count = 10)]
fn task_group_spawn_join(backend: Backend) {
    examen_rt::run(backend, async {
        let mut group = TaskGroup::<()>::new();
        for _ in 0..TASKS {
            group.spawn(|| async { Ok(()) });
        }
        group.join().await.unwrap();
    });
}

#[divan::bench(sample_count = 10)]
fn tokio_join_set_spawn_join() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2),
        )
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..TASKS {
            set.spawn(async {});
        }
        while let Some(joined) = set.join_next().await {
            joined.unwrap();
        }
    });
}

#[divan::bench(args = [Backend::Tokio, Backend::Smol], sample_count = 10)]
fn collect_100k(backend: Backend) -> usize {
    examen_rt::run(backend, async {
        let values = examen_rt::collect((0..TASKS).map(|n| move || async move { Ok::<_, ()>(n) }))
            .await
            .unwrap();
        values.len()
    })
}

#[divan::bench(args = [Backend::Tokio, Backend::Smol], sample_count = 10)]
fn channel_4_producers_4_consumers(backend: Backend) -> usize {
    examen_rt::run(backend, async {
        let (sender, receiver) = examen_rt::channel::<usize>(1024);
        let mut producers = TaskGroup::<()>::new();
        for p in 0..4 {
            let sender = sender.clone();
            producers.spawn(move || async move {
                for i in 0..ITEMS / 4 {
                    sender.send(p * ITEMS + i).await.map_err(|_| ())?;
                }
                Ok(())
            });
        }
        drop(sender);
        let consumers = (0..4).map(|_| {
            let receiver = receiver.clone();
            move || async move {
                let mut n = 0;
                while receiver.recv().await.is_some() {
                    n += 1;
                }
                Ok::<_, ()>(n)
            }
        });
        let counts = examen_rt::collect(consumers.collect::<Vec<_>>())
            .await
            .unwrap();
        producers.join().await.unwrap();
        counts.into_iter().sum()
    })
}
