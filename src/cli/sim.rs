//! `sim`: the simulators standalone.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::sim::{Inferred, SimOptions, serve};

/// Seconds between Orange-side life ticks of the standalone simulator (unset: no timer,
/// statuses move only through `POST /_sim/...`).
const LIFE_ENV: &str = "ITSM_BRIDGE_SIM_LIFE_SECS";

pub async fn sim(
    listen: SocketAddr,
    fault_rate: f64,
    latency_ms: u64,
    rate_limit: Option<u32>,
    inferred: &[String],
) -> anyhow::Result<()> {
    let inferred = Inferred::from_assignments(inferred).context("--inferred")?;
    anyhow::ensure!(
        (0.0..=1.0).contains(&fault_rate),
        "--fault-rate must be between 0.0 and 1.0 (got {fault_rate})"
    );
    let life_interval = match std::env::var(LIFE_ENV) {
        Ok(v) => Some(Duration::from_secs(
            v.parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .with_context(|| format!("{LIFE_ENV} must be a positive number of seconds"))?,
        )),
        Err(_) => None,
    };
    let opts = SimOptions {
        fault_rate,
        latency_ms,
        rate_limit,
        life_interval,
        inferred,
        ..SimOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "simulators listening");
    if inferred != Inferred::default() {
        tracing::info!(sim.inferred = %inferred.listing(), "simulators: inferred switches changed from their defaults");
    }
    serve(listener, opts, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
