//! `serve` and `migrate`.

use std::net::SocketAddr;

use crate::config::Config;

/// Runs the gateway until Ctrl-C / SIGTERM; with `sandbox`, the simulators too (wired by
/// `app::serve`).
pub async fn serve(config: Config, sandbox: Option<SocketAddr>) -> anyhow::Result<()> {
    crate::app::serve(config, sandbox, shutdown_signal()).await
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
