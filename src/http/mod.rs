//! Ingress and operations over HTTP: webhooks, health, metrics, admin API, problem+json
//! errors. Never calls Orange directly.

pub mod admin;

use axum::Router;

use crate::app::App;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
}

impl AppState {
    pub fn new(app: &App) -> Self {
        Self { app: app.clone() }
    }
}

/// The gateway's router.
pub fn router(state: AppState) -> Router {
    Router::new().with_state(state)
}
