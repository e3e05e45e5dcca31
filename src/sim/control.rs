//! The control API under `/_sim/`: what tests (and curious humans) use to drive Orange-side
//! life, read the journal of received calls, change faults and the inferred-behaviour
//! switches at runtime and reset the world.
//! Never journaled, never faulted, never authenticated.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::{FaultSettings, ScriptedFault};
use super::state::{SimState, lock};
use super::{jira, life, oauth};

type St = State<Arc<SimState>>;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/_sim/journal", get(journal).delete(clear_journal))
        .route("/_sim/faults", get(faults).post(set_faults))
        .route("/_sim/faults/next", post(next_fault))
        .route("/_sim/inferred", get(inferred).post(set_inferred))
        .route("/_sim/reset", post(reset))
        .route("/_sim/tick", post(tick))
        .route("/_sim/tokens/expire", post(expire_tokens))
        .route("/_sim/incidents/{id}/advance", post(advance_incident))
        .route("/_sim/incidents/{id}/notes", post(incident_note))
        .route("/_sim/incidents/{id}/freezePeriods", post(freeze_period))
        .route("/_sim/tickets/{id}/advance", post(advance_ticket))
        .route("/_sim/requests/{id}/advance", post(advance_request))
        .route("/_sim/servicenow/webhook", get(webhook).post(set_webhook))
        .route("/_sim/jira/issues", post(seed_jira_issue))
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

fn unknown(what: &str, id: &str) -> Response {
    err(
        StatusCode::NOT_FOUND,
        format!("no {what} '{id}' (or already at its last status)"),
    )
}

/// An optional JSON object body (`{}` when empty).
fn optional_body(raw: &[u8]) -> Result<Value, Box<Response>> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(raw)
        .map_err(|e| Box::new(err(StatusCode::BAD_REQUEST, e.to_string())))
}

/// `GET /_sim/journal?since=N&method=POST&path_prefix=/incident/b2b/v1/incidents`
async fn journal(State(st): St, RawQuery(q): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let since = get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let entries = lock(&st.journal).query(since, get("method"), get("path_prefix"));
    Json(entries).into_response()
}

async fn clear_journal(State(st): St) -> StatusCode {
    lock(&st.journal).clear();
    StatusCode::NO_CONTENT
}

async fn faults(State(st): St) -> Json<FaultSettings> {
    Json(lock(&st.faults).clone())
}

