//! The store's roles: one trait per kind of caller, each holding only what that caller does.
//!
//! A worker receives the role it plays (the dispatcher an `Arc<dyn DeliveryQueue>`, the
//! poller an `Arc<dyn PollState>`), so its test fake implements that role and nothing else.
//! [`Store`] combines every role for the composition root (`app.rs`), the command line and the
//! conformance suite; `Arc<dyn Store>` turns into any role by upcasting.

use async_trait::async_trait;

use super::{
    AuditEntry, AuditQuery, ConsoleSession, EventQuery, Finish, LinkAdded, ManualLink, NewAudit,
    PollCycle, PurgeCursor, PurgeRules, PurgeStep, QueueStats, StoreResult, TenantActivity,
    TicketHistory,
};
use crate::domain::{
    Attempt, Delivery, DeliveryId, Disposition, EventId, IngestOutcome, Link, NewDelivery,
    NewEvent, OrangeApi, RemoteState, StoredEvent, Target, TenantId, TicketKey, Timestamp,
};

/// A ticket's link to its Orange object: the one read of links the dispatcher makes.
#[async_trait]
pub trait TicketLinks: Send + Sync {
    async fn link(&self, ticket: &TicketKey) -> StoreResult<Option<Link>>;
}

/// Links seen from the Orange side: by Orange object, and all of a tenant's (the poller's
/// reads).
#[async_trait]
pub trait LinkStore: Send + Sync {
    async fn link_by_orange(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        orange_id: &str,
    ) -> StoreResult<Option<Link>>;
    /// Links of a tenant ordered by ticket key, after `after` (keyset paging).
    async fn list_links(
        &self,
        tenant: &TenantId,
        after: Option<&TicketKey>,
        limit: u32,
    ) -> StoreResult<Vec<Link>>;
}

/// The intake's side: events in, echoes recognised, parked events settled.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Durably commits the event and its deliveries (appended to their tickets' queues, in
    /// order), or reports the first event with the same (tenant, source, dedupe key).
    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome>;

    /// Enqueues deliveries that do not come from an event, appended to their tickets' queues
    /// (the poller's write-backs go in with `PollState::commit_poll`; tests and benchmarks
    /// fill a queue with this).
    async fn enqueue(&self, tenant: &TenantId, deliveries: Vec<NewDelivery>) -> StoreResult<()>;

    /// True when a fingerprint of the gateway's own write is still remembered for `tenant`.
    async fn is_echo(
        &self,
        tenant: &TenantId,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;

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
}

/// The dispatcher's side: the queue of deliveries, claimed under a lease and finished (and
/// the link of a delivery's ticket).
#[async_trait]
pub trait DeliveryQueue: TicketLinks {
    /// Leases up to `limit` due deliveries to `owner` until `lease_until`: pending ones with
    /// `next_attempt_at <= now`, and in-flight ones whose lease expired; only the head of each
    /// ticket's queue. Oldest first.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.claim_skipping(owner, now, lease_until, limit, &[])
            .await
    }

    /// [`claim_due`](Self::claim_due), passing over the deliveries of the tenants in `skip`:
    /// the others' due deliveries that wait behind theirs are leased instead.
    async fn claim_skipping(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        skip: &[TenantId],
    ) -> StoreResult<Vec<Delivery>>;

    /// Records `attempt` (unless `Defer`) and moves the delivery on; refused with
    /// [`StoreError::LeaseLost`](super::StoreError::LeaseLost) when `owner` no longer holds it.
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
    /// Queue figures, for metrics and the intake's back-pressure.
    async fn queue_stats(&self) -> StoreResult<QueueStats>;

    /// Records that `replica` is alive until `until`, and returns how many replicas are
    /// alive at `now` (at least 1), so rate budgets can be shared.
    async fn heartbeat(&self, replica: &str, now: Timestamp, until: Timestamp) -> StoreResult<u32>;

    /// The request headers kept with an event (its W3C `traceparent` among them), so a
    /// delivery attempt's span can link to the webhook that planned it. A store that keeps
    /// none (a test fake) answers empty.
    async fn event_headers(&self, _id: EventId) -> StoreResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }
}

