//! Pure types and rules of the gateway, with no I/O.
//!
//! Everything that crosses a room boundary is named here: ids as newtypes, the event the
//! ingress accepts, the call a mapping plans, the delivery the dispatcher works on, the link
//! between an ITSM ticket and an Orange object, and the retry maths (with `now` passed in).
//! `domain` depends on nothing else in the crate.

pub mod adf;
pub mod call;
pub mod delivery;
pub mod echo;
pub mod event;
pub mod ids;
pub mod link;
pub mod observation;
pub mod outcome;
pub mod retry;

pub use call::{ItsmCall, ItsmOp, Lookup, OrangeApi, OrangeCall, OrangeOp, Target};
pub use delivery::{
    Attempt, AttemptOutcome, CREATE_OUTCOME_UNKNOWN, Delivery, DeliveryState, NO_LINK, NewDelivery,
};
pub use event::{
    Discarded, Disposition, IngestOutcome, NewEvent, ParkReason, Parked, Routing, SourceKind,
    StoredEvent,
};
pub use ids::{DeliveryId, EventId, IdError, SourceName, TenantId, TicketKey};
pub use link::{Link, RemoteState};
pub use observation::{Observation, ObservedChange};
pub use outcome::{CallFailure, FailureClass, classify_status};
pub use retry::{RetryPolicy, UNKNOWN_TENANT_HOLD};

/// Wall-clock instant used everywhere in the domain (UTC).
pub type Timestamp = time::OffsetDateTime;
