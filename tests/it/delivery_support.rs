//! Helpers of the delivery tests: a simulator, a temporary SQLite store, a dispatcher wired
//! to both, events committed the way the ingress commits them, and journal readers.

#![allow(dead_code)] // each delivery test module uses a different part of the rig

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use itsm_bridge::config::Config;
use itsm_bridge::domain::{
    DeliveryId, EventId, OrangeCall, OrangeOp, SourceName, Target, TenantId, TicketKey,
};
use itsm_bridge::sim::state::Incident;
use itsm_bridge::sim::{JournalEntry, SimHandle, SimOptions};
use itsm_bridge::store::{QueueStats, Store};
use itsm_bridge::worker::Dispatcher;
use serde_json::{Value, json};

use crate::support::SANDBOX_ORANGE_YAML;

pub use crate::support::delivery::{
    busiest_second, call, incident_note, incident_update, step_call,
};

pub const TENANT: &str = "acme";

/// How long a test lets the dispatcher drain the queue.
pub const DRAIN: Duration = Duration::from_secs(20);

/// The user and password of acme's ServiceNow webhooks in the delivery configs.
pub const SN_HOOK: (&str, &str) = ("sn-hook", "sn-hook-password");

/// acme's ServiceNow webhooks in the delivery configs (YAML, a tenant's lines from `sources:`):
/// basic auth as [`SN_HOOK`], the shipped mapping.
pub fn sn_sources_yaml() -> String {
    let (user, password) = SN_HOOK;
    format!(
        "    sources:
      servicenow:
        auth: [{{ type: basic, username: {user}, password: {password} }}]
        mapping: demo/servicenow-incident.yaml"
    )
}

/// Config of the delivery tests: one tenant on the simulator's sandbox credentials, a high
/// rate budget and short backoffs so tests stay fast. `extra` is appended (YAML).
pub fn delivery_config_yaml(dir: &Path, sim: &str, itsm: &str, extra: &str) -> String {
    format!(
        r#"{head}poller:
  enabled: false
orange:
  base_url: {sim}
  timeout_ms: 2000
delivery:
  concurrency: 16
  lease_secs: 5
  idle_poll_ms: 5
  retry: {{ max_attempts: 60, base_ms: 5, cap_ms: 150 }}
tenants:
  - id: {TENANT}
    orange:
{SANDBOX_ORANGE_YAML}
      application_id: acme-app
      rate_limit: {{ per_second: 1000, burst: 50 }}
{sources}
    itsm:
      servicenow:
        base_url: {itsm}
        auth: {{ type: basic, username: sn-user, password: sn-password }}
{extra}
"#,
        head = crate::support::config_head(dir),
        sources = sn_sources_yaml(),
    )
}

pub fn parse_config(yaml: &str) -> Config {
    Config::from_yaml(yaml, "delivery-test.yaml", Path::new(""), |_| None)
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}

pub struct Rig {
    pub sim: SimHandle,
    pub store: Arc<dyn Store>,
    pub dispatcher: Arc<Dispatcher>,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

impl Rig {
    /// Starts a simulator, opens a store and builds the dispatcher; `tweak` adjusts the
    /// config first.
    pub async fn start(opts: SimOptions, itsm: &str, tweak: impl FnOnce(&mut Config)) -> Rig {
        let sim = itsm_bridge::sim::start(opts)
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let yaml = delivery_config_yaml(dir.path(), &sim.base_url(), itsm, "");
        let mut config = parse_config(&yaml);
        tweak(&mut config);
        let store = itsm_bridge::app::open_store(&config)
            .await
            .expect("store opens");
        store.migrate().await.expect("migrations");
        let dispatcher =
            crate::support::delivery::dispatcher(store.clone(), &config, "test-dispatcher");
        Rig {
            sim,
            store,
            dispatcher,
            config,
            dir,
        }
    }

    /// The one incident the simulated Orange holds for `external` (its `externalReference`);
    /// panics unless there is exactly one.
    pub fn incident(&self, external: &str) -> Incident {
        let mut found = crate::support::incidents_of(&self.sim, external);
        assert_eq!(found.len(), 1, "one incident for {external}");
        found.remove(0)
    }

