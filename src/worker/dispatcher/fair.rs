//! Fair slots: no tenant holds the dispatcher's slots against the others.
//!
//! Two rules. A tenant has at most `delivery.per_tenant_concurrency` calls in flight
//! ([`TenantSlots`]): a due delivery of a tenant at its cap is put off without an attempt, so
//! a tenant whose endpoint hangs (each call until its timeout) or who sends a burst fills its
//! own share and leaves the rest to the others. With the default share (the setting unset),
//! a tenant whose calls are the only ones in flight may go on beyond its share into the slots
//! the other tenants' shares leave over (`delivery.lend`, see `DeliveryConfig::for_tenants`),
//! so that each other tenant still finds its share free: slots do not sit idle behind one
//! busy tenant, and its due deliveries wait for its own calls (claimed, not put off) instead
//! of being put off and claimed again. Once another tenant's call is in flight the cap holds
//! again. And a write-back never waits for its tenant's
//! ITSM budget inside a slot: its requests are booked first, and with no room it is put off
//! until its turn ([`Dispatcher::itsm_outcome`]) — as Orange calls are put off when their
//! credential's queue is long.
//!
//! A delivery put off at the cap comes back at the tenant's pace: each deferral books one
//! call's share of the tenant's slots (its average call time over its cap), behind those put
//! off before it, at most [`MAX_CAP_DEFER`] ahead so a recovered endpoint is used again soon.
//! Without the booking a hanging tenant's whole backlog would be claimed and put off again at
//! every turn of the loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::{Delivery, ItsmCall, TenantId, Timestamp};

use super::{Dispatcher, Outcome, done};

/// The longest a delivery is put off because its tenant is at its cap.
pub const MAX_CAP_DEFER: Duration = Duration::from_secs(30);
/// The shortest, so a tenant at its cap is not claimed again at once.
const MIN_CAP_DEFER: Duration = Duration::from_millis(50);
/// An average call time to start from, before a tenant's first call ends.
const FIRST_CALL_TIME: Duration = Duration::from_millis(200);

/// Why a delivery was put off (the `reason` of `itsm_bridge_deliveries_deferred_total`).
pub const DEFER_TENANT_CAP: &str = "tenant_cap";
pub const DEFER_ITSM_BUDGET: &str = "itsm_budget";
pub const DEFER_ORANGE_BUDGET: &str = "orange_budget";

pub fn count_deferral(reason: &'static str) {
    metrics::counter!("itsm_bridge_deliveries_deferred_total", "reason" => reason).increment(1);
}

#[derive(Default)]
struct Load {
    in_flight: usize,
    /// Moving average of this tenant's call times.
    call_time: Option<Duration>,
    /// When the deliveries put off so far will have had their turn.
    horizon: Option<Instant>,
}

/// Calls in flight per tenant, capped.
pub struct TenantSlots {
    cap: usize,
    /// With the default share: how many calls in all a tenant alone may have (the slots the
    /// other tenants' shares leave over); `None` when the cap is set, or nothing is left.
    lend: Option<usize>,
    load: Mutex<HashMap<TenantId, Load>>,
}

/// Why a tenant's delivery cannot start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Beyond its share with no other tenant's call in flight, and the slots it may use
    /// taken: it waits for one of its own calls to end (nothing is put off).
    Busy,
    /// At its cap while other tenants' calls run: put off this long.
    Capped(Duration),
}

/// A tenant's slot, held for one call; released (and the call's time learnt) on drop.
pub struct TenantSlot {
    slots: Arc<TenantSlots>,
    tenant: TenantId,
    since: Instant,
}

