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
use std::time::{Duration, Instant};

use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::sync::Syncer;
use super::tickets;
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

/// Starts the writer on a thread of its own, where it runs until every sender (the store) is
/// dropped. With a `syncer`, commits are answered after its fsync of the log (see [`super::sync`]);
/// without (an in-memory database), when the commit returns.
///
/// A batch is a handful of round trips between this task and the connection's SQLite thread
/// (`BEGIN`, the inserts, `COMMIT`). On the server's runtime each round trip waited for a
/// worker to come free from the request tasks queued before it — under load, the writer spent
/// more time waiting for its turn than writing, and every webhook waits for the writer. On
/// its own thread (a current-thread runtime) it is woken as soon as SQLite answers.
pub(super) fn spawn(
    pool: SqlitePool,
    rx: mpsc::Receiver<Job>,
    wal: Arc<Wal>,
    syncer: Option<Syncer>,
) -> StoreResult<()> {
    let unavailable =
        |e: std::io::Error| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(unavailable)?;
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || rt.block_on(run(pool, rx, wal, syncer)))
        .map_err(unavailable)?;
    Ok(())
}

/// How long the writer keeps the write connection across back-to-back batches before it lets
/// the store's other writes (links, leases, poll state…) have their turn.
const HOLD: Duration = Duration::from_millis(20);

/// Runs until every sender (the store) is dropped.
///
/// While jobs keep coming the writer keeps the connection from one batch to the next, up to
/// [`HOLD`]: handing it back to the pool and taking it again costs two round trips to SQLite's
/// thread (the pool tests a connection when it is released), and with a syncer, two more to
/// switch the connection to `synchronous=NORMAL` and back to `FULL` — the store's other
/// writes, which answer when their commit returns, only ever get it at `FULL`.
///
/// Between batches it also takes the steps of moving the rows pending for the ticket index
/// (see [`tickets`]) once enough are pending, and when it has nothing to write: at once while
/// a move is under way, after [`tickets::IDLE`] to start one. Rows an earlier process left
/// pending count from the start.
async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>, wal: Arc<Wal>, syncer: Option<Syncer>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut unindexed = match pool.acquire().await {
        Ok(mut conn) => tickets::Pending::left_over(&mut conn).await,
        // The batches will say so.
        Err(_) => tickets::Pending::default(),
    };
    loop {
        let idle = if unindexed.moving() {
            Some(Duration::ZERO)
        } else if unindexed.any() {
            Some(tickets::IDLE)
        } else {
            None
        };
        let received = match idle {
            // `timeout` looks for jobs before it looks at the clock: a zero wait still takes
            // what is queued.
            Some(idle) => {
                match tokio::time::timeout(idle, rx.recv_many(&mut batch, MAX_BATCH)).await {
                    Ok(n) => n,
                    Err(_idle) => {
                        if !syncer.as_ref().is_some_and(Syncer::failed)
                            && let Ok(mut conn) = pool.acquire().await
                        {
                            unindexed.step(&mut conn).await;
                        } else {
                            // Not again at once: that would spin.
                            unindexed.give_up();
                        }
                        continue;
                    }
                }
            }
            None => rx.recv_many(&mut batch, MAX_BATCH).await,
        };
        if received == 0 {
            break;
        }
        if syncer.as_ref().is_some_and(Syncer::failed) {
            refuse(&mut batch, super::sync::FAILED);
            continue;
        }
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the SQLite writer cannot get its connection");
                refuse(&mut batch, &format!("no write connection: {e}"));
                continue;
            }
        };
        // Commits answered after the syncer's fsync need not wait for their own.
        let deferred = match &syncer {
            Some(_) => match set_synchronous(&mut conn, false).await {
                Ok(()) => syncer.as_ref(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot relax the writer's commits; each waits for its fsync");
                    None
                }
            },
            None => None,
        };
        let held = Instant::now();
        loop {
            let done = write_batch(&mut conn, &mut batch).await;
            unindexed.add(accepted(&done));
            match deferred {
                Some(s) => s.after_sync(Box::new(move |synced| match synced {
                    Ok(()) => answer(done),
                    Err(why) => answer(failed(done, &why)),
                })),
                None => answer(done),
            }
            // Between two batches: the log's tail, when asked for.
            wal.restart_if_wanted(&mut conn).await;
            if unindexed.due() {
                unindexed.step(&mut conn).await;
            }
            if held.elapsed() >= HOLD || syncer.as_ref().is_some_and(Syncer::failed) {
                break;
            }
            while batch.len() < MAX_BATCH
                && let Ok(job) = rx.try_recv()
            {
                batch.push(job);
            }
            if batch.is_empty() {
                break;
            }
        }
        if deferred.is_some()
            && let Err(e) = set_synchronous(&mut conn, true).await
        {
            // The pool must never hand out a connection whose commits are not durable.
            tracing::warn!(error = %e, "cannot restore synchronous=FULL; closing the write connection");
            conn.close_on_drop();
        }
    }
}

