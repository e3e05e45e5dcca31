//! The conformance cases, written once against `Arc<dyn Store>`, and the steps they share.

mod audit;
mod checks;
mod claims;
mod cycles;
mod ingest;
mod links_retention;
mod outcomes;
mod parked;
mod poller;
mod timeline;

pub use audit::*;
pub use checks::*;
pub use claims::*;
pub use cycles::*;
pub use ingest::*;
pub use links_retention::*;
pub use outcomes::*;
pub use parked::*;
pub use poller::*;
pub use timeline::*;

use itsm_bridge::domain::{
    AttemptOutcome, DeliveryId, NewDelivery, OrangeApi, OrangeOp, TicketKey, Timestamp,
};
use itsm_bridge::store::{Finish, NewLink, Store};

use super::{attempt, call, delivery, event};

const LEASE: time::Duration = time::Duration::seconds(30);

/// Commits the event `key` of `t`, received `at`, with one note delivery per entry of
/// `notes` (in that order); panics when the store refuses it.
async fn ingest_notes(s: &dyn Store, key: &str, t: &TicketKey, at: Timestamp, notes: &[&str]) {
    let deliveries = notes.iter().map(|n| delivery(t, n)).collect();
    s.ingest(event(key, t, at, deliveries))
        .await
        .expect("event ingested");
}

/// Finishes the claimed delivery `id` as `owner` with `fin`, after one attempt at `at` that
/// ended in `outcome`; panics when the store refuses it.
async fn finish(
    s: &dyn Store,
    id: DeliveryId,
    owner: &str,
    at: Timestamp,
    outcome: AttemptOutcome,
    fin: Finish,
) {
    s.finish(id, owner, &attempt(at, outcome), fin)
        .await
        .expect("delivery finished");
}

/// The incident create of `t`, its body noted `note`.
fn create(t: &TicketKey, note: &str) -> NewDelivery {
    NewDelivery {
        ticket: t.clone(),
        target: call(OrangeOp::CreateIncident, note),
    }
}

/// A success that links the delivery's ticket to the Orange object `orange_id` of `api`.
fn done_linking(api: OrangeApi, orange_id: impl Into<String>) -> Finish {
    Finish::Done {
        link: Some(NewLink {
            api,
            orange_id: orange_id.into(),
        }),
        echoes: vec![],
        echo_until: None,
    }
}

/// Asserts that nothing is claimable at `before` and that `id`, alone, is at `at`.
async fn assert_due_at(s: &dyn Store, id: DeliveryId, before: Timestamp, at: Timestamp) {
    let early = s.claim_due("w", before, before + LEASE, 10).await.unwrap();
    assert!(early.is_empty(), "nothing due at {before}: {early:?}");
    let due = s.claim_due("w", at, at + LEASE, 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
}
