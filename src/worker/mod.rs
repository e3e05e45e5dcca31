//! Background workers: the dispatcher (claims due deliveries, calls Orange or the ITSM,
//! records the attempt), the poller (Orange changes back into the ITSMs) and the ITSM
//! reconciler (what an ITSM's webhooks missed, into the normal ingest path).
//! Each is a struct with `run(token)` and a one-step `tick()` that tests call directly.
//!
//! What the workers need of Orange and the ITSMs is declared here, as small traits beside
//! the code that uses them ([`OrangeGateway`], [`ItsmWriter`], [`OrangeReader`],
//! [`JiraSearch`], [`ServicenowTable`]); `orange/` and `itsm/` implement them and `app.rs`
//! wires the concrete clients in. No worker names a concrete client.

pub mod dispatcher;
pub mod poller;
pub mod reconcile;
pub mod retention;

/// A list a worker reads at each step (the tenants polled, the sources reconciled), shared
/// so that a reload of the tenants changes it between two steps.
pub type LiveList<T> = std::sync::Arc<std::sync::RwLock<Vec<T>>>;

/// What `list` holds now (a lock poisoned by a panicking writer is read as it was).
fn snapshot<T: Clone>(list: &LiveList<T>) -> Vec<T> {
    list.read().unwrap_or_else(|e| e.into_inner()).clone()
}

pub use dispatcher::{Booked, Delivered, Dispatcher, ItsmWriter, OrangeGateway, Written};
pub use poller::{
    Changed, OrangeNote, OrangeReader, PlannerLookup, PollSettings, Poller, WayBackPlanner,
};
pub use reconcile::{ItsmReconciler, JiraSearch, ServicenowTable, SourceSync};
