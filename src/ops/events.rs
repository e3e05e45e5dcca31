//! Events: list (all, parked, unrouted, discarded; by tenant and event type), replay of
//! parked events with the mapping in force now (one, or every parked event of a tenant), and
//! discard of a parked event that no mapping fix will ever serve.
//!
//! A replay goes through the intake step (`crate::intake::Intake::replay`): an event that
//! maps now gets its deliveries, once — the store settles a parked event only while it is
//! still parked, so replaying twice (or from two replicas) never delivers twice; one that
//! still fails stays parked with the new reason.

use crate::domain::{EventId, StoredEvent, TenantId, Timestamp};
use crate::intake::{Intake, IntakeError, Replayed};
use crate::store::{EventQuery, EventState, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("no event {0}")]
    NotFound(EventId),
    #[error("event {0} is not parked")]
    NotParked(EventId),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events matching `q`, newest first.
pub async fn list(store: &dyn Store, q: &EventQuery) -> Result<Vec<StoredEvent>, EventsError> {
    Ok(store.list_events(q).await?)
}

/// Replays one parked event with the current mapping.
pub async fn replay(
    store: &dyn Store,
    intake: &Intake,
    id: EventId,
    now: Timestamp,
) -> Result<Replayed, EventsError> {
    let e = store.event(id).await?.ok_or(EventsError::NotFound(id))?;
    if e.disposition.parked.is_none() {
        return Err(EventsError::NotParked(id));
    }
    let r = intake.replay(&e, now).await?;
    if !r.settled {
        // Settled by a concurrent replay between our read and our write.
        return Err(EventsError::NotParked(id));
    }
    Ok(r)
}

/// Discards a parked event: it stays (with why it was parked) until retention purges it as
/// done, and can no longer be replayed. Refused when it is not parked (any more): a concurrent
/// replay or discard won.
pub async fn discard(store: &dyn Store, id: EventId, now: Timestamp) -> Result<(), EventsError> {
    let e = store.event(id).await?.ok_or(EventsError::NotFound(id))?;
    if !store.discard_parked(id, now).await? {
        return Err(EventsError::NotParked(id));
    }
    tracing::info!(event.id = %id, tenant = %e.tenant, "parked event discarded");
    Ok(())
}

/// Replays every parked event (of `tenant`, when given), oldest first, so the events of one
/// ticket reach its queue in the order they were received. Failures are reported per event
/// and do not stop the others.
pub async fn replay_parked(
    store: &dyn Store,
    intake: &Intake,
    tenant: Option<&TenantId>,
    now: Timestamp,
) -> Result<Vec<(EventId, Result<Replayed, EventsError>)>, EventsError> {
    let mut ids = Vec::new();
    let mut before = None;
    loop {
        let q = EventQuery {
            tenant: tenant.cloned(),
            before,
            limit: PAGE,
            state: Some(EventState::Parked),
            ..EventQuery::default()
        };
        let page = store.list_events(&q).await?;
        ids.extend(page.iter().map(|e| e.id));
        match page.last() {
            Some(e) if page.len() == PAGE as usize => before = Some(e.id),
            _ => break,
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    // Ids are UUIDv7: ascending is the order of acceptance.
    for id in ids.into_iter().rev() {
        let r = match store.event(id).await? {
            Some(e) => intake.replay(&e, now).await.map_err(EventsError::from),
            None => Err(EventsError::NotFound(id)),
        };
        out.push((id, r));
    }
    Ok(out)
}

/// Parked events read per page.
const PAGE: u32 = 500;
