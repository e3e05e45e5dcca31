//! Retry policy as data plus pure functions: exponential backoff with full jitter and a cap.
//! The next attempt time is stored in the delivery row, never slept on in memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts before a delivery goes to the dead letters (first attempt included).
    pub max_attempts: u32,
    /// Backoff of the first retry, in milliseconds (before jitter).
    pub base_ms: u64,
    /// Upper bound of any backoff, in milliseconds.
    pub cap_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base_ms: 500,
            cap_ms: 300_000,
        }
    }
}

impl RetryPolicy {
    /// Upper bound of the wait before attempt `attempts + 1`, given `attempts` made.
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(32);
        let ms = self.base_ms.saturating_mul(1u64 << exp).min(self.cap_ms);
        Duration::from_millis(ms)
    }

    /// When to try again after `attempts` failed attempts, or `None` when they are exhausted.
    ///
    /// `jitter` is a uniform sample in `[0, 1)` (full jitter); `retry_after` is the server's
    /// demand, which is a floor: we never come back earlier than asked.
    pub fn next_attempt(
        &self,
        now: Timestamp,
        attempts: u32,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Timestamp> {
        if attempts >= self.max_attempts {
            return None;
        }
        let ceiling = self.ceiling(attempts);
        let wait = ceiling.mul_f64(jitter.clamp(0.0, 1.0));
        let wait = retry_after.map_or(wait, |ra| wait.max(ra));
        Some(now + wait)
    }
}

/// How long a delivery of a tenant the gateway does not serve (removed from the config while
/// it had queued work) is put off, using no attempt: it stays queued, never dead-lettered,
/// until the tenant is back or an operator deals with it.
pub const UNKNOWN_TENANT_HOLD: std::time::Duration = std::time::Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    #[test]
    fn backoff_grows_then_caps() {
        let p = RetryPolicy {
            max_attempts: 50,
            base_ms: 100,
            cap_ms: 1_000,
        };
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_millis(1_000));
        assert_eq!(p.ceiling(40), Duration::from_millis(1_000));
    }

    #[test]
    fn full_jitter_stays_below_ceiling() {
        let p = RetryPolicy::default();
        let at = p.next_attempt(t0(), 3, 0.999, None).unwrap();
        assert!(at - t0() <= p.ceiling(3));
        assert_eq!(p.next_attempt(t0(), 3, 0.0, None).unwrap(), t0());
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::default();
        let at = p
            .next_attempt(t0(), 1, 0.0, Some(Duration::from_secs(30)))
            .unwrap();
        assert_eq!(at - t0(), time::Duration::seconds(30));
    }

    #[test]
    fn exhausted_attempts_give_none() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.next_attempt(t0(), 2, 0.5, None).is_some());
        assert!(p.next_attempt(t0(), 3, 0.5, None).is_none());
    }
}
