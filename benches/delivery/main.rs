//! Delivery benchmark: deliveries/s from the store to the Orange simulator and back into the
//! store (claim → token/limiter → HTTP → finish), with the real SQLite store, Orange client and
//! dispatcher, in one process.
//!
//! ```text
//! cargo bench --bench delivery -- unlimited [DELIVERIES]   # rate limit off
//! cargo bench --bench delivery -- limited [SECONDS]        # 50/s per credential, burst 1
//! ```
//! `BENCH_DIR` puts the database elsewhere (e.g. `/dev/shm`); `BENCH_CONCURRENCY` sets
//! `delivery.concurrency` (default 64, the gateway's default).
//! `unlimited` pre-loads the queue (tickets × 5 calls: create, update, note, update, note) and
//! times the dispatcher draining it. `limited` keeps the queue full for SECONDS (default 60)
//! and reads the simulator's journal: achieved rate over the run and the busiest one-second
//! window (sliding, from the journal's arrival times).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use itsm_bridge::config::Config;
use itsm_bridge::domain::{
    CallFailure, EventId, FailureClass, ItsmCall, NewDelivery, NewEvent, OrangeCall, OrangeOp,
    SourceName, Target, TenantId, TicketKey,
};
use itsm_bridge::orange::OrangeClients;
use itsm_bridge::sim::SimOptions;
use itsm_bridge::store::Store;
use itsm_bridge::worker::{Booked, Dispatcher, ItsmWriter, Written};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The binary's allocator (`src/main.rs`), so the figure is the gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct NoItsm;

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
            message: "no ITSM in this benchmark".into(),
        })
    }
}