/// `synchronous=FULL` (each commit waits for its fsync) or `NORMAL` (the syncer's fsync covers it).
async fn set_synchronous(conn: &mut SqliteConnection, full: bool) -> sqlx::Result<()> {
    let sql = if full {
        "PRAGMA synchronous = FULL"
    } else {
        "PRAGMA synchronous = NORMAL"
    };
    sqlx::query(sql).execute(&mut *conn).await.map(drop)
}

/// Answers every job of `batch` (emptied) with a failure.
fn refuse(batch: &mut Vec<Job>, why: &str) {
    let done = batch
        .drain(..)
        .map(|j| (j, Answer::Failed(StoreError::Unavailable(why.to_owned()))))
        .collect();
    answer(done);
}

/// Commits `batch` (emptied); each job with its answer, in order.
async fn write_batch(conn: &mut SqliteConnection, batch: &mut Vec<Job>) -> Vec<(Job, Answer)> {
    metrics::histogram!("itsm_bridge_store_commit_batch_size").record(batch.len() as f64);
    let started = Instant::now();
    let done = match commit(conn, batch).await {
        Ok(answers) => batch.drain(..).zip(answers).collect(),
        Err(e) if batch.len() == 1 => batch.drain(..).zip([Answer::Failed(e)]).collect(),
        Err(e) => {
            // One bad job must not fail its neighbours: commit them one by one.
            tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; retrying jobs one by one");
            let mut done = Vec::with_capacity(batch.len());
            for job in batch.drain(..) {
                let a = match commit(conn, std::slice::from_ref(&job)).await {
                    Ok(mut a) => a.remove(0),
                    Err(e) => Answer::Failed(e),
                };
                done.push((job, a));
            }
            done
        }
    };
    metrics::histogram!("itsm_bridge_store_write_batch_seconds")
        .record(started.elapsed().as_secs_f64());
    done
}

/// Events of a written batch that were stored (not duplicates, not failed).
fn accepted(done: &[(Job, Answer)]) -> usize {
    done.iter()
        .filter(|(_, a)| matches!(a, Answer::Ingested(IngestOutcome::Accepted(_))))
        .count()
}

/// The same jobs, failed: their commit could not be made durable.
fn failed(done: Vec<(Job, Answer)>, why: &str) -> Vec<(Job, Answer)> {
    done.into_iter()
        .map(|(j, _)| (j, Answer::Failed(StoreError::Unavailable(why.to_owned()))))
        .collect()
}

/// One job's result, before it is sent to its waiter.
enum Answer {
    Ingested(IngestOutcome),
    Finished,
    Claimed(Vec<Delivery>),
    Failed(StoreError),
}

