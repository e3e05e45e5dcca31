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
    /// The calls the mapping planned, in order. Empty when the event matched no route: it is
    /// still kept (and deduplicated) but nothing is sent.
    pub deliveries: Vec<NewDelivery>,
    /// The ticket's human number or key (ServiceNow `number`, Jira issue key), when the event
    /// carries one: the store keeps it the first time it sees it, so an operator can name the
    /// ticket by it (`ticket show acme INC0012345`).
    pub ticket_number: Option<String>,
    /// Which routes of the mapping the event took, or why it was skipped (ticket timeline).
    pub routing: Routing,
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
    /// The mapping's decision; `None` for events stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// The ITSM number or key the event carried (`INC0012345`, `OPS-1287`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<String>,
}
