//! Group commit: the single task that writes accepted events, delivery outcomes and claims to
//! SQLite.
//!
//! SQLite has one writer and `synchronous=FULL` costs an fsync per commit, so committing each
//! webhook (or each outcome, or each claim) on its own caps throughput at the disk's fsync
//! rate. Instead `ingest`, `finish` and `claim_due` hand their job to this task and wait; it
//! drains whatever is queued (up to [`MAX_BATCH`]), writes it all in ONE transaction, commits,
//! and only then answers every waiter. Nothing is acknowledged before the commit that holds it is
//! durable.
//!
//! This file is the loop — batch, commit, make durable, answer — and knows no SQL of its own:
//! each kind of job is an operation in its own module ([`super::ingest`], [`super::finish`],
//! [`super::claim`]), and the job types sit below them all in [`super::jobs`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::mpsc;

use super::direct::{Cache, Direct};
use super::jobs::{Answer, FinishJob, Job, answer};
use super::sync::Syncer;
use super::tickets;
use super::wal::Wal;
use crate::domain::IngestOutcome;
use crate::store::codec::PreparedEvent;
use crate::store::{StoreError, StoreResult};

/// Most jobs committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;
/// Jobs waiting for the writer before callers wait for room (back-pressure).
pub(super) const QUEUE: usize = 4 * MAX_BATCH;

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
/// writes, which answer when their commit returns, only ever get it at `FULL`. For as long as
/// it holds the connection it also keeps its compiled statements ([`Cache`]), and finalizes them
/// before it lets the connection go.
///
/// Between batches it also takes the steps of moving the rows pending for the ticket index
/// (see [`tickets`]) once enough are pending, and when it has nothing to write: at once while
/// a move is under way, after [`tickets::IDLE`] to start one. Rows an earlier process left
/// pending count from the start.
async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>, wal: Arc<Wal>, syncer: Option<Syncer>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let cache = Cache::default();
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
            let done = write_batch(&mut conn, &cache, &mut batch).await;
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
        // sqlx cannot close a connection that still has statements (see `direct`).
        match Direct::lock(&mut conn).await {
            Ok(db) => cache.clear(&db),
            Err(e) => {
                tracing::warn!(error = %e, "the write connection is gone; its statements with it");
                cache.forget();
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
async fn write_batch(
    conn: &mut SqliteConnection,
    cache: &Cache,
    batch: &mut Vec<Job>,
) -> Vec<(Job, Answer)> {
    metrics::histogram!("itsm_bridge_store_commit_batch_size").record(batch.len() as f64);
    let started = Instant::now();
    let done = match commit(conn, cache, batch).await {
        Ok(answers) => batch.drain(..).zip(answers).collect(),
        Err(e) if batch.len() == 1 => batch.drain(..).zip([Answer::Failed(e)]).collect(),
        Err(e) => {
            // One bad job must not fail its neighbours: commit them one by one.
            tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; retrying jobs one by one");
            let mut done = Vec::with_capacity(batch.len());
            for job in batch.drain(..) {
                let a = match commit(conn, cache, std::slice::from_ref(&job)).await {
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

/// Writes every job of the batch in one transaction; one answer per job, in order.
///
/// Events go in first (so a finish in the same batch moves the head flag onto a delivery
/// appended here), then the outcomes, then the claims. A finish refused because its lease
/// was lost or its delivery is gone has written nothing and fails alone; any other error
/// rolls the whole batch back, and the caller retries its jobs one by one.
async fn commit(
    conn: &mut SqliteConnection,
    cache: &Cache,
    jobs: &[Job],
) -> StoreResult<Vec<Answer>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let events: Vec<&PreparedEvent> = jobs.iter().filter_map(Job::event).collect();
    let mut ingested = if events.is_empty() {
        Vec::new()
    } else {
        super::ingest::ingest(&mut tx, cache, &events).await?
    }
    .into_iter();
    let finishes: Vec<&FinishJob> = jobs.iter().filter_map(Job::outcome).collect();
    let mut finished = if finishes.is_empty() {
        Vec::new()
    } else {
        super::finish::finish_batch(&mut tx, cache, &finishes).await?
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
            Job::Claim(c, _) => Some(Answer::Claimed(
                super::claim::claim_in(&mut tx, cache, c).await?,
            )),
        };
        answers.push(a.ok_or_else(|| StoreError::Corrupt("a job without an answer".into()))?);
    }
    tx.commit().await?;
    Ok(answers)
}

#[cfg(test)]
mod tests;
