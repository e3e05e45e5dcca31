//! The conformance cases, written once against `Arc<dyn Store>`.

mod claims;
mod ingest;
mod outcomes;
mod poller;
mod timeline;

pub use claims::*;
pub use ingest::*;
pub use outcomes::*;
pub use poller::*;
pub use timeline::*;

const LEASE: time::Duration = time::Duration::seconds(30);
