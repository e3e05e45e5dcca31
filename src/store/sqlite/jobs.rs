//! What the group-commit writer is asked to do ([`Job`]) and answers ([`Answer`]): the types
//! the writer and the operations it runs (`ingest`, `finish`, `claim`) share, below both.

use tokio::sync::oneshot;

use crate::domain::{Delivery, IngestOutcome};
use crate::store::codec::PreparedEvent;
use crate::store::{StoreError, StoreResult};

/// The outcome of one delivery attempt, recorded by [`super::finish::finish_batch`]; a claim
/// of due deliveries, by `claim.rs`.
pub(super) use crate::store::shared::{ClaimJob, FinishJob};

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

impl Job {
    /// The event an ingest job commits.
    pub(super) fn event(&self) -> Option<&PreparedEvent> {
        match self {
            Job::Ingest(e, _) => Some(e),
            Job::Finish(..) | Job::Claim(..) => None,
        }
    }

    /// The outcome a finish job records.
    pub(super) fn outcome(&self) -> Option<&FinishJob> {
        match self {
            Job::Finish(f, _) => Some(f),
            Job::Ingest(..) | Job::Claim(..) => None,
        }
    }
}

/// One job's result, before it is sent to its waiter.
pub(super) enum Answer {
    Ingested(IngestOutcome),
    Finished,
    Claimed(Vec<Delivery>),
    Failed(StoreError),
}

/// Sends each job its answer.
pub(super) fn answer(done: Vec<(Job, Answer)>) {
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
