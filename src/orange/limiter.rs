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
//!
//! A call costs [`Pacing::cells`] small cells rather than one big one, and the bucket holds
//! [`SLACK`] worth of cells more than the burst. A waiter wakes a little after its cell is due
//! (the timer's granularity); with one big cell and a burst of 1 that lateness is lost for
//! good on every call (GCRA restarts from the late send), which cost 2.5% of the rate at
//! 50/s. The slack lets the next call make it up, and is far smaller than the headroom, so a
//! window still never holds more than the limit.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::RateLimit;

/// Calls are spaced 1.5% wider than `1 / per_second`: Orange counts arrivals, we pace sends,
/// and the jitter between the two (scheduling, connection reuse) must not push a window over.
/// Less the slack, that leaves 13.5 ms of a second for it: with 1% headroom and 1.5 ms slack
/// (8.5 ms), or 1.5% and 3 ms (12 ms), the delivery benchmark saw 51 arrivals in a second at
/// 50/s on a loaded machine.
const HEADROOM: f64 = 1.015;
/// The same when several replicas share a credential (see `bucket_for`).
const SHARED_HEADROOM: f64 = 1.04;
/// How much timer lateness a call may make up (see the module doc); a small part of
/// [`HEADROOM`], which keeps every one-second window within the limit (any slack under 15 ms
/// does, as far as sends go: `r × (1 + slack) < per_second`). Every ms of slack is a ms less
/// for the send-to-arrival jitter: 3 ms won 1–5% of the rate on a host with steal time but let
/// 51 calls arrive in one second, so the limit wins and the slack stays at 1.5 ms.
const SLACK: Duration = Duration::from_micros(1500);
/// The size of a small cell, at most (a call costs `period / cell` of them).
const CELL: Duration = Duration::from_millis(1);

/// The calls per second one of `replicas` replicas may send.
///
/// A bucket paced at `r` calls/s can put `floor(r + r × SLACK) + 1` calls in one second, so
/// each replica paces below the whole number of calls it may have in a window, and the sum
/// over the replicas stays within the limit: `floor(per_second / replicas)`, less headroom.
/// (With fewer calls per second than replicas that cannot hold; each then gets an equal
/// fraction, best effort.)
fn share_per_second(per_second: u32, replicas: u32) -> Option<f64> {
    if per_second == 0 {
        return None;
    }
    let replicas = replicas.max(1);
    // Shares add up exactly to the limit, and each replica's one-cell burst may land in
    // the same second as the others': keep more headroom when the budget is shared.
    let headroom = if replicas > 1 {
        SHARED_HEADROOM
    } else {
        HEADROOM
    };
    let whole = per_second / replicas;
    Some(if whole == 0 {
        f64::from(per_second) / f64::from(replicas) / headroom
    } else {
        f64::from(whole) / headroom
    })
}

