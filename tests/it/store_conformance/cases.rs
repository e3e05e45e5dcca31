//! The conformance cases, written once against `Arc<dyn Store>`.

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

const LEASE: time::Duration = time::Duration::seconds(30);
