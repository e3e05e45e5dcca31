//! The dispatcher: claims due deliveries from the store under a lease, carries each out
//! (Orange through [`OrangeGateway`], write-backs through [`ItsmWriter`]), records the attempt
//! and moves the delivery on, all in one `finish`.
//!
//! Per-ticket order is the store's job (only the head of a ticket's queue is claimable), so
//! the dispatcher runs whatever it claimed concurrently, bounded by `delivery.concurrency`.
//! A throttled credential never holds a worker slot long: when its budget would make a call
//! wait more than [`DEFER_ABOVE`], the delivery is deferred (no attempt burnt) and the slot
//! goes to other tenants. Write-backs book their ITSM budget before they run and are deferred
//! when it has no room, and each tenant has at most `delivery.per_tenant_concurrency` calls in
//! flight (`fair.rs`).
//!
//! No duplicates: every create that was tried before (whatever the earlier outcome said)
//! first looks for the object at Orange by the ticket's external reference, and a found
//! object is linked instead of created again; every other retried call first reads the
//! linked object back and is not sent again when it is already reflected there.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use crate::config::DeliveryConfig;
use crate::domain::{
    Attempt, AttemptOutcome, CallFailure, Delivery, FailureClass, OrangeCall, Target, Timestamp,
};
use crate::store::{DeliveryQueue, Finish, StoreError};

use outcome::{Outcome, defer, done};
pub use ports::{Booked, Delivered, ItsmWriter, OrangeGateway, Written};

/// A credential queue longer than this defers the delivery instead of waiting in a slot.
pub const DEFER_ABOVE: Duration = Duration::from_millis(500);
/// How long fingerprints of ITSM write-backs are remembered to drop their echo webhooks.
pub const ECHO_TTL: Duration = Duration::from_secs(600);
/// Outcomes waiting to be recorded, per slot, before `run` claims nothing more.
const RECORDING_PER_SLOT: usize = 4;
/// Queue figures are refreshed at most this often by `run`.
const STATS_EVERY: Duration = Duration::from_secs(5);

