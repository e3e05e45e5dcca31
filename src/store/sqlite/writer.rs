//! Group commit: the single task that writes accepted events to SQLite.
//!
//! SQLite has one writer and `synchronous=FULL` costs an fsync per commit, so committing each
//! webhook on its own caps ingest at the disk's fsync rate. Instead `ingest` hands its event to
//! this task and waits; the task drains whatever is queued (up to [`MAX_BATCH`]), writes it all
//! in ONE transaction, commits, and only then answers every waiter. Nothing is acknowledged
//! before the commit that holds it is durable.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
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

/// Rows per multi-row `INSERT`, under SQLite's 32766 bound parameters.
const ROWS_PER_INSERT: usize = 1000;

/// Writes `events` in one transaction; one outcome per event, in order.
///
/// A batch costs a handful of statements, not a few per event: one multi-row `INSERT … ON
/// CONFLICT DO NOTHING RETURNING id` for the events (a duplicate, also of an event earlier in
/// the same batch, is simply not returned), one lookup of the tickets' current tails, and
/// one multi-row `INSERT` of the deliveries with their `seq` and head flag computed here.
async fn commit(pool: &SqlitePool, events: &[&PreparedEvent]) -> StoreResult<Vec<IngestOutcome>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut inserted: HashSet<String> = HashSet::with_capacity(events.len());
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut b = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (id, tenant, source, dedupe_key, ticket, event_type, body, \
             headers, received_at) ",
        );
        b.push_values(chunk, |mut row, e| {
            row.push_bind(e.id.as_str())
                .push_bind(e.tenant.as_str())
                .push_bind(e.source.as_str())
                .push_bind(e.dedupe_key.as_str())
                .push_bind(e.ticket.as_str())
                .push_bind(e.event_type.as_str())
                .push_bind(e.body.as_ref())
                .push_bind(e.headers.as_str())
                .push_bind(e.received_at);
        });
        b.push(" ON CONFLICT (tenant, source, dedupe_key) DO NOTHING RETURNING id");
        let ids: Vec<String> = b.build_query_scalar().fetch_all(&mut *tx).await?;
        inserted.extend(ids);
    }

    let mut outcomes = Vec::with_capacity(events.len());
    let mut accepted = Vec::with_capacity(events.len());
    for e in events {
        if inserted.contains(&e.id) {
            outcomes.push(IngestOutcome::Accepted(parse_id(&e.id)?));
            accepted.push(*e);
        } else {
            outcomes.push(IngestOutcome::Duplicate(first_event(&mut tx, e).await?));
        }
    }
    insert_deliveries(&mut tx, &accepted).await?;
    tx.commit().await?;
    Ok(outcomes)
}

fn parse_id(id: &str) -> StoreResult<EventId> {
    EventId::parse(id).map_err(|err| StoreError::Corrupt(format!("event id {id:?}: {err}")))
}

/// The event that holds `e`'s dedupe key (committed earlier, or earlier in this batch).
async fn first_event(conn: &mut SqliteConnection, e: &PreparedEvent) -> StoreResult<EventId> {
    let first: String = sqlx::query_scalar(
        "SELECT id FROM events WHERE tenant = ? AND source = ? AND dedupe_key = ?",
    )
    .bind(&e.tenant)
    .bind(&e.source)
    .bind(&e.dedupe_key)
    .fetch_one(&mut *conn)
    .await?;
    parse_id(&first)
}

