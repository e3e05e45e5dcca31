//! Ingress and operations over HTTP: webhooks, health, metrics, admin API, the operator
//! console, problem+json errors. Never calls Orange directly: the ingress commits events and
//! planned calls to the store and the workers do the rest.
//!
//! The composition root hands the router what it needs ([`Given`]: settings, store,
//! mappings, the tenants in force) and is asked back for one thing only, a reload
//! ([`Reloader`]); `http` never imports `app`.

pub mod admin;
pub mod auth;
mod body;
pub mod console;
mod health;
mod ingress;
mod observe;
pub mod problem;
mod routes;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::config::live::{LiveConfig, TenantReport};
use crate::intake::Intake;
use crate::mapping::LiveMappings;
use crate::mapping::reload::ReloadReport;
use crate::store::Store;
pub use problem::Problem;
use routes::Routes;

/// Request id header, set when the caller did not send one and echoed in the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the router asks the composition root to do: reload the tenants and the mappings now
/// (`POST /admin/v1/reload`). `app` implements it; the clients, workers and webhook routes
/// follow the reload there. Blocking work (files are read and compiled).
pub trait Reloader: Send + Sync + 'static {
    fn reload_now(&self) -> (TenantReport, ReloadReport);
}

/// What the composition root hands the router.
pub struct Given {
    /// The settings the gateway started with (admin tokens, ingress limits, server).
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub mappings: Arc<LiveMappings>,
    /// The config in force, tenants reloaded from their files.
    pub live: Arc<LiveConfig>,
    pub reloader: Arc<dyn Reloader>,
}

/// What the handlers share: one `Arc`, because axum clones the state for every request (for
/// each extractor and middleware that takes it) and drops it after — one count to move, not
/// one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    /// The settings the gateway started with; per-tenant lookups use [`AppState::tenants`].
    config: Arc<Config>,
    store: Arc<dyn Store>,
    mappings: Arc<LiveMappings>,
    live: Arc<LiveConfig>,
    reloader: Arc<dyn Reloader>,
    /// The webhook routes, rebuilt when the tenants are reloaded.
    routes: std::sync::RwLock<Arc<Routes>>,
    /// The intake step webhooks share with reconciliation and replays.
    intake: Arc<Intake>,
    /// Limits on reading request bodies (size, time, memory across requests).
    body: Arc<body::BodyGate>,
    /// Signed-in console browsers (kept in the store).
    console: Arc<console::Sessions>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(given: Given) -> Self {
        let Given {
            config,
            store,
            mappings,
            live,
            reloader,
        } = given;
        Self(Arc::new(Shared {
            routes: std::sync::RwLock::new(Arc::new(routes_of(&live.current()))),
            intake: Arc::new(Intake::new(
                store.clone(),
                mappings.clone(),
                config.ingress.max_backlog,
            )),
            body: Arc::new(body::BodyGate::new(&config.server)),
            console: Arc::new(console::Sessions::new(store.clone())),
            config,
            store,
            mappings,
            live,
            reloader,
        }))
    }

    /// The config in force: the startup settings with the tenants as last reloaded.
    fn tenants(&self) -> Arc<Config> {
        self.live.current()
    }
}

/// The webhook routes of `config`'s tenants, with its ingress limits.
fn routes_of(config: &Config) -> Routes {
    Routes::new(&config.tenants, &config.ingress)
}

impl AppState {
    /// The webhook routes in force.
    fn routes(&self) -> Arc<Routes> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rebuilds the webhook routes from `config`'s tenants (after a reload of the tenants):
    /// added tenants are served, removed ones answer 404, rotated secrets take effect.
    pub fn reload_routes(&self, config: &Config) {
        let routes = Arc::new(routes_of(config));
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = routes;
    }
}

/// The gateway's router.
pub fn router(state: AppState) -> Router {
    let max_body = state.routes().max_body_bytes;
    let webhooks = Router::new()
        .route("/webhooks/{tenant}/{source}", post(ingress::webhook))
        .layer(DefaultBodyLimit::max(max_body));
    Router::new()
        .merge(webhooks)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi))
        .nest("/admin/v1", admin::routes(state.clone()))
        .nest("/console", console::routes(state.clone()))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            Problem::for_status(StatusCode::METHOD_NOT_ALLOWED)
                .detail("the route exists, not with this method")
        })
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        // Outside the handler's timeout: reading a body has its own (408).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body::gate,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked; answered 500");
            axum::response::IntoResponse::into_response(Problem::internal())
        }))
        // Every 4xx and 5xx leaves as problem+json, the router's own rejections included.
        .layer(axum::middleware::map_response(problem::ensure_problem))
        .layer(axum::middleware::from_fn(observe::record))
        // The request's span: every log line of the request carries its id (set or propagated
        // by the layers outside this one).
        .layer(TraceLayer::new_for_http().make_span_with(observe::request_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// The OpenAPI document of the gateway's HTTP surface.
const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}
