//! Admin API for links by hand and the deliveries waiting for a link: `POST /links`
//! (`{tenant, ticket, orangeId, api?, source?}`) and `GET /waiting-link`. Thin handlers over
//! `ops::links`, which the CLI uses too.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::acts;
use super::params::{AdminQuery, across_tenants, page_limit, tenant_param};
use super::principal::Principal;
use crate::http::AppState;
use crate::http::problem::{Problem, codes};
use crate::ops::links::{self, LinkRequest, LinksError};

impl From<LinksError> for Problem {
    fn from(e: LinksError) -> Self {
        match e {
            LinksError::TicketLinked { .. } | LinksError::ObjectLinked { .. } => Problem::new(
                StatusCode::CONFLICT,
                codes::ALREADY_LINKED,
                "Already linked to another object",
            )
            .detail(e.to_string()),
            LinksError::UnknownTenant(_) => Problem::new(
                StatusCode::NOT_FOUND,
                codes::UNKNOWN_TENANT,
                "Unknown tenant",
            )
            .detail(e.to_string()),
            LinksError::UnknownSource { .. } => Problem::new(
                StatusCode::NOT_FOUND,
                codes::UNKNOWN_SOURCE,
                "Unknown source",
            )
            .detail(e.to_string()),
            LinksError::AmbiguousSource { .. } | LinksError::BadApi(_) | LinksError::Empty(_) => {
                Problem::bad_request(e.to_string())
            }
            LinksError::Store(s) => s.into(),
        }
    }
}

/// The body of `POST /admin/v1/links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AddLink {
    tenant: String,
    ticket: String,
    orange_id: String,
    api: Option<String>,
    source: Option<String>,
}

/// Links a ticket by hand: 201 with the link (and how many waiting deliveries are due now),
/// 200 when it was already exactly so, 409 when the ticket or the object is linked elsewhere.
pub(super) async fn add(
    State(state): State<AppState>,
    who: Principal,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let b: AddLink = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            codes::MALFORMED_JSON,
            "The body is not a link",
        )
        .detail(format!(
            "{e}; expected {{\"tenant\", \"ticket\", \"orangeId\", \"api\"?, \"source\"?}}"
        ))
    })?;
    let req = LinkRequest {
        tenant: b.tenant,
        ticket: b.ticket,
        orange_id: b.orange_id,
        api: b.api,
        source: b.source,
    };
    let linked = acts::add_link(&state, &who, &req).await?;
    let status = if linked.added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!(linked))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitingQuery {
    tenant: Option<String>,
    limit: Option<u32>,
}

/// Deliveries waiting for their ticket's link, oldest first, with why and until when.
pub(super) async fn waiting(
    State(state): State<AppState>,
    who: Principal,
    AdminQuery(q): AdminQuery<WaitingQuery>,
) -> Result<Json<Value>, Problem> {
    let limit = page_limit(q.limit);
    let store = state.store.as_ref();
    let mut ds = across_tenants(&who, tenant_param(q.tenant)?, |t| async move {
        links::waiting(store, t.as_ref(), limit).await
    })
    .await?;
    // Oldest first across the tenants of a scoped token.
    ds.sort_by_key(|d| (d.created_at, d.id.0));
    ds.truncate(limit as usize);
    Ok(Json(json!({ "waiting_link": ds })))
}
