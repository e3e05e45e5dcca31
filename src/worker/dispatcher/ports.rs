//! What the dispatcher needs of Orange and of the ITSMs, declared here where it is used;
//! `orange::OrangeClients` and `itsm::ItsmClients` implement it, `app.rs` wires them, tests
//! use fakes.
//!
//! Each side is asked two questions per attempt: may the call go now (or how long to put it
//! off), then carry it out. Everything else an attempt needs of Orange — reading an earlier
//! try back before sending again — happens inside the second question.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{CallFailure, ItsmCall, OrangeCall, TenantId, Timestamp};

/// Orange, as the dispatcher sees it, per tenant.
#[async_trait]
pub trait OrangeGateway: Send + Sync + 'static {
    /// Whether a call for `tenant` may go now: `Ok` when its credential's budget would make it
    /// wait at most `max_wait`; otherwise `Err` with how long to put it off — until a little
    /// before its turn (half of `max_wait`), which the deferral books so the budget never
    /// waits for a caller. A tenant without credentials is held, not failed.
    fn admit(&self, tenant: &TenantId, max_wait: Duration) -> Result<(), Duration>;

    /// Carries out `call` (`linked`: the ticket's Orange object, for every call but a
    /// create). With `earlier` set, an earlier try may have been sent (none before that
    /// time): the call is read back first — a create looked up by its external reference,
    /// another call on its linked object — and not sent again when it is already there. A
    /// create whose outcome cannot be settled fails permanently with
    /// [`crate::domain::CREATE_OUTCOME_UNKNOWN`].
    async fn deliver(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: Option<&str>,
        earlier: Option<Timestamp>,
    ) -> Result<Delivered, CallFailure>;
}

/// What a delivered Orange call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Sent now; a create reports the id of the object it made.
    Sent { created_id: Option<String> },
    /// An earlier try was found applied at Orange and the call was not sent again; a create
    /// reports the id of the object that try made.
    AlreadyApplied { created_id: Option<String> },
}

impl Delivered {
    /// The id of the object a create made, now or in an earlier try.
    pub fn created_id(self) -> Option<String> {
        match self {
            Delivered::Sent { created_id } | Delivered::AlreadyApplied { created_id } => created_id,
        }
    }
}

/// What a successful write-back reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Fingerprints of what was written (e.g. `jira-comment:<id>`, a hash of a ServiceNow
    /// work note), remembered so the webhook the write triggers is dropped as an echo.
    pub echo_fingerprints: Vec<String>,
}

/// Room booked in a tenant's ITSM budget for one write-back ([`ItsmWriter::reserve`]); spent
/// by [`ItsmWriter::execute`].
#[derive(Debug, Default)]
#[must_use = "a booking is spent by `execute`"]
pub struct Booked(());

impl Booked {
    /// A booking: made by a writer's `reserve` once its budget has room (or at once, for a
    /// writer without a budget).
    pub fn new() -> Booked {
        Booked(())
    }
}

/// Carries out write-backs into a tenant's ITSM.
#[async_trait]
pub trait ItsmWriter: Send + Sync + 'static {
    /// Books, now and without waiting, the requests `call` makes from the tenant's budget
    /// towards its ITSM; `Err` with how long to put the write-back off when there is no room
    /// (its turn behind the write-backs already put off).
    fn reserve(&self, tenant: &TenantId, call: &ItsmCall) -> Result<Booked, Duration>;

    /// Carries out a write-back whose requests `reserve` booked: it never waits for budget.
    async fn execute(
        &self,
        tenant: &TenantId,
        call: &ItsmCall,
        booked: Booked,
    ) -> Result<Written, CallFailure>;
}
