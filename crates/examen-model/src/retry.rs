//! Retry policy: which failures are retried, how long to wait (exponential backoff with full
//! jitter, at least what `Retry-After` asked for), and when to stop (`max_retries` or the total
//! `timeout`).

use std::time::Duration;

/// One retry: which attempt failed, why, and how long we waited before the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRecord {
    /// The attempt that failed (1 is the first).
    pub attempt: u32,
    /// Why it failed, one line (for example `HTTP 429` or `connection refused`).
    pub reason: String,
    /// The wait before the next attempt.
    pub wait: Duration,
}

/// Exponential backoff with full jitter: the wait before retry *n* (1-based) is uniform in
/// `[0, min(max, initial × 2^(n-1))]`. A server's `Retry-After` raises it to at least that.
///
/// Inspect waits 3 s initially and at most 30 minutes; so do we by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub initial: Duration,
    /// The largest ceiling.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(3),
            max: Duration::from_secs(30 * 60),
        }
    }
}

impl Backoff {
    /// The ceiling for retry `retry` (1-based), before jitter.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `retry`, honouring the server's `Retry-After` when given.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(retry);
        let jittered = ceiling.mul_f64(fastrand::f64());
        match retry_after {
            Some(asked) => jittered.max(asked),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_jitter_stays_below() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(2), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(400));
        assert_eq!(backoff.ceiling(4), Duration::from_millis(500));
        assert_eq!(backoff.ceiling(400), Duration::from_millis(500));
        for retry in 1..10 {
            assert!(backoff.wait(retry, None) <= backoff.ceiling(retry));
        }
        let asked = Duration::from_secs(7);
        assert!(backoff.wait(1, Some(asked)) >= asked);
    }
}
