//! Deliveries: one outbound call each, with their state machine and attempt history.
//!
//! ```text
//!  pending ──claim──▶ in_flight ──ok──────────▶ done
//!     ▲                  │ ──retryable──▶ pending (next_attempt_at = backoff)
//!     │                  │ ──permanent / exhausted──▶ dead
//!     └──── replay ──────┴──────────────── dead ──discard──▶ discarded
//! ```
//! A claim is a lease: if the worker dies, the lease expires and the delivery is due again.
//!
//! `waiting_link`: an Orange call whose ticket has no link yet (its create was not delivered,
//! or the ticket predates the gateway) waits at the head of its ticket's queue, without
//! burning attempts, until the link appears (a create delivered, or `links add`) or
//! `delivery.link_wait_secs` passes, when it becomes a dead letter with code `no-link`. It is
//! stored as `pending` with its reason in `waiting_link`, so it keeps its place in the queue.

use serde::{Deserialize, Serialize};

use super::{DeliveryId, EventId, Target, TenantId, TicketKey, Timestamp};

/// The error code of a delivery dead-lettered because its ticket never got a link.
pub const NO_LINK: &str = "no-link";

/// The error code of a create dead-lettered because an earlier try of it may have been applied
/// at Orange and that could not be settled either way.
pub const CREATE_OUTCOME_UNKNOWN: &str = "create-outcome-unknown";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    /// Pending, but waiting for its ticket's link to Orange (see the module doc).
    WaitingLink,
    InFlight,
    Done,
    Dead,
    Discarded,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::WaitingLink => "waiting_link",
            Self::InFlight => "in_flight",
            Self::Done => "done",
            Self::Dead => "dead",
            Self::Discarded => "discarded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "waiting_link" => Self::WaitingLink,
            "in_flight" => Self::InFlight,
            "done" => Self::Done,
            "dead" => Self::Dead,
            "discarded" => Self::Discarded,
            _ => return None,
        })
    }
    /// States after which the delivery no longer holds back later ones of its ticket.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Dead | Self::Discarded)
    }
}

/// A delivery to enqueue, as part of an event (Orange calls) or of a poll cycle (write-backs).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub ticket: TicketKey,
    pub target: Target,
}

/// A delivery as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant: TenantId,
    /// The event it came from; `None` for write-backs planned by the poller.
    pub event_id: Option<EventId>,
    pub ticket: TicketKey,
    /// Order within the ticket: strictly increasing in acceptance order.
    pub seq: i64,
    pub target: Target,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// Last error as the operator should read it.
    pub last_error: Option<String>,
    /// Why it waits for its ticket's link, while it does (state `waiting_link`, or in flight
    /// at its deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_link: Option<String>,
}

/// How one attempt ended, as the dispatcher classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Success,
    Retryable,
    Permanent,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retryable => "retryable",
            Self::Permanent => "permanent",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "success" => Self::Success,
            "retryable" => Self::Retryable,
            "permanent" => Self::Permanent,
            _ => return None,
        })
    }
}

/// One attempt of a delivery, kept for operators (admin API, `dlq show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub outcome: AttemptOutcome,
    /// HTTP status, when a response was received.
    pub http_status: Option<u16>,
    /// Orange (or ITSM) error code from the body, when present.
    pub error_code: Option<String>,
    /// Human-readable error, without secrets or payload bodies.
    pub error: Option<String>,
    pub latency_ms: u64,
}
