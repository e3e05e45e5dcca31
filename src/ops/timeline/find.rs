//! Which ticket a name names: its ITSM number or key, its Orange id (both through the store),
//! its ITSM id under one of the tenant's sources, or its full key. Several fits are answered
//! with the candidates.

use std::collections::BTreeSet;

use super::{Candidate, TimelineError, source_of};
use crate::domain::{SourceName, TenantId, TicketKey};
use crate::store::{EventQuery, Store, StoreError};

/// Finds the ticket `name` names in `tenant` (whose configured sources are `sources`).
pub async fn resolve(
    store: &dyn Store,
    tenant: &TenantId,
    sources: &[SourceName],
    name: &str,
) -> Result<TicketKey, TimelineError> {
    let name = name.trim();
    let mut found: BTreeSet<TicketKey> = store
        .find_tickets(tenant, name)
        .await?
        .into_iter()
        .collect();
    // By ITSM id (or full key): a ticket the store knows under one of the tenant's sources.
    let mut keys: Vec<TicketKey> = sources
        .iter()
        .map(|s| TicketKey::new(tenant, s, name))
        .collect();
    if name.starts_with(&format!("{tenant}/")) {
        keys.push(TicketKey::from_stored(name.to_owned()));
    }
    for key in keys {
        if !found.contains(&key) && known(store, &key).await? {
            found.insert(key);
        }
    }
    let mut found: Vec<TicketKey> = found.into_iter().collect();
    match found.len() {
        0 => Err(TimelineError::NotFound {
            tenant: tenant.clone(),
            name: name.to_owned(),
        }),
        1 => Ok(found.remove(0)),
        _ => {
            let mut candidates = Vec::with_capacity(found.len());
            for ticket in found {
                let h = store.ticket_history(&ticket, 1).await?;
                candidates.push(Candidate {
                    source: source_of(&ticket),
                    ticket_id: ticket.ticket().to_owned(),
                    numbers: h.numbers,
                    orange_id: h.link.map(|l| l.orange_id),
                    ticket,
                });
            }
            Err(TimelineError::Ambiguous {
                tenant: tenant.clone(),
                name: name.to_owned(),
                candidates,
            })
        }
    }
}

/// True when the store holds an event or a link of `ticket`.
async fn known(store: &dyn Store, ticket: &TicketKey) -> Result<bool, StoreError> {
    if store.link(ticket).await?.is_some() {
        return Ok(true);
    }
    let q = EventQuery {
        state: None,
        event_type: None,
        tenant: None,
        ticket: Some(ticket.clone()),
        before: None,
        limit: 1,
    };
    Ok(!store.list_events(&q).await?.is_empty())
}
