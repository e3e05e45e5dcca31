//! Scale-out: three gateway processes on one PostgreSQL database take 3,060 webhooks spread
//! across them while the simulator injects faults; one replica is SIGKILLed mid-run. Every
//! event is delivered exactly once, per-ticket order holds, the combined Orange call rate
//! stays within the credential's limit, and poll-back goes on on a survivor.
//! Needs `TEST_DATABASE_URL` (set by `.ci/run`); skipped visibly without it.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::delivery_chaos::{
    EVENTS, RATE, assert_delivered_exactly_once_in_order, assert_rate_held, chaos_faults, chaos_sim,
};
use crate::delivery_support::{SN_HOOK, idle, queue_until, sn_sources_yaml};
use crate::support::SANDBOX_ORANGE_YAML;

const TICKETS: usize = 180;
const SN_SEEDED: &str = "9d385017c611228701d22104cc95c371";

struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(config: &std::path::Path) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env(
                "RUST_LOG",
                std::env::var("REPLICA_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdout(Stdio::null())
            .stderr(if std::env::var("REPLICA_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("gateway binary starts");
        Replica {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A fresh database on the test server, so runs never see each other's rows; dropped (with
/// whatever connections are left) when the guard goes, after the replicas declared below it.
struct TempDatabase {
    base: String,
    name: String,
    url: String,
}

async fn fresh_database(base: &str) -> TempDatabase {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("PostgreSQL reachable");
    let name = format!(
        "itsm_bridge_replicas_{}_{}",
        std::process::id(),
        rand_suffix()
    );
    // `name` is made of digits and a fixed prefix only.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let mut url = url::Url::parse(base).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    TempDatabase {
        base: base.to_owned(),
        name,
        url: url.to_string(),
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&base).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

/// The ServiceNow incidents the webhooks come from, so the poller's write-backs (the Orange
/// id, the acknowledgement) land on records that exist, as they would at a customer.
fn seed_servicenow_records(sim: &itsm_bridge::sim::SimHandle) {
    let mut d = sim.state.data();
    let template = d
        .sn_incidents
        .get(SN_SEEDED)
        .cloned()
        .expect("seeded record");
    for t in 0..TICKETS {
        let mut r = template.clone();
        let sys_id = event(t, 0)["sys_id"].as_str().unwrap().to_owned();
        r["sys_id"] = sys_id.clone().into();
        r["number"] = format!("CHAOS-{t}").into();
        d.sn_incidents.insert(sys_id, r);
    }
}

/// What the store and the simulator know of the round trip, for a failed poll-back.
async fn poll_back_story(
    store: &dyn itsm_bridge::store::Store,
    sim: &itsm_bridge::sim::SimHandle,
    orange_id: &str,
) -> String {
    use itsm_bridge::domain::{SourceName, TenantId, TicketKey};
    let ticket = TicketKey::new(
        &TenantId::parse("acme").unwrap(),
        &SourceName::parse("servicenow").unwrap(),
        SN_SEEDED,
    );
    let incident = sim
        .state
        .data()
        .incidents
        .iter()
        .find(|i| i.body["id"] == orange_id)
        .map(|i| (i.body["status"].clone(), i.body["lastUpdateDate"].clone()));
    let calls: Vec<_> = sim
        .journal(0)
        .into_iter()
        .filter(|e| e.path.ends_with(SN_SEEDED) || e.path.contains(orange_id))
        .map(|e| format!("{} {} {} {} {}", e.time, e.method, e.path, e.status, e.body))
        .collect();
    format!(
        "watermark: {:?}\nlink: {:?}\nremote state: {:?}\nqueue: {:?}\nOrange incident {orange_id} (status, lastUpdateDate): {incident:?}\ncalls:\n{}",
        store.watermark("poll:acme").await,
        store.link(&ticket).await,
        store.remote_state(&ticket).await,
        store.queue_stats().await,
        calls.join("\n"),
    )
}

/// The ServiceNow webhook of step `k` of ticket `t`: insert, then work notes (odd steps) and
/// description changes (even steps), as the chaos workload's steps.
fn event(t: usize, k: usize) -> serde_json::Value {
    let mut e = json!({
        "operation": if k == 0 { "insert" } else { "update" },
        "sys_id": format!("{:032x}", 0x00ab_cdef_0000_u64 + t as u64),
        "sys_mod_count": k.to_string(),
        "number": format!("CHAOS-{t}"),
        "short_description": format!("T{t}"),
        "sys_updated_by": "chloe.martin",
    });
    if k > 0 && k % 2 == 1 {
        e["work_notes"] = format!("T{t} #{k}").into();
        e["changed_fields"] = json!(["work_notes"]);
    } else if k > 0 {
        e["description"] = format!("T{t} #{k}").into();
        e["changed_fields"] = json!(["description"]);
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgres_deliver_exactly_once_in_order_within_the_rate_through_a_sigkill()
 {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("SKIPPED: TEST_DATABASE_URL not set (replicas::three_replicas_on_postgres…)");
        return;
    };
    let db = fresh_database(&base).await;
    let opts = chaos_sim();
    let sim = itsm_bridge::sim::start(opts.clone()).await.expect("sim");
    sim.set_faults(chaos_faults(&opts));
    seed_servicenow_records(&sim);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
store: {{ url: "{db}", max_connections: 8 }}
mappings_dir: {mappings}
reload_interval_secs: 0
admin: {{ token: test-admin-token }}
orange: {{ base_url: {sim}, timeout_ms: 1000 }}
delivery:
  concurrency: 16
  lease_secs: 5
  idle_poll_ms: 20
  retry: {{ max_attempts: 60, base_ms: 5, cap_ms: 150 }}
poller: {{ interval_secs: 1 }}
tenants:
  - id: acme
    orange:
{SANDBOX_ORANGE_YAML}
      rate_limit: {{ per_second: {RATE}, burst: 1 }}
{sources}
    itsm:
      servicenow:
        base_url: {sim}
        auth: {{ type: basic, username: sandbox, password: sandbox }}
        integration_user: itsm-bridge
"#,
            db = db.url,
            mappings = crate::support::repo().join("mappings").display(),
            sim = sim.base_url(),
            sources = sn_sources_yaml(),
        ),
    )
    .unwrap();

    let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&config)).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for r in &replicas {
        let mut ready = false;
        for _ in 0..300 {
            if client
                .get(format!("{}/readyz", r.base))
                .send()
                .await
                .is_ok_and(|x| x.status() == 200)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "replica {} ready", r.base);
    }

    // One sender per ticket, each event acknowledged before the next (that is the order the
    // gateway promises to keep), spread round-robin over the live replicas.
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let dead = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for t in 0..TICKETS {
        let (client, bases, dead, acked) =
            (client.clone(), bases.clone(), dead.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for k in 0..EVENTS {
                let mut n = t + k;
                loop {
                    let live = if dead.load(Ordering::Relaxed) {
                        &bases[1..]
                    } else {
                        &bases[..]
                    };
                    let url = format!("{}/webhooks/acme/servicenow", live[n % live.len()]);
                    let r = client
                        .post(url)
                        .basic_auth(SN_HOOK.0, Some(SN_HOOK.1))
                        .json(&event(t, k))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 202 => break,
                        Ok(r) if r.status().is_client_error() => {
                            panic!("ticket {t} step {k}: {}", r.status())
                        }
                        _ => n += 1, // the replica died under us: send it again to another
                    }
                }
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let total = TICKETS * EVENTS;
    while acked.load(Ordering::Relaxed) < total / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dead.store(true, Ordering::Relaxed);
    replicas[0].kill9();
    for s in senders {
        s.await.expect("sender");
    }
    assert!(total >= 3000, "{total} webhooks");

    // Poll-back goes on on a survivor: an incident for the simulator's seeded ServiceNow
    // record, resolved at Orange, is written back as state 6 with its close fields.
    let mut rt = event(0, 0);
    rt["sys_id"] = SN_SEEDED.into();
    rt["number"] = "RT-1".into();
    let r = client
        .post(format!("{}/webhooks/acme/servicenow", replicas[1].base))
        .basic_auth(SN_HOOK.0, Some(SN_HOOK.1))
        .json(&rt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // Everything drains.
    let store_cfg = itsm_bridge::config::Config::from_yaml(
        &std::fs::read_to_string(&config).unwrap(),
        "gateway.yaml",
        std::path::Path::new(""),
        |_| None,
    )
    .unwrap();
    let store = itsm_bridge::app::open_store(&store_cfg).await.unwrap();
    let drained = queue_until(store.as_ref(), Duration::from_secs(150), idle).await;
    let dead: Vec<_> = store
        .dead_letters(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.ticket, d.target.label(), d.attempts, d.last_error))
        .collect();
    assert!(
        drained.is_some(),
        "the survivors drained the queue: {:?}; dead letters: {dead:#?}",
        store.queue_stats().await,
    );
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:#?}");

    let rt_id = loop {
        let found = sim
            .state
            .data()
            .incidents
            .iter()
            .find(|i| i.body["externalReference"] == "RT-1")
            .map(|i| i.body["id"].as_str().unwrap().to_owned());
        if let Some(id) = found {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = client
        .post(format!("{}/_sim/incidents/{rt_id}/advance", sim.base_url()))
        .json(&json!({"status": "RESOLVED"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut written_back = false;
    for _ in 0..1200 {
        let patched = sim.journal(0).iter().any(|e| {
            e.method == "PATCH"
                && e.path.ends_with(SN_SEEDED)
                && (200..300).contains(&e.status)
                && serde_json::from_str::<serde_json::Value>(&e.body)
                    .is_ok_and(|b| b["state"] == "6")
        });
        if patched {
            written_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !written_back {
        panic!(
            "a surviving replica polled Orange and resolved the ServiceNow incident\n{}",
            poll_back_story(&*store, &sim, &rt_id).await
        );
    }

    assert_delivered_exactly_once_in_order(&sim, TICKETS);
    let (max, fault_share) = assert_rate_held(&sim);
    assert!(max <= RATE as usize);
    assert!(fault_share >= 0.2, "fault share {fault_share}");
}
