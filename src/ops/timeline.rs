//! A ticket's whole story, in time order: what the ITSM sent, what the mapping decided, the
//! calls planned and each attempt, the link to Orange, what the poller observed and each
//! write-back to the ITSM. Shared by `itsm-bridge ticket show` and
//! `GET /admin/v1/tickets/{tenant}/{ticket}` (and the console, which renders the same JSON).
//!
//! A ticket is named the way support hears about it: its ITSM number or key (`INC0012345`,
//! `OPS-1287`), its ITSM id (ServiceNow `sys_id`, Jira issue id), its Orange id
//! (`2611M00001`) or its full key (`tenant/source/id`). A name that fits several tickets is
//! answered with the candidates, never with a guess.
//!
//! An event's disposition (what the mapping did with it) is decided in ONE place,
//! [`disposition`]: a new disposition (parked, unrouted, …) is a variant of [`Disposition`],
//! one arm there and one in [`Disposition::summary`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{
    Attempt, AttemptOutcome, Delivery, DeliveryId, DeliveryState, EventId, ItsmOp, Link,
    ObservedChange, RemoteState, SourceName, StoredEvent, Target, TenantId, TicketKey, Timestamp,
};
use crate::store::{Store, StoreError, TicketHistory};

/// Entries of each kind (events, deliveries, observations) a timeline shows by default.
pub const DEFAULT_LIMIT: u32 = 500;
/// The most a caller may ask for.
pub const MAX_LIMIT: u32 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("no tenant {0:?} is configured")]
    UnknownTenant(String),
    #[error(
        "tenant {tenant} has no ticket {name:?} (tried its ITSM numbers and keys, ticket ids and Orange ids)"
    )]
    NotFound { tenant: TenantId, name: String },
    #[error("{name:?} names {} tickets of tenant {tenant}; name one by its full key", .candidates.len())]
    Ambiguous {
        tenant: TenantId,
        name: String,
        candidates: Vec<Candidate>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One of several tickets a name fits.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The full key (`tenant/source/id`), which names it unambiguously.
    pub ticket: TicketKey,
    pub source: String,
    pub ticket_id: String,
    pub numbers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orange_id: Option<String>,
}

/// A ticket's timeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub tenant: TenantId,
    /// The full key (`tenant/source/id`).
    pub ticket: TicketKey,
    pub source: String,
    /// The ITSM's id of the ticket (ServiceNow `sys_id`, Jira issue id).
    pub ticket_id: String,
    /// The ITSM numbers/keys it was seen with (`INC0012345`, `OPS-1287`).
    pub numbers: Vec<String>,
    pub link: Option<Link>,
    /// What the poller last saw of the Orange object.
    pub remote_state: Option<RemoteState>,
    /// True when older entries exist beyond the limit (only the latest are shown).
    pub truncated: bool,
    /// Every step, oldest first.
    pub entries: Vec<Entry>,
}

/// One step of the story.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    #[serde(flatten)]
    pub step: Step,
    /// The step in one line of text, as `ticket show` prints it.
    pub summary: String,
}

impl Entry {
    fn new(at: Timestamp, step: Step) -> Self {
        Self {
            summary: text::summary(&step),
            at,
            step,
        }
    }
}

/// What happened, by `kind`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// The ITSM sent an event, and what the mapping did with it.
    Event {
        #[serde(rename = "eventId")]
        event_id: EventId,
        source: String,
        #[serde(rename = "eventType")]
        event_type: String,
        #[serde(rename = "dedupeKey")]
        dedupe_key: String,
        #[serde(flatten)]
        disposition: Disposition,
    },
    /// A call to Orange planned for an event.
    Call(Planned),
    /// One attempt of a call or a write-back.
    Attempt(Tried),
    /// The ticket was linked to its Orange object (a create succeeded).
    Link {
        api: String,
        #[serde(rename = "orangeId")]
        orange_id: String,
    },
    /// What the poller saw change on the Orange object.
    Observed(ObservedChange),
    /// A write-back to the ITSM planned by the poller.
    WriteBack(Planned),
}

/// A planned call (to Orange) or write-back (to the ITSM), with where it stands now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    pub delivery_id: DeliveryId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// Place in the ticket's queue.
    pub seq: i64,
    /// `orange.incident`, `itsm.servicenow`, …
    pub api: String,
    /// `create_incident`, `servicenow_patch`, …
    pub operation: String,
    pub state: DeliveryState,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One attempt, as recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tried {
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt of the delivery.
    pub number: u32,
    pub operation: String,
    pub outcome: AttemptOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The Orange (or ITSM) error code, when the answer carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
}

/// What the mapping did with an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "disposition", rename_all = "snake_case")]
pub enum Disposition {
    /// Routes matched and planned `calls` calls.
    Routed { routes: Vec<String>, calls: usize },
    /// Kept, but nothing is sent (no route matched, or a route said `skip:`).
    Skipped { reason: String },
    /// Stored before the gateway recorded routing decisions: only the calls are known.
    Unrecorded { calls: usize },
}

impl Disposition {
    /// One line for the terminal.
    pub fn summary(&self) -> String {
        match self {
            Self::Routed { routes, calls } => format!(
                "route {} → {calls} call{}",
                routes
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if *calls == 1 { "" } else { "s" }
            ),
            Self::Skipped { reason } => format!("skipped: {reason}"),
            Self::Unrecorded { calls } => format!("{calls} call(s) (route not recorded)"),
        }
    }
}

