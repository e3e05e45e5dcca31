//! Dead letters: list, show (with the attempt history), replay (re-rendered with the current
//! mapping), replay all, discard.
//!
//! A replay re-renders the delivery from its stored event with the mapping in force now, so
//! fixing a mapping and replaying is how a 400 from Orange gets delivered. The delivery keeps
//! its place (`seq`) in its ticket's queue; deliveries planned by the poller (no event) and
//! ITSM write-backs replay as they were.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use crate::config::TenantConfig;
use crate::domain::{Attempt, Delivery, DeliveryId, DeliveryState, Target, TenantId, Timestamp};
use crate::mapping::{Incoming, LiveMappings};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("no delivery {0}")]
    NotFound(DeliveryId),
    #[error("delivery {0} is {1}, not dead")]
    NotDead(DeliveryId, &'static str),
    /// The current mapping cannot render the delivery again; fix it, or discard.
    #[error("cannot re-render delivery {id}: {reason}")]
    Render { id: DeliveryId, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A dead letter with its history.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

/// What a replay did.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub id: DeliveryId,
    /// True when the target was re-rendered with the current mapping.
    pub rerendered: bool,
}

/// Dead letters, newest first.
pub async fn list(
    store: &dyn Store,
    tenant: Option<&TenantId>,
    limit: u32,
) -> Result<Vec<Delivery>, DlqError> {
    Ok(store.dead_letters(tenant, limit).await?)
}

/// A delivery (dead or not) with its attempts.
pub async fn show(store: &dyn Store, id: DeliveryId) -> Result<DeadLetter, DlqError> {
    let delivery = store.delivery(id).await?.ok_or(DlqError::NotFound(id))?;
    let attempts = store.attempts(id).await?;
    Ok(DeadLetter { delivery, attempts })
}

/// Puts a dead delivery back in its queue, due now, re-rendered with the current mapping.
pub async fn replay(
    store: &dyn Store,
    mappings: &LiveMappings,
    tenants: &[TenantConfig],
    id: DeliveryId,
    now: Timestamp,
) -> Result<Replayed, DlqError> {
    let d = store.delivery(id).await?.ok_or(DlqError::NotFound(id))?;
    if d.state != DeliveryState::Dead {
        return Err(DlqError::NotDead(id, d.state.as_str()));
    }
    let target = rerender(store, mappings, tenants, &d).await?;
    let rerendered = target.is_some();
    if !store.replay(id, target, now).await? {
        return Err(DlqError::NotDead(id, "no longer dead"));
    }
    tracing::info!(delivery.id = %id, tenant = %d.tenant, ticket.id = %d.ticket, rerendered, "dead letter replayed");
    Ok(Replayed { id, rerendered })
}

/// Replays every dead letter (of `tenant`, when given). Failures are reported per delivery
/// and do not stop the others.
pub async fn replay_all(
    store: &dyn Store,
    mappings: &LiveMappings,
    tenants: &[TenantConfig],
    tenant: Option<&TenantId>,
    now: Timestamp,
) -> Result<Vec<(DeliveryId, Result<Replayed, DlqError>)>, DlqError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    loop {
        let page = store.dead_letters(tenant, 500).await?;
        // Letters that cannot be replayed stay dead: stop when a page brings nothing new.
        let fresh: Vec<_> = page.into_iter().filter(|d| seen.insert(d.id)).collect();
        if fresh.is_empty() {
            return Ok(out);
        }
        for d in fresh {
            let r = replay(store, mappings, tenants, d.id, now).await;
            out.push((d.id, r));
        }
    }
}

/// Marks a dead delivery discarded; later deliveries of its ticket proceed.
pub async fn discard(store: &dyn Store, id: DeliveryId) -> Result<(), DlqError> {
    let d = store.delivery(id).await?.ok_or(DlqError::NotFound(id))?;
    if !store.discard(id).await? {
        return Err(DlqError::NotDead(id, d.state.as_str()));
    }
    tracing::info!(delivery.id = %id, tenant = %d.tenant, ticket.id = %d.ticket, "dead letter discarded");
    Ok(())
}

/// The delivery's target as the current mapping renders its event; `None` to keep it as is.
async fn rerender(
    store: &dyn Store,
    mappings: &LiveMappings,
    tenants: &[TenantConfig],
    d: &Delivery,
) -> Result<Option<Target>, DlqError> {
    let (Some(event_id), Target::Orange(_)) = (d.event_id, &d.target) else {
        return Ok(None);
    };
    let fail = |reason: String| DlqError::Render { id: d.id, reason };
    let event = store
        .event(event_id)
        .await?
        .ok_or_else(|| fail(format!("its event {event_id} is gone")))?;
    let mapping = mappings
        .current()
        .get(&event.tenant, &event.source)
        .ok_or_else(|| fail(format!("no mapping for {}/{}", event.tenant, event.source)))?;
    let kind = tenants
        .iter()
        .find(|t| t.id == event.tenant)
        .and_then(|t| t.sources.get(&event.source))
        .and_then(|s| s.kind_for(&event.source))
        .ok_or_else(|| fail(format!("source {} is no longer configured", event.source)))?;
    let mut headers = HeaderMap::new();
    for (k, v) in &event.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            headers.append(k, v);
        }
    }
    let body: serde_json::Value = serde_json::from_slice(&event.body)
        .map_err(|e| fail(format!("stored body is not JSON: {e}")))?;
    let mapped = mapping
        .apply(&Incoming {
            kind,
            headers: &headers,
            body: &body,
            raw: &event.body,
        })
        .map_err(|e| fail(format!("mapping rejects the event: {e}")))?;
    let position = store
        .event_deliveries(event_id)
        .await?
        .iter()
        .position(|x| x.id == d.id)
        .ok_or_else(|| fail("it is not among its event's deliveries".into()))?;
    let call = mapped.calls.into_iter().nth(position).ok_or_else(|| {
        fail(format!(
            "the current mapping plans no call #{} for this event",
            position + 1
        ))
    })?;
    Ok(Some(Target::Orange(call)))
}
