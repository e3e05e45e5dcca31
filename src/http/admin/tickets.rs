//! `GET /admin/v1/tickets/{tenant}/{ticket}`: a ticket's timeline (`ops::timeline`), the
//! same document `itsm-bridge ticket show --output json` prints. The ticket is named by its
//! ITSM number or key, its ITSM id, its Orange id or its full key; a name that fits several
//! tickets is answered 409 `ticket-ambiguous` with the candidates.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::params::AdminQuery;
use super::principal::Principal;
use crate::domain::{SourceName, TenantId};
use crate::http::AppState;
use crate::http::problem::{Problem, codes};
use crate::ops::timeline::{self, DEFAULT_LIMIT, MAX_LIMIT, Timeline, TimelineError};

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new().route("/tickets/{tenant}/{ticket}", get(show))
}

impl From<TimelineError> for Problem {
    fn from(e: TimelineError) -> Self {
        match e {
            TimelineError::UnknownTenant(_) => Problem::new(
                StatusCode::NOT_FOUND,
                codes::UNKNOWN_TENANT,
                "Unknown tenant",
            )
            .detail(e.to_string()),
            TimelineError::NotFound { .. } => Problem::not_found(e.to_string()),
            TimelineError::Ambiguous { ref candidates, .. } => {
                let mut p = Problem::new(
                    StatusCode::CONFLICT,
                    codes::TICKET_AMBIGUOUS,
                    "The name fits several tickets",
                )
                .detail(e.to_string());
                p.candidates = serde_json::to_value(candidates).ok();
                p
            }
            TimelineError::Store(s) => s.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    /// At most this many events, calls and observations (the latest).
    limit: Option<u32>,
}

async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path((tenant, ticket)): Path<(String, String)>,
    AdminQuery(q): AdminQuery<ShowQuery>,
) -> Result<Json<Timeline>, Problem> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let in_force = state.tenants();
    let config = in_force
        .tenants
        .iter()
        .find(|t| t.id.as_str() == tenant && who.sees(&t.id))
        .ok_or_else(|| TimelineError::UnknownTenant(tenant.clone()))?;
    let tenant: TenantId = config.id.clone();
    let sources: Vec<SourceName> = config.sources.keys().cloned().collect();
    let t = timeline::show(state.store.as_ref(), &tenant, &sources, &ticket, limit).await?;
    Ok(Json(t))
}
