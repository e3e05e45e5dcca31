//! Background workers: the dispatcher (claims due deliveries, calls Orange or the ITSM,
//! records the attempt), the poller (Orange changes back into the ITSMs) and the janitor.
//! Each is a struct with `run(token)` and a one-step `tick()` that tests call directly.

pub mod dispatcher;

pub use dispatcher::Dispatcher;
