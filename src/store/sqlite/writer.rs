//! Group commit: the single task that writes accepted events to SQLite.
//!
//! SQLite has one writer and `synchronous=FULL` costs an fsync per commit, so committing each
//! webhook on its own caps ingest at the disk's fsync rate. Instead `ingest` hands its event to
//! this task and waits; the task drains whatever is queued (up to [`MAX_BATCH`]), writes it all
//! in ONE transaction, commits, and only then answers every waiter. Nothing is acknowledged
//! before the commit that holds it is durable.

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::domain::{EventId, IngestOutcome};
use crate::store::codec::{PreparedDelivery, PreparedEvent};
use crate::store::{StoreError, StoreResult};

/// Most events committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;
/// Events waiting for the writer before `ingest` callers wait for room (back-pressure).
pub(super) const QUEUE: usize = 4 * MAX_BATCH;

pub(super) type Reply = oneshot::Sender<StoreResult<IngestOutcome>>;
pub(super) type Job = (PreparedEvent, Reply);

/// Runs until every sender (the store) is dropped.
pub(super) async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("store_commit_batch_size").record(batch.len() as f64);
        let events: Vec<&PreparedEvent> = batch.iter().map(|(e, _)| e).collect();
        match commit(&pool, &events).await {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some((_, reply)) = batch.pop() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                // One bad event must not fail its neighbours: commit them one by one.
                tracing::warn!(error = %e, events = batch.len(), "group commit failed; retrying events one by one");
                for (event, reply) in batch.drain(..) {
                    let r = commit(&pool, &[&event]).await.map(|mut o| o.remove(0));
                    let _ = reply.send(r);
                }
            }
        }
    }
}

/// Writes `events` in one transaction; one outcome per event, in order.
async fn commit(pool: &SqlitePool, events: &[&PreparedEvent]) -> StoreResult<Vec<IngestOutcome>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(events.len());
    for e in events {
        outcomes.push(insert_event(&mut tx, e).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Inserts one event and its deliveries, or finds the first event with its dedupe key (also
/// when that first event is earlier in the same batch: it is already in the transaction).
async fn insert_event(
    conn: &mut SqliteConnection,
    e: &PreparedEvent,
) -> StoreResult<IngestOutcome> {
    let inserted = sqlx::query(
        "INSERT INTO events (id, tenant, source, dedupe_key, ticket, event_type, body, headers, \
         received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (tenant, source, dedupe_key) DO NOTHING",
    )
    .bind(&e.id)
    .bind(&e.tenant)
    .bind(&e.source)
    .bind(&e.dedupe_key)
    .bind(&e.ticket)
    .bind(&e.event_type)
    .bind(e.body.as_ref())
    .bind(&e.headers)
    .bind(e.received_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        let first: String = sqlx::query_scalar(
            "SELECT id FROM events WHERE tenant = ? AND source = ? AND dedupe_key = ?",
        )
        .bind(&e.tenant)
        .bind(&e.source)
        .bind(&e.dedupe_key)
        .fetch_one(&mut *conn)
        .await?;
        let first = EventId::parse(&first)
            .map_err(|err| StoreError::Corrupt(format!("event id {first:?}: {err}")))?;
        return Ok(IngestOutcome::Duplicate(first));
    }
    for d in &e.deliveries {
        append(conn, &e.tenant, Some(&e.id), d, e.received_at).await?;
    }
    let id = EventId::parse(&e.id).map_err(|err| StoreError::Corrupt(err.to_string()))?;
    Ok(IngestOutcome::Accepted(id))
}

/// Appends a delivery at the tail of its ticket's queue, due at `due`. Safe because every
/// write goes through the one write connection: `MAX(seq)` cannot race.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    tenant: &str,
    event_id: Option<&str>,
    d: &PreparedDelivery,
    due: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO deliveries (tenant, event_id, ticket, seq, target, state, is_head, \
         attempts, next_attempt_at, created_at) \
         SELECT ?1, ?2, ?3, COALESCE((SELECT MAX(seq) FROM deliveries WHERE ticket = ?3), 0) + 1, \
         ?4, 'pending', NOT EXISTS (SELECT 1 FROM deliveries WHERE ticket = ?3 \
         AND state IN ('pending', 'in_flight')), 0, ?5, ?5",
    )
    .bind(tenant)
    .bind(event_id)
    .bind(&d.ticket)
    .bind(&d.target)
    .bind(due)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
