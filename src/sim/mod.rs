//! The simulators: Orange (OAuth v3, Incident 1.3, Wholesale Trouble Tickets 1.0, Core
//! Information 2.4, Ordering 3.1), a ServiceNow Table API and a Jira REST API, on one port,
//! with fault injection and a control API under `/_sim/`.
//!
//! Product code, not test code: `itsm-bridge sim` and `serve --sandbox` run it. It keeps its
//! own wire types and never imports `orange/` or `itsm/`.
//!
//! NOTE: placeholder door; the simulators land with the simulator issue.

use std::future::Future;

/// Settings of a simulator instance.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Share of API calls answered with an injected fault (0.0–1.0).
    pub fault_rate: f64,
    /// Added latency of every call, in milliseconds.
    pub latency_ms: u64,
    /// Requests per second allowed per Orange credential (`None` = unlimited).
    pub rate_limit: Option<u32>,
    pub client_id: String,
    pub client_secret: String,
    pub api_key: String,
    /// Basic credentials the ServiceNow and Jira simulators accept.
    pub itsm_username: String,
    pub itsm_password: String,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            fault_rate: 0.0,
            latency_ms: 0,
            rate_limit: None,
            client_id: "sandbox".into(),
            client_secret: "sandbox-secret".into(),
            api_key: "sandbox-api-key".into(),
            itsm_username: "sandbox".into(),
            itsm_password: "sandbox".into(),
        }
    }
}

/// Serves the simulators on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    opts: SimOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _ = opts;
    let app = axum::Router::new();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
