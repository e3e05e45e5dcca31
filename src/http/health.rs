//! `/healthz` (the process is up), `/readyz` (store reachable and mappings loaded), and
//! `/metrics` (Prometheus text).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use super::problem::Problem;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: store unreachable");
        Problem::store_unavailable(5)
    })?;
    let loaded = state.mappings.current().len();
    Ok(Json(json!({
        "status": "ready",
        "store": state.store.backend(),
        "mappings": loaded,
    })))
}

pub async fn metrics() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(),
    )
}
