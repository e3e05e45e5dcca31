//! `sim`: the simulators standalone.

use std::net::SocketAddr;

use anyhow::Context;

use crate::sim::{SimOptions, serve};

pub async fn sim(
    listen: SocketAddr,
    fault_rate: f64,
    latency_ms: u64,
    rate_limit: Option<u32>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&fault_rate),
        "--fault-rate must be between 0.0 and 1.0 (got {fault_rate})"
    );
    let opts = SimOptions {
        fault_rate,
        latency_ms,
        rate_limit,
        ..SimOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "simulators listening");
    serve(listener, opts, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
