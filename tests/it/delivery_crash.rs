//! The crash test: the real binary delivers the chaos workload through a faulty simulator and
//! is killed with SIGKILL mid-run; after a restart the same guarantees hold (every event
//! exactly once, in order, one incident per ticket, the rate never exceeded), because leases
//! expire and every delivery that may have been sent is looked up before it is sent again.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::delivery_chaos::{
    EVENTS, RATE, TICKETS, assert_delivered_exactly_once_in_order, assert_rate_held, chaos_faults,
    chaos_sim, event_call,
};
use crate::delivery_support::*;

struct Gateway(Child);

impl Gateway {
    fn start(config: &std::path::Path) -> Gateway {
        let child = Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gateway binary starts");
        Gateway(child)
    }

    /// SIGKILL: no shutdown hook, no drain, no flush.
    fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_loses_nothing_and_duplicates_nothing() {
    let opts = chaos_sim();
    let sim = itsm_bridge::sim::start(opts.clone()).await.expect("sim");
    sim.set_faults(chaos_faults(&opts));
    let dir = tempfile::tempdir().unwrap();
    let yaml = delivery_config_yaml(dir.path(), &sim.base_url(), "http://127.0.0.1:9", "")
        .replace("timeout_ms: 2000", "timeout_ms: 1000")
        .replace("concurrency: 16", "concurrency: 32")
        .replace(
            "rate_limit: { per_second: 1000, burst: 50 }",
            &format!("rate_limit: {{ per_second: {RATE}, burst: 1 }}"),
        );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let config = parse_config(&yaml);
    let store = itsm_bridge::app::open_store(&config).await.expect("store");
    store.migrate().await.unwrap();
    for k in 0..EVENTS {
        let step = (0..TICKETS).map(|t| {
            let s = store.as_ref();
            async move { ingest(s, &format!("CHAOS-{t}"), k, vec![event_call(t, k)]).await }
        });
        futures_util::future::join_all(step).await;
    }
    let total = (TICKETS * EVENTS) as u64;

    let mut gw = Gateway::start(&path);
    // Kill once a fair share is delivered, mid-flight.
    let mut progressed = false;
    for _ in 0..600 {
        let q = store.queue_stats().await.unwrap();
        if q.pending + q.in_flight < total * 2 / 3 {
            progressed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(progressed, "the gateway delivered before the kill");
    gw.kill9();
    let left = store.queue_stats().await.unwrap();
    assert!(left.pending + left.in_flight > 0, "killed mid-run");
    // A restarting pod takes a moment; the old process's last second must not overlap ours.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let _gw = Gateway::start(&path);
    let Some(q) = queue_until(store.as_ref(), Duration::from_secs(120), idle).await else {
        panic!(
            "restarted gateway drained the queue: {:?}",
            store.queue_stats().await
        );
    };
    assert_eq!(q.dead, 0, "nothing dead-lettered");

    assert_delivered_exactly_once_in_order(&sim, TICKETS);
    let (_, fault_share) = assert_rate_held(&sim);
    assert!(fault_share >= 0.2, "fault share {fault_share}");
}
