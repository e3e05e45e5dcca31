//! # itsm-bridge
//!
//! A gateway between a customer's ITSM (ServiceNow, Jira) and Orange Business's Incident,
//! Wholesale Trouble Tickets, Core Information and Ordering APIs.
//!
//! The data walks one way, each step a room with a clear door:
//!
//! ```text
//!  ITSM webhook ─▶ http (auth, schema, mapping) ─▶ store (event + deliveries, one commit)
//!                                                      │
//!               Orange ◀─ orange (token, limiter) ◀─ worker::dispatcher (claim, call, record)
//!
//!  Orange ─▶ worker::poller (diff vs stored state) ─▶ store (write-backs) ─▶ dispatcher ─▶ itsm
//!
//!  ITSM read ─▶ worker::reconcile (missed webhooks, rebuilt; off by default) ─▶ store (events)
//! ```
//!
//! - [`domain`]: pure types and rules (ids, events, calls, deliveries, retry maths).
//! - [`config`]: the typed config tree, env interpolation, validation.
//! - [`mapping`]: the declarative mapping language: load, compile, apply (pure).
//! - [`store`]: durable state behind one trait per role (intake, delivery queue, poll state,
//!   admin), combined in `Store`; SQLite and PostgreSQL implementations.
//! - [`orange`]: Orange API clients: token source, rate limiter, error classification; they
//!   implement what the dispatcher and the poller ask of Orange.
//! - [`itsm`]: ServiceNow and Jira clients: write-backs, and the reads reconciliation needs;
//!   they implement what the dispatcher and the reconciler ask of the ITSMs.
//! - [`intake`]: the one intake step of webhooks, reconciliation and replays: echo check,
//!   event schema, mapping (or parking), backlog, store.
//! - [`http`]: ingress, health, metrics, admin API (named tokens, roles, audit log), the
//!   operator console (`/console`), problem+json errors.
//! - [`worker`]: dispatcher, poller, retention purger and ITSM reconciler, each with
//!   `run(token)` and `tick()`, and the traits they need of Orange and the ITSMs.
//! - [`ops`]: operator operations shared by the CLI, the admin API and the console (dead
//!   letters, events, links, timelines).
//! - [`sim`]: the simulators of Orange, ServiceNow and Jira (product code).
//! - [`cli`]: the command tree (clap) and the commands `main.rs` calls, the `orange` client
//!   of the four APIs among them; every command prints through `cli::out` (closed pipes).
//! - [`app`]: the composition root; [`run`] starts everything on a bound listener,
//!   [`app::serve`] as `serve` does (with the sandbox's simulators when asked).
//!
//! Dependency direction: `domain` depends on nothing of ours; `mapping` and `store` see only
//! `domain` (and `config`); `orange` and `itsm` see those, `telemetry` for their metrics and
//! the `worker` traits they implement (never the reverse); `http` and `worker` are the
//! drivers and never import each other; only `app` knows everything, and nothing but `cli`
//! knows `app`: the router is handed what it needs. The reading order, the rules as
//! `tests/it/house.rs` checks them and the walk of a webhook through the rooms:
//! `docs/ARCHITECTURE.md`.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod intake;
pub mod itsm;
pub mod mapping;
pub mod ops;
pub mod orange;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod worker;

pub use app::{App, run};
