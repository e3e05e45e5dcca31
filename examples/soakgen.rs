//! Open-loop webhook load for the soak (`benches/soak/run.sh`): a steady population of
//! ServiceNow incidents, each created once (`insert`) and then updated over and over (a new
//! description, so every update plans an Orange call), at a fixed rate. Bounded: stops after
//! `SECONDS`; prints what was acknowledged.
//!
//! `soakgen URL RATE SECONDS USER:PASSWORD TICKETS`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod support;

fn payload(run: u64, i: u64, tickets: u64) -> String {
    let t = i % tickets;
    let operation = if i < tickets { "insert" } else { "update" };
    serde_json::json!({
        "operation": operation,
        "sys_id": format!("{:08x}{:024x}", run, t),
        "sys_mod_count": (i / tickets).to_string(),
        "number": format!("SOAK{run}-{t:06}"),
        "short_description": "MPLS link down – Lyon site",
        "description": format!("{} (update {})", "Router LYON-RTR-02 unreachable. ".repeat(20), i / tickets),
        "state": "2", "impact": "1", "urgency": "1",
        "sys_updated_by": "chloe.martin",
        "changed_fields": ["description"],
    })
    .to_string()
}

#[tokio::main]
async fn main() {
    let args = support::args("soakgen URL RATE SECONDS USER:PASSWORD TICKETS");
    let url = args[1].clone();
    let rate: u64 = args[2].parse().expect("RATE");
    let secs: u64 = args[3].parse().expect("SECONDS");
    let auth = support::basic_auth(&args[4]);
    let tickets: u64 = args[5].parse().expect("TICKETS");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() % 1_000_000);
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..rate * secs {
        tick.tick().await;
        while tasks.try_join_next().is_some() {}
        let (client, url, auth, ok, failed) = (
            client.clone(),
            url.clone(),
            auth.clone(),
            ok.clone(),
            failed.clone(),
        );
        let body = payload(run, i, tickets);
        tasks.spawn(async move {
            let r = client
                .post(&url)
                .header("content-type", "application/json")
                .header("authorization", auth)
                .timeout(Duration::from_secs(30))
                .body(body)
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 202 => ok.fetch_add(1, Ordering::Relaxed),
                _ => failed.fetch_add(1, Ordering::Relaxed),
            };
        });
    }
    while tasks.join_next().await.is_some() {}
    println!(
        "offered {rate}/s for {secs}s to {tickets} tickets: {} acknowledged ({:.0}/s), {} failed",
        ok.load(Ordering::Relaxed),
        ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    );
}
