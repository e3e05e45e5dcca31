//! The values the store's operations take and give: how an attempt ended, filters, links an
//! operator records, retention rules and figures, a ticket's history, queue figures.

use crate::domain::{
    Attempt, Delivery, DeliveryId, EventId, Link, OrangeApi, RemoteState, TenantId, TicketKey,
    Timestamp,
};

/// How an attempt ended, as recorded by [`DeliveryQueue::finish`](super::DeliveryQueue::finish).
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// Delivered. `link` is recorded in the same transaction (creates), and `echoes` are
    /// fingerprints of what was written to an ITSM, kept until `echo_until` so the webhook
    /// that write triggers is recognised as an echo.
    Done {
        link: Option<NewLink>,
        echoes: Vec<String>,
        echo_until: Option<Timestamp>,
    },
    /// Try again at `at` (stored in the row, not slept on).
    Retry { at: Timestamp },
    /// Permanent failure or attempts exhausted: keep it as a dead letter.
    Dead,
    /// Not an attempt: the delivery waits (e.g. for the create of its ticket) until `at`.
    /// `attempt` passed alongside is ignored and the attempt count is not increased.
    Defer { at: Timestamp },
    /// Not an attempt: the ticket has no link; the delivery waits in state `waiting_link`
    /// with `reason` until its link is recorded (which makes it due at once) or `until`, its
    /// deadline, when it is claimed again (and dead-lettered `no-link` if still unlinked).
    WaitLink { until: Timestamp, reason: String },
}

/// A link to record when a create succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub api: OrangeApi,
    pub orange_id: String,
}

/// Filters for listing events (admin API).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub tenant: Option<TenantId>,
    pub ticket: Option<TicketKey>,
    /// Only events with an id lower than this (paging backwards in time).
    pub before: Option<EventId>,
    pub limit: u32,
    /// Only parked, unrouted or discarded events.
    pub state: Option<EventState>,
    /// Only events of this type (as the mapping saw it).
    pub event_type: Option<String>,
}

/// The event states an operator filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    /// Waiting for a mapping fix and a replay.
    Parked,
    /// Matched no route (skipped, or parked by `unrouted: park`).
    Unrouted,
    /// Was parked, and an operator discarded it.
    Discarded,
}

impl EventState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "parked" => Some(Self::Parked),
            "unrouted" => Some(Self::Unrouted),
            "discarded" => Some(Self::Discarded),
            _ => None,
        }
    }
}

/// A link an operator records by hand (`links add`, `POST /admin/v1/links`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualLink {
    pub tenant: TenantId,
    pub ticket: TicketKey,
    pub api: OrangeApi,
    pub orange_id: String,
}

/// What [`AdminStore::add_link`](super::AdminStore::add_link) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAdded {
    /// Recorded; `woken` deliveries that waited for it are due now.
    Added { woken: u64 },
    /// The ticket already had exactly this link (nothing changed).
    Unchanged,
    /// Refused: the ticket is linked to another object, or the object to another ticket.
    Conflict(Link),
}

/// What retention keeps: rows finished before these instants go (`None`: kept for ever).
/// Discarded deliveries count as done. Links and remote states are never purged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeRules {
    /// Events whose deliveries are all done (or discarded) before this, and parked events
    /// discarded before this.
    pub done_before: Option<Timestamp>,
    /// Events that planned no delivery, received before this.
    pub skipped_before: Option<Timestamp>,
    /// Dead letters (with their events) dead before this.
    pub dead_before: Option<Timestamp>,
    /// Events (or write-backs) looked at per step: one short transaction each.
    pub batch: u32,
}

/// Where a purge pass is. First the events that planned no delivery, by id: whether an event
/// has deliveries never changes, so a purger may keep this cursor from one pass to the next.
/// Then the parked events an operator discarded, by id, from the first (few, and a discard may
/// come long after the first phase passed the event). Then every delivery by id, from the first: an event goes with all of its deliveries once
/// each is final and past retention, a write-back (a delivery without an event) on its own.
/// Only what is kept (live deliveries, dead letters) is looked at again by each pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeCursor {
    Skipped { after: Option<EventId> },
    Discarded { after: Option<EventId> },
    Finished { after: Option<DeliveryId> },
}

impl Default for PurgeCursor {
    fn default() -> Self {
        Self::Skipped { after: None }
    }
}

/// Rows deleted (or, in a dry run, that would be) per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeCounts {
    pub events: u64,
    pub deliveries: u64,
    pub attempts: u64,
    /// Rows of the SQLite ticket index (`event_tickets`, `event_tickets_pending`).
    pub ticket_index: u64,
}

impl PurgeCounts {
    pub fn add(&mut self, o: PurgeCounts) {
        self.events += o.events;
        self.deliveries += o.deliveries;
        self.attempts += o.attempts;
        self.ticket_index += o.ticket_index;
    }
    pub fn total(&self) -> u64 {
        self.events + self.deliveries + self.attempts + self.ticket_index
    }
}

/// One step of a purge: what it removed and where the next step starts (`None`: done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeStep {
    pub counts: PurgeCounts,
    pub next: Option<PurgeCursor>,
}

/// Everything the store keeps about one ticket, for its timeline (`ops::timeline`).
#[derive(Debug, Clone, Default)]
pub struct TicketHistory {
    /// The ticket's latest events (at most the limit asked for), oldest first.
    pub events: Vec<crate::domain::StoredEvent>,
    /// True when older events exist beyond the limit.
    pub events_truncated: bool,
    /// The ticket's deliveries (Orange calls and ITSM write-backs), in queue order (`seq`);
    /// at most the limit asked for, the latest ones.
    pub deliveries: Vec<Delivery>,
    /// Attempts of those deliveries, oldest first.
    pub attempts: Vec<(DeliveryId, Attempt)>,
    pub link: Option<Link>,
    pub remote_state: Option<RemoteState>,
    /// What the poller observed, oldest first (at most the limit asked for, the latest).
    pub observations: Vec<crate::domain::Observation>,
    /// The ITSM numbers/keys the ticket was seen with (`INC0012345`, `OPS-1287`).
    pub numbers: Vec<String>,
}

/// Queue figures for metrics and back-pressure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Due or backing off (not counting those waiting for a link).
    pub pending: u64,
    /// Waiting for their ticket's link (`waiting_link`).
    pub waiting_link: u64,
    pub in_flight: u64,
    pub dead: u64,
    /// `created_at` of the oldest pending delivery.
    pub oldest_pending: Option<Timestamp>,
}
