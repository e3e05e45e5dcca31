//! Admin API for parked events: replay one (`POST /events/{id}/replay`) or every parked event
//! of a tenant (`POST /events/replay?tenant=`), with the mapping in force now, or discard one
//! (`POST /events/{id}/discard`: no longer parked nor replayable). Thin handlers
//! over `ops::events` (which the CLI uses too) through `acts` (scope and audit). (Listing is
//! `GET /events?state=parked`.)

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::acts;
use super::params::TenantParam;
use super::principal::Principal;
use crate::domain::EventId;
use crate::http::AppState;
use crate::http::problem::{Problem, codes};
use crate::intake::IntakeError;
use crate::ops::events::EventsError;

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events/replay", post(replay_parked))
        .route("/events/{id}/replay", post(replay))
        .route("/events/{id}/discard", post(discard))
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

fn event_id(raw: &str) -> Result<EventId, Problem> {
    EventId::parse(raw).map_err(|e| Problem::bad_request(format!("event id {raw:?}: {e}")))
}

async fn replay(
    State(state): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, Problem> {
    let r = acts::replay_event(&state, &who, event_id(&raw)?).await?;
    Ok(Json(json!(r)))
}

async fn discard(
    State(state): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> Result<StatusCode, Problem> {
    acts::discard_event(&state, &who, event_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn replay_parked(
    State(state): State<AppState>,
    who: Principal,
    TenantParam(tenant): TenantParam,
) -> Result<Json<Value>, Problem> {
    let b = acts::replay_parked(&state, &who, tenant).await?;
    Ok(Json(
        json!({ "replayed": b.replayed, "still_parked": b.still_parked, "failed": b.failed }),
    ))
}
