//! The admin API (`/admin/v1/…`, bearer token): events with their attempts, links, mapping
//! reload, and dead letters (`dlq.rs`).

pub mod dlq;