pub struct Dispatcher {
    store: Arc<dyn DeliveryQueue>,
    orange: Arc<dyn OrangeGateway>,
    itsm: Arc<dyn ItsmWriter>,
    config: DeliveryConfig,
    owner: String,
    links: links::LinkCache,
    fair: Arc<fair::TenantSlots>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn DeliveryQueue>,
        orange: Arc<dyn OrangeGateway>,
        itsm: Arc<dyn ItsmWriter>,
        config: DeliveryConfig,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            store,
            orange,
            itsm,
            owner: owner.into(),
            links: links::LinkCache::default(),
            fair: fair::TenantSlots::new(config.tenant_concurrency(), config.lend),
            config,
        }
    }

    fn lease_until(&self, now: Timestamp) -> Timestamp {
        now + Duration::from_secs(self.config.lease_secs.max(1))
    }

    /// One step: claims up to `concurrency` due deliveries, carries them out concurrently
    /// (those of a tenant beyond its cap are put off) and returns how many were claimed.
    pub async fn tick(&self, now: Timestamp) -> Result<usize, StoreError> {
        let limit = self.config.concurrency.max(1);
        let claimed = self
            .store
            .claim_due(&self.owner, now, self.lease_until(now), limit)
            .await?;
        let n = claimed.len();
        futures_util::future::join_all(claimed.into_iter().map(|d| async move {
            let outcome = match self.fair.enter(&d.tenant) {
                Ok(slot) => {
                    let o = self.attempt(&d, now).await;
                    drop(slot);
                    o
                }
                Err(why) => self.at_cap(&d, now, why),
            };
            self.record(&d, outcome).await;
        }))
        .await;
        Ok(n)
    }

    /// Calls of `tenant` this dispatcher has in flight now (at most
    /// `delivery.per_tenant_concurrency`).
    pub fn tenant_in_flight(&self, tenant: &crate::domain::TenantId) -> usize {
        self.fair.in_flight(tenant)
    }

    /// Publishes queue depth, age of the oldest pending delivery and dead letters.
    pub async fn publish_queue_stats(&self) {
        let Ok(s) = self.store.queue_stats().await else {
            return;
        };
        metrics::gauge!("itsm_bridge_queue_depth", "state" => "pending").set(s.pending as f64);
        metrics::gauge!("itsm_bridge_queue_depth", "state" => "waiting_link")
            .set(s.waiting_link as f64);
        metrics::gauge!("itsm_bridge_queue_depth", "state" => "in_flight").set(s.in_flight as f64);
        metrics::gauge!("itsm_bridge_dead_letters").set(s.dead as f64);
        let age = s
            .oldest_pending
            .map(|t| {
                (time::OffsetDateTime::now_utc() - t)
                    .as_seconds_f64()
                    .max(0.0)
            })
            .unwrap_or(0.0);
        metrics::gauge!("itsm_bridge_oldest_pending_seconds").set(age);
    }

    /// Carries out one claimed delivery (its outcome is not recorded yet); `now` is the clock
    /// of the tick that claimed it.
    async fn attempt(&self, d: &Delivery, now: Timestamp) -> Outcome {
        let link = self.webhook_trace(d).await;
        let span = tracing::info_span!(
            "delivery.attempt",
            tenant = %d.tenant,
            delivery.id = %d.id,
            attempt = d.attempts + 1,
            target = %d.target.label(),
            link = link.as_deref().unwrap_or(""),
        );
        async {
            match &d.target {
                Target::Orange(call) => self.orange_outcome(d, call, now).await,
                Target::Itsm(call) => self.itsm_outcome(d, call, now).await,
            }
        }
        .instrument(span)
        .await
    }

    /// The trace context of the webhook that planned `d` (kept with its event), which its
    /// attempt's span links to; `None` when tracing is off (no store read then).
    async fn webhook_trace(&self, d: &Delivery) -> Option<String> {
        use crate::telemetry::otlp::{TRACEPARENT, enabled};
        if !enabled() {
            return None;
        }
        let headers = self.store.event_headers(d.event_id?).await.ok()?;
        headers
            .into_iter()
            .find_map(|(k, v)| (k == TRACEPARENT).then_some(v))
    }

    /// An Orange call, in two questions to the gateway: may it go now (else it is put off,
    /// no attempt used), then deliver it on the ticket's link — reading an earlier try back
    /// first when one may have been sent.
    async fn orange_outcome(&self, d: &Delivery, call: &OrangeCall, now: Timestamp) -> Outcome {
        if let Err(wait) = self.orange.admit(&d.tenant, DEFER_ABOVE) {
            return self.put_off(d, now, now + wait, fair::DEFER_ORANGE_BUDGET);
        }
        let started = std::time::Instant::now();
        let linked = match self.linked_object(d, call, now, started).await {
            ControlFlow::Continue(linked) => linked,
            ControlFlow::Break(settled) => return settled,
        };
        // No try was sent before the delivery was queued: `created_at` bounds the first send.
        let earlier = self.may_have_been_sent(d, now).then_some(d.created_at);
        let delivered = self
            .orange
            .deliver(&d.tenant, call, linked.as_deref(), earlier);
        match delivered.await {
            Ok(delivered) => outcome::delivered(d, call, delivered, now, started),
            Err(f) => self.failed(d, now, started, f),
        }
    }

    /// `d` put off until `at` without an attempt (its budget or its tenant's cap has no room),
    /// unless a worker may have died mid-call with it: being overdue by a lease is the only
    /// trace of that, and a deferral would erase it (it moves `next_attempt_at`), so an
    /// attempt of unknown outcome is recorded instead and whoever runs it next reads back
    /// first. Every deferral of a claimed delivery goes through here.
    fn put_off(
        &self,
        d: &Delivery,
        now: Timestamp,
        at: Timestamp,
        reason: &'static str,
    ) -> Outcome {
        if d.attempts == 0 && d.last_error.is_none() && self.may_have_been_sent(d, now) {
            let f = crate::domain::CallFailure {
                class: crate::domain::FailureClass::Unknown,
                http_status: None,
                code: None,
                message: "an earlier claim expired mid-call; its outcome is unknown".into(),
            };
            return self.failed(d, now, std::time::Instant::now(), f);
        }
        fair::count_deferral(reason);
        defer(at)
    }

    /// Whether an earlier claim of `d` may have sent it: it failed before (`last_error`
    /// survives a replay, which resets the count), or it is a lease that expired under a
    /// worker that died mid-call. A delivery is only claimable again once its lease ran out,
    /// so a delivery overdue by a whole lease may be such a one; one claimed sooner cannot.
    fn may_have_been_sent(&self, d: &Delivery, now: Timestamp) -> bool {
        let lease = Duration::from_secs(self.config.lease_secs.max(1));
        d.attempts > 0 || d.last_error.is_some() || now - d.next_attempt_at >= lease
    }

    fn failed(
        &self,
        d: &Delivery,
        now: Timestamp,
        started: std::time::Instant,
        f: CallFailure,
    ) -> Outcome {
        let attempts = d.attempts + 1;
        let end = now + started.elapsed();
        let finish = match f.class {
            FailureClass::Permanent => Finish::Dead,
            _ => match self.config.retry.next_attempt(
                end,
                attempts,
                rand::random::<f64>(),
                f.retry_after(),
            ) {
                Some(at) => Finish::Retry { at },
                None => Finish::Dead,
            },
        };
        let outcome = if matches!(f.class, FailureClass::Permanent) {
            AttemptOutcome::Permanent
        } else {
            AttemptOutcome::Retryable
        };
        let mut error = f.message.clone();
        if f.class == FailureClass::Unknown {
            error.push_str(" (outcome unknown)");
        }
        Outcome {
            attempt: Attempt {
                at: now,
                outcome,
                http_status: f.http_status,
                error_code: f.code.clone(),
                error: Some(error),
                latency_ms: started.elapsed().as_millis() as u64,
            },
            finish,
            failure: Some(f),
        }
    }

    fn store_trouble(&self, now: Timestamp, e: StoreError) -> Outcome {
        tracing::warn!(error = %e, "store unavailable while preparing a delivery; deferring");
        defer(now + Duration::from_secs(1))
    }

    async fn record(&self, d: &Delivery, o: Outcome) {
        let label = d.target.label();
        let kind = match (&o.finish, &o.failure) {
            (Finish::Defer { .. } | Finish::WaitLink { .. }, _) => None,
            (Finish::Done { .. }, _) => Some("success"),
            (Finish::Retry { .. }, Some(f)) if f.class == FailureClass::Unknown => Some("unknown"),
            (Finish::Retry { .. }, _) => Some("retryable"),
            (Finish::Dead, Some(f)) if f.retryable() => Some("exhausted"),
            (Finish::Dead, _) => Some("permanent"),
        };
        if let Some(k) = kind {
            metrics::counter!("itsm_bridge_delivery_attempts_total", "target" => label.clone(), "outcome" => k)
                .increment(1);
        }
        let attempt = d.attempts + 1;
        match (&o.finish, &o.failure) {
            (Finish::Retry { at }, Some(f)) => tracing::warn!(
                tenant = %d.tenant, ticket.id = %d.ticket, delivery.id = %d.id, target = %label,
                attempt, http.status = f.http_status, orange.code = f.code.as_deref(),
                next_attempt = %at, "delivery failed, will retry: {}", f.message
            ),
            (Finish::Dead, Some(f)) => tracing::error!(
                tenant = %d.tenant, ticket.id = %d.ticket, delivery.id = %d.id, target = %label,
                attempt, http.status = f.http_status, orange.code = f.code.as_deref(),
                "delivery dead-lettered: {}", f.message
            ),
            _ => {}
        }
        let finished = self
            .store
            .finish(d.id, &self.owner, &o.attempt, o.finish)
            .await;
        match finished {
            Ok(()) => {}
            Err(StoreError::LeaseLost(_)) => tracing::warn!(
                delivery.id = %d.id, "lease lost before the outcome was recorded; another worker owns it"
            ),
            Err(e) => tracing::warn!(
                delivery.id = %d.id, error = %e,
                "outcome could not be recorded; the lease will expire and the delivery run again"
            ),
        }
    }
}

mod fair;
mod links;
mod outcome;
mod ports;
mod pump;
#[cfg(test)]
mod tests;
