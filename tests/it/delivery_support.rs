//! Helpers of the delivery tests: a simulator, a temporary SQLite store, a dispatcher wired
//! to both, events committed the way the ingress commits them, and journal readers.

#![allow(dead_code)] // each delivery test module uses a different part of the rig

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use itsm_bridge::config::Config;
use itsm_bridge::domain::{
    CallFailure, EventId, FailureClass, ItsmCall, NewDelivery, NewEvent, OrangeCall, SourceName,
    Target, TenantId, TicketKey,
};
use itsm_bridge::orange::OrangeClients;
use itsm_bridge::sim::{JournalEntry, SimHandle, SimOptions};
use itsm_bridge::store::Store;
use itsm_bridge::worker::{Booked, Dispatcher, ItsmWriter, Written};
use serde_json::Value;

pub const TENANT: &str = "acme";

/// Config of the delivery tests: one tenant on the simulator's sandbox credentials, a high
/// rate budget and short backoffs so tests stay fast. `extra` is appended (YAML).
pub fn delivery_config_yaml(dir: &Path, sim: &str, itsm: &str, extra: &str) -> String {
    format!(
        r#"
store:
  url: sqlite://{db}
mappings_dir: {mappings}
reload_interval_secs: 0
admin:
  token: test-admin-token
poller:
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
      client_id: sandbox
      client_secret: sandbox-secret
      api_key: sandbox-api-key
      application_id: acme-app
      rate_limit: {{ per_second: 1000, burst: 50 }}
    sources:
      servicenow:
        auth: [{{ type: basic, username: sn-hook, password: sn-hook-password }}]
        mapping: demo/servicenow-incident.yaml
    itsm:
      servicenow:
        base_url: {itsm}
        auth: {{ type: basic, username: sn-user, password: sn-password }}
{extra}
"#,
        db = dir.join("gw.db").display(),
        mappings = crate::support::repo().join("mappings").display(),
    )
}

pub fn parse_config(yaml: &str) -> Config {
    Config::from_yaml(yaml, "delivery-test.yaml", Path::new(""), |_| None)
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}

/// Write-backs are not what these tests exercise: refuse them loudly.
pub struct NoItsm;

#[async_trait]
impl ItsmWriter for NoItsm {
    fn reserve(&self, _: &TenantId, _: &ItsmCall) -> Result<Booked, std::time::Duration> {
        Ok(Booked::new())
    }
    async fn execute(&self, _: &TenantId, _: &ItsmCall, _: Booked) -> Result<Written, CallFailure> {
        Err(CallFailure {
            class: FailureClass::Permanent,
            http_status: None,
            code: None,
            message: "no ITSM writer in delivery tests".into(),
        })
    }
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
        let dispatcher = Arc::new(Dispatcher::new(
            store.clone(),
            Arc::new(OrangeClients::from_config(&config).expect("clients")),
            Arc::new(NoItsm),
            config.delivery.clone(),
            "test-dispatcher",
        ));
        Rig {
            sim,
            store,
            dispatcher,
            config,
            dir,
        }
    }

    /// Waits until the queue figures satisfy `done` (or `within` passes).
    pub async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&itsm_bridge::store::QueueStats) -> bool,
    ) -> bool {
        let until = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < until {
            if done(&self.store.queue_stats().await.expect("stats")) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
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
    let key = ticket_key(ticket);
    let body = serde_json::json!({"ticket": ticket, "n": n}).to_string();
    let event = NewEvent {
        id: EventId::new(),
        tenant,
        source: SourceName::parse("servicenow").unwrap(),
        dedupe_key: format!("{ticket}:{n}"),
        ticket: key.clone(),
        event_type: "update".into(),
        body: Bytes::from(body),
        headers: Vec::new(),
        received_at: time::OffsetDateTime::now_utc(),
        ticket_number: None,
        routing: Default::default(),
        deliveries: calls
            .into_iter()
            .map(|c| NewDelivery {
                ticket: key.clone(),
                target: Target::Orange(c),
            })
            .collect(),
        disposition: Default::default(),
    };
    store.ingest(event).await.expect("ingest").event_id()
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
    let mut times: Vec<time::OffsetDateTime> = entries
        .iter()
        .filter_map(|e| {
            time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
                .ok()
        })
        .collect();
    assert_eq!(times.len(), entries.len(), "journal times parse");
    times.sort();
    let mut best = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] - times[i] < time::Duration::seconds(1) {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}