fn config(dir: &Path, sim: &str, per_second: u32) -> Config {
    let yaml = format!(
        r#"
store: {{ url: "sqlite://{db}", max_connections: 8 }}
mappings_dir: {dir}
reload_interval_secs: 0
log: {{ level: warn }}
poller: {{ enabled: false }}
orange: {{ base_url: "{sim}", timeout_ms: 10000 }}
delivery: {{ concurrency: {concurrency}, lease_secs: 60, idle_poll_ms: 5 }}
tenants:
  - id: bench
    orange:
      client_id: sandbox
      client_secret: sandbox-secret
      api_key: sandbox-api-key
      rate_limit: {{ per_second: {rate}, burst: 1 }}
    sources:
      servicenow:
        auth: [{{ type: basic, username: bench, password: bench-password }}]
        mapping: none.yaml
"#,
        db = dir.join("bench.db").display(),
        dir = dir.display(),
        rate = per_second.max(1),
        // `delivery.concurrency`: the default (64) unless BENCH_CONCURRENCY says otherwise.
        concurrency = std::env::var("BENCH_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(64),
    );
    let mut c = Config::from_yaml(&yaml, "bench.yaml", Path::new(""), |_| None)
        .unwrap_or_else(|e| panic!("bench config: {e}"));
    // 0 = no limiter at all (not a valid operator setting, hence set after validation).
    c.tenants[0].orange.rate_limit.per_second = per_second;
    c
}

fn call(t: usize, k: usize) -> OrangeCall {
    let (op, body, ext) = match k {
        0 => (
            OrangeOp::CreateIncident,
            json!({"shortDescription": format!("bench {t}"), "externalReference": format!("B-{t}")}),
            Some(format!("B-{t}")),
        ),
        k if k % 2 == 0 => (
            OrangeOp::AddIncidentNote,
            json!({"text": format!("note {k}")}),
            None,
        ),
        k => (
            OrangeOp::UpdateIncident,
            json!({"description": format!("step {k}")}),
            None,
        ),
    };
    OrangeCall {
        op,
        body,
        external_ref: ext,
        lookups: vec![],
    }
}

/// Commits `tickets × steps` events, one delivery each, step by step (concurrent within a
/// step, so the store groups commits).
async fn load(store: &Arc<dyn Store>, tickets: usize, steps: usize) {
    let tenant = TenantId::parse("bench").unwrap();
    let source = SourceName::parse("servicenow").unwrap();
    for k in 0..steps {
        for chunk in (0..tickets).collect::<Vec<_>>().chunks(500) {
            let batch = chunk.iter().map(|&t| {
                let key = TicketKey::new(&tenant, &source, &format!("B-{t}"));
                let event = NewEvent {
                    id: EventId::new(),
                    tenant: tenant.clone(),
                    source: source.clone(),
                    dedupe_key: format!("{t}:{k}"),
                    ticket: key.clone(),
                    event_type: "update".into(),
                    body: Bytes::from_static(b"{}"),
                    headers: Vec::new(),
                    received_at: time::OffsetDateTime::now_utc(),
                    ticket_number: None,
                    routing: Default::default(),
                    deliveries: vec![NewDelivery {
                        ticket: key,
                        target: Target::Orange(call(t, k)),
                    }],
                    disposition: Default::default(),
                };
                let store = store.clone();
                async move { store.ingest(event).await.expect("ingest") }
            });
            futures_util::future::join_all(batch).await;
        }
    }
}

async fn setup(
    per_second: u32,
    journal: usize,
) -> (
    itsm_bridge::sim::SimHandle,
    Arc<dyn Store>,
    Arc<Dispatcher>,
    tempfile::TempDir,
) {
    let sim = itsm_bridge::sim::start(SimOptions {
        journal_capacity: journal,
        ..SimOptions::default()
    })
    .await
    .expect("simulator");
    // BENCH_DIR puts the database elsewhere (e.g. /dev/shm to take fsync out of the figure).
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let c = config(dir.path(), &sim.base_url(), per_second);
    let store = itsm_bridge::app::open_store(&c).await.expect("store");
    store.migrate().await.expect("migrate");
    let d = Dispatcher::new(
        store.clone(),
        Arc::new(OrangeClients::from_config(&c).expect("clients")),
        Arc::new(NoItsm),
        c.delivery.clone(),
        "bench",
    );
    (sim, store, Arc::new(d), dir)
}

async fn unlimited(deliveries: usize) {
    let steps = 5;
    let tickets = deliveries.div_ceil(steps);
    let (_sim, store, d, _dir) = setup(0, 0).await;
    let t = Instant::now();
    load(&store, tickets, steps).await;
    let total = (tickets * steps) as f64;
    println!("loaded {total} deliveries in {:.2?}", t.elapsed());
    let token = CancellationToken::new();
    let run = tokio::spawn(d.clone().run(token.clone()));
    let t = Instant::now();
    loop {
        let q = store.queue_stats().await.expect("stats");
        if q.pending == 0 && q.in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t.elapsed();
    token.cancel();
    let _ = run.await;
    let q = store.queue_stats().await.expect("stats");
    println!(
        "unlimited: {total} deliveries in {took:.2?} = {:.0} deliveries/s (dead: {})",
        total / took.as_secs_f64(),
        q.dead
    );
}

async fn limited(secs: u64) {
    let rate = 50u32;
    let (sim, store, d, _dir) = setup(rate, 100_000).await;
    // More than the run can deliver, so the limiter is the bottleneck all along.
    let tickets = (rate as usize * secs as usize) / 3 + 200;
    load(&store, tickets, 3).await;
    let token = CancellationToken::new();
    let run = tokio::spawn(d.clone().run(token.clone()));
    // The window is timed from the first call: run past its end so the start-up (first
    // token, first claim) is not counted as time the limiter left unused.
    tokio::time::sleep(Duration::from_secs(secs + 3)).await;
    token.cancel();
    let _ = run.await;
    let mut times: Vec<time::OffsetDateTime> = sim
        .journal(0)
        .iter()
        .filter(|e| e.path.starts_with("/incident/"))
        .filter_map(|e| {
            time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
                .ok()
        })
        .collect();
    times.sort();
    let Some(&first) = times.first() else {
        println!("limited: no call reached the simulator");
        return;
    };
    let window = time::Duration::seconds(secs as i64);
    let in_run = times.iter().filter(|t| **t - first < window).count();
    let (mut best, mut j) = (0, 0);
    for i in 0..times.len() {
        while j < times.len() && times[j] - times[i] < time::Duration::seconds(1) {
            j += 1;
        }
        best = best.max(j - i);
    }
    let refused = sim.journal(0).iter().filter(|e| e.status == 429).count();
    let achieved = in_run as f64 / secs as f64;
    // A gap far above 1/rate means the limiter had no caller waiting (a stall upstream of it).
    let gap = times
        .windows(2)
        .take_while(|w| w[1] - first < window)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "limited: {in_run} calls in the first {secs} s = {achieved:.2}/s ({:.1}% of {rate}/s); \
         busiest one-second window {best} (limit {rate}); 429 answers {refused}; longest gap \
         between calls {} ms",
        achieved * 100.0 / f64::from(rate),
        gap.whole_milliseconds()
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("limited") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
            rt.block_on(limited(secs));
        }
        _ => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
            rt.block_on(unlimited(n));
        }
    }
}
