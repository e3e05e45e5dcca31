//! `GET /admin/v1/overview` (`?tenant=`): each tenant the token sees at a glance, as the
//! console's overview shows it (`ops::overview`): the last hour's activity per minute and the
//! queue, the use of its Orange rate budget, and its last poll cycle.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::params::TenantParam;
use super::principal::Principal;
use crate::http::AppState;
use crate::http::problem::Problem;
use crate::ops::overview::tenant_overview;

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new().route("/overview", get(show))
}

async fn show(
    State(state): State<AppState>,
    who: Principal,
    TenantParam(asked): TenantParam,
) -> Result<Json<Value>, Problem> {
    if let Some(t) = &asked {
        who.tenant_filters(Some(t.clone()))?;
    }
    let config = state.tenants();
    if let Some(t) = &asked
        && !config.tenants.iter().any(|c| &c.id == t)
    {
        return Err(Problem::not_found(format!("no tenant {t}")));
    }
    let now = time::OffsetDateTime::now_utc();
    let mut tenants = Vec::new();
    for tc in &config.tenants {
        if asked.as_ref().is_some_and(|t| t != &tc.id) || !who.sees(&tc.id) {
            continue;
        }
        tenants.push(tenant_overview(&*state.store, tc, &config.poller, now).await?);
    }
    Ok(Json(json!({ "tenants": tenants })))
}
