//! Poll-back cost: 10,000 linked open incidents, 1% of them changing per cycle (a status
//! change and an Orange note each), against the real SQLite store and an in-process Orange
//! that counts calls (and optionally adds latency per call).
//!
//! Run: `cargo bench --bench poll` (env: `POLL_BENCH_LINKS`, `POLL_BENCH_CHANGED`,
//! `POLL_BENCH_PAGE`, `POLL_BENCH_CYCLES`, `POLL_BENCH_LATENCY_MS`, `POLL_BENCH_SCAN` =
//! `incremental` (default) | `reread` | `auto`, `POLL_BENCH_BUDGET`). Prints one line per
//! cycle and checks calls ≤ ceil(changed ÷ page size) + changed + 2 (incremental) or
//! ≤ 2 × budget (re-read: one GET per object, a notes read for those that moved).
//! Figures: benches/README.md.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use itsm_bridge::config::ScanChoice;
use itsm_bridge::domain::{
    Attempt, AttemptOutcome, CallFailure, Delivery, ItsmCall, NewDelivery, OrangeApi, OrangeOp,
    SourceName, Target, TenantId, TicketKey,
};
use itsm_bridge::store::sqlite::SqliteStore;
use itsm_bridge::store::{Finish, IngestStore, LinkStore, NewLink, Store};
use itsm_bridge::worker::poller::{
    Changed, OrangeNote, OrangeReader, PlannerLookup, PollSettings, Poller, ScanSupport, Support,
    WayBackPlanner,
};
use serde_json::{Map, Value, json};

/// The store work shared with the integration tests (claimed deliveries finished as the
/// dispatcher finishes them).
#[path = "../../tests/it/support/delivery.rs"]
mod delivery;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Incident {
    updated: String,
    status: &'static str,
    notes: Vec<OrangeNote>,
}

/// The Orange side: incidents by index, a clock of strictly increasing stamps.
struct Orange {
    incidents: Mutex<Vec<Incident>>,
    clock: AtomicU32,
    calls: AtomicU32,
    latency: Duration,
}

