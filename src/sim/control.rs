//! The control API under `/_sim/`: what tests (and curious humans) use to drive Orange-side
//! life, read the journal of received calls, change faults and the inferred-behaviour
//! switches at runtime and reset the world.
//! Never journaled, never faulted, never authenticated.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::{FaultSettings, ScriptedFault};
use super::state::{Data, SimState, lock};
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
        .route("/_sim/incidents/{id}/advance", advancing(&INCIDENT))
        .route("/_sim/incidents/{id}/notes", post(incident_note))
        .route("/_sim/incidents/{id}/freezePeriods", post(freeze_period))
        .route("/_sim/tickets/{id}/advance", advancing(&TICKET))
        .route("/_sim/requests/{id}/advance", advancing(&REQUEST))
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

/// An optional JSON body (`{}` when empty or blank).
struct OptionalBody(Value);

impl<S: Send + Sync> FromRequest<S> for OptionalBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(json!({})));
        }
        serde_json::from_slice::<Value>(&raw)
            .map(Self)
            .map_err(|e| err(StatusCode::BAD_REQUEST, e.to_string()))
    }
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
async fn set_faults(State(st): St, OptionalBody(body): OptionalBody) -> Response {
    let Value::Object(patch) = body else {
        return err(StatusCode::BAD_REQUEST, "expected an object");
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
async fn set_inferred(State(st): St, OptionalBody(patch): OptionalBody) -> Response {
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

/// Something the control API moves along its flow: what it is called in errors, the body
/// field naming the step to jump to (`{}` moves to the next one), and the move.
struct Flow {
    what: &'static str,
    field: &'static str,
    advance: fn(&mut Data, &str, Option<&str>) -> Option<Value>,
}

/// `{"status":"RESOLVED"}` jumps there.
const INCIDENT: Flow = Flow::new("incident", "status", life::advance_incident);
const TICKET: Flow = Flow::new("ticket", "status", life::advance_ticket);
const REQUEST: Flow = Flow::new("request", "step", life::advance_request);

impl Flow {
    const fn new(
        what: &'static str,
        field: &'static str,
        advance: fn(&mut Data, &str, Option<&str>) -> Option<Value>,
    ) -> Self {
        Self {
            what,
            field,
            advance,
        }
    }
}

/// `POST /_sim/{what}s/{id}/advance`.
fn advancing(flow: &'static Flow) -> MethodRouter<Arc<SimState>> {
    post(
        move |State(st): St, Path(id): Path<String>, OptionalBody(body): OptionalBody| async move {
            advance(st, &id, &body, flow).await
        },
    )
}

async fn advance(st: Arc<SimState>, id: &str, body: &Value, flow: &Flow) -> Response {
    let to = body.get(flow.field).and_then(Value::as_str);
    match (flow.advance)(&mut st.data(), id, to) {
        Some(v) => Json(v).into_response(),
        None => unknown(flow.what, id),
    }
}

/// An Orange-authored note: `{"text": "…"}`.
async fn incident_note(
    State(st): St,
    Path(id): Path<String>,
    OptionalBody(body): OptionalBody,
) -> Response {
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
async fn freeze_period(
    State(st): St,
    Path(id): Path<String>,
    OptionalBody(body): OptionalBody,
) -> Response {
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

async fn webhook(State(st): St) -> Json<Value> {
    Json(json!({"url": lock(&st.sn_webhook).clone()}))
}

/// `{"url": "http://127.0.0.1:8080/webhooks/demo/servicenow"}` or `{"url": null}`.
async fn set_webhook(State(st): St, OptionalBody(body): OptionalBody) -> Response {
    let url = body.get("url").and_then(Value::as_str).map(str::to_owned);
    *lock(&st.sn_webhook) = url.clone();
    Json(json!({"url": url})).into_response()
}

async fn seed_jira_issue(State(st): St, OptionalBody(body): OptionalBody) -> Response {
    match jira::seed_issue(&st, &body) {
        Some(issue) => (StatusCode::CREATED, Json(issue)).into_response(),
        None => err(
            StatusCode::BAD_REQUEST,
            "expected {\"key\": \"SUP-7\", \"id\": \"10777\" (optional, kept), \"fields\": {…}, \"status\": \"Open|In Progress|Reopened|Resolved|Closed\"}",
        ),
    }
}
