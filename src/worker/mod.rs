//! Background workers: the dispatcher (claims due deliveries, calls Orange or the ITSM,
//! records the attempt), the poller (Orange changes back into the ITSMs) and the janitor.
//! Each is a struct with `run(token)` and a one-step `tick()` that tests call directly.
//!
//! NOTE: placeholder door; the workers land with the delivery and round-trip issues.

// Poll-back (round-trip room).
pub mod poller;
pub use poller::{
    Changed, OrangeNote, OrangeReader, PlannerLookup, PollSettings, Poller, WayBackPlanner,
};
