//! `SampleFinished` progress events in the order of their counts.
//!
//! A finished sample takes its progress count (`completed`, with the running score) under the
//! progress lock, then hands the sample to the log writer, then reports it. Writes finish in
//! any order, so without re-sequencing a display would see the count go 1, 3, 2 and the
//! running score jump back. [`FinishedEvents`] holds each event until those with lower counts
//! are out; a sample that took a count and will never report (its write failed, or it was
//! cancelled) leaves a gap marker through its [`FinishedSlot`]'s drop, so the others still go.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::EvalEvent;

/// Sends `SampleFinished` events in count order on the eval's event channel.
pub(crate) struct FinishedEvents {
    events: Option<examen_rt::Sender<EvalEvent>>,
    order: Mutex<Order>,
    /// Held while due events are sent, so two samples' sends never interleave.
    turn: examen_rt::CapacityLimiter,
}

#[derive(Default)]
struct Order {
    /// The highest count whose event (or gap) is out.
    released: usize,
    /// Events (or gaps, `None`) whose count is not due yet. Counts start at 1.
    held: BTreeMap<usize, Option<EvalEvent>>,
}

impl FinishedEvents {
    pub(crate) fn new(events: Option<examen_rt::Sender<EvalEvent>>) -> FinishedEvents {
        FinishedEvents {
            events,
            order: Mutex::default(),
            turn: examen_rt::CapacityLimiter::new(1),
        }
    }

    /// The place of the unit that took progress count `completed`.
    pub(crate) fn slot(&self, completed: usize) -> FinishedSlot<'_> {
        FinishedSlot {
            owner: self,
            completed,
            sent: false,
        }
    }

    fn hold(&self, completed: usize, event: Option<EvalEvent>) {
        let mut order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        order.held.insert(completed, event);
    }

    fn take_due(&self) -> Vec<EvalEvent> {
        let mut guard = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let order = &mut *guard;
        let mut due = Vec::new();
        while let Some(event) = order.held.remove(&(order.released + 1)) {
            order.released += 1;
            due.extend(event);
        }
        due
    }
}

/// A progress count taken by a finished unit, until its event is sent.
pub(crate) struct FinishedSlot<'a> {
    owner: &'a FinishedEvents,
    completed: usize,
    sent: bool,
}

impl FinishedSlot<'_> {
    /// Sends `event` after every event with a lower count. The event is held before the first
    /// await, so a unit cancelled while it waits for its turn leaves it to whoever sends next.
    pub(crate) async fn send(mut self, event: EvalEvent) {
        self.sent = true;
        self.owner.hold(self.completed, Some(event));
        let _turn = self.owner.turn.acquire().await;
        for event in self.owner.take_due() {
            if let Some(events) = &self.owner.events {
                // A display that went away does not stop the eval.
                let _ = events.send(event).await;
            }
        }
    }
}

impl Drop for FinishedSlot<'_> {
    fn drop(&mut self) {
        if !self.sent {
            self.owner.hold(self.completed, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(completed: usize) -> EvalEvent {
        EvalEvent::SampleFinished {
            run: 0,
            sample_id: examen_types::SampleId::int(completed as i128),
            epoch: 1,
            scores: Default::default(),
            usage: Default::default(),
            error: None,
            limit: None,
            completed,
            running: None,
        }
    }

    fn counts(rx: &examen_rt::Receiver<EvalEvent>) -> Vec<usize> {
        std::iter::from_fn(|| rx.try_recv())
            .map(|e| match e {
                EvalEvent::SampleFinished { completed, .. } => completed,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[examen_rt::test]
    async fn events_go_out_in_count_order_and_gaps_do_not_hold_them() {
        let (tx, rx) = examen_rt::channel(16);
        let finished_events = FinishedEvents::new(Some(tx));
        let (one, two, three, four) = (
            finished_events.slot(1),
            finished_events.slot(2),
            finished_events.slot(3),
            finished_events.slot(4),
        );
        three.send(finished(3)).await;
        assert_eq!(counts(&rx), Vec::<usize>::new());
        drop(two);
        one.send(finished(1)).await;
        assert_eq!(counts(&rx), vec![1, 3]);
        four.send(finished(4)).await;
        assert_eq!(counts(&rx), vec![4]);
    }
}
