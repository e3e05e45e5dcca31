//! The simulators: Orange (OAuth v3, Incident 1.3, Wholesale Trouble Tickets 1.0, Core
//! Information 2.4, Ordering 3.1), a ServiceNow Table API and a Jira REST API, on one port,
//! with fault injection, a journal of received calls and a control API under `/_sim/`.
//!
//! Product code, not test code: `itsm-bridge sim` and `serve --sandbox` run it. It keeps its
//! own wire types (JSON values shaped like the docs) and never imports `orange/` or `itsm/`:
//! a type shared by the client and the simulator would let both be wrong the same way.
//!
//! Every request passes `faults::layer` (journal, latency, faults) except `/_sim/`; Orange
//! routes then pass `oauth::guard`, ServiceNow and Jira routes `itsm_auth`. What is inferred
//! rather than documented is listed in docs/orange-assumptions.md, and each such behaviour
//! can be switched to its plausible alternatives ([`inferred`], `/_sim/inferred`).

mod body;
mod control;
mod core_info;
mod doc;
mod error;
mod fault_settings;
pub mod faults;
mod incident;
pub mod inferred;
pub mod issue;
mod itsm_auth;
mod jira;
pub mod journal;
mod life;
mod multipart;
mod oauth;
mod options;
mod ordering;
mod query;
mod seed;
mod servicenow;
mod servicenow_acl;
pub mod state;
mod wholesale;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::oneshot;

pub use error::OrangeError;
pub use fault_settings::{FaultKind, FaultSettings, HeaderMatch, Phase, ScriptedFault};
pub use inferred::Inferred;
pub use journal::Entry as JournalEntry;
pub use options::SimOptions;
pub use seed::{
    ACCOUNT_ID as SEED_ACCOUNT_ID, JIRA_KEY as SEED_JIRA_KEY, SN_SYS_ID as SEED_SN_SYS_ID,
};
pub use state::SimState;

/// Base paths of the Orange APIs as Orange serves them.
pub const INCIDENT_BASE: &str = "/incident/b2b/v1";
pub const CORE_INFORMATION_BASE: &str = "/core-information/b2b/v2";
pub const ORDERING_BASE: &str = "/ordering/b2b/v3";
pub const TOKEN_PATH: &str = "/oauth/v3/token";

/// The whole simulator as one router over `state`.
pub fn router(state: Arc<SimState>) -> Router {
    let orange = |r: Router<Arc<SimState>>| {
        r.route_layer(from_fn_with_state(state.clone(), oauth::guard))
            .fallback(orange_not_found)
            .method_not_allowed_fallback(orange_not_allowed)
    };
    let api = Router::new()
        .route(TOKEN_PATH, post(oauth::token))
        .nest(INCIDENT_BASE, orange(incident::routes()))
        .nest(&state.opts.wholesale_base, orange(wholesale::routes()))
        .nest(CORE_INFORMATION_BASE, orange(core_info::routes()))
        .nest(ORDERING_BASE, orange(ordering::routes()))
        .nest(
            "/api/now",
            servicenow::routes()
                .route_layer(from_fn_with_state(state.clone(), itsm_auth::servicenow)),
        )
        .nest(
            "/rest/api",
            jira::routes().route_layer(from_fn_with_state(state.clone(), itsm_auth::jira)),
        )
        .nest(
            "/rest/servicedeskapi",
            jira::servicedesk_routes()
                .route_layer(from_fn_with_state(state.clone(), itsm_auth::jira)),
        )
        .fallback(orange_not_found)
        .layer(from_fn_with_state(state.clone(), faults::layer));
    api.merge(control::routes()).with_state(state)
}

async fn orange_not_found() -> Response {
    OrangeError::code(60).into_response()
}

async fn orange_not_allowed() -> Response {
    OrangeError::code(61).into_response()
}

/// Serves the simulators on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    opts: SimOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_state(
        listener,
        Arc::new(SimState::new(opts, seed::seeded)),
        shutdown,
    )
    .await
}

async fn serve_state(
    listener: tokio::net::TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(every) = state.opts.life_interval {
        life::spawn_timer(&state, every);
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A simulator running in-process (tests, `serve --sandbox`): its address and its state.
/// Dropping the handle stops it.
#[derive(Debug)]
pub struct SimHandle {
    pub addr: SocketAddr,
    pub state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the base every simulated API hangs under.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The journal entries received after sequence number `since`.
    pub fn journal(&self, since: u64) -> Vec<JournalEntry> {
        state::lock(&self.state.journal).query(since, None, None)
    }

    /// Replaces the inferred-behaviour switches.
    pub fn set_inferred(&self, inferred: Inferred) {
        *state::lock(&self.state.inferred) = inferred;
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: FaultSettings) {
        *state::lock(&self.state.faults) = faults;
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a simulator on `127.0.0.1:0` in the current runtime.
pub async fn start(opts: SimOptions) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(SimState::new(opts, seed::seeded));
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let st = state.clone();
    tokio::spawn(async move {
        if let Err(e) = serve_state(listener, st, shutdown).await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(SimHandle {
        addr,
        state,
        stop: Some(stop),
    })
}
