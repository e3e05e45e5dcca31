//! Events accepted at ingress, as the store keeps them.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{EventId, NewDelivery, SourceName, TenantId, TicketKey, Timestamp};

/// What kind of system sends a source's webhooks; decides authentication defaults, schema and
/// default dedupe/ticket keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Servicenow,
    Jira,
    Generic,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Servicenow => "servicenow",
            Self::Jira => "jira",
            Self::Generic => "generic",
        }
    }
}

/// An authenticated, parsed and mapped webhook, ready to be committed with its deliveries.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: EventId,
    pub tenant: TenantId,
    pub source: SourceName,
    /// Redeliveries carry the same key; the store accepts a key once per tenant and source.
    pub dedupe_key: String,
    pub ticket: TicketKey,
    /// Event type as the mapping saw it (`jira:issue_updated`, `insert`, …), for operators.
    pub event_type: String,
    /// The raw body, byte-exact.
    pub body: Bytes,
    /// The headers that matter (signature and secrets removed).
    pub headers: Vec<(String, String)>,
    pub received_at: Timestamp,
    /// The calls the mapping planned, in order. Empty when the event matched no route or is
    /// parked: it is still kept (and deduplicated) but nothing is sent.
    pub deliveries: Vec<NewDelivery>,
    /// Why nothing is sent, when nothing is: skipped, unrouted or parked.
    pub disposition: Disposition,
    /// The ticket's human number or key (ServiceNow `number`, Jira issue key), when the event
    /// carries one: the store keeps it the first time it sees it, so an operator can name the
    /// ticket by it (`ticket show acme INC0012345`).
    pub ticket_number: Option<String>,
    /// Which routes of the mapping the event took, or why it was skipped (ticket timeline).
    pub routing: Routing,
}

/// Why an event planned no call, kept with it so operators can see it, count it and (when
/// parked) replay it once the mapping is fixed. The default is an event whose calls were
/// planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposition {
    /// Why nothing is sent: a matched route's `skip:`, or `no route matches event …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// No route matched the event (whether it was then skipped or parked).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unrouted: bool,
    /// The event waits for a mapping fix; `None` when it is not parked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked: Option<Parked>,
}

impl Disposition {
    /// Calls were planned.
    pub fn routed() -> Self {
        Self::default()
    }
    /// A parked event, with why.
    pub fn parked(p: Parked) -> Self {
        Self {
            parked: Some(p),
            ..Self::default()
        }
    }
}

/// Why an event is parked: the tenant's mapping cannot handle it (the sender cannot fix
/// that, so it is kept and answered 202 instead of a 4xx that the ITSM would not retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    pub reason: ParkReason,
    /// What failed, for the operator.
    pub detail: String,
    /// The mapping rule that failed (`routes[1].then[0].set.priority`), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// JSON pointer in the event that failed (`/issue/fields/priority/name`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

/// The reasons an event is parked: a metric label and the `parked` of the 202 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParkReason {
    /// The event does not match its source's event schema.
    SchemaViolation,
    /// A mapping rule failed (a value not in a table without default, a missing path, …).
    MappingRejected,
    /// The call the mapping rendered breaks Orange's request schema.
    OrangeSchemaViolation,
    /// No route matched and the mapping says `unrouted: park`.
    Unrouted,
}

impl ParkReason {
    /// Every reason, in declaration order.
    pub const ALL: [Self; 4] = [
        Self::SchemaViolation,
        Self::MappingRejected,
        Self::OrangeSchemaViolation,
        Self::Unrouted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchemaViolation => "schema-violation",
            Self::MappingRejected => "mapping-rejected",
            Self::OrangeSchemaViolation => "orange-schema-violation",
            Self::Unrouted => "unrouted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What the mapping decided for an event, kept with it for the ticket timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// Names of the routes whose `when` held, in the order they were taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// Why nothing is sent (`no route matches event …`, a route's `skip:` reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Outcome of committing an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Durably committed now.
    Accepted(EventId),
    /// The dedupe key was seen before; this is the id of the first event, nothing was created.
    Duplicate(EventId),
}

impl IngestOutcome {
    pub fn event_id(self) -> EventId {
        match self {
            Self::Accepted(id) | Self::Duplicate(id) => id,
        }
    }
    pub fn is_duplicate(self) -> bool {
        matches!(self, Self::Duplicate(_))
    }
}

/// An event read back from the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub id: EventId,
    pub tenant: TenantId,
    pub source: SourceName,
    pub dedupe_key: String,
    pub ticket: TicketKey,
    pub event_type: String,
    #[serde(skip)]
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: Timestamp,
    /// Skipped, unrouted or parked, and why.
    #[serde(flatten)]
    pub disposition: Disposition,
    /// The mapping's decision; `None` for events stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// The ITSM number or key the event carried (`INC0012345`, `OPS-1287`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<String>,
    /// Set once an operator discarded the event while it was parked: it is then neither
    /// parked nor replayable, and retention purges it like a discarded dead letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded: Option<Discarded>,
}

/// A parked event an operator discarded: why it was parked, and when it was discarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discarded {
    #[serde(flatten)]
    pub parked: Parked,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}
