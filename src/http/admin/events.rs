//! Admin API for parked events: replay one (`POST /events/{id}/replay`) or every parked event
//! of a tenant (`POST /events/replay?tenant=`), with the mapping in force now. Thin handlers
//! over `ops::events`, which the CLI uses too. (Listing is `GET /events?state=parked`.)

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{EventId, TenantId};
use crate::http::AppState;
use crate::http::problem::{Problem, codes};
use crate::intake::IntakeError;
use crate::ops::events::{self, EventsError};

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events/replay", post(replay_parked))
        .route("/events/{id}/replay", post(replay))
}

impl From<EventsError> for Problem {
    fn from(e: EventsError) -> Self {
        match e {
            EventsError::NotFound(_) => Problem::not_found(e.to_string()),
            EventsError::NotParked(_) => {
                Problem::new(StatusCode::CONFLICT, codes::CONFLICT, "Not a parked event")
                    .detail(e.to_string())
            }
            EventsError::Intake(IntakeError::Store(s)) | EventsError::Store(s) => s.into(),
            EventsError::Intake(i) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::MAPPING_REJECTED,
                "The event cannot be replayed now",
            )
            .detail(i.to_string()),
        }
    }
}

async fn replay(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id =
        EventId::parse(&raw).map_err(|e| Problem::bad_request(format!("event id {raw:?}: {e}")))?;
    let now = time::OffsetDateTime::now_utc();
    let r = events::replay(state.app.store.as_ref(), &state.intake, id, now).await?;
    Ok(Json(json!(r)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayQuery {
    tenant: Option<String>,
}

async fn replay_parked(
    State(state): State<AppState>,
    q: Result<Query<ReplayQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    let tenant = q
        .tenant
        .map(TenantId::parse)
        .transpose()
        .map_err(|e| Problem::bad_request(format!("query parameter tenant: {e}")))?;
    let now = time::OffsetDateTime::now_utc();
    let results = events::replay_parked(
        state.app.store.as_ref(),
        &state.intake,
        tenant.as_ref(),
        now,
    )
    .await?;
    let (mut replayed, mut parked, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (id, r) in results {
        match r {
            Ok(r) if r.disposition.parked.is_some() => parked.push(json!(r)),
            Ok(r) => replayed.push(json!(r)),
            Err(e) => failed.push(json!({ "id": id, "error": e.to_string() })),
        }
    }
    Ok(Json(
        json!({ "replayed": replayed, "still_parked": parked, "failed": failed }),
    ))
}
