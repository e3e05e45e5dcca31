//! Group commit: the single task that writes accepted events, delivery outcomes and claims to
//! SQLite.
//!
//! SQLite has one writer and `synchronous=FULL` costs an fsync per commit, so committing each
//! webhook (or each outcome, or each claim) on its own caps throughput at the disk's fsync
//! rate. Instead `ingest`, `finish` and `claim_due` hand their job to this task and wait; it
//! drains whatever is queued (up to [`MAX_BATCH`]), writes it all in ONE transaction, commits,
//! and only then answers every waiter. Nothing is acknowledged before the commit that holds it is
//! durable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::wal::Wal;
use crate::domain::{Attempt, Delivery, DeliveryId, EventId, IngestOutcome};
use crate::store::codec::{PreparedDelivery, PreparedEvent};
use crate::store::{Finish, StoreError, StoreResult};

/// Most jobs committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;
/// Jobs waiting for the writer before callers wait for room (back-pressure).
pub(super) const QUEUE: usize = 4 * MAX_BATCH;

/// The outcome of one delivery attempt, to be recorded by [`super::finish::finish_batch`].
pub(super) struct FinishJob {
    pub id: DeliveryId,
    pub owner: String,
    pub attempt: Attempt,
    pub finish: Finish,
}

/// A claim of due deliveries (see `Store::claim_due`); times in unix milliseconds.
pub(super) struct ClaimJob {
    pub owner: String,
    pub now: i64,
    pub lease_until: i64,
    pub limit: i64,
}

/// What the writer is asked to do, with where to send the answer.
pub(super) enum Job {
    Ingest(
        Box<PreparedEvent>,
        oneshot::Sender<StoreResult<IngestOutcome>>,
    ),
    Finish(Box<FinishJob>, oneshot::Sender<StoreResult<()>>),
    /// Claims ride in the batch too: a claim is a write, and on its own it would cost an
    /// fsync; in the batch it also sees the heads that the batch's outcomes just freed.
    Claim(ClaimJob, oneshot::Sender<StoreResult<Vec<Delivery>>>),
}

/// Runs until every sender (the store) is dropped.
pub(super) async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>, wal: Arc<Wal>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("itsm_bridge_store_commit_batch_size").record(batch.len() as f64);
        match commit(&pool, &batch).await {
            Ok(answers) => answer(batch.drain(..), answers),
            Err(e) if batch.len() == 1 => answer(batch.drain(..), vec![Answer::Failed(e)]),
            Err(e) => {
                // One bad job must not fail its neighbours: commit them one by one.
                tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; retrying jobs one by one");
                for job in batch.drain(..) {
                    let a = match commit(&pool, std::slice::from_ref(&job)).await {
                        Ok(mut a) => a.remove(0),
                        Err(e) => Answer::Failed(e),
                    };
                    answer(std::iter::once(job), vec![a]);
                }
            }
        }
        // Between two batches, with every waiter answered: the log's tail, when asked for.
        wal.restart_if_wanted(&pool).await;
    }
}

/// One job's result, before it is sent to its waiter.
enum Answer {
    Ingested(IngestOutcome),
    Finished,
    Claimed(Vec<Delivery>),
    Failed(StoreError),
}

fn answer(jobs: impl Iterator<Item = Job>, answers: Vec<Answer>) {
    let misfit = || StoreError::Corrupt("writer answered out of order".into());
    for (job, a) in jobs.zip(answers) {
        // A waiter that went away (its request was cancelled) needs no answer.
        let _ = match (job, a) {
            (Job::Ingest(_, reply), Answer::Ingested(o)) => reply.send(Ok(o)).map_err(drop),
            (Job::Finish(_, reply), Answer::Finished) => reply.send(Ok(())).map_err(drop),
            (Job::Claim(_, reply), Answer::Claimed(ds)) => reply.send(Ok(ds)).map_err(drop),
            (Job::Ingest(_, reply), Answer::Failed(e)) => reply.send(Err(e)).map_err(drop),
            (Job::Finish(_, reply), Answer::Failed(e)) => reply.send(Err(e)).map_err(drop),
            (Job::Claim(_, reply), Answer::Failed(e)) => reply.send(Err(e)).map_err(drop),
            (Job::Ingest(_, reply), _) => reply.send(Err(misfit())).map_err(drop),
            (Job::Finish(_, reply), _) => reply.send(Err(misfit())).map_err(drop),
            (Job::Claim(_, reply), _) => reply.send(Err(misfit())).map_err(drop),
        };
    }
}

