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
}