/// Appends the deliveries of accepted events to their tickets' queues, in batch order.
async fn insert_deliveries(
    conn: &mut SqliteConnection,
    events: &[&PreparedEvent],
) -> StoreResult<()> {
    let rows: Vec<(&PreparedEvent, &PreparedDelivery)> = events
        .iter()
        .flat_map(|e| e.deliveries.iter().map(move |d| (*e, d)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // Current tail of each ticket: last seq, and whether something is still queued.
    let tickets: Vec<&str> = rows
        .iter()
        .map(|(_, d)| d.ticket.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let tickets_json = serde_json::to_string(&tickets)
        .map_err(|e| StoreError::Corrupt(format!("tickets: {e}")))?;
    let tails: Vec<(String, Option<i64>, bool)> = sqlx::query_as(
        "SELECT t.value, (SELECT MAX(seq) FROM deliveries WHERE ticket = t.value), \
         EXISTS (SELECT 1 FROM deliveries WHERE ticket = t.value \
         AND state IN ('pending', 'in_flight')) FROM json_each(?) t",
    )
    .bind(tickets_json)
    .fetch_all(&mut *conn)
    .await?;
    let mut tail: HashMap<String, (i64, bool)> = tails
        .into_iter()
        .map(|(t, seq, busy)| (t, (seq.unwrap_or(0), busy)))
        .collect();
    let mut planned = Vec::with_capacity(rows.len());
    for (e, d) in rows {
        let (seq, busy) = tail.entry(d.ticket.clone()).or_insert((0, false));
        *seq += 1;
        planned.push((e, d, *seq, !*busy));
        *busy = true;
    }
    for chunk in planned.chunks(ROWS_PER_INSERT) {
        let mut b = QueryBuilder::<Sqlite>::new(
            "INSERT INTO deliveries (tenant, event_id, ticket, seq, target, state, is_head, \
             attempts, next_attempt_at, created_at) ",
        );
        b.push_values(chunk, |mut row, (e, d, seq, head)| {
            row.push_bind(e.tenant.as_str())
                .push_bind(e.id.as_str())
                .push_bind(d.ticket.as_str())
                .push_bind(*seq)
                .push_bind(d.target.as_str())
                .push("'pending'")
                .push_bind(*head)
                .push("0")
                .push_bind(e.received_at)
                .push_bind(e.received_at);
        });
        b.build().execute(&mut *conn).await?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        NewDelivery, NewEvent, OrangeCall, OrangeOp, SourceName, Target, TenantId, TicketKey,
    };
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;

    fn event(key: &str, ticket: &str) -> PreparedEvent {
        let tenant = TenantId::parse("t").unwrap();
        let source = SourceName::parse("jira").unwrap();
        let ticket = TicketKey::new(&tenant, &source, ticket);
        let target = Target::Orange(OrangeCall {
            op: OrangeOp::UpdateIncident,
            body: serde_json::json!({}),
            external_ref: None,
            lookups: vec![],
        });
        PreparedEvent::new(NewEvent {
            id: EventId::new(),
            tenant,
            source,
            dedupe_key: key.into(),
            ticket: ticket.clone(),
            event_type: "e".into(),
            body: bytes::Bytes::from_static(b"{}"),
            headers: vec![],
            received_at: time::OffsetDateTime::UNIX_EPOCH,
            deliveries: vec![NewDelivery { ticket, target }],
        })
        .unwrap()
    }

    #[tokio::test]
    async fn one_batch_dedupes_within_itself_and_orders_each_ticket() {
        let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        let (a, b, c, d) = (
            event("k1", "X"),
            event("k1", "X"),
            event("k2", "X"),
            event("k3", "Y"),
        );
        let out = commit(&store.write, &[&a, &b, &c, &d]).await.unwrap();
        let first = EventId::parse(&a.id).unwrap();
        assert_eq!(out[0], IngestOutcome::Accepted(first));
        assert_eq!(out[1], IngestOutcome::Duplicate(first));
        assert!(!out[2].is_duplicate() && !out[3].is_duplicate());
        let rows: Vec<(String, i64, bool)> =
            sqlx::query_as("SELECT ticket, seq, is_head FROM deliveries ORDER BY id")
                .fetch_all(&store.write)
                .await
                .unwrap();
        let rows: Vec<_> = rows.iter().map(|(t, s, h)| (&t[7..], *s, *h)).collect();
        assert_eq!(rows, vec![("X", 1, true), ("X", 2, false), ("Y", 1, true)]);
        // The next batch continues each ticket's sequence behind what is queued.
        let e = event("k4", "X");
        commit(&store.write, &[&e]).await.unwrap();
        let (seq, head): (i64, bool) =
            sqlx::query_as("SELECT seq, is_head FROM deliveries ORDER BY id DESC LIMIT 1")
                .fetch_one(&store.write)
                .await
                .unwrap();
        assert_eq!((seq, head), (3, false));
    }
}
