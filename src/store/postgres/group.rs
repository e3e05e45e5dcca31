//! The group-commit loop both PostgreSQL writers run: ingest ([`super::writer`]) and outcomes
//! with claims ([`super::outcomes`]).
//!
//! Callers hand their job to a writer task and wait; the writer takes everything queued (up
//! to [`MAX_BATCH`]), commits it in ONE transaction (what a batch writes is the [`Batch`]'s
//! business), and only then answers every waiter. A batch that fails is committed again job
//! by job, so one bad job fails alone. [`WRITERS`] writers share the queue, so one batch is
//! written while the previous one waits for its flush.

use std::future::Future;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc};

use crate::store::{StoreError, StoreResult};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 256;
/// Jobs waiting for a writer before callers wait for room (back-pressure).
const QUEUE: usize = 4 * MAX_BATCH;
/// Writer tasks (and so transactions in progress at once) per queue.
const WRITERS: usize = 2;

/// What one kind of writer commits, and how its waiters are answered.
pub(super) trait Batch: 'static {
    /// A job, with where its answer goes.
    type Job: Send + 'static;
    type Answer: Send;
    /// What the log calls this writer's jobs.
    const JOBS: &'static str;

    /// Writes every job of `jobs` in one transaction; one answer per job, in order.
    fn commit(
        pool: &PgPool,
        jobs: &[Self::Job],
    ) -> impl Future<Output = StoreResult<Vec<Self::Answer>>> + Send;

    /// Sends `job` its answer (a waiter that went away needs none).
    fn reply(job: Self::Job, answer: StoreResult<Self::Answer>);
}

/// Starts the writers of `B`; they stop once the returned sender (the store) is dropped.
pub(super) fn spawn<B: Batch>(pool: &PgPool) -> mpsc::Sender<B::Job> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..WRITERS {
        tokio::spawn(run::<B>(pool.clone(), rx.clone()));
    }
    tx
}

async fn run<B: Batch>(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<B::Job>>>) {
    let mut batch: Vec<B::Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        // Hold the queue only while waiting for work: the other writer takes the next
        // batch while this one is being written.
        if rx.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        metrics::histogram!("itsm_bridge_store_commit_batch_size").record(batch.len() as f64);
        match B::commit(&pool, &batch).await {
            Ok(answers) if answers.len() == batch.len() => {
                for (job, a) in batch.drain(..).zip(answers) {
                    B::reply(job, Ok(a));
                }
            }
            Ok(_) => {
                for job in batch.drain(..) {
                    B::reply(job, Err(misfit()));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    B::reply(job, Err(e));
                }
            }
            Err(e) => {
                // One bad job must not fail its neighbours: commit them one by one.
                tracing::warn!(error = %e, jobs = batch.len(), what = B::JOBS, "group commit failed; retrying jobs one by one");
                for job in batch.drain(..) {
                    let a = B::commit(&pool, std::slice::from_ref(&job)).await;
                    let a = a.and_then(|a| a.into_iter().next().ok_or_else(misfit));
                    B::reply(job, a);
                }
            }
        }
    }
}

fn misfit() -> StoreError {
    StoreError::Corrupt("a group commit answered a different number of jobs".into())
}
