//! The admin API (`/admin/v1/…`, bearer token): events with their deliveries and attempts,
//! links, mapping reload, dead letters (`dlq.rs`) and ticket timelines (`tickets.rs`).
//! Disabled (404) without a token.

pub mod dlq;
pub mod tickets;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::AppState;
use super::problem::{Problem, codes};
use crate::domain::{EventId, TenantId, TicketKey};
use crate::store::EventQuery;

/// Routes under `/admin/v1`, behind the bearer check.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/{id}", get(show_event))
        .route("/links", get(list_links))
        .route("/reload", post(reload))
        .merge(dlq::routes())
        .merge(tickets::routes())
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, Problem> {
    let Some(token) = state.app.config.admin.token.as_ref() else {
        return Err(Problem::not_found(
            "the admin API is disabled (no admin.token configured)",
        ));
    };
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(next.run(req).await)
    } else {
        Err(Problem::unauthorized(
            "the admin API needs Authorization: Bearer <admin.token>",
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    tenant: Option<String>,
    /// Full ticket key `tenant/source/ticket`.
    ticket: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

fn bad_param(name: &str, e: impl std::fmt::Display) -> Problem {
    Problem::bad_request(format!("query parameter {name}: {e}"))
}

async fn list_events(
    State(state): State<AppState>,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    let query = EventQuery {
        tenant: q
            .tenant
            .map(TenantId::parse)
            .transpose()
            .map_err(|e| bad_param("tenant", e))?,
        ticket: q.ticket.map(TicketKey::from_stored),
        before: q
            .before
            .map(|b| EventId::parse(&b))
            .transpose()
            .map_err(|e| bad_param("before", e))?,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
    };
    let events = state.app.store.list_events(&query).await?;
    let next = (events.len() as u32 == query.limit)
        .then(|| events.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(json!({ "events": events, "next_before": next })))
}

async fn show_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = EventId::parse(&id).map_err(|e| bad_param("id", e))?;
    let event = state
        .app
        .store
        .event(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no event {id}")))?;
    let mut deliveries = Vec::new();
    for d in state.app.store.event_deliveries(id).await? {
        let attempts = state.app.store.attempts(d.id).await?;
        deliveries.push(json!({ "delivery": d, "attempts": attempts }));
    }
    Ok(Json(json!({
        "event": event,
        "body": String::from_utf8_lossy(&event.body),
        "deliveries": deliveries,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinksQuery {
    tenant: String,
    after: Option<String>,
    limit: Option<u32>,
}

async fn list_links(
    State(state): State<AppState>,
    q: Result<Query<LinksQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(e.body_text()))?;
    let tenant = TenantId::parse(q.tenant).map_err(|e| bad_param("tenant", e))?;
    let after = q.after.map(TicketKey::from_stored);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let links = state
        .app
        .store
        .list_links(&tenant, after.as_ref(), limit)
        .await?;
    let next = (links.len() as u32 == limit)
        .then(|| links.last().map(|l| l.ticket.to_string()))
        .flatten();
    Ok(Json(json!({ "links": links, "next_after": next })))
}

async fn reload(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    match state.app.reload_mappings() {
        Ok(()) => Ok(Json(
            json!({ "reloaded": true, "mappings": state.app.mappings.current().len() }),
        )),
        Err(problems) => {
            let mut p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::MAPPING_REJECTED,
                "Mappings rejected; the previous ones keep serving",
            )
            .detail(format!("{} problem(s)", problems.len()));
            p.errors = problems
                .iter()
                .map(|m| super::problem::ProblemItem {
                    pointer: format!("{}:{}", m.file, m.at),
                    detail: m.message.clone(),
                })
                .collect();
            Err(p)
        }
    }
}
