//! The links the dispatcher has read, kept in memory.
//!
//! Every delivery after a ticket's create needs the ticket's Orange id, and asking the store
//! each time was one database round trip per delivery. A link is never changed or removed
//! once recorded (a ticket keeps its first link), so a link read from the store stays true
//! and can be kept; an absent link is never kept, since another worker may record it at any
//! moment. Only links read back from the store are kept, never what a create reported: a
//! create that lost a race records nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{Link, TicketKey};
use crate::store::{Store, StoreResult};

/// Links kept at most; past it the cache starts again empty (cheap, and rare).
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub(super) struct LinkCache {
    links: Mutex<HashMap<TicketKey, Link>>,
}

impl LinkCache {
    /// The ticket's link, from memory or else from the store.
    pub(super) async fn get(
        &self,
        store: &dyn Store,
        ticket: &TicketKey,
    ) -> StoreResult<Option<Link>> {
        if let Some(l) = self.lock().get(ticket) {
            return Ok(Some(l.clone()));
        }
        let link = store.link(ticket).await?;
        if let Some(l) = &link {
            let mut links = self.lock();
            if links.len() >= CAPACITY {
                links.clear();
            }
            links.insert(ticket.clone(), l.clone());
        }
        Ok(link)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TicketKey, Link>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }
}