    /// Waits until the queue figures satisfy `done` (or `within` passes).
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&QueueStats) -> bool) -> bool {
        queue_until(self.store.as_ref(), within, done)
            .await
            .is_some()
    }

    /// Replays the dead create `id` of `ticket` as the fixed mapping renders it
    /// ([`fixed_create`]) and drains: the ticket's incident, asserting that the note waiting
    /// behind the create followed it.
    pub async fn replay_fixed_create(&self, id: DeliveryId, ticket: &str) -> Incident {
        let fixed = fixed_create(ticket);
        let now = time::OffsetDateTime::now_utc();
        assert!(self.store.replay(id, Some(fixed), now).await.unwrap());
        assert!(self.drain(DRAIN).await, "queue drained");
        let inc = self.incident(ticket);
        assert_eq!(inc.notes.len(), 1, "the waiting note followed");
        inc
    }

    /// Ticks until nothing is pending, waiting for a link or in flight (or `within` passes);
    /// true when drained.
    pub async fn drain(&self, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < until {
            let claimed = self
                .dispatcher
                .tick(time::OffsetDateTime::now_utc())
                .await
                .expect("tick");
            if claimed == 0 {
                let s = self.store.queue_stats().await.expect("stats");
                if s.pending == 0 && s.in_flight == 0 && s.waiting_link == 0 {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        false
    }
}

/// Waits (bounded: `within`, in 50 ms steps) until `store`'s queue figures satisfy `done`:
/// those figures, or `None` when the time ran out.
pub async fn queue_until(
    store: &dyn Store,
    within: Duration,
    done: impl Fn(&QueueStats) -> bool,
) -> Option<QueueStats> {
    let until = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < until {
        let q = store.queue_stats().await.expect("stats");
        if done(&q) {
            return Some(q);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Nothing pending, nothing in flight.
pub fn idle(q: &QueueStats) -> bool {
    q.pending == 0 && q.in_flight == 0
}

pub fn ticket_key(ticket: &str) -> TicketKey {
    TicketKey::new(
        &TenantId::parse(TENANT).unwrap(),
        &SourceName::parse("servicenow").unwrap(),
        ticket,
    )
}

/// Commits one event with its calls, as the ingress does after mapping.
pub async fn ingest(store: &dyn Store, ticket: &str, n: usize, calls: Vec<OrangeCall>) -> EventId {
    let tenant = TenantId::parse(TENANT).unwrap();
    let source = SourceName::parse("servicenow").unwrap();
    let body = Bytes::from(json!({"ticket": ticket, "n": n}).to_string());
    let event = crate::support::delivery::new_event(
        &tenant,
        &source,
        ticket,
        format!("{ticket}:{n}"),
        body,
        calls,
    );
    store.ingest(event).await.expect("ingest").event_id()
}

/// A mapping mistake on `ticket`: its create has no `shortDescription` (Orange answers 400,
/// code 23, and it becomes a dead letter), and its next event, a note with `note`, waits
/// behind it.
pub async fn ingest_broken_create_then_note(store: &dyn Store, ticket: &str, note: &str) {
    let create = call(
        OrangeOp::CreateIncident,
        json!({"description": "x", "externalReference": ticket}),
        Some(ticket),
    );
    ingest(store, ticket, 1, vec![create]).await;
    ingest(store, ticket, 2, vec![incident_note(note)]).await;
}

/// The create of [`ingest_broken_create_then_note`] once the mapping is fixed: what its
/// replay sends instead.
pub fn fixed_create(ticket: &str) -> Target {
    Target::Orange(call(
        OrangeOp::CreateIncident,
        json!({"shortDescription": "fixed", "externalReference": ticket}),
        Some(ticket),
    ))
}

/// Whether the simulator applied a journaled call: answered 2xx, or a fault struck after
/// the call took effect.
pub fn applied(e: &JournalEntry) -> bool {
    match e.fault.as_deref() {
        Some(f) => f.ends_with(":after"),
        None => (200..300).contains(&e.status),
    }
}

pub fn body(e: &JournalEntry) -> Value {
    serde_json::from_str(&e.body).unwrap_or(Value::Null)
}

/// Orange API calls of the journal (not the token endpoint, not the ITSMs).
pub fn orange_calls(sim: &SimHandle) -> Vec<JournalEntry> {
    sim.journal(0)
        .into_iter()
        .filter(|e| {
            [
                "/incident/",
                "/troubleticket/",
                "/core-information/",
                "/ordering/",
            ]
            .iter()
            .any(|p| e.path.starts_with(p))
        })
        .collect()
}

/// The largest number of journaled calls within any one-second window starting at a call.
pub fn max_per_second(entries: &[JournalEntry]) -> usize {
    let times: Vec<time::OffsetDateTime> = entries
        .iter()
        .filter_map(|e| {
            time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
                .ok()
        })
        .collect();
    assert_eq!(times.len(), entries.len(), "journal times parse");
    busiest_second(times)
}