impl Orange {
    fn stamp(&self) -> String {
        let ms = self.clock.fetch_add(1, Ordering::SeqCst);
        let t = time::macros::datetime!(2026-11-22 00:00:00 UTC) + Duration::from_millis(ms.into());
        let f = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        t.format(&f).expect("a 2026 time formats")
    }
    async fn call(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
    /// One counted call reading incident `id` (`INC…`) through `f`; `None` when unknown.
    async fn read<T>(&self, id: &str, f: impl FnOnce(usize, &Incident) -> T) -> Option<T> {
        self.call().await;
        let i: usize = id.trim_start_matches("INC").parse().unwrap_or(usize::MAX);
        self.incidents.lock().unwrap().get(i).map(|x| f(i, x))
    }
    fn changed(i: usize, inc: &Incident) -> Changed {
        let id = format!("INC{i:06}");
        Changed {
            object: json!({"id": id, "status": inc.status, "lastUpdateDate": inc.updated}),
            id,
            last_update: inc.updated.clone(),
            status: Some(inc.status.to_owned()),
            notes: None,
        }
    }
}

#[async_trait]
impl OrangeReader for Orange {
    async fn changed_page(
        &self,
        _: &TenantId,
        _: OrangeApi,
        since: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<Changed>, CallFailure> {
        self.call().await;
        let v = self.incidents.lock().unwrap();
        let mut hits: Vec<(usize, &Incident)> = v
            .iter()
            .enumerate()
            .filter(|(_, i)| since.is_none_or(|s| i.updated.as_str() >= s))
            .collect();
        hits.sort_by(|a, b| b.1.updated.cmp(&a.1.updated));
        Ok(hits
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(i, inc)| Self::changed(i, inc))
            .collect())
    }
    async fn notes(
        &self,
        _: &TenantId,
        _: OrangeApi,
        id: &str,
    ) -> Result<Vec<OrangeNote>, CallFailure> {
        Ok(self
            .read(id, |_, x| x.notes.clone())
            .await
            .unwrap_or_default())
    }
    async fn get(
        &self,
        _: &TenantId,
        _: OrangeApi,
        id: &str,
    ) -> Result<Option<Changed>, CallFailure> {
        Ok(self.read(id, Self::changed).await)
    }
    async fn scan_support(&self, _: &TenantId, _: OrangeApi) -> Result<ScanSupport, CallFailure> {
        // Three list calls, as the Orange reader's probes make.
        for _ in 0..3 {
            self.call().await;
        }
        Ok(ScanSupport {
            sort: Support::Honoured,
            range: Support::Honoured,
            calls: 3,
        })
    }
}

/// ServiceNow way back: status → state (close fields on RESOLVED), Orange notes as work notes.
struct Table;

fn patch(ticket: &str, fields: Map<String, Value>) -> ItsmCall {
    ItsmCall::servicenow_patch("incident", ticket, fields)
}

impl WayBackPlanner for Table {
    fn plan_status(&self, ticket: &str, status: &str, _: &Value) -> Option<ItsmCall> {
        let f = match status {
            "IN_PROGRESS" => json!({"state": "2"}),
            "RESOLVED" => {
                json!({"state": "6", "close_code": "Solution provided", "close_notes": "Resolved by Orange"})
            }
            _ => return None,
        };
        Some(patch(ticket, f.as_object().cloned().unwrap_or_default()))
    }
    fn plan_note(
        &self,
        ticket: &str,
        orange_id: &str,
        note: &Value,
        orange: bool,
    ) -> Option<ItsmCall> {
        let text = format!(
            "[Orange {orange_id}] {}",
            note["text"].as_str().unwrap_or_default()
        );
        orange.then(|| {
            patch(
                ticket,
                json!({"work_notes": text})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
        })
    }
}

impl PlannerLookup for Table {
    fn planner(&self, _: &TenantId, _: &SourceName) -> Option<Arc<dyn WayBackPlanner>> {
        Some(Arc::new(Table))
    }
}

async fn link_all(store: &SqliteStore, tenant: &TenantId, n: usize) {
    let source = SourceName::parse("servicenow").expect("source");
    let create = Target::Orange(delivery::call(OrangeOp::CreateIncident, json!({}), None));
    let ds = (0..n)
        .map(|i| NewDelivery {
            ticket: TicketKey::new(tenant, &source, &format!("sys{i:06}")),
            target: create.clone(),
        })
        .collect();
    store.enqueue(tenant, ds).await.expect("enqueue");
    // Due from the store's own clock at enqueue: claim a little later than that.
    let now = time::OffsetDateTime::now_utc() + Duration::from_secs(1);
    let ok = Attempt {
        at: now,
        outcome: AttemptOutcome::Success,
        http_status: Some(201),
        error_code: None,
        error: None,
        latency_ms: 1,
    };
    let finish = |d: &Delivery| {
        let i = d.ticket.ticket().trim_start_matches("sys");
        let link = NewLink {
            api: OrangeApi::Incident,
            orange_id: format!("INC{i}"),
        };
        Finish::Done {
            link: Some(link),
            echoes: vec![],
            echo_until: None,
        }
    };
    while !delivery::finish_due(store, "bench", now, 1000, &ok, finish)
        .await
        .is_empty()
    {}
}

#[tokio::main]
async fn main() {
    let links = env("POLL_BENCH_LINKS", 10_000) as usize;
    let changed = env("POLL_BENCH_CHANGED", (links / 100) as u64) as usize;
    let page = env("POLL_BENCH_PAGE", 100) as u32;
    let cycles = env("POLL_BENCH_CYCLES", 10) as usize;
    let latency = Duration::from_millis(env("POLL_BENCH_LATENCY_MS", 0));
    let budget = env("POLL_BENCH_BUDGET", 100) as u32;
    let scan = match std::env::var("POLL_BENCH_SCAN").as_deref() {
        Ok("reread") => ScanChoice::Reread,
        Ok("auto") => ScanChoice::Auto,
        _ => ScanChoice::Incremental,
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::open(&url, 4).await.expect("open store");
    store.migrate().await.expect("migrate");
    let tenant = TenantId::parse("bench").expect("tenant");
    let now = time::OffsetDateTime::now_utc();
    let t = Instant::now();
    link_all(&store, &tenant, links).await;
    let linked = store
        .list_links(&tenant, None, u32::MAX)
        .await
        .expect("links")
        .len();
    assert_eq!(linked, links, "every incident linked");
    println!("setup: {links} linked incidents in {:.1?}", t.elapsed());

    let orange = Arc::new(Orange {
        incidents: Mutex::new(Vec::new()),
        clock: AtomicU32::new(0),
        calls: AtomicU32::new(0),
        latency,
    });
    {
        let mut v = orange.incidents.lock().unwrap();
        for _ in 0..links {
            v.push(Incident {
                updated: orange.stamp(),
                status: "IN_PROGRESS",
                notes: vec![],
            });
        }
    }
    let store: Arc<dyn Store> = Arc::new(store);
    let settings = PollSettings {
        interval: Duration::from_secs(60),
        page_size: page,
        reconcile_every: None,
        apis: vec![OrangeApi::Incident],
        per_object_apis: vec![],
        scan,
        reread_budget: budget,
        // Measured cycles are a quiet steady state: no re-probe among them.
        reprobe_every: Duration::from_secs(24 * 3600),
    };
    let poller = Poller::new(
        store,
        orange.clone(),
        Arc::new(Table),
        vec![tenant.clone()],
        settings,
        "bench",
    );

    let t = Instant::now();
    let first = poller
        .poll_tenant(&tenant, now)
        .await
        .expect("cycle")
        .expect("lease");
    println!(
        "first cycle (no watermark, every incident read): calls={} changes={} writebacks={} time={:.1?}",
        first.calls,
        first.changes,
        first.writebacks,
        t.elapsed()
    );

    println!("scan: {scan:?}, re-read budget {budget}");
    println!("cycle  changed  calls  bound  changes  writebacks  time");
    let mut rng_state = 0x2545_f491_u64;
    let mut times = Vec::new();
    for c in 0..cycles {
        {
            let mut v = orange.incidents.lock().unwrap();
            let mut picked = std::collections::HashSet::new();
            while picked.len() < changed {
                rng_state ^= rng_state << 13;
                rng_state ^= rng_state >> 7;
                rng_state ^= rng_state << 17;
                picked.insert((rng_state % links as u64) as usize);
            }
            for i in picked {
                let inc = &mut v[i];
                inc.status = if inc.status == "IN_PROGRESS" {
                    "RESOLVED"
                } else {
                    "IN_PROGRESS"
                };
                let nid = format!("N{c}-{i}");
                inc.notes.push(OrangeNote {
                    id: nid.clone(),
                    orange_authored: true,
                    body: json!({"id": nid, "text": "Line card replaced"}),
                });
                inc.updated = orange.stamp();
            }
        }
        let before = orange.calls.load(Ordering::SeqCst);
        let t = Instant::now();
        // Each cycle a minute later: re-reads rotate by check time.
        let at = now + Duration::from_secs(60 * (c as u64 + 1));
        let rep = poller
            .poll_tenant(&tenant, at)
            .await
            .expect("cycle")
            .expect("lease");
        let took = t.elapsed();
        let calls = orange.calls.load(Ordering::SeqCst) - before;
        let bound = if scan == ScanChoice::Reread {
            2 * budget as usize
        } else {
            changed.div_ceil(page as usize) + changed + 2
        };
        println!(
            "{c:>5}  {changed:>7}  {calls:>5}  {bound:>5}  {:>7}  {:>10}  {took:.1?}",
            rep.changes, rep.writebacks
        );
        assert!(
            calls as usize <= bound,
            "calls {calls} above the bound {bound}"
        );
        if scan != ScanChoice::Reread {
            assert_eq!(rep.changes as usize, changed);
        }
        times.push(took);
    }
    times.sort();
    if !times.is_empty() {
        println!(
            "cycle time: median {:.1?}, max {:.1?} (interval 60 s)",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
