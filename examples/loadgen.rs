//! Open-loop load generator for the benchmarks: sends ServiceNow-style webhooks (about 2 KB,
//! each a new `sys_mod_count`, Basic auth) at a fixed rate and reports latency percentiles.
//! Unlike a closed-loop tool, a slow answer does not lower the offered rate, so the p99 is
//! honest. Bounded: stops after `--seconds`.
//!
//! `loadgen URL RATE SECONDS USER:PASSWORD`

use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

fn payload(run: u64, i: u64) -> String {
    let filler = "Router LYON-RTR-02 unreachable; customer impact 300 users. ".repeat(24);
    serde_json::json!({
        "operation": "update",
        "sys_id": format!("{:032x}", 0xbe_0000_u64 + (i % 1000)),
        "sys_mod_count": (run * 1_000_000 + i / 1000).to_string(),
        "number": format!("INC{:07}", i % 1000),
        "short_description": "MPLS link down – Lyon site",
        "description": filler,
        "state": "2", "impact": "1", "urgency": "1",
        "sys_updated_by": "chloe.martin",
        "sys_updated_on": "2025-05-14 09:40:30",
        "cmdb_ci_display": "LYON-RTR-02"
    })
    .to_string()
}

#[tokio::main]
async fn main() {
    let args = support::args("loadgen URL RATE SECONDS USER:PASSWORD");
    let (url, rate, secs) = (
        args[1].clone(),
        args[2].parse::<u64>().expect("RATE"),
        args[3].parse::<u64>().expect("SECONDS"),
    );
    let auth = support::basic_auth(&args[4]);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let lat = Arc::new(std::sync::Mutex::new(Vec::<Duration>::with_capacity(
        (rate * secs) as usize,
    )));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    // A different run id each time, so reruns on the same store are not duplicates.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() % 1_000_000);
    let total = rate * secs;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        tick.tick().await;
        let (client, url, auth, lat, errors) = (
            client.clone(),
            url.clone(),
            auth.clone(),
            lat.clone(),
            errors.clone(),
        );
        let body = payload(run, i);
        tasks.spawn(async move {
            let t = Instant::now();
            let r = client
                .post(&url)
                .header("content-type", "application/json")
                .header("authorization", auth)
                .body(body)
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 202 => lat.lock().unwrap().push(t.elapsed()),
                _ => {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "offered {rate}/s for {secs}s: {} acknowledged ({:.0}/s), {} errors; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.len(),
        l.len() as f64 / elapsed.as_secs_f64(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        l.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
