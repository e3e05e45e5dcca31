//! `serve` and `migrate`.

use std::net::SocketAddr;

use anyhow::Context;

use crate::config::Config;

/// Runs the gateway until Ctrl-C / SIGTERM; with `sandbox`, the simulators too.
pub async fn serve(mut config: Config, sandbox: Option<SocketAddr>) -> anyhow::Result<()> {
    let token = tokio_util::sync::CancellationToken::new();
    let mut sim_task = None;
    if let Some(sim_addr) = sandbox {
        let listener = tokio::net::TcpListener::bind(sim_addr)
            .await
            .with_context(|| format!("cannot listen on {sim_addr} for the simulators"))?;
        let base = url::Url::parse(&format!("http://{}", listener.local_addr()?))?;
        config.point_at_simulator(&base);
        tracing::info!(sim.addr = %base, "sandbox: simulators started in-process");
        let t = token.clone();
        sim_task = Some(tokio::spawn(crate::sim::serve(
            listener,
            crate::sim::SimOptions::default(),
            async move { t.cancelled().await },
        )));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "itsm-bridge listening");
    let t = token.clone();
    let result = crate::run(config, listener, async move {
        shutdown_signal().await;
        t.cancel();
    })
    .await;
    token.cancel();
    if let Some(task) = sim_task {
        let _ = task.await;
    }
    result
}

/// Applies store migrations and exits.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = crate::app::open_store(config).await?;
    store.migrate().await?;
    crate::outln!("migrations applied ({} store)", store.backend());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown requested; finishing in-flight work");
}
