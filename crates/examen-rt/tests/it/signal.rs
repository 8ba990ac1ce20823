//! Interrupts arrive as a stream on both backends instead of killing the process.
//!
//! Signals are process-wide and both backend variants of a test run in parallel in one process,
//! so each variant may also see the other's signals: a test waits for the signal it raised and
//! lets others pass.

use examen_rt::signal::{Interrupt, Interrupts};

use crate::support::within_a_minute;

fn raise(signal: rustix::process::Signal) {
    rustix::process::kill_process(rustix::process::getpid(), signal).expect("signal ourselves");
}

async fn wait_for(interrupts: &mut Interrupts, expected: Interrupt) {
    within_a_minute(expected.name(), async {
        loop {
            match interrupts.next().await {
                Some(seen) if seen == expected => return,
                Some(_) => continue,
                None => panic!("the interrupt stream ended"),
            }
        }
    })
    .await
}

#[examen_rt::test]
async fn sigterm_and_sigint_arrive_as_events() {
    let mut interrupts = Interrupts::new().unwrap();
    raise(rustix::process::Signal::TERM);
    wait_for(&mut interrupts, Interrupt::Terminate).await;
    raise(rustix::process::Signal::INT);
    wait_for(&mut interrupts, Interrupt::Interrupt).await;
}
