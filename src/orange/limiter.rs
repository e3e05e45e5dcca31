//! The outbound budget of one Orange credential: a `governor` token bucket (rate + burst from
//! the config), plus a pause Orange can impose with `Retry-After` on a 429/503.
//!
//! Callers wait for a cell rather than fail: the wait is the back-pressure, and it is recorded
//! in `itsm_bridge_rate_limiter_wait_seconds`. With a burst of `b`, any one-second window holds
//! at most `per_second + b - 1` calls; a burst of 1 keeps every window at `per_second`.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::RateLimit;

/// Cells are spaced 1% wider than `1 / per_second`: Orange counts arrivals, we pace sends,
/// and the jitter between the two (scheduling, connection reuse) must not push a window over.
const HEADROOM: f64 = 1.01;

pub struct CredentialLimiter {
    /// `None` when the rate is 0 (unlimited, benchmarks only).
    bucket: Option<DefaultDirectRateLimiter>,
    paused_until: Mutex<Option<Instant>>,
    /// Callers currently waiting for a cell, to estimate the queue ahead of a new one.
    waiting: AtomicUsize,
    per_second: u32,
    label: String,
}

impl CredentialLimiter {
    pub fn new(limit: RateLimit, label: impl Into<String>) -> Self {
        let bucket = NonZeroU32::new(limit.per_second).and_then(|rate| {
            let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs(1).mul_f64(HEADROOM / f64::from(rate.get()));
            Quota::with_period(period).map(|q| RateLimiter::direct(q.allow_burst(burst)))
        });
        Self {
            bucket,
            paused_until: Mutex::new(None),
            waiting: AtomicUsize::new(0),
            per_second: limit.per_second,
            label: label.into(),
        }
    }

    /// Waits until a call may be sent (after any pause Orange imposed, then for a cell).
    pub async fn until_ready(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _done = Waiting(&self.waiting);
        let started = Instant::now();
        loop {
            let pause = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if let Some(b) = &self.bucket {
            b.until_ready().await;
        }
        let waited = started.elapsed();
        metrics::histogram!("itsm_bridge_rate_limiter_wait_seconds", "credential" => self.label.clone())
            .record(waited.as_secs_f64());
    }

    /// Roughly how long a call started now would wait: Orange's pause, then the callers
    /// already queued for cells. The dispatcher defers work rather than hold a worker slot
    /// that long, so one throttled credential never starves the others.
    pub fn expected_wait(&self) -> Duration {
        let pause = self
            .paused_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|u| u.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        let queued = match self.per_second {
            0 => Duration::ZERO,
            r => {
                Duration::from_secs_f64(self.waiting.load(Ordering::Relaxed) as f64 / f64::from(r))
            }
        };
        pause + queued
    }

    /// Orange asked this credential to slow down: no call is sent before `after` has passed.
    pub fn pause_for(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut p = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_none_or(|cur| cur < until) {
            *p = Some(until);
        }
    }
}

/// Decrements the waiting count however `until_ready` ends (including cancellation).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_holds_calls_back_until_it_ends() {
        let l = CredentialLimiter::new(
            RateLimit {
                per_second: 1000,
                burst: 10,
            },
            "t",
        );
        l.pause_for(Duration::from_millis(200));
        assert!(l.expected_wait() > Duration::from_millis(100));
        let t0 = Instant::now();
        l.until_ready().await;
        assert!(
            t0.elapsed() >= Duration::from_millis(200),
            "the call waited out the pause"
        );
    }
}
