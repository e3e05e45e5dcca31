//! The admin API (`/admin/v1/…`, bearer token): events with their deliveries and attempts
//! (`?state=parked|unrouted`, `?event_type=`), replay of parked events (`events.rs`), links
//! (listed here; linked by hand and waiting deliveries: `links.rs`), mapping reload
//! (`reload.rs`), dead letters (`dlq.rs`), ticket timelines (`tickets.rs`), the audit log
//! (`audit.rs`) and each tenant at a glance (`overview.rs`: activity, rate budget, last poll
//! cycle). Disabled (404) without a usable token; every request under `/admin/v1`
//! passes `guard.rs` first, which names its [`principal::Principal`]: a role (viewers only
//! read) and the tenants it sees, which every handler asks before it reads or acts. The
//! actions themselves (`acts.rs`) are shared with the console and write the audit log.

pub mod acts;
pub mod audit;
pub mod dlq;
pub mod events;
mod guard;
mod links;
mod overview;
mod params;
pub mod principal;
mod reload;
pub mod tickets;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::problem::{Problem, codes};
use crate::domain::{EventId, TenantId, TicketKey};
use crate::store::{EventQuery, EventState};
use params::{AdminQuery, across_tenants, bad_param, next_cursor, page_limit, tenant_param};
use principal::Principal;

/// Routes under `/admin/v1`, behind the bearer check. The check is a `layer`, not a
/// `route_layer`: it also stands before the fallback and the 405 of a wrong method, and it
/// covers every route added here, whatever its method. Add routes above the fallbacks.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/{id}", get(show_event))
        .route("/links", get(list_links).post(links::add))
        .route("/waiting-link", get(links::waiting))
        .merge(reload::routes())
        .merge(dlq::routes())
        .merge(tickets::routes())
        .merge(events::routes())
        .merge(audit::routes())
        .merge(overview::routes())
        // Both fallbacks are set here, after every route and before the guard: the outer
        // router's own 405 would otherwise replace them unguarded.
        .fallback(|| async { Problem::not_found("no such admin endpoint") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::BAD_REQUEST,
                "Method not allowed",
            )
        })
        .layer(middleware::from_fn_with_state(state, guard::require_token))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    tenant: Option<String>,
    /// Full ticket key `tenant/source/ticket`.
    ticket: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
    /// `parked` or `unrouted`.
    state: Option<String>,
    event_type: Option<String>,
}

async fn list_events(
    State(state): State<AppState>,
    who: Principal,
    AdminQuery(q): AdminQuery<EventsQuery>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant_param(q.tenant)?;
    let query = EventQuery {
        tenant: None,
        ticket: q.ticket.map(TicketKey::from_stored),
        before: q
            .before
            .map(|b| EventId::parse(&b))
            .transpose()
            .map_err(|e| bad_param("before", e))?,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
        state: q
            .state
            .map(|s| {
                EventState::parse(&s).ok_or_else(|| {
                    bad_param(
                        "state",
                        format!("{s:?} is not `parked`, `unrouted` or `discarded`"),
                    )
                })
            })
            .transpose()?,
        event_type: q.event_type,
    };
    let store = state.store.as_ref();
    let mut events = across_tenants(&who, tenant, |tenant| {
        let q = EventQuery {
            tenant,
            ..query.clone()
        };
        async move { store.list_events(&q).await }
    })
    .await?;
    // Newest first across the tenants of a scoped token (ids are UUIDv7).
    events.sort_by_key(|e| std::cmp::Reverse(e.id));
    events.truncate(query.limit as usize);
    let next = next_cursor(&events, query.limit, |e| e.id.to_string());
    Ok(Json(json!({ "events": events, "next_before": next })))
}

async fn show_event(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = EventId::parse(&id).map_err(|e| bad_param("id", e))?;
    let event = state
        .store
        .event(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no event {id}")))?;
    who.object_of(&event.tenant, format!("no event {id}"))?;
    let mut deliveries = Vec::new();
    for d in state.store.event_deliveries(id).await? {
        let attempts = state.store.attempts(d.id).await?;
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
    who: Principal,
    AdminQuery(q): AdminQuery<LinksQuery>,
) -> Result<Json<Value>, Problem> {
    let tenant = TenantId::parse(q.tenant).map_err(|e| bad_param("tenant", e))?;
    who.tenant_filters(Some(tenant.clone()))?;
    let after = q.after.map(TicketKey::from_stored);
    let limit = page_limit(q.limit);
    let links = state
        .store
        .list_links(&tenant, after.as_ref(), limit)
        .await?;
    let next = next_cursor(&links, limit, |l| l.ticket.to_string());
    Ok(Json(json!({ "links": links, "next_after": next })))
}
