//! PostgreSQL store: several replicas share one database.
//!
//! Work is claimed with `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other's
//! claims; per-ticket order holds across replicas through a `tickets` row that appends and
//! head changes lock (see [`ops`]); dedupe is a unique index; leases are rows with an expiry.
//! Ingest is group commit, as on SQLite: concurrent `ingest` calls are written by a writer
//! task in one transaction and answered after its commit (see [`writer`]).

mod group;
mod links;
mod ops;
mod outcomes;
mod purge;
mod writer;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::codec::{EventRow, PreparedEvent, event_cols};
use super::shared::{ClaimJob, FinishJob, rows};
use super::{EventQuery, EventState, StoreError, StoreResult};
use crate::domain::{Delivery, IngestOutcome, StoredEvent};

/// The PostgreSQL implementation of [`super::Store`] (its roles: [`super::shared`]).
pub struct PgStore {
    pool: PgPool,
    /// Events for the group-commit writers (see [`writer`]).
    ingest: mpsc::Sender<writer::Job>,
    /// Outcomes and claims for their group-commit writers (see [`outcomes`]).
    outcomes: mpsc::Sender<outcomes::Job>,
}

impl PgStore {
    /// Connects to a `postgres://` URL (libpq-style parameters such as `sslmode` and
    /// `options=-c search_path=…` are honoured).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            // No `SELECT 1` round trip before every use: a connection that died is found
            // by the statement that uses it (that transaction fails and is retried as any
            // failed write is), and idle connections are closed and replaced by the pool.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        let ingest = writer::spawn(&pool);
        let outcomes = outcomes::spawn(&pool);
        Ok(Self {
            pool,
            ingest,
            outcomes,
        })
    }
}

async fn begin(pool: &PgPool) -> sqlx::Result<Transaction<'_, Postgres>> {
    pool.begin().await
}

super::shared::store_roles!(
    PgStore, backend: "postgres", migrations: "src/store/migrations/postgres",
    pools: { read: pool, write: pool, purge: [pool] },
    sql: {
        waiting_from: " FROM deliveries", jsonb: "::jsonb",
        share_lock: " FOR SHARE", update_lock: " FOR UPDATE"
    }
);

/// What PostgreSQL does its own way (see `shared`): claims that skip locked rows, appends
/// that lock the ticket, ingest through its writer task.
impl PgStore {
    async fn ingest_event(&self, prepared: PreparedEvent) -> StoreResult<IngestOutcome> {
        let (reply, answer) = oneshot::channel();
        self.ingest
            .send((prepared, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the ingest writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the ingest writer has stopped".into()))?
    }

    async fn claim(&self, job: ClaimJob) -> StoreResult<Vec<Delivery>> {
        let (reply, answer) = oneshot::channel();
        self.record(outcomes::Job::Claim(job, reply), answer).await
    }

    async fn finish_one(&self, job: FinishJob) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.record(outcomes::Job::Finish(Box::new(job), reply), answer)
            .await
    }

    /// Hands `job` to the outcomes' writers and waits for its answer (sent after the commit).
    async fn record<T>(
        &self,
        job: outcomes::Job,
        answer: oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        let stopped = || StoreError::Unavailable("the outcomes writer has stopped".into());
        self.outcomes.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Pending, waiting for a link, in flight, dead, and the oldest pending's `created_at`.
    async fn queue_counts(&self) -> StoreResult<(i64, i64, i64, i64, Option<i64>)> {
        Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM deliveries \
             WHERE state = 'pending' AND waiting_link IS NULL), \
             (SELECT COUNT(*) FROM deliveries \
             WHERE waiting_link IS NOT NULL AND state = 'pending'), \
             (SELECT COUNT(*) FROM deliveries WHERE state = 'in_flight'), \
             (SELECT COUNT(*) FROM deliveries WHERE state = 'dead'), \
             (SELECT MIN(created_at) FROM deliveries \
             WHERE state = 'pending' AND waiting_link IS NULL)",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn events(&self, q: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        let mut b = sqlx::QueryBuilder::new(concat!(
            "SELECT ",
            event_cols!(),
            " FROM events WHERE 1 = 1"
        ));
        if let Some(t) = &q.tenant {
            b.push(" AND tenant = ").push_bind(t.as_str().to_owned());
        }
        if let Some(t) = &q.ticket {
            // Stored ticket keys hold no NUL (see `text`), and TEXT binds refuse one.
            b.push(" AND ticket = ")
                .push_bind(super::text::strip_nul_ref(t.as_str()).into_owned());
        }
        if let Some(before) = q.before {
            b.push(" AND id < ").push_bind(before.to_string());
        }
        match q.state {
            Some(EventState::Parked) => b.push(" AND parked IS NOT NULL"),
            Some(EventState::Unrouted) => b.push(" AND unrouted"),
            Some(EventState::Discarded) => b.push(" AND discarded_at IS NOT NULL"),
            None => &mut b,
        };
        if let Some(t) = &q.event_type {
            b.push(" AND event_type = ").push_bind(t.clone());
        }
        b.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(q.limit));
        let rs: Vec<EventRow> = b.build_query_as().fetch_all(&self.pool).await?;
        rows(rs)
    }

    async fn ping_db(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