/// What the mapping did with `e`, which planned `calls` deliveries. The one place a new
/// disposition (parked, unrouted) is read from the stored event.
pub fn disposition(e: &StoredEvent, calls: usize) -> Disposition {
    match &e.routing {
        Some(r) if calls == 0 => Disposition::Skipped {
            reason: r
                .skipped
                .clone()
                .unwrap_or_else(|| "matched routes planned no call".to_owned()),
        },
        Some(r) => Disposition::Routed {
            routes: r.routes.clone(),
            calls,
        },
        None => Disposition::Unrecorded { calls },
    }
}

/// The source part of a ticket key (`tenant/source/id`).
fn source_of(ticket: &TicketKey) -> String {
    ticket.as_str().split('/').nth(1).unwrap_or("").to_owned()
}

/// The timeline of the ticket `name` names (see [`resolve`]), with at most `limit` entries
/// of each kind (the latest).
pub async fn show(
    store: &dyn Store,
    tenant: &TenantId,
    sources: &[SourceName],
    name: &str,
    limit: u32,
) -> Result<Timeline, TimelineError> {
    let ticket = resolve(store, tenant, sources, name).await?;
    let history = store
        .ticket_history(&ticket, limit.clamp(1, MAX_LIMIT))
        .await?;
    Ok(build(tenant, ticket, history))
}

/// Lays the history out in time order. Entries are first put in the order their causes
/// imply (an event before its calls, an observation before the write-backs it caused), then
/// sorted by time, stably, so steps within one millisecond keep that order.
pub fn build(tenant: &TenantId, ticket: TicketKey, h: TicketHistory) -> Timeline {
    let mut entries = Vec::new();
    let mut by_event: BTreeMap<EventId, Vec<&Delivery>> = BTreeMap::new();
    let mut write_backs = Vec::new();
    for d in &h.deliveries {
        match d.event_id {
            Some(id) => by_event.entry(id).or_default().push(d),
            None => write_backs.push(d),
        }
    }
    for e in &h.events {
        let calls = by_event.remove(&e.id).unwrap_or_default();
        entries.push(Entry::new(
            e.received_at,
            Step::Event {
                event_id: e.id,
                source: e.source.to_string(),
                event_type: e.event_type.clone(),
                dedupe_key: e.dedupe_key.clone(),
                disposition: disposition(e, calls.len()),
            },
        ));
        entries.extend(calls.into_iter().map(planned));
    }
    // Calls of events beyond the limit (older), and write-backs not tied to an event.
    entries.extend(by_event.into_values().flatten().map(planned));
    entries.extend(
        h.observations
            .iter()
            .map(|o| Entry::new(o.at, Step::Observed(o.change.clone()))),
    );
    entries.extend(write_backs.into_iter().map(planned));
    let operations: BTreeMap<DeliveryId, String> = h
        .deliveries
        .iter()
        .map(|d| (d.id, operation(&d.target)))
        .collect();
    let mut tries: BTreeMap<DeliveryId, u32> = BTreeMap::new();
    for (id, a) in &h.attempts {
        let n = tries.entry(*id).or_default();
        *n += 1;
        entries.push(tried(*id, *n, operations.get(id).cloned(), a));
    }
    if let Some(l) = &h.link {
        entries.push(Entry::new(
            l.created_at,
            Step::Link {
                api: l.api.as_str().to_owned(),
                orange_id: l.orange_id.clone(),
            },
        ));
    }
    entries.sort_by_key(|e| e.at);
    Timeline {
        tenant: tenant.clone(),
        source: source_of(&ticket),
        ticket_id: ticket.ticket().to_owned(),
        ticket,
        numbers: h.numbers,
        link: h.link,
        remote_state: h.remote_state,
        truncated: h.events_truncated,
        entries,
    }
}

/// `create_incident`, `servicenow_patch`, `jira_comment`, …
pub fn operation(t: &Target) -> String {
    match t {
        Target::Orange(c) => c.op.name().to_owned(),
        Target::Itsm(c) => match c.op {
            ItsmOp::ServicenowPatch { .. } => "servicenow_patch",
            ItsmOp::JiraComment { .. } => "jira_comment",
            ItsmOp::JiraTransition { .. } => "jira_transition",
            ItsmOp::JiraEdit { .. } => "jira_edit",
        }
        .to_owned(),
    }
}

fn planned(d: &Delivery) -> Entry {
    let p = Planned {
        delivery_id: d.id,
        event_id: d.event_id,
        seq: d.seq,
        api: d.target.label(),
        operation: operation(&d.target),
        state: d.state,
        attempts: d.attempts,
        last_error: d.last_error.clone(),
    };
    Entry::new(
        d.created_at,
        match d.target {
            Target::Orange(_) => Step::Call(p),
            Target::Itsm(_) => Step::WriteBack(p),
        },
    )
}

fn tried(id: DeliveryId, number: u32, operation: Option<String>, a: &Attempt) -> Entry {
    Entry::new(
        a.at,
        Step::Attempt(Tried {
            delivery_id: id,
            number,
            operation: operation.unwrap_or_default(),
            outcome: a.outcome,
            http_status: a.http_status,
            error_code: a.error_code.clone(),
            error: a.error.clone(),
            latency_ms: a.latency_ms,
        }),
    )
}

mod find;
mod text;

pub use find::resolve;

#[cfg(test)]
mod tests;