/// A bucket and how many of its cells one call costs.
#[derive(Clone)]
struct Pacing {
    bucket: Arc<DefaultDirectRateLimiter>,
    cells: NonZeroU32,
}
pub struct CredentialLimiter {
    /// `None` when the rate is 0 (unlimited, benchmarks only). Rebuilt when the replica
    /// count changes.
    bucket: RwLock<Option<Pacing>>,
    limit: RateLimit,
    /// Replicas sharing this credential's budget (at least 1).
    replicas: AtomicU32,
    paused_until: Mutex<Option<Instant>>,
    /// Callers currently waiting for a cell, to estimate the queue ahead of a new one.
    waiting: AtomicUsize,
    /// When the calls deferred so far (see [`Self::defer_for`]) will have had their turn.
    horizon: Mutex<Option<Instant>>,
    /// Callers take the bucket in turn (the lock is fair): only the first one sleeps on a
    /// timer, the others wait to be woken one by one. Without it every waiter woke at each
    /// cell, and all but one went back to sleep (a thousand wakeups a second at 50/s).
    turn: tokio::sync::Mutex<()>,
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
            horizon: Mutex::new(None),
            turn: tokio::sync::Mutex::new(()),
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
        if let Some(p) = bucket {
            let _turn = self.turn.lock().await;
            // `cells` never exceeds the bucket's capacity (see `bucket_for`).
            if p.bucket.until_n_ready(p.cells).await.is_err() {
                p.bucket.until_ready().await;
            }
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

    /// How long to put off a call that would wait too long for the budget now: until `lead`
    /// before its turn, behind the callers already waiting and the calls deferred before it.
    ///
    /// Each deferral books one call's share of the budget, so a backlog far larger than the
    /// budget comes back at the pace it can be served, each call about once. Without the
    /// booking every deferred call came back after the same short wait, found the queue still
    /// full and was deferred again: at 50/s with a thousand tickets queued that was some 2,000
    /// claims and deferrals a second (two-thirds of a core and a commit each) to send 50
    /// calls. `lead` keeps a few callers waiting when the deferred ones return, so the budget
    /// never idles for want of a caller; it is at most the wait that defers a call.
    pub fn defer_for(&self, lead: Duration) -> Duration {
        let now = Instant::now();
        let queued = now + self.expected_wait();
        let period = match self.per_second {
            0 => Duration::ZERO,
            r => Duration::from_secs_f64(
                f64::from(self.replicas.load(Ordering::Relaxed).max(1)) / f64::from(r),
            ),
        };
        let mut horizon = self.horizon.lock().unwrap_or_else(|p| p.into_inner());
        // A horizon in the past, or behind the queue, books nothing any more.
        let turn = horizon.filter(|h| *h > queued).unwrap_or(queued) + period;
        *horizon = Some(turn);
        turn.saturating_duration_since(now)
            .saturating_sub(lead)
            .max(period)
    }

    /// Shares the budget among `replicas` live replicas (from the store's heartbeats).
    pub fn set_replicas(&self, replicas: u32) {
        let replicas = replicas.max(1);
        if self.replicas.swap(replicas, Ordering::Relaxed) != replicas {
            let bucket = bucket_for(self.limit, replicas);
            // A new bucket starts full; spend its burst so the change of share never adds
            // calls on top of those the old bucket just allowed.
            if let Some(p) = &bucket {
                while p.bucket.check().is_ok() {}
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

fn bucket_for(limit: RateLimit, replicas: u32) -> Option<Pacing> {
    let (quota, cells) = quota_for(limit, replicas)?;
    Some(Pacing {
        bucket: Arc::new(RateLimiter::direct(quota)),
        cells,
    })
}

/// This replica's quota, in small cells, and the cells one call costs: one call every
/// `replicas / per_second` seconds (plus headroom), the burst divided among the replicas (at
/// least one), plus [`SLACK`].
fn quota_for(limit: RateLimit, replicas: u32) -> Option<(Quota, NonZeroU32)> {
    let period = Duration::from_secs(1).div_f64(share_per_second(limit.per_second, replicas)?);
    let burst = (limit.burst / replicas).max(1);
    let cells = u32::try_from(period.as_nanos() / CELL.as_nanos())
        .unwrap_or(u32::MAX)
        .clamp(1, 1000);
    let cell = period / cells;
    let slack = u32::try_from(SLACK.as_nanos().div_ceil(cell.as_nanos().max(1))).unwrap_or(1);
    let capacity = NonZeroU32::new(burst.saturating_mul(cells).saturating_add(slack))?;
    let quota = Quota::with_period(cell)?.allow_burst(capacity);
    Some((quota, NonZeroU32::new(cells)?))
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

    /// Calls the bucket lets through at once.
    fn immediate_calls(l: &CredentialLimiter) -> usize {
        let p = l.bucket.read().unwrap().clone().unwrap();
        (0..100)
            .take_while(|_| p.bucket.check_n(p.cells).is_ok_and(|r| r.is_ok()))
            .count()
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
        assert_eq!(immediate_calls(&l), 6);
        l.set_replicas(3);
        assert_eq!(
            immediate_calls(&l),
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

    /// Sends every call as early as the quota allows, each `late` after its cell is due,
    /// for `secs` simulated seconds; returns the send times in nanoseconds.
    fn drive(limit: RateLimit, replicas: u32, late: Duration, secs: u64) -> Vec<u64> {
        use governor::clock::{Clock, FakeRelativeClock, Reference};
        let (quota, cells) = quota_for(limit, replicas).unwrap();
        let clock = FakeRelativeClock::default();
        let bucket = RateLimiter::direct_with_clock(quota, clock.clone());
        let start = clock.now();
        let mut sent = Vec::new();
        while clock.now().duration_since(start) < Duration::from_secs(secs).into() {
            match bucket.check_n(cells).unwrap() {
                Ok(()) => {
                    sent.push(Duration::from(clock.now().duration_since(start)).as_nanos() as u64)
                }
                Err(not_until) => clock.advance(not_until.wait_time_from(clock.now()) + late),
            }
        }
        sent
    }

    fn busiest_second(sent: &[u64]) -> usize {
        let mut j = 0;
        (0..sent.len())
            .map(|i| {
                while j < sent.len() && sent[j] - sent[i] < 1_000_000_000 {
                    j += 1;
                }
                j - i
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn late_wakeups_do_not_cost_rate_and_no_second_holds_more_than_the_limit() {
        // One waiter at a time, as at low rates; at high rates many waiters share each wakeup.
        for (per_second, replicas) in [(50, 1), (50, 3), (150, 3), (7, 1), (1000, 1), (5000, 2)] {
            let limit = RateLimit {
                per_second,
                burst: 1,
            };
            let whole = (per_second / replicas) as usize;
            let paced = share_per_second(per_second, replicas).unwrap();
            for late in [
                Duration::ZERO,
                Duration::from_micros(700),
                Duration::from_micros(1900),
            ] {
                if late.as_secs_f64() * paced > 0.1 {
                    continue;
                }
                let sent = drive(limit, replicas, late, 20);
                let achieved = sent.len() as f64 / 20.0;
                assert!(
                    busiest_second(&sent) <= whole,
                    "{per_second}/s over {replicas}: a window held {} calls",
                    busiest_second(&sent)
                );
                assert!(
                    achieved >= paced * 0.995,
                    "{per_second}/s over {replicas}, waking {late:?} late: {achieved}/s of {paced}"
                );
            }
            if replicas == 1 {
                assert!(paced >= f64::from(per_second) * 0.985 - 1e-9);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deferred_calls_come_back_one_turn_apart_behind_the_queue() {
        let l = CredentialLimiter::new(
            RateLimit {
                per_second: 50,
                burst: 1,
            },
            "t",
        );
        let ms = |d: Duration| d.as_millis();
        // 25 callers waiting: half a second of budget.
        l.waiting.store(25, Ordering::Relaxed);
        let lead = Duration::from_millis(250);
        let first = l.defer_for(lead);
        assert_eq!(
            ms(first),
            500 + 20 - 250,
            "behind the queue, `lead` before its turn"
        );
        let later: Vec<u128> = (0..99).map(|_| ms(l.defer_for(lead))).collect();
        assert_eq!(later[0], 290, "the next deferral books the next turn");
        assert_eq!(
            later[98],
            270 + 99 * 20,
            "a hundred deferrals span two seconds"
        );
        // Once those turns have passed, a deferral books from the queue again.
        tokio::time::advance(Duration::from_secs(10)).await;
        l.waiting.store(0, Ordering::Relaxed);
        assert_eq!(ms(l.defer_for(lead)), 20, "never less than one turn");
        // Orange's pause comes first.
        l.pause_for(Duration::from_secs(30));
        assert_eq!(ms(l.defer_for(lead)), 30_000 + 20 - 250);
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
