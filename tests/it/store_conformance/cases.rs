//! The conformance cases, written once against `Arc<dyn Store>`.

mod claims;
mod ingest;
mod outcomes;
mod parked;
mod poller;

pub use claims::*;
pub use ingest::*;
pub use outcomes::*;
pub use parked::*;
pub use poller::*;

const LEASE: time::Duration = time::Duration::seconds(30);
