//! Links between an ITSM ticket and the Orange object made for it, and the last Orange state
//! the poller saw for it.

use serde::{Deserialize, Serialize};

use super::{OrangeApi, SourceName, TenantId, TicketKey, Timestamp};

/// ITSM ticket ↔ Orange object (incident id, trouble ticket id, ordering request id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub tenant: TenantId,
    pub source: SourceName,
    pub ticket: TicketKey,
    pub api: OrangeApi,
    pub orange_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// What the poller last saw of a linked Orange object, to diff the next read against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteState {
    pub status: Option<String>,
    /// Ids of Orange notes/comments already pushed (or deliberately skipped).
    pub seen_notes: Vec<String>,
    /// Free-form resolution fields last pushed, to avoid pushing them twice.
    pub resolution: Option<String>,
    /// Ordering request `step` last seen, so each step's way-back rule runs once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// `lastUpdateDate` last seen: a re-read whose object did not move skips its notes read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
}