impl TenantSlots {
    /// `cap` calls per tenant; with `lend`, a tenant alone may have up to that many.
    pub fn new(cap: usize, lend: Option<usize>) -> Arc<Self> {
        let cap = cap.max(1);
        Arc::new(Self {
            cap,
            lend: lend.filter(|l| *l > cap),
            load: Mutex::default(),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Calls of `tenant` in flight now.
    pub fn in_flight(&self, tenant: &TenantId) -> usize {
        self.lock().get(tenant).map_or(0, |l| l.in_flight)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Load>> {
        self.load.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tenants with more calls in flight than the cap (borrowing the free slots).
    pub fn borrowers(&self) -> Vec<TenantId> {
        self.lock()
            .iter()
            .filter(|(_, l)| l.in_flight > self.cap)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// A slot of `tenant`'s share (or, alone, of the slots it may borrow), or why not.
    pub fn enter(self: &Arc<Self>, tenant: &TenantId) -> Result<TenantSlot, Refused> {
        let mut all = self.lock();
        let total: usize = all.values().map(|l| l.in_flight).sum();
        let load = all.entry(tenant.clone()).or_default();
        let alone = total == load.in_flight;
        let lent = self.lend.filter(|_| alone);
        if load.in_flight < self.cap || lent.is_some_and(|lend| total < lend) {
            load.in_flight += 1;
            gauge(tenant, load.in_flight);
            return Ok(TenantSlot {
                slots: self.clone(),
                tenant: tenant.clone(),
                since: Instant::now(),
            });
        }
        if lent.is_some() {
            return Err(Refused::Busy);
        }
        let now = Instant::now();
        let share = load.call_time.unwrap_or(FIRST_CALL_TIME) / self.cap as u32;
        let turn = load.horizon.filter(|h| *h > now).unwrap_or(now) + share;
        let wait = turn.saturating_duration_since(now);
        if wait <= MAX_CAP_DEFER {
            load.horizon = Some(turn);
        }
        Err(Refused::Capped(wait.clamp(MIN_CAP_DEFER, MAX_CAP_DEFER)))
    }

    fn leave(&self, tenant: &TenantId, took: Duration) {
        let mut all = self.lock();
        if let Some(load) = all.get_mut(tenant) {
            load.in_flight = load.in_flight.saturating_sub(1);
            // A hanging call counts for what it cost; the average follows within a few calls.
            load.call_time = Some(match load.call_time {
                Some(avg) => (avg * 3 + took) / 4,
                None => took,
            });
            gauge(tenant, load.in_flight);
        }
    }
}

fn gauge(tenant: &TenantId, n: usize) {
    metrics::gauge!("itsm_bridge_tenant_calls_in_flight", "tenant" => tenant.to_string())
        .set(n as f64);
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        self.slots.leave(&self.tenant, self.since.elapsed());
    }
}

impl Dispatcher {
    /// A write-back: booked from the tenant's ITSM budget and sent, or put off until its turn
    /// when the budget has no room (no attempt used, no slot held waiting).
    pub(super) async fn itsm_outcome(
        &self,
        d: &Delivery,
        call: &ItsmCall,
        now: Timestamp,
    ) -> Outcome {
        let booked = match self.itsm.reserve(&d.tenant, call) {
            Ok(b) => b,
            Err(wait) => return self.put_off(d, now, now + wait, DEFER_ITSM_BUDGET),
        };
        let started = std::time::Instant::now();
        let r = self.itsm.execute(&d.tenant, call, booked).await;
        let end = now + started.elapsed();
        match r {
            Ok(w) => done(now, started, None, w.echo_fingerprints, end),
            Err(f) => self.failed(d, now, started, f),
        }
    }

    /// The outcome of a delivery put off because its tenant is at its cap (for `Busy`, the
    /// shortest put-off).
    pub(super) fn at_cap(&self, d: &Delivery, now: Timestamp, why: Refused) -> Outcome {
        let wait = match why {
            Refused::Capped(wait) => wait,
            Refused::Busy => MIN_CAP_DEFER,
        };
        tracing::debug!(tenant = %d.tenant, delivery.id = %d.id, cap = self.fair.cap(),
            in_flight = self.fair.in_flight(&d.tenant),
            "tenant at its cap of calls in flight; delivery put off");
        self.put_off(d, now, now + wait, DEFER_TENANT_CAP)
    }
}
