//! The dispatcher's loop ([`Dispatcher::run`]): claims ahead of its free slots and starts a
//! claimed delivery as soon as a slot comes free.
//!
//! Each claim is a write (a lease), answered after the store's next commit; so is each
//! outcome. A loop that claimed only when a slot was free, and noticed a free slot only once
//! its outcome was recorded, kept every slot idle for two commits per delivery, and the
//! commit latency, not Orange, bounded throughput. So the loop keeps up to `concurrency`
//! claimed deliveries ready beside the running ones, refills them with one claim in flight
//! at a time while the calls run, and is woken by a call's end, not by its recording.
//!
//! A ready delivery holds its lease while it waits. It waits for one call at most in the
//! common case; one that waited half its lease is released (put off to now, no attempt) so
//! that a call never starts on a lease about to run out. At shutdown the ready ones are
//! released the same way, so another replica takes them at once instead of after the lease.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::fair::Refused;
use super::{Dispatcher, RECORDING_PER_SLOT, STATS_EVERY};
use crate::domain::{Delivery, TenantId};
use crate::store::StoreError;

/// Why a claimed delivery was handed back unstarted (the `reason` of
/// `itsm_bridge_deliveries_deferred_total`).
pub const DEFER_RELEASED: &str = "released";

/// A claimed delivery waiting for a slot, and when it was claimed.
struct Ready {
    delivery: Delivery,
    claimed: Instant,
}

type Claim = std::pin::Pin<Box<dyn Future<Output = Result<Vec<Delivery>, StoreError>> + Send>>;