/// Writes every job of the batch in one transaction; one answer per job, in order.
///
/// Events go in first (so a finish in the same batch moves the head flag onto a delivery
/// appended here), then the outcomes, then the claims. A finish refused because its lease
/// was lost or its delivery is gone has written nothing and fails alone; any other error
/// rolls the whole batch back, and the caller retries its jobs one by one.
async fn commit(pool: &SqlitePool, jobs: &[Job]) -> StoreResult<Vec<Answer>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let events: Vec<&PreparedEvent> = jobs
        .iter()
        .filter_map(|j| match j {
            Job::Ingest(e, _) => Some(&**e),
            Job::Finish(..) | Job::Claim(..) => None,
        })
        .collect();
    let mut ingested = if events.is_empty() {
        Vec::new()
    } else {
        ingest(&mut tx, &events).await?
    }
    .into_iter();
    let finishes: Vec<&FinishJob> = jobs
        .iter()
        .filter_map(|j| match j {
            Job::Finish(f, _) => Some(&**f),
            Job::Ingest(..) | Job::Claim(..) => None,
        })
        .collect();
    let mut finished = if finishes.is_empty() {
        Vec::new()
    } else {
        super::finish::finish_batch(&mut tx, &finishes).await?
    }
    .into_iter();
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let a = match job {
            Job::Ingest(..) => ingested.next().map(Answer::Ingested),
            Job::Finish(..) => finished.next().map(|r| match r {
                Ok(()) => Answer::Finished,
                Err(e) => Answer::Failed(e),
            }),
            // Last, so a claim sees the heads the outcomes above just freed.
            Job::Claim(c, _) => Some(Answer::Claimed(super::ops::claim_in(&mut tx, c).await?)),
        };
        answers.push(a.ok_or_else(|| StoreError::Corrupt("a job without an answer".into()))?);
    }
    tx.commit().await?;
    Ok(answers)
}

/// Rows per multi-row `INSERT`, under SQLite's 32766 bound parameters.
const ROWS_PER_INSERT: usize = 1000;

/// Writes `events` in the open transaction; one outcome per event, in order.
///
/// A batch costs a handful of statements, not a few per event: one multi-row `INSERT … ON
/// CONFLICT DO NOTHING RETURNING id` for the events (a duplicate, also of an event earlier in
/// the same batch, is simply not returned), one lookup of the tickets' current tails, and
/// one multi-row `INSERT` of the deliveries with their `seq` and head flag computed here.
async fn ingest(
    tx: &mut SqliteConnection,
    events: &[&PreparedEvent],
) -> StoreResult<Vec<IngestOutcome>> {
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
            outcomes.push(IngestOutcome::Duplicate(first_event(tx, e).await?));
        }
    }
    insert_deliveries(tx, &accepted).await?;
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

    async fn ingest_batch(pool: &SqlitePool, events: &[&PreparedEvent]) -> Vec<IngestOutcome> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let out = ingest(&mut tx, events).await.unwrap();
        tx.commit().await.unwrap();
        out
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
        let out = ingest_batch(&store.write, &[&a, &b, &c, &d]).await;
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
        ingest_batch(&store.write, &[&e]).await;
        let (seq, head): (i64, bool) =
            sqlx::query_as("SELECT seq, is_head FROM deliveries ORDER BY id DESC LIMIT 1")
                .fetch_one(&store.write)
                .await
                .unwrap();
        assert_eq!((seq, head), (3, false));
    }

    fn done() -> Finish {
        Finish::Done {
            link: None,
            echoes: vec![],
            echo_until: None,
        }
    }

    fn attempt() -> Attempt {
        Attempt {
            at: time::OffsetDateTime::UNIX_EPOCH,
            outcome: crate::domain::AttemptOutcome::Success,
            http_status: Some(201),
            error_code: None,
            error: None,
            latency_ms: 1,
        }
    }

    fn finish_job(id: DeliveryId, owner: &str) -> Job {
        let job = FinishJob {
            id,
            owner: owner.into(),
            attempt: attempt(),
            finish: done(),
        };
        Job::Finish(Box::new(job), oneshot::channel().0)
    }

    #[tokio::test]
    async fn one_batch_commits_events_and_outcomes_and_refuses_a_lost_lease_alone() {
        let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        let first = event("k1", "X");
        ingest_batch(&store.write, &[&first]).await;
        let now = time::OffsetDateTime::UNIX_EPOCH + std::time::Duration::from_secs(60);
        let claimed = store
            .claim_due("w1", now, now + std::time::Duration::from_secs(30), 10)
            .await
            .unwrap();
        let id = claimed[0].id;
        // In one batch: the next event of the same ticket, the outcome of the claimed
        // delivery, a finish by a worker that holds no lease, and one of a delivery that
        // does not exist.
        let jobs = vec![
            Job::Ingest(Box::new(event("k2", "X")), oneshot::channel().0),
            finish_job(id, "w1"),
            finish_job(id, "w2"),
            finish_job(DeliveryId(999), "w1"),
        ];
        let answers = commit(&store.write, &jobs).await.unwrap();
        assert!(matches!(
            answers[0],
            Answer::Ingested(IngestOutcome::Accepted(_))
        ));
        assert!(matches!(answers[1], Answer::Finished));
        assert!(matches!(
            answers[2],
            Answer::Failed(StoreError::LeaseLost(_))
        ));
        assert!(matches!(
            answers[3],
            Answer::Failed(StoreError::NotFound(_))
        ));
        let rows: Vec<(i64, String, bool)> =
            sqlx::query_as("SELECT seq, state, is_head FROM deliveries ORDER BY seq")
                .fetch_all(&store.write)
                .await
                .unwrap();
        assert_eq!(
            rows,
            vec![(1, "done".into(), false), (2, "pending".into(), true)],
            "the delivery appended in the batch became the head when the first was done"
        );
        assert_eq!(store.attempts(id).await.unwrap().len(), 1);
    }
}
