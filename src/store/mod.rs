//! The store: durable state of the gateway behind one trait, at the level of operations.
//!
//! Two implementations share one conformance suite (`tests/it/store_conformance.rs`):
//! [`sqlite::SqliteStore`] (default, one replica, WAL, group commit) and
//! [`postgres::PgStore`] (several replicas; work claimed with `FOR UPDATE SKIP LOCKED`).
//! Callers only ever see `Arc<dyn Store>`; `app.rs` picks the implementation from the URL.
//! When to choose which, and how each keeps its promises: `docs/store.md`.
//!
//! Guarantees every implementation gives:
//! - `ingest` returns only after the event and its deliveries are durably committed, in one
//!   transaction; a dedupe key is accepted once per (tenant, source), across replicas.
//! - `claim_due` never hands one delivery to two owners at once, and only hands out the head
//!   of each ticket's queue: a delivery is claimable only when every earlier delivery of its
//!   ticket (lower `seq`) is final (done, dead or discarded).
//! - `finish` is refused (`StoreError::LeaseLost`) when the caller no longer holds the lease.
//! - Leases expire: a claimed delivery whose lease ran out is due again.
//! - Timestamps are kept to the millisecond (unix milliseconds on both backends).

use async_trait::async_trait;

use crate::domain::{
    Attempt, Delivery, DeliveryId, Disposition, EventId, IngestOutcome, Link, NewDelivery,
    NewEvent, OrangeApi, RemoteState, Target, TenantId, TicketKey, Timestamp,
};

