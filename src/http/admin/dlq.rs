//! Admin API for dead letters: list, show (with attempts), replay (one or all), discard.
//! Thin handlers over `ops::dlq` (which the CLI uses too) through `acts` (scope and audit).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::acts;
use super::params::{AdminQuery, TenantParam, across_tenants, page_limit, tenant_param};
use super::principal::Principal;
use crate::domain::DeliveryId;
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

fn id(raw: &str) -> Result<DeliveryId, Problem> {
    raw.parse::<i64>()
        .map(DeliveryId)
        .map_err(|_| Problem::bad_request(format!("delivery id {raw:?} is not a number")))
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    AdminQuery(q): AdminQuery<ListQuery>,
) -> Result<Json<Value>, Problem> {
    let limit = page_limit(q.limit);
    let store = state.store.as_ref();
    let mut letters = across_tenants(&who, tenant_param(q.tenant)?, |t| async move {
        dlq::list(store, t.as_ref(), limit).await
    })
    .await?;
    // Newest first across the tenants of a scoped token.
    letters.sort_by_key(|d| std::cmp::Reverse(d.id.0));
    letters.truncate(limit as usize);
    Ok(Json(json!({ "dead_letters": letters })))
}

async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = id(&raw)?;
    let letter = dlq::show(state.store.as_ref(), id).await?;
    who.object_of(&letter.delivery.tenant, format!("no delivery {id}"))?;
    Ok(Json(json!(letter)))
}

async fn replay(
    State(state): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, Problem> {
    let r = acts::replay_dead_letter(&state, &who, id(&raw)?).await?;
    Ok(Json(json!(r)))
}

async fn replay_all(
    State(state): State<AppState>,
    who: Principal,
    TenantParam(tenant): TenantParam,
) -> Result<Json<Value>, Problem> {
    let batch = acts::replay_dead_letters(&state, &who, tenant).await?;
    Ok(Json(
        json!({ "replayed": batch.replayed, "failed": batch.failed }),
    ))
}

async fn discard(
    State(state): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> Result<StatusCode, Problem> {
    acts::discard_dead_letter(&state, &who, id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
