//! The links the dispatcher has read, kept in memory, and what it does without one.
//!
//! A call on a ticket without a link (its create is dead, discarded or was never planned, or
//! the ticket predates the gateway) waits in state `waiting_link`, burning no attempt, until
//! the link is recorded (the store makes it due at once) or `delivery.link_wait_secs` passes:
//! claimed at that deadline and still without a link, it becomes a dead letter `no-link`,
//! which `links add` and a replay deliver.
//!
//! Every delivery after a ticket's create needs the ticket's Orange id, and asking the store
//! each time was one database round trip per delivery. A link is never changed or removed
//! once recorded (a ticket keeps its first link), so a link read from the store stays true
//! and can be kept; an absent link is never kept, since another worker may record it at any
//! moment. Only links read back from the store are kept, never what a create reported: a
//! create that lost a race records nothing.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Dispatcher, Outcome, defer, done};
use crate::domain::{
    CallFailure, Delivery, FailureClass, Link, NO_LINK, OrangeApi, OrangeCall, TicketKey, Timestamp,
};
use crate::store::{Finish, StoreResult, TicketLinks};

impl Dispatcher {
    /// The Orange object `call` acts on: none for a create (which needs no link), the linked
    /// one for any other call. `Break` when the link settles the delivery without a call: a
    /// create on a ticket that already has its object is done (creating again would be the
    /// duplicate we promise never to make), a call on an object of another API fails, and a
    /// call on an unlinked ticket waits for its link.
    pub(super) async fn linked_object(
        &self,
        d: &Delivery,
        call: &OrangeCall,
        now: Timestamp,
        started: Instant,
    ) -> ControlFlow<Outcome, Option<String>> {
        let api = call.op.api();
        let existing = match self.links.get(&*self.store, &d.ticket).await {
            Ok(l) => l,
            Err(e) => return ControlFlow::Break(self.store_trouble(now, e)),
        };
        let settled = match existing {
            Some(l) if call.op.creates() && l.api == api => {
                // A replayed or repeated create.
                tracing::info!(tenant = %d.tenant, ticket.id = %d.ticket, orange.id = %l.orange_id,
                    "ticket already linked; create skipped");
                done(now, started, None, Vec::new(), now)
            }
            _ if call.op.creates() => return ControlFlow::Continue(None),
            Some(l) if l.api == api => return ControlFlow::Continue(Some(l.orange_id)),
            Some(l) => {
                let f = CallFailure::permanent(format!(
                    "{} on a ticket linked to the {} API",
                    call.op.name(),
                    l.api.as_str()
                ));
                self.failed(d, now, started, f)
            }
            // Its create has not succeeded: it is dead or discarded (only heads are claimed),
            // or the ticket predates the gateway. Wait for the link without burning attempts,
            // then dead-letter.
            None => self.no_link(d, api, now),
        };
        ControlFlow::Break(settled)
    }

    /// What a call on an unlinked ticket comes to: it starts waiting, goes on waiting until
    /// its deadline, or at the deadline becomes a dead letter `no-link`.
    pub(super) fn no_link(&self, d: &Delivery, api: OrangeApi, now: Timestamp) -> Outcome {
        let wait = Duration::from_secs(self.config.link_wait_secs);
        if d.waiting_link.is_some() && now >= d.next_attempt_at {
            let f = CallFailure {
                class: FailureClass::Permanent,
                http_status: None,
                code: Some(NO_LINK.into()),
                message: format!(
                    "no link to an Orange {} for ticket {} after waiting {} s; link it \
                     (itsm-bridge links add, POST /admin/v1/links) and replay",
                    api.as_str(),
                    d.ticket.ticket(),
                    wait.as_secs()
                ),
            };
            return self.failed(d, now, std::time::Instant::now(), f);
        }
        let until = match &d.waiting_link {
            Some(_) => d.next_attempt_at,
            None => {
                tracing::info!(tenant = %d.tenant, ticket.id = %d.ticket, delivery.id = %d.id,
                    orange.api = api.as_str(), wait_secs = wait.as_secs(),
                    "delivery waits for its ticket's link to Orange");
                now + wait
            }
        };
        let mut o = defer(until);
        o.finish = Finish::WaitLink {
            until,
            reason: format!(
                "ticket {} has no link to an Orange {}: its create was not delivered \
                 (dead, discarded or never planned) or the ticket predates the gateway",
                d.ticket.ticket(),
                api.as_str()
            ),
        };
        o
    }
}

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
        store: &dyn TicketLinks,
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