fn answer(done: Vec<(Job, Answer)>) {
    let misfit = || StoreError::Corrupt("writer answered out of order".into());
    for (job, a) in done {
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
async fn commit(conn: &mut SqliteConnection, jobs: &[Job]) -> StoreResult<Vec<Answer>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
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

/// Rows per multi-row `INSERT`, under SQLite's 32766 bound parameters (15 per event).
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
             headers, received_at, skipped, unrouted, parked, parked_detail, parked_rule, \
             parked_pointer, routing, ticket_number) ",
        );
        b.push_values(chunk, |mut row, e| {
            let d = &e.disposition;
            row.push_bind(e.id.as_str())
                .push_bind(e.tenant.as_str())
                .push_bind(e.source.as_str())
                .push_bind(e.dedupe_key.as_str())
                .push_bind(e.ticket.as_str())
                .push_bind(e.event_type.as_str())
                .push_bind(e.body.as_ref())
                .push_bind(e.headers.as_str())
                .push_bind(e.received_at)
                .push_bind(d.skipped.as_deref())
                .push_bind(d.unrouted)
                .push_bind(d.parked)
                .push_bind(d.parked_detail.as_deref())
                .push_bind(d.parked_rule.as_deref())
                .push_bind(d.parked_pointer.as_deref())
                .push_bind(e.routing.as_str())
                .push_bind(e.ticket_number.as_deref());
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
    insert_aliases(tx, &accepted).await?;
    Ok(outcomes)
}

/// Keeps the numbers/keys of accepted events' tickets. `DO NOTHING` on a pair already known
/// reads its (hot) page and writes nothing, so a ticket costs one new row when first seen,
/// not an index write per webhook.
async fn insert_aliases(conn: &mut SqliteConnection, events: &[&PreparedEvent]) -> StoreResult<()> {
    let named: Vec<(&PreparedEvent, &str)> = events
        .iter()
        .filter_map(|e| Some((*e, e.ticket_number.as_deref()?)))
        .collect();
    for chunk in named.chunks(ROWS_PER_INSERT) {
        let mut b =
            QueryBuilder::<Sqlite>::new("INSERT INTO ticket_aliases (tenant, alias, ticket) ");
        b.push_values(chunk, |mut row, (e, number)| {
            row.push_bind(e.tenant.as_str())
                .push_bind(*number)
                .push_bind(e.ticket.as_str());
        });
        b.push(" ON CONFLICT DO NOTHING");
        b.build().execute(&mut *conn).await?;
    }
    Ok(())
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
    use crate::store::DeliveryQueue;
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
            ticket_number: None,
            routing: Default::default(),
            deliveries: vec![NewDelivery { ticket, target }],
            disposition: Default::default(),
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
        let mut conn = store.write.acquire().await.unwrap();
        let answers = commit(&mut conn, &jobs).await.unwrap();
        drop(conn);
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

    /// A file-backed store (its pool migrated) and a second writer on its pool whose fsync of
    /// the log is `sync`.
    async fn writer_with_sync(
        sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) -> (tempfile::TempDir, SqliteStore, mpsc::Sender<Job>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = SqliteStore::open(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let syncer = Syncer::start_with(sync, failed).unwrap();
        let (tx, rx) = mpsc::channel(QUEUE);
        spawn(
            store.write.clone(),
            rx,
            Arc::new(Wal::new(None)),
            Some(syncer),
        )
        .unwrap();
        (dir, store, tx)
    }

    async fn send_ingest(
        writer: &mpsc::Sender<Job>,
        key: &str,
    ) -> oneshot::Receiver<StoreResult<IngestOutcome>> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Ingest(Box::new(event(key, "X")), reply);
        writer.send(job).await.ok().unwrap();
        answer
    }

    #[tokio::test]
    async fn a_commit_is_answered_only_after_the_fsync_that_covers_it() {
        let (gate, held) = std::sync::mpsc::channel::<()>();
        let (_dir, store, writer) = writer_with_sync(move || {
            held.recv().map_err(std::io::Error::other)?;
            Ok(())
        })
        .await;
        let mut answer = send_ingest(&writer, "k1").await;
        // The commit happens (the row is visible to readers)…
        let mut committed = false;
        for _ in 0..500 {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
                .fetch_one(&store.read)
                .await
                .unwrap();
            if n == 1 {
                committed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(committed, "the writer never committed the event");
        // …but its waiter hears nothing while the fsync has not returned.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
            "answered before the fsync"
        );
        gate.send(()).unwrap();
        let outcome = answer.await.unwrap().unwrap();
        assert!(matches!(outcome, IngestOutcome::Accepted(_)));
    }

    #[tokio::test]
    async fn a_failed_fsync_fails_its_batch_and_refuses_every_write_after() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let (_dir, _store, writer) = writer_with_sync(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(std::io::Error::other("EIO"))
        })
        .await;
        let first = send_ingest(&writer, "k1").await.await.unwrap();
        assert!(
            matches!(&first, Err(StoreError::Unavailable(m)) if m.contains("fsync") && m.contains("EIO")),
            "{first:?}"
        );
        let second = send_ingest(&writer, "k2").await.await.unwrap();
        assert!(
            matches!(&second, Err(StoreError::Unavailable(m)) if m.contains("restarted")),
            "{second:?}"
        );
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "a failed fsync is never retried"
        );
    }
}
