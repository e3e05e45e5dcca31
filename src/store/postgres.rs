//! PostgreSQL store: several replicas share one database.
//!
//! Work is claimed with `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other's
//! claims; per-ticket order holds across replicas through a `tickets` row that appends and
//! head changes lock (see [`ops`]); dedupe is a unique index; leases are rows with an expiry.
//! Ingest is group commit, as on SQLite: concurrent `ingest` calls are written by a writer
//! task in one transaction and answered after its commit (see [`writer`]).

mod links;
mod ops;
mod purge;
mod writer;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::codec::{DeliveryRow, EventRow, PreparedEvent, delivery_cols, event_cols};
use super::shared::{ClaimJob, FinishJob, rows};
use super::{EventQuery, EventState, StoreError, StoreResult};
use crate::domain::{Delivery, IngestOutcome, StoredEvent};

/// The PostgreSQL implementation of [`super::Store`] (its roles: [`super::shared`]).
pub struct PgStore {
    pool: PgPool,
    /// Events for the group-commit writers (see [`writer`]).
    ingest: mpsc::Sender<writer::Job>,
}

impl PgStore {
    /// Connects to a `postgres://` URL (libpq-style parameters such as `sslmode` and
    /// `options=-c search_path=…` are honoured).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let ingest = writer::spawn(&pool);
        Ok(Self { pool, ingest })
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
        // Heads only (partial indexes), and never beside a live in-flight delivery of the same
        // ticket. Rows another replica is claiming right now are skipped, not waited for; a
        // row claimed and committed meanwhile is re-checked by PostgreSQL against its new
        // version (no longer due) and left out.
        let rs: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "WITH p AS (SELECT id, next_attempt_at AS k FROM deliveries d \
                 WHERE is_head AND state = 'pending' AND next_attempt_at <= $3 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.ticket = d.ticket \
                   AND o.state = 'in_flight' AND o.lease_until > $3) \
                 ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
             e AS (SELECT id, next_attempt_at AS k FROM deliveries d \
                 WHERE is_head AND state = 'in_flight' AND lease_until <= $3 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.ticket = d.ticket \
                   AND o.state = 'in_flight' AND o.id <> d.id AND o.lease_until > $3) \
                 ORDER BY lease_until, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
             pick AS (SELECT id AS pid FROM (SELECT id, k FROM p UNION ALL SELECT id, k FROM e) u \
                 ORDER BY k, id LIMIT $4) \
             UPDATE deliveries SET state = 'in_flight', lease_owner = $1, lease_until = $2 \
             FROM pick WHERE deliveries.id = pick.pid RETURNING ",
            delivery_cols!()
        ))
        .bind(job.owner)
        .bind(job.lease_until)
        .bind(job.now)
        .bind(job.limit)
        .fetch_all(&self.pool)
        .await?;
        rows(rs)
    }

    async fn finish_one(&self, job: FinishJob) -> StoreResult<()> {
        ops::finish(&self.pool, job.id, &job.owner, &job.attempt, job.finish).await
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