pub mod activity;
pub mod audit;
mod codec;
pub mod postgres;
pub mod sqlite;
pub(crate) mod text;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the operation; callers answer 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The caller's lease on a delivery or a named lease has expired or been taken over.
    #[error("lease lost on {0}")]
    LeaseLost(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored data that cannot be decoded (a bug or a manual edit), never bad user input.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database refused this operation's data (a value it cannot hold, a row too large):
    /// the store is up and retrying the same data will not help; callers answer 500, never
    /// the 503 of an outage.
    #[error("the store refused the data: {0}")]
    Rejected(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            sqlx::Error::Database(db) if text::refuses_data(db.as_ref()) => {
                StoreError::Rejected(db.to_string())
            }
            sqlx::Error::Encode(err) => StoreError::Rejected(err.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

pub use activity::{MinuteCounts, TenantActivity};
pub use audit::{AuditEntry, AuditQuery, NewAudit};

/// What a stand-in store without ticket history answers.
const NO_HISTORY: &str = "this store keeps no ticket history";
/// What a stand-in store without an audit log answers.
const NO_AUDIT: &str = "this store keeps no audit log";

/// How an attempt ended, as recorded by [`Store::finish`].
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
    /// Only parked, or only unrouted, events.
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
}

impl EventState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "parked" => Some(Self::Parked),
            "unrouted" => Some(Self::Unrouted),
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

/// What [`Store::add_link`] did.
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
    /// Events whose deliveries are all done (or discarded) before this.
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
/// Then every delivery by id, from the first: an event goes with all of its deliveries once
/// each is final and past retention, a write-back (a delivery without an event) on its own.
/// Only what is kept (live deliveries, dead letters) is looked at again by each pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeCursor {
    Skipped { after: Option<EventId> },
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

/// The durable state of the gateway. All methods are safe to call concurrently, from any
/// number of tasks and (on PostgreSQL) replicas.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend (`sqlite`, `postgres`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap round trip to the database.
    async fn ping(&self) -> StoreResult<()>;

    // ---- ingress -------------------------------------------------------------------------

    /// Durably commits the event and its deliveries (appended to their tickets' queues, in
    /// order), or reports the first event with the same (tenant, source, dedupe key).
    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome>;

    /// True when a fingerprint of the gateway's own write is still remembered for `tenant`.
    async fn is_echo(
        &self,
        tenant: &TenantId,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;

    // ---- events (admin) ------------------------------------------------------------------

    async fn event(&self, id: EventId) -> StoreResult<Option<crate::domain::StoredEvent>>;
    async fn list_events(&self, q: &EventQuery) -> StoreResult<Vec<crate::domain::StoredEvent>>;
    /// Deliveries planned for an event, in order.
    async fn event_deliveries(&self, id: EventId) -> StoreResult<Vec<Delivery>>;

    /// Records what a replay of a parked event made of it, in one transaction, only while
    /// the event is still parked: its new event type and disposition and, when the current
    /// mapping planned calls, their deliveries appended to their tickets' queues (due at
    /// `now`). `false`, with nothing written, when the event is not parked (any more), so
    /// two replays of one event never deliver twice.
    async fn settle_parked(
        &self,
        id: EventId,
        event_type: &str,
        disposition: Disposition,
        deliveries: Vec<NewDelivery>,
        now: Timestamp,
    ) -> StoreResult<bool>;

    // ---- delivery ------------------------------------------------------------------------

    /// Enqueues deliveries that do not come from an event (poller write-backs).
    async fn enqueue(&self, tenant: &TenantId, deliveries: Vec<NewDelivery>) -> StoreResult<()>;

    /// Leases up to `limit` due deliveries to `owner` until `lease_until`: pending ones with
    /// `next_attempt_at <= now`, and in-flight ones whose lease expired; only the head of each
    /// ticket's queue. Oldest first.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;

    /// Records `attempt` (unless `Defer`) and moves the delivery on; refused with
    /// [`StoreError::LeaseLost`] when `owner` no longer holds it.
    async fn finish(
        &self,
        id: DeliveryId,
        owner: &str,
        attempt: &Attempt,
        finish: Finish,
    ) -> StoreResult<()>;

    async fn delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>>;
    /// Attempt history of a delivery, oldest first.
    async fn attempts(&self, id: DeliveryId) -> StoreResult<Vec<Attempt>>;
    async fn queue_stats(&self) -> StoreResult<QueueStats>;

    // ---- dead letters --------------------------------------------------------------------

    /// Dead deliveries, newest first, optionally for one tenant.
    async fn dead_letters(
        &self,
        tenant: Option<&TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Puts a dead delivery back in its queue, due at `now`, with its attempt count reset and
    /// (when given) a re-rendered target. `false` when it is not dead.
    async fn replay(
        &self,
        id: DeliveryId,
        target: Option<Target>,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Marks a dead delivery discarded. `false` when it is not dead.
    async fn discard(&self, id: DeliveryId) -> StoreResult<bool>;

    // ---- links ---------------------------------------------------------------------------

    async fn link(&self, ticket: &TicketKey) -> StoreResult<Option<Link>>;
    async fn link_by_orange(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        orange_id: &str,
    ) -> StoreResult<Option<Link>>;
    /// Records a link by hand and makes the ticket's deliveries waiting for it due at `now`.
    async fn add_link(&self, link: &ManualLink, now: Timestamp) -> StoreResult<LinkAdded>;
    /// Deliveries waiting for a link, oldest first, optionally for one tenant.
    async fn waiting_link(
        &self,
        tenant: Option<&TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Links of a tenant ordered by ticket key, after `after` (keyset paging).
    async fn list_links(
        &self,
        tenant: &TenantId,
        after: Option<&TicketKey>,
        limit: u32,
    ) -> StoreResult<Vec<Link>>;

    // ---- poller --------------------------------------------------------------------------

    /// Takes or renews the named lease for `owner` until `until`; `false` when another owner
    /// holds an unexpired lease.
    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool>;
    async fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()>;
    async fn watermark(&self, name: &str) -> StoreResult<Option<String>>;
    async fn remote_state(&self, ticket: &TicketKey) -> StoreResult<Option<RemoteState>>;
    /// In one transaction: enqueues the write-backs, stores the remote states and moves the
    /// watermark, so a watermark never passes a change that is not durably queued.
    /// Refused with `LeaseLost` when `owner` no longer holds lease `name`.
    async fn commit_poll(
        &self,
        name: &str,
        owner: &str,
        tenant: &TenantId,
        watermark: Option<&str>,
        states: Vec<(TicketKey, RemoteState)>,
        deliveries: Vec<NewDelivery>,
    ) -> StoreResult<()>;

    /// Open linked objects of `api` for `tenant` that the poller reads one by one, the least
    /// recently checked first (never checked before all), ties by ticket key; at most `limit`.
    /// Objects marked `done` (a final status) are left out.
    async fn links_to_check(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        limit: u32,
    ) -> StoreResult<Vec<Link>>;
    /// Records that the poller read these linked objects at `at`; `true` = the object is in a
    /// final status and [`Store::links_to_check`] no longer offers it. Written after
    /// `commit_poll`, so a crash in between only reads them again.
    async fn mark_checked(&self, checks: Vec<(TicketKey, bool)>, at: Timestamp) -> StoreResult<()>;

    // ---- retention -----------------------------------------------------------------------

    /// One step of a purge pass, in one short transaction: looks at up to `rules.batch` rows
    /// after `cursor` and deletes those past retention (events with their deliveries,
    /// attempts and ticket-index rows; write-backs with their attempts). A dry run deletes
    /// nothing and counts what would go. Never touches links, remote states or anything
    /// not final.
    async fn purge_step(
        &self,
        rules: &PurgeRules,
        cursor: &PurgeCursor,
        dry_run: bool,
    ) -> StoreResult<PurgeStep>;

    // ---- ticket timeline -----------------------------------------------------------------

    /// Tickets of `tenant` named `name`: by the ITSM number or key they were seen with, or by
    /// the Orange id they are linked to. Several when the name is ambiguous; empty when none.
    /// (Naming a ticket by its ITSM id needs the tenant's sources: `ops::timeline` does it.)
    /// The default is for stand-ins that keep no history (test fakes).
    async fn find_tickets(&self, tenant: &TenantId, name: &str) -> StoreResult<Vec<TicketKey>> {
        let _ = (tenant, name);
        Err(StoreError::Unavailable(NO_HISTORY.into()))
    }

    /// Everything kept about `ticket`, with at most `limit` events, deliveries and
    /// observations (the latest ones). Empty when the store has never seen it.
    async fn ticket_history(&self, ticket: &TicketKey, limit: u32) -> StoreResult<TicketHistory> {
        let _ = (ticket, limit);
        Err(StoreError::Unavailable(NO_HISTORY.into()))
    }

    // ---- console -------------------------------------------------------------------------

    /// `tenant`'s events and attempts per minute since `since`, and its queue now.
    async fn tenant_activity(
        &self,
        tenant: &TenantId,
        since: Timestamp,
    ) -> StoreResult<TenantActivity> {
        let _ = (tenant, since);
        Err(StoreError::Unavailable(NO_HISTORY.into()))
    }

    // ---- audit log -----------------------------------------------------------------------

    /// Records an operator action (durably, before answering). The default is for stand-ins
    /// that keep no audit log (test fakes).
    async fn record_audit(&self, entry: &NewAudit) -> StoreResult<()> {
        let _ = entry;
        Err(StoreError::Unavailable(NO_AUDIT.into()))
    }

    /// Recorded actions, newest first, filtered by `q`.
    async fn audit_log(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let _ = q;
        Err(StoreError::Unavailable(NO_AUDIT.into()))
    }

    // ---- replicas ------------------------------------------------------------------------

    /// Records that `replica` is alive until `until`, and returns how many replicas are
    /// alive at `now` (at least 1), so rate budgets can be shared.
    async fn heartbeat(&self, replica: &str, now: Timestamp, until: Timestamp) -> StoreResult<u32>;
}
