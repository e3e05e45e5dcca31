//! Admin API for dead letters: list, show (with attempts), replay (one or all), discard.
//! Thin handlers over `ops::dlq`, which the CLI uses too.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{DeliveryId, TenantId};
use crate::http::AppState;
use crate::http::problem::{Problem, codes};
use crate::ops::dlq::{self, DlqError};

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dead-letters", get(list))
        .route("/dead-letters/replay", post(replay_all))
        .route("/dead-letters/{id}", get(show).delete(discard))
        .route("/dead-letters/{id}/replay", post(replay))
}

impl From<DlqError> for Problem {
    fn from(e: DlqError) -> Self {
        match e {
            DlqError::NotFound(_) => Problem::not_found(e.to_string()),
            DlqError::NotDead(..) => {
                Problem::new(StatusCode::CONFLICT, codes::CONFLICT, "Not a dead letter")
                    .detail(e.to_string())
            }
            DlqError::Render { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::MAPPING_REJECTED,
                "The current mapping cannot render this delivery",
            )
            .detail(e.to_string()),
            DlqError::Store(s) => s.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    tenant: Option<String>,
    limit: Option<u32>,
}

fn tenant(t: Option<String>) -> Result<Option<TenantId>, Problem> {
    t.map(TenantId::parse)
        .transpose()
        .map_err(|e| Problem::bad_request(format!("query parameter tenant: {e}")))
}

fn id(raw: &str) -> Result<DeliveryId, Problem> {
    raw.parse::<i64>()
        .map(DeliveryId)
        .map_err(|_| Problem::bad_request(format!("delivery id {raw:?} is not a number")))
}

async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    let t = tenant(q.tenant)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let letters = dlq::list(state.app.store.as_ref(), t.as_ref(), limit).await?;
    Ok(Json(json!({ "dead_letters": letters })))
}

async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, Problem> {
    let letter = dlq::show(state.app.store.as_ref(), id(&raw)?).await?;
    Ok(Json(json!(letter)))
}

async fn replay(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, Problem> {
    let app = &state.app;
    let now = time::OffsetDateTime::now_utc();
    let r = dlq::replay(
        app.store.as_ref(),
        &app.mappings,
        &app.tenants_config(),
        id(&raw)?,
        now,
    )
    .await?;
    Ok(Json(json!(r)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayAllQuery {
    tenant: Option<String>,
}

async fn replay_all(
    State(state): State<AppState>,
    q: Result<Query<ReplayAllQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    let t = tenant(q.tenant)?;
    let app = &state.app;
    let now = time::OffsetDateTime::now_utc();
    let results = dlq::replay_all(
        app.store.as_ref(),
        &app.mappings,
        &app.tenants_config(),
        t.as_ref(),
        now,
    )
    .await?;
    let (mut replayed, mut failed) = (Vec::new(), Vec::new());
    for (id, r) in results {
        match r {
            Ok(r) => replayed.push(json!(r)),
            Err(e) => failed.push(json!({ "id": id, "error": e.to_string() })),
        }
    }
    Ok(Json(json!({ "replayed": replayed, "failed": failed })))
}

async fn discard(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<StatusCode, Problem> {
    dlq::discard(state.app.store.as_ref(), id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