/// The poller's side: its named lease, watermarks, the remote states it last saw, and the
/// linked objects it reads one by one.
#[async_trait]
pub trait PollState: LinkStore {
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
    /// final status and [`PollState::links_to_check`] no longer offers it. Written after
    /// `commit_poll`, so a crash in between only reads them again.
    async fn mark_checked(&self, checks: Vec<(TicketKey, bool)>, at: Timestamp) -> StoreResult<()>;
    /// Records how this replica's last cycle of `cycle.tenant` went (replacing its previous
    /// record), and forgets the records of replicas silent for a day.
    async fn record_poll_cycle(&self, cycle: &PollCycle) -> StoreResult<()>;
}

/// The operator's side (admin API, command line, retention): events, dead letters, links by
/// hand, purges and a ticket's timeline.
#[async_trait]
pub trait AdminStore: Send + Sync {
    async fn event(&self, id: EventId) -> StoreResult<Option<StoredEvent>>;
    async fn list_events(&self, q: &EventQuery) -> StoreResult<Vec<StoredEvent>>;
    /// Deliveries planned for an event, in order.
    async fn event_deliveries(&self, id: EventId) -> StoreResult<Vec<Delivery>>;

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
    /// Marks a parked event discarded at `now`: no longer parked (listed, counted or
    /// replayed as such), kept with its reason until retention purges it as done. `false`
    /// when it is not parked (any more).
    async fn discard_parked(&self, id: EventId, now: Timestamp) -> StoreResult<bool>;

    /// Records a link by hand and makes the ticket's deliveries waiting for it due at `now`.
    async fn add_link(&self, link: &ManualLink, now: Timestamp) -> StoreResult<LinkAdded>;
    /// Deliveries waiting for a link, oldest first, optionally for one tenant.
    async fn waiting_link(
        &self,
        tenant: Option<&TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;

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

    /// Tickets of `tenant` named `name`: by the ITSM number or key they were seen with, or by
    /// the Orange id they are linked to. Several when the name is ambiguous; empty when none.
    /// (Naming a ticket by its ITSM id needs the tenant's sources: `ops::timeline` does it.)
    async fn find_tickets(&self, tenant: &TenantId, name: &str) -> StoreResult<Vec<TicketKey>>;

    /// Everything kept about `ticket`, with at most `limit` events, deliveries and
    /// observations (the latest ones). Empty when the store has never seen it.
    async fn ticket_history(&self, ticket: &TicketKey, limit: u32) -> StoreResult<TicketHistory>;

    // ---- console and audit log -------------------------------------------------------------

    /// `tenant`'s events and attempts per minute since `since`, and its queue now.
    async fn tenant_activity(
        &self,
        tenant: &TenantId,
        since: Timestamp,
    ) -> StoreResult<TenantActivity>;
    /// Records an operator action (durably, before answering).
    async fn record_audit(&self, entry: &NewAudit) -> StoreResult<()>;
    /// Recorded actions, newest first, filtered by `q`.
    async fn audit_log(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    /// The last poll cycle of `tenant` each replica recorded, the latest ended first.
    async fn poll_cycles(&self, tenant: &TenantId) -> StoreResult<Vec<PollCycle>>;
}

/// The console's side: signed-in browsers, kept in the database so that every replica knows
/// them and a restart signs no one out. Keyed by a digest of the session id; expiry is the
/// caller's policy, written in `expires_at`.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records a new session, and deletes the sessions expired at its `created_at`.
    async fn start_session(&self, s: &ConsoleSession) -> StoreResult<()>;
    /// The session keyed `id_hash`, unless unknown or expired at `now`.
    async fn session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<ConsoleSession>>;
    /// Moves a live session's last use and expiry on; `false` when it is gone or expired.
    async fn touch_session(
        &self,
        id_hash: &str,
        last_seen: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<bool>;
    /// Ends a session (sign-out, or a token no longer valid); nothing when there is none.
    async fn end_session(&self, id_hash: &str) -> StoreResult<()>;
}

/// The durable state of the gateway: every role, plus what the composition root asks of the
/// database itself. All methods are safe to call concurrently, from any number of tasks and
/// (on PostgreSQL) replicas.
#[async_trait]
pub trait Store:
    IngestStore + DeliveryQueue + PollState + AdminStore + SessionStore + 'static
{
    /// Which backend (`sqlite`, `postgres`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap round trip to the database.
    async fn ping(&self) -> StoreResult<()>;
}
