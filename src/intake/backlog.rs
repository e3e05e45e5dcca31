//! Back-pressure: the number of deliveries waiting, sampled from the store at most once a
//! second so the intake's hot path never waits on a count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::store::Store;

/// Pending deliveries, as last sampled.
#[derive(Default)]
pub struct Backlog {
    pending: AtomicU64,
    sampled_at_ms: AtomicI64,
    sampling: AtomicBool,
}

impl Backlog {
    /// `Err(pending)` when the backlog is over `max`; starts a new sample when due.
    pub fn check(self: &Arc<Self>, store: &Arc<dyn Store>, max: u64) -> Result<(), u64> {
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        if now_ms - self.sampled_at_ms.load(Ordering::Relaxed) > 1_000
            && !self.sampling.swap(true, Ordering::AcqRel)
        {
            let (me, store) = (self.clone(), store.clone());
            tokio::spawn(async move {
                if let Ok(stats) = store.queue_stats().await {
                    me.pending
                        .store(stats.pending + stats.in_flight, Ordering::Relaxed);
                    metrics::gauge!("itsm_bridge_queue_depth", "state" => "pending")
                        .set(stats.pending as f64);
                    metrics::gauge!("itsm_bridge_queue_depth", "state" => "in_flight")
                        .set(stats.in_flight as f64);
                    metrics::gauge!("itsm_bridge_dead_letters").set(stats.dead as f64);
                }
                me.sampled_at_ms.store(now_ms, Ordering::Relaxed);
                me.sampling.store(false, Ordering::Release);
            });
        }
        let pending = self.pending.load(Ordering::Relaxed);
        if pending > max { Err(pending) } else { Ok(()) }
    }
}