impl Dispatcher {
    /// Runs until `token` is cancelled: claims ahead of the free slots and starts each claimed
    /// delivery as soon as a slot is free, so neither a slow call nor a commit holds back the
    /// next start (see the module's doc).
    ///
    /// A slot is held for the call, not for recording its outcome: the ticket's next delivery
    /// still waits for that commit (only a head is claimable), other tickets' do not. Outcomes
    /// being recorded are bounded too ([`RECORDING_PER_SLOT`] per slot, ready deliveries
    /// included), so a slow store slows the claims down.
    pub async fn run(self: Arc<Self>, token: CancellationToken) {
        let concurrency = self.config.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let unrecorded = Arc::new(Semaphore::new(concurrency * RECORDING_PER_SLOT));
        let call_ended = Arc::new(Notify::new());
        let idle = Duration::from_millis(self.config.idle_poll_ms.max(1));
        let stale = Duration::from_secs(self.config.lease_secs.max(1)) / 2;
        let batch = (concurrency / 4).max(1);
        let mut ready: VecDeque<Ready> = VecDeque::with_capacity(concurrency);
        let mut claiming: Option<(usize, Claim)> = None;
        // Whether the next claim may go now: the last one was full, or an outcome was
        // recorded since (it may have freed a head), or the idle wait is over.
        let mut may_claim = true;
        let mut tasks = tokio::task::JoinSet::new();
        let mut stats_at = Instant::now();
        let mut idle_from = tokio::time::Instant::now();
        let mut probe_at = Instant::now();
        loop {
            while tasks.try_join_next().is_some() {
                may_claim = true;
            }
            if stats_at.elapsed() >= STATS_EVERY {
                stats_at = Instant::now();
                self.publish_queue_stats().await;
            }
            // Start what is ready, as slots allow; a tenant's delivery that must wait for one
            // of its own calls stays (`held`), the others go past it.
            let mut held: Vec<TenantId> = Vec::new();
            let mut i = 0;
            while i < ready.len() {
                let Ok(unrecorded) = unrecorded.clone().try_acquire_owned() else {
                    break;
                };
                let me = self.clone();
                if ready[i].claimed.elapsed() >= stale {
                    // Waited half its lease: handed back, not started.
                    let Some(Ready { delivery: d, .. }) = ready.remove(i) else {
                        break;
                    };
                    tasks.spawn(async move {
                        me.release(&d).await;
                        drop(unrecorded);
                    });
                    continue;
                }
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let tenant_slot = match self.fair.enter(&ready[i].delivery.tenant) {
                    Ok(s) => s,
                    Err(Refused::Busy) => {
                        if !held.contains(&ready[i].delivery.tenant) {
                            held.push(ready[i].delivery.tenant.clone());
                        }
                        i += 1;
                        continue;
                    }
                    Err(why) => {
                        // Its tenant has its share in flight beside others': put it off,
                        // holding no slot.
                        drop(slot);
                        let Some(Ready { delivery: d, .. }) = ready.remove(i) else {
                            break;
                        };
                        tasks.spawn(async move {
                            let outcome = me.at_cap(&d, time::OffsetDateTime::now_utc(), why);
                            me.record(&d, outcome).await;
                            drop(unrecorded);
                        });
                        continue;
                    }
                };
                let Some(Ready { delivery: d, .. }) = ready.remove(i) else {
                    break;
                };
                let ended = call_ended.clone();
                tasks.spawn(async move {
                    let outcome = me.attempt(&d, time::OffsetDateTime::now_utc()).await;
                    drop((slot, tenant_slot));
                    ended.notify_one();
                    me.record(&d, outcome).await;
                    drop(unrecorded);
                });
            }
            // Claim ahead: enough to fill the ready line, one claim at a time. While a tenant
            // borrows free slots or waits for its own, its older deliveries fill the claims;
            // once per idle wait a claim passes over them, so another tenant's due work is
            // found (and, once its call is in flight, the cap holds again).
            // Not a claim per ended call: each is a statement in the store's batch, so the
            // line is refilled once a quarter of it is free (or it is empty).
            let want = concurrency
                .saturating_sub(ready.len())
                .min(unrecorded.available_permits().saturating_sub(ready.len()));
            let mut skip = self.fair.borrowers();
            for t in held {
                if !skip.contains(&t) {
                    skip.push(t);
                }
            }
            let probing = !skip.is_empty();
            if claiming.is_none() && !token.is_cancelled() {
                let (limit, skip) = if probing && probe_at.elapsed() >= idle {
                    probe_at = Instant::now();
                    (self.fair.cap(), skip)
                } else if may_claim && want > 0 && (want >= batch || ready.is_empty()) {
                    may_claim = false;
                    (want, Vec::new())
                } else {
                    (0, Vec::new())
                };
                if limit > 0 {
                    let me = self.clone();
                    claiming = Some((
                        limit,
                        Box::pin(async move {
                            let now = time::OffsetDateTime::now_utc();
                            me.store
                                .claim_skipping(&me.owner, now, me.lease_until(now), limit, &skip)
                                .await
                        }),
                    ));
                }
            }
            tokio::select! {
                () = token.cancelled() => break,
                (asked, claimed) = async {
                    let (asked, claim) = claiming.as_mut().expect("guarded by the condition");
                    (*asked, claim.await)
                }, if claiming.is_some() => {
                    claiming = None;
                    let claimed = claimed.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "claiming deliveries failed; retrying");
                        Vec::new()
                    });
                    // A full claim: more may be due right now.
                    may_claim = claimed.len() >= asked;
                    if !may_claim {
                        idle_from = tokio::time::Instant::now();
                    }
                    let now = Instant::now();
                    ready.extend(claimed.into_iter().map(|delivery| Ready { delivery, claimed: now }));
                }
                () = call_ended.notified() => {}
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(probe_at + idle)),
                    if probing && claiming.is_none() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => may_claim = true,
                () = tokio::time::sleep_until(idle_from + idle), if !may_claim => {
                    may_claim = true;
                    idle_from = tokio::time::Instant::now();
                }
            }
        }
        // Drain: a claim under way is finished and its deliveries handed back with the other
        // ready ones; in-flight calls finish and are recorded; nothing new is claimed.
        if let Some((_, claim)) = claiming.take()
            && let Ok(claimed) = claim.await
        {
            ready.extend(claimed.into_iter().map(|delivery| Ready {
                delivery,
                claimed: Instant::now(),
            }));
        }
        for Ready { delivery: d, .. } in ready.drain(..) {
            let me = self.clone();
            tasks.spawn(async move { me.release(&d).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Hands a claimed delivery back unstarted: due at once, no attempt used (see
    /// [`Dispatcher::put_off`] for the one case where an attempt of unknown outcome is
    /// recorded instead).
    async fn release(&self, d: &Delivery) {
        let now = time::OffsetDateTime::now_utc();
        let outcome = self.put_off(d, now, now, DEFER_RELEASED);
        self.record(d, outcome).await;
    }
}
