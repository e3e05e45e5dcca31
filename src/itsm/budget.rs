//! One tenant's request budget towards one ITSM (`rate_limit` of its `itsm.servicenow` or
//! `itsm.jira` section): a `governor` token bucket that reads wait for, and write-backs book
//! without waiting.
//!
//! A write-back runs in a dispatcher slot, and a slot spent waiting for a tenant's budget is
//! a slot no other tenant can use. So the dispatcher first books the requests a write-back
//! makes ([`ItsmBudget::try_take`]); with no room it puts the write-back off instead, and
//! each such deferral books its turn behind those put off before it, so a backlog comes back
//! at the pace the budget can serve it (each write-back about once), not all at the next free
//! cell. Reconciliation reads run outside the slots and simply wait ([`ItsmBudget::until_ready`]).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::RateLimit;

/// The shortest deferral: a write-back never comes back sooner than this.
const MIN_DEFER: Duration = Duration::from_millis(5);

pub struct ItsmBudget {
    bucket: DefaultDirectRateLimiter,
    /// The most requests the bucket can grant at once (its burst).
    capacity: NonZeroU32,
    /// One request's share of a second.
    period: Duration,
    /// When the write-backs put off so far will have had their turn.
    horizon: Mutex<Option<Instant>>,
}

impl ItsmBudget {
    pub fn new(rate: RateLimit) -> Self {
        let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
        let capacity = NonZeroU32::new(rate.burst).unwrap_or(per_second);
        Self {
            bucket: RateLimiter::direct(Quota::per_second(per_second).allow_burst(capacity)),
            capacity,
            period: Duration::from_secs(1) / per_second.get(),
            horizon: Mutex::new(None),
        }
    }

    /// Waits for room for one request (reads).
    pub async fn until_ready(&self) {
        self.bucket.until_ready().await;
    }

    /// Takes room for `requests` requests now, or says how long to put them off: until their
    /// turn, behind the write-backs already put off (each books its requests' share).
    pub fn try_take(&self, requests: u32) -> Result<(), Duration> {
        // A call needing more than the burst takes the whole burst; its extra requests are
        // within one burst's pace anyway.
        let n = NonZeroU32::new(requests.min(self.capacity.get())).unwrap_or(NonZeroU32::MIN);
        let wait = match self.bucket.check_n(n) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => not_until.wait_time_from(DefaultClock::default().now()),
            Err(_) => self.period * n.get(),
        };
        let now = Instant::now();
        let free_at = now + wait;
        let mut horizon = self.horizon.lock().unwrap_or_else(|p| p.into_inner());
        // A horizon behind the bucket's own next free cell books nothing any more.
        let turn = horizon.filter(|h| *h > free_at).unwrap_or(free_at);
        *horizon = Some(turn + self.period * n.get());
        Err(turn.saturating_duration_since(now).max(MIN_DEFER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_second: u32, burst: u32) -> ItsmBudget {
        ItsmBudget::new(RateLimit { per_second, burst })
    }

    #[test]
    fn a_write_back_with_no_room_is_put_off_behind_those_put_off_before() {
        let b = budget(1, 2);
        assert_eq!(b.try_take(1), Ok(()), "the burst has room");
        assert_eq!(b.try_take(1), Ok(()));
        let first = b.try_take(1).expect_err("the burst is spent");
        assert!(first > Duration::ZERO && first <= Duration::from_secs(1));
        let second = b.try_take(1).expect_err("still no room");
        assert!(
            second >= first + Duration::from_millis(900),
            "the second deferral books the turn after the first: {first:?} then {second:?}"
        );
        let third = b.try_take(2).expect_err("still no room");
        assert!(third >= second + Duration::from_millis(900));
    }

    #[test]
    fn a_call_of_more_requests_than_the_burst_takes_the_whole_burst() {
        let b = budget(5, 1);
        assert_eq!(b.try_take(2), Ok(()), "never refused for good");
        assert!(b.try_take(1).is_err());
    }
}
