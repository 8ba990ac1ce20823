//! Channels: several producers and consumers deliver every item exactly once and end cleanly.

use std::collections::BTreeMap;

use examen_rt::{Backend, SendError};
use futures_util::StreamExt;
use proptest::prelude::*;

/// Sends `per_producer` items from each of `producers` tasks through a channel of `capacity`
/// and receives them in `consumers` tasks; returns how often each item arrived.
async fn pump(
    producers: usize,
    consumers: usize,
    per_producer: usize,
    capacity: usize,
) -> BTreeMap<(usize, usize), usize> {
    let (sender, receiver) = examen_rt::channel(capacity);
    let mut producing = examen_rt::TaskGroup::new();
    for p in 0..producers {
        let sender = sender.clone();
        producing.spawn(move || async move {
            for i in 0..per_producer {
                sender.send((p, i)).await.map_err(|_| "receivers gone")?;
            }
            Ok::<_, &str>(())
        });
    }
    // The original sender must go, or the consumers would wait forever.
    drop(sender);
    let consumers = (0..consumers).map(|_| {
        let receiver = receiver.clone();
        move || async move { Ok::<_, &str>(receiver.collect::<Vec<_>>().await) }
    });
    let received = examen_rt::collect(consumers.collect::<Vec<_>>())
        .await
        .unwrap();
    drop(receiver);
    producing.join().await.unwrap();
    let mut counts = BTreeMap::new();
    for item in received.into_iter().flatten() {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_item_arrives_exactly_once(
        producers in 1usize..5,
        consumers in 1usize..5,
        per_producer in 0usize..200,
        capacity in 1usize..8,
    ) {
        for backend in Backend::ALL {
            let counts = examen_rt::run(backend, pump(producers, consumers, per_producer, capacity));
            prop_assert_eq!(counts.len(), producers * per_producer, "on {}", backend);
            prop_assert!(counts.values().all(|&n| n == 1), "duplicates on {}", backend);
        }
    }
}

#[examen_rt::test]
async fn send_hands_the_value_back_when_every_receiver_is_gone() {
    let (sender, receiver) = examen_rt::channel::<String>(2);
    let second = receiver.clone();
    drop(receiver);
    sender.send("kept".into()).await.unwrap();
    drop(second);
    let SendError(value) = sender.send("returned".into()).await.unwrap_err();
    assert_eq!(value, "returned");
}

#[examen_rt::test]
async fn receivers_drain_the_buffer_after_the_last_sender_goes() {
    let (sender, receiver) = examen_rt::channel(4);
    sender.send(1).await.unwrap();
    sender.send(2).await.unwrap();
    let other = sender.clone();
    drop(sender);
    other.send(3).await.unwrap();
    drop(other);
    assert_eq!(receiver.recv().await, Some(1));
    assert_eq!(receiver.collect::<Vec<_>>().await, vec![2, 3]);
}

#[examen_rt::test]
async fn blocking_code_can_feed_and_drain_a_channel() {
    let (sender, receiver) = examen_rt::channel::<u32>(2);
    // More items than the capacity: the blocking sender must wait for the async receiver.
    let producer = examen_rt::to_thread(move || {
        for n in 0..10 {
            sender.send_blocking(n).unwrap();
        }
    });
    let (received, ()) =
        futures_util::future::join(receiver.clone().collect::<Vec<_>>(), producer).await;
    assert_eq!(received, (0..10).collect::<Vec<_>>());

    let (sender, receiver) = examen_rt::channel::<u32>(2);
    let consumer = examen_rt::to_thread(move || {
        let mut seen = Vec::new();
        while let Some(n) = receiver.recv_blocking() {
            seen.push(n);
        }
        seen
    });
    // `to_thread` starts its work when first polled, so feed and consume together.
    let feed = async move {
        for n in 0..5 {
            sender.send(n).await.unwrap();
        }
    };
    let (seen, ()) = futures_util::future::join(consumer, feed).await;
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);
}
