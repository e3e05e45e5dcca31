//! The store: durable state of the gateway behind role traits, at the level of operations.
//!
//! Each caller sees the role it plays ([`roles`]: [`IngestStore`], [`DeliveryQueue`],
//! [`PollState`], [`AdminStore`], [`SessionStore`]; the dispatcher reads a ticket's link
//! through [`TicketLinks`], the poller links by Orange object through [`LinkStore`]);
//! [`Store`] combines them for the composition root. Two implementations share one conformance suite
//! (`tests/it/store_conformance.rs`): [`sqlite::SqliteStore`] (default, one replica, WAL,
//! group commit) and [`postgres::PgStore`] (several replicas; work claimed with
//! `FOR UPDATE SKIP LOCKED`). What is the same on both backends — the role impls and every
//! query that differs only in placeholders — is written once in [`shared`]; each backend keeps
//! only what its database does differently. `app.rs` picks the implementation from the URL.
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

pub mod activity;
pub mod audit;
mod codec;
pub mod poll_cycle;
pub mod postgres;
mod roles;
pub(crate) mod sessions;
mod shared;
pub mod sqlite;
pub(crate) mod text;
mod types;

pub use activity::{MinuteCounts, TenantActivity};
pub use audit::{AuditEntry, AuditQuery, NewAudit};
pub use poll_cycle::{CycleOutcome, PollCycle};
pub use roles::{
    AdminStore, DeliveryQueue, IngestStore, LinkStore, PollState, SessionStore, Store, TicketLinks,
};
pub use sessions::ConsoleSession;
pub use types::{
    EventQuery, EventState, Finish, LinkAdded, ManualLink, NewLink, PurgeCounts, PurgeCursor,
    PurgeRules, PurgeStep, QueueStats, TicketHistory,
};

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
