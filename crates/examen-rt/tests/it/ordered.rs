//! `ordered`: results that finish in any order come out in input order.

use std::time::Duration;

use examen_rt::Backend;
use futures_util::StreamExt;
use proptest::prelude::*;

/// Spawns one task per index that finishes after `delays[index]` ms and sends `(index, value)`;
/// returns what `ordered` yields.
async fn resequence(delays: Vec<u64>) -> Vec<usize> {
    let n = delays.len();
    let (sender, receiver) = examen_rt::channel(4);
    let mut group = examen_rt::TaskGroup::<String>::new();
    for (index, delay) in delays.into_iter().enumerate() {
        let sender = sender.clone();
        group.spawn(move || async move {
            examen_rt::sleep(Duration::from_millis(delay)).await;
            sender
                .send((index, index * 3))
                .await
                .map_err(|e| e.to_string())
        });
    }
    drop(sender);
    let values: Vec<usize> = examen_rt::ordered(receiver).collect().await;
    group.join().await.unwrap();
    assert_eq!(values.len(), n);
    values
}

/// Collects a stream whose items are all ready, without a runtime.
fn collect_ready<S: futures_util::Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
    let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
    let mut items = Vec::new();
    loop {
        match stream.poll_next_unpin(&mut cx) {
            std::task::Poll::Ready(Some(item)) => items.push(item),
            std::task::Poll::Ready(None) => return items,
            std::task::Poll::Pending => panic!("the input stream is always ready"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn yields_in_index_order_under_random_completion(delays in prop::collection::vec(0u64..4, 0..40)) {
        let n = delays.len();
        for backend in Backend::ALL {
            let values = examen_rt::run(backend, resequence(delays.clone()));
            prop_assert_eq!(values, (0..n).map(|i| i * 3).collect::<Vec<_>>(), "on {}", backend);
        }
    }

    #[test]
    fn any_permutation_comes_out_sorted(order in Just((0..50usize).collect::<Vec<_>>()).prop_shuffle()) {
        let input = futures_util::stream::iter(order.into_iter().map(|i| (i, i)));
        let output: Vec<usize> = collect_ready(examen_rt::ordered(input));
        prop_assert_eq!(output, (0..50).collect::<Vec<_>>());
    }
}

#[examen_rt::test]
async fn holds_only_the_out_of_order_window() {
    let (sender, receiver) = examen_rt::channel(8);
    let mut stream = examen_rt::ordered(receiver);
    sender.send((2, "c")).await.unwrap();
    sender.send((1, "b")).await.unwrap();
    sender.send((0, "a")).await.unwrap();
    assert_eq!(stream.next().await, Some("a"));
    assert_eq!(stream.waiting(), 2);
    assert_eq!(stream.next().await, Some("b"));
    assert_eq!(stream.next().await, Some("c"));
    assert_eq!(stream.waiting(), 0);
    drop(sender);
    assert_eq!(stream.next().await, None);
}

#[examen_rt::test]
async fn gaps_at_the_end_do_not_lose_values() {
    let input = futures_util::stream::iter(vec![(0, 'a'), (2, 'c'), (5, 'f')]);
    let output: Vec<char> = examen_rt::ordered(input).collect().await;
    assert_eq!(output, vec!['a', 'c', 'f']);
}
