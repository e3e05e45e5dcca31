//! Orange Ordering 3.1 under `/ordering/b2b/v3`: requests (create with `customerReference`,
//! get, list with filters and paging), catalogItems, status. Requests move through steps
//! (`REQUEST → VALIDATION → ORDER → DELIVERY → COMPLETED`, inferred) on the life timer or by
//! the control API.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::body;
use super::doc::{About, Op};
use super::error::OrangeError;
use super::query::{ListQuery, REQUESTS, list_response};
use super::state::SimState;

type Result<T> = std::result::Result<T, OrangeError>;
type St = State<Arc<SimState>>;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/requests", get(list).post(create))
        .route("/requests/{id}", get(read))
        .route("/catalogItems", get(catalog))
        .route("/catalogItems/{id}", get(catalog_item))
        .merge(ABOUT.routes())
}

static ABOUT: About = About {
    title: "Ordering",
    name: "ordering",
    version: "3.1",
    build: None,
    base: super::ORDERING_BASE,
    ops: &[
        Op {
            path: "/requests",
            methods: &["get", "post"],
            summary: "list requests (filters, sort, offset/limit) or create one",
        },
        Op {
            path: "/requests/{id}",
            methods: &["get"],
            summary: "read a request and its step",
        },
        Op {
            path: "/catalogItems",
            methods: &["get"],
            summary: "the orderable catalog items",
        },
        Op {
            path: "/catalogItems/{id}",
            methods: &["get"],
            summary: "read a catalog item",
        },
    ],
};

async fn create(State(st): St, raw: Bytes) -> Result<Response> {
    let m = body::object(&raw)?;
    body::required_str(&m, "customerReference")?;
    body::optional_strs(&m, &["priority", "description"])?;
    let mut d = st.data();
    if let Some(item) = m.get("catalogItem") {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        if !d.catalog_items.iter().any(|c| c["id"] == id) {
            return Err(OrangeError::with(
                24,
                format!("Unknown catalogItem '{id}'."),
            ));
        }
    }
    let id = format!("3-{:08}", 286_000 + d.next_seq());
    let stamp = d.stamp();
    let account = d.accounts.first().cloned().unwrap_or(Value::Null);
    let mut req = Value::Object(m);
    if req.get("priority").is_none_or(Value::is_null) {
        req["priority"] = json!("MEDIUM");
    }
    req["id"] = json!(id);
    req["step"] = json!("REQUEST");
    req["customer"] = json!({"id": account["id"], "name": account["name"]});
    req["createdAt"] = json!(stamp);
    req["lastUpdateDate"] = json!(stamp);
    d.requests.insert(id, req.clone());
    Ok((StatusCode::CREATED, Json(req)).into_response())
}

async fn read(State(st): St, Path(id): Path<String>) -> Result<Json<Value>> {
    st.data()
        .requests
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| OrangeError::with(60, format!("No request with id '{id}'.")))
}

async fn list(State(st): St, RawQuery(q): RawQuery) -> Result<Response> {
    let q = ListQuery::parse_inferred(q.as_deref(), &[], &REQUESTS, &st.inferred())?;
    let (total, page) = q.run(st.data().requests.iter());
    Ok(list_response(total, page))
}

async fn catalog(State(st): St, RawQuery(q): RawQuery) -> Result<Response> {
    let q = ListQuery::parse(q.as_deref(), &[])?;
    let d = st.data();
    let (total, page) = q.run(d.catalog_items.iter());
    Ok(list_response(total, page))
}

async fn catalog_item(State(st): St, Path(id): Path<String>) -> Result<Json<Value>> {
    st.data()
        .catalog_items
        .iter()
        .find(|c| c["id"] == id.as_str())
        .cloned()
        .map(Json)
        .ok_or_else(|| OrangeError::with(60, format!("No catalog item with id '{id}'.")))
}