/// Merges the given fields into the current fault settings (`{"rate":0.2}` changes only the rate).
async fn set_faults(State(st): St, raw: Bytes) -> Response {
    let patch = match optional_body(&raw) {
        Ok(Value::Object(p)) => p,
        Ok(_) => return err(StatusCode::BAD_REQUEST, "expected an object"),
        Err(r) => return *r,
    };
    let mut current = lock(&st.faults);
    let mut merged = serde_json::to_value(&*current).unwrap_or_else(|_| json!({}));
    for (k, v) in patch {
        merged[k] = v;
    }
    match serde_json::from_value::<FaultSettings>(merged) {
        Ok(f) if (0.0..=1.0).contains(&f.rate) => {
            *current = f;
            Json(current.clone()).into_response()
        }
        Ok(_) => err(StatusCode::BAD_REQUEST, "rate must be between 0.0 and 1.0"),
        Err(e) => err(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Appends one scripted fault: `{"kind":"drop","phase":"after","method":"POST","path_prefix":"/incident"}`.
async fn next_fault(State(st): St, raw: Bytes) -> Response {
    match serde_json::from_slice::<ScriptedFault>(&raw) {
        Ok(f) => {
            lock(&st.faults).script.push(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => err(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Every inferred-behaviour switch: `{name: {value, default, allowed, about}}`.
async fn inferred(State(st): St) -> Json<Value> {
    Json(st.inferred().listing())
}

/// Sets the named switches (`{"unknown_filters":"ignore"}`), all or none; answers the listing.
async fn set_inferred(State(st): St, raw: Bytes) -> Response {
    let patch = match optional_body(&raw) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut current = lock(&st.inferred);
    match current.patch(&patch) {
        Ok(()) => {
            tracing::info!(sim.inferred = %patch, "sim: inferred switches changed");
            Json(current.listing()).into_response()
        }
        Err(e) => err(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn reset(State(st): St) -> StatusCode {
    st.reset();
    StatusCode::NO_CONTENT
}

async fn tick(State(st): St) -> Json<Value> {
    Json(json!({"moved": life::tick(&mut st.data())}))
}

async fn expire_tokens(State(st): St) -> Json<Value> {
    Json(json!({"expired": oauth::expire_all(&st)}))
}

fn status_of(body: &Value) -> Option<String> {
    body.get("status")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Body `{}` moves to the next status; `{"status":"RESOLVED"}` jumps there.
async fn advance_incident(State(st): St, Path(id): Path<String>, raw: Bytes) -> Response {
    let body = match optional_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match life::advance_incident(&mut st.data(), &id, status_of(&body).as_deref()) {
        Some(inc) => Json(inc).into_response(),
        None => unknown("incident", &id),
    }
}

/// An Orange-authored note: `{"text": "…"}`.
async fn incident_note(State(st): St, Path(id): Path<String>, raw: Bytes) -> Response {
    let body = match optional_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("Orange update.");
    match life::orange_note(&mut st.data(), &id, text) {
        Some(note) => (StatusCode::CREATED, Json(note)).into_response(),
        None => unknown("incident", &id),
    }
}

/// `{"startDate": "…", "endDate": "…", "reason": "…"}`.
async fn freeze_period(State(st): St, Path(id): Path<String>, raw: Bytes) -> Response {
    let body = match optional_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut d = st.data();
    let seq = d.next_seq();
    let stamp = d.stamp();
    let Some(inc) = d.incidents.get_mut(&id) else {
        return unknown("incident", &id);
    };
    let period = json!({"id": format!("F{seq:07}"), "startDate": body.get("startDate").cloned().unwrap_or(json!(stamp)),
        "endDate": body.get("endDate").cloned().unwrap_or(Value::Null),
        "reason": body.get("reason").cloned().unwrap_or(json!("Customer unavailable"))});
    inc.freeze_periods.push(period.clone());
    inc.body["lastUpdateDate"] = json!(stamp);
    (StatusCode::CREATED, Json(period)).into_response()
}

async fn advance_ticket(State(st): St, Path(id): Path<String>, raw: Bytes) -> Response {
    let body = match optional_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match life::advance_ticket(&mut st.data(), &id, status_of(&body).as_deref()) {
        Some(t) => Json(t).into_response(),
        None => unknown("ticket", &id),
    }
}

async fn advance_request(State(st): St, Path(id): Path<String>, raw: Bytes) -> Response {
    let body = match optional_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let to = body.get("step").and_then(Value::as_str).map(str::to_owned);
    match life::advance_request(&mut st.data(), &id, to.as_deref()) {
        Some(r) => Json(r).into_response(),
        None => unknown("request", &id),
    }
}

async fn webhook(State(st): St) -> Json<Value> {
    Json(json!({"url": lock(&st.sn_webhook).clone()}))
}

/// `{"url": "http://127.0.0.1:8080/webhooks/demo/servicenow"}` or `{"url": null}`.
async fn set_webhook(State(st): St, raw: Bytes) -> Response {
    let body = match optional_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let url = body.get("url").and_then(Value::as_str).map(str::to_owned);
    *lock(&st.sn_webhook) = url.clone();
    Json(json!({"url": url})).into_response()
}

async fn seed_jira_issue(State(st): St, raw: Bytes) -> Response {
    let body = match optional_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match jira::seed_issue(&st, &body) {
        Some(issue) => (StatusCode::CREATED, Json(issue)).into_response(),
        None => err(
            StatusCode::BAD_REQUEST,
            "expected {\"key\": \"SUP-7\", \"id\": \"10777\" (optional, kept), \"fields\": {…}, \"status\": \"Open|In Progress|Reopened|Resolved|Closed\"}",
        ),
    }
}
