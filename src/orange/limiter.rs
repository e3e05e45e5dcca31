//! The outbound budget of one Orange credential: a `governor` token bucket (rate + burst from
//! the config), plus a pause Orange can impose with `Retry-After` on a 429/503.
//!
//! With several replicas the credential's budget is shared: each replica paces itself at
//! `per_second / replicas` (burst likewise divided), the replica count coming from the
//! store's heartbeats, so the sum over replicas stays within Orange's limit.
//!
//! Callers wait for a cell rather than fail: the wait is the back-pressure, and it is recorded
//! in `itsm_bridge_rate_limiter_wait_seconds`. With a burst of `b`, any one-second window holds
//! at most `per_second + b - 1` calls; a burst of 1 keeps every window at `per_second`.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::RateLimit;

/// Cells are spaced 1% wider than `1 / per_second`: Orange counts arrivals, we pace sends,
/// and the jitter between the two (scheduling, connection reuse) must not push a window over.
const HEADROOM: f64 = 1.01;
/// The same when several replicas share a credential (see `bucket_for`).
const SHARED_HEADROOM: f64 = 1.04;

pub struct CredentialLimiter {
    /// `None` when the rate is 0 (unlimited, benchmarks only). Rebuilt when the replica
    /// count changes.
    bucket: RwLock<Option<Arc<DefaultDirectRateLimiter>>>,
    limit: RateLimit,
    /// Replicas sharing this credential's budget (at least 1).
    replicas: AtomicU32,
    paused_until: Mutex<Option<Instant>>,
    /// Callers currently waiting for a cell, to estimate the queue ahead of a new one.
    waiting: AtomicUsize,
    per_second: u32,
    label: String,
}

impl CredentialLimiter {
    pub fn new(limit: RateLimit, label: impl Into<String>) -> Self {
        Self {
            bucket: RwLock::new(bucket_for(limit, 1)),
            limit,
            replicas: AtomicU32::new(1),
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
        let bucket = self
            .bucket
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(b) = bucket {
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
        let replicas = f64::from(self.replicas.load(Ordering::Relaxed).max(1));
        let queued = match self.per_second {
            0 => Duration::ZERO,
            r => Duration::from_secs_f64(
                self.waiting.load(Ordering::Relaxed) as f64 * replicas / f64::from(r),
            ),
        };
        pause + queued
    }

    /// Shares the budget among `replicas` live replicas (from the store's heartbeats).
    pub fn set_replicas(&self, replicas: u32) {
        let replicas = replicas.max(1);
        if self.replicas.swap(replicas, Ordering::Relaxed) != replicas {
            let bucket = bucket_for(self.limit, replicas);
            // A new bucket starts full; spend its burst so the change of share never adds
            // calls on top of those the old bucket just allowed.
            if let Some(b) = &bucket {
                while b.check().is_ok() {}
            }
            *self.bucket.write().unwrap_or_else(|p| p.into_inner()) = bucket;
            tracing::info!(credential = %self.label, replicas, "rate budget shared among replicas");
        }
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

/// This replica's bucket: one cell every `replicas / per_second` seconds (plus headroom), and
/// the burst divided among the replicas (at least one).
fn bucket_for(limit: RateLimit, replicas: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
    NonZeroU32::new(limit.per_second).and_then(|rate| {
        let burst = NonZeroU32::new(limit.burst / replicas).unwrap_or(NonZeroU32::MIN);
        // Shares add up exactly to the limit, and each replica's one-cell burst may land in
        // the same second as the others': keep more headroom when the budget is shared.
        let headroom = if replicas > 1 {
            SHARED_HEADROOM
        } else {
            HEADROOM
        };
        let period =
            Duration::from_secs(1).mul_f64(headroom * f64::from(replicas) / f64::from(rate.get()));
        Quota::with_period(period).map(|q| Arc::new(RateLimiter::direct(q.allow_burst(burst))))
    })
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

    fn immediate_cells(l: &CredentialLimiter) -> usize {
        let b = l.bucket.read().unwrap().clone().unwrap();
        (0..100).take_while(|_| b.check().is_ok()).count()
    }

    #[test]
    fn the_budget_is_shared_among_replicas() {
        let l = CredentialLimiter::new(
            RateLimit {
                per_second: 10,
                burst: 6,
            },
            "t",
        );
        assert_eq!(immediate_cells(&l), 6);
        l.set_replicas(3);
        assert_eq!(
            immediate_cells(&l),
            0,
            "a new share starts with its burst spent"
        );
        l.set_replicas(0);
        assert_eq!(
            l.replicas.load(Ordering::Relaxed),
            1,
            "never less than one replica"
        );
    }

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
