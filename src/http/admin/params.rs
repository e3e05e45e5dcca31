//! What the admin handlers share in reading a request and paging an answer: the query string
//! as an extractor that answers 400 problem+json ([`AdminQuery`]), `?tenant=` ([`TenantParam`]
//! when it is the only parameter) and the other parameters' errors, the page size, the cursor of the next page, and a list gathered over
//! the tenants a scoped token sees.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::principal::Principal;
use crate::domain::TenantId;
use crate::http::problem::Problem;

/// The query string parsed into `T`. One that does not parse (an unknown parameter, a
/// number that is not one) is 400 `bad-request` with axum's words as the detail, never
/// axum's plain-text rejection.
pub struct AdminQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AdminQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Self(q))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

/// The `?tenant=` of the routes that take no other parameter, parsed (400 `bad-request`
/// when it is not a tenant id, or another parameter is given).
pub struct TenantParam(pub Option<TenantId>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantOnly {
    tenant: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for TenantParam {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let AdminQuery(q) = AdminQuery::<TenantOnly>::from_request_parts(parts, state).await?;
        tenant_param(q.tenant).map(Self)
    }
}

/// 400 `bad-request` naming the query parameter `name` and what is wrong with it.
pub fn bad_param(name: &str, e: impl std::fmt::Display) -> Problem {
    Problem::bad_request(format!("query parameter {name}: {e}"))
}

/// The `?tenant=` of a query, parsed; 400 `bad-request` when it is not a tenant id.
pub fn tenant_param(t: Option<String>) -> Result<Option<TenantId>, Problem> {
    t.map(TenantId::parse)
        .transpose()
        .map_err(|e| bad_param("tenant", e))
}

/// `?limit=` of the lists that default to 100 and go up to 1000.
pub fn page_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(100).clamp(1, 1000)
}

/// The cursor of the next page: the last item's, when the page is full (a shorter page is
/// the last one).
pub fn next_cursor<T, C>(items: &[T], limit: u32, cursor: impl FnOnce(&T) -> C) -> Option<C> {
    if items.len() as u32 == limit {
        items.last().map(cursor)
    } else {
        None
    }
}

/// The items `fetch` gives for each tenant filter of `who` (narrowed to `tenant` when asked:
/// 403 outside its scope), put together; the caller orders and cuts the whole.
///
/// `fetch` is a closure that returns a future, not an async closure: axum needs the handler's
/// future `Send`, which the compiler cannot yet prove through an async closure's borrows.
pub async fn across_tenants<T, E, F>(
    who: &Principal,
    tenant: Option<TenantId>,
    mut fetch: impl FnMut(Option<TenantId>) -> F,
) -> Result<Vec<T>, Problem>
where
    F: Future<Output = Result<Vec<T>, E>>,
    Problem: From<E>,
{
    let mut all = Vec::new();
    for t in who.tenant_filters(tenant)? {
        all.extend(fetch(t).await?);
    }
    Ok(all)
}
