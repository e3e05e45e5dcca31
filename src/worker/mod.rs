//! Background workers: the dispatcher (claims due deliveries, calls Orange or the ITSM,
//! records the attempt) and the poller (Orange changes back into the ITSMs).
//! Each is a struct with `run(token)` and a one-step `tick()` that tests call directly.

pub mod dispatcher;
pub mod poller;

pub use dispatcher::Dispatcher;
pub use poller::{
    Changed, OrangeNote, OrangeReader, PlannerLookup, PollSettings, Poller, WayBackPlanner,
};
