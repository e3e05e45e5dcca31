//! The conformance cases, written once against `Arc<dyn Store>`.

mod checks;
mod claims;
mod ingest;
mod links_retention;
mod outcomes;
mod poller;

pub use checks::*;
pub use claims::*;
pub use ingest::*;
pub use links_retention::*;
pub use outcomes::*;
pub use poller::*;

const LEASE: time::Duration = time::Duration::seconds(30);
