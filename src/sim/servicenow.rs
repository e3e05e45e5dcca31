//! ServiceNow Table API: `incident` (get, list with `sysparm_query` — `=`, `!=`, `>=`, `<`…,
//! `IN`, `ORDERBY` — `sysparm_limit`/`sysparm_offset`, create, PATCH/PUT) and
//! `sys_journal_field` (list: what reconciliation reads), `sys_user` and `sys_user_has_role`
//! (the user's roles, [`super::servicenow_acl`]). Journal fields (`work_notes`,
//! `comments`) append to the journal and read back as `""`; resolving (state 6) or closing (7) without `close_code` and
//! `close_notes` on the record is refused with the data-policy 403; each write bumps
//! `sys_mod_count` and sets `sys_updated_by` to the API user; an optional webhook fires on
//! every change (`/_sim/servicenow/webhook`). A `sys_id` in an insert body is kept (a taken
//! one fails the insert with 403 "Operation Failed").

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::error::servicenow_error;
use super::itsm_auth::{ItsmUser, ItsmWrite};
use super::query::TOTAL_COUNT;
use super::servicenow_acl as acl;
use super::state::{SimState, lock, servicenow_now};

type St = State<Arc<SimState>>;

const JOURNAL_FIELDS: [&str; 2] = ["work_notes", "comments"];

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/table/{table}", get(list).post(create))
        .route(
            "/table/{table}/{sys_id}",
            get(read).patch(update).put(update),
        )
        .route("/attachment/{sys_id}/file", get(attachment_file))
        .route("/v2/table/{table}", get(list).post(create))
        .route(
            "/v2/table/{table}/{sys_id}",
            get(read).patch(update).put(update),
        )
}

/// `GET /api/now/attachment/{sys_id}/file`: the attachment's bytes with its content type,
/// as the Attachment API answers (404 with ServiceNow's error shape otherwise).
async fn attachment_file(State(st): St, Path(sys_id): Path<String>) -> Response {
    match st.data().sn_attachments.get(&sys_id) {
        Some((_, mime, bytes)) => (
            [(axum::http::header::CONTENT_TYPE, mime.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => servicenow_error(
            StatusCode::NOT_FOUND,
            "No Record found",
            "Record doesn't exist or ACL restricts the record retrieval",
        ),
    }
}

fn params(q: &Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The record restricted to `sysparm_fields` (unknown names are ignored, as ServiceNow does).
fn shape(record: &Value, p: &[(String, String)]) -> Value {
    match param(p, "sysparm_fields") {
        None => record.clone(),
        Some(fields) => Value::Object(
            fields
                .split(',')
                .filter_map(|f| {
                    record
                        .get(f.trim())
                        .map(|v| (f.trim().to_owned(), v.clone()))
                })
                .collect(),
        ),
    }
}

fn no_record() -> Response {
    servicenow_error(
        StatusCode::NOT_FOUND,
        "No Record found",
        "Record doesn't exist or ACL restricts the record retrieval",
    )
}

fn invalid_table(table: &str) -> Response {
    servicenow_error(
        StatusCode::BAD_REQUEST,
        "Invalid table",
        &format!("Invalid table {table}"),
    )
}

fn bad_json() -> Response {
    servicenow_error(
        StatusCode::BAD_REQUEST,
        "Exception while reading request",
        "The payload is not valid JSON.",
    )
}

async fn read(
    State(st): St,
    Path((table, sys_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    if table != "incident" {
        return invalid_table(&table);
    }
    let p = params(&q);
    match st.data().sn_incidents.get(&sys_id) {
        Some(r) => Json(json!({"result": shape(r, &p)})).into_response(),
        None => no_record(),
    }
}

/// `sysparm_query` terms joined by `^`: `f=v`, `f!=v`, `f>=v`, `f>v`, `f<=v`, `f<v`, `fINa,b`,
/// `ORDERBYf`, `ORDERBYDESCf`. Comparisons are on the stored strings, which for ServiceNow's
/// `YYYY-MM-DD HH:MM:SS` dates is their order.
fn query_matches(record: &Value, query: &str) -> bool {
    query
        .split('^')
        .filter(|t| !t.is_empty() && !t.starts_with("ORDERBY"))
        .all(|term| {
            let field = |f: &str| {
                record
                    .get(f)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            // Two-character operators first: `a>=b` also contains `=`.
            if let Some((f, v)) = term.split_once("!=") {
                field(f) != v
            } else if let Some((f, v)) = term.split_once(">=") {
                field(f).as_str() >= v
            } else if let Some((f, v)) = term.split_once("<=") {
                field(f).as_str() <= v
            } else if let Some((f, v)) = term.split_once('>') {
                field(f).as_str() > v
            } else if let Some((f, v)) = term.split_once('<') {
                field(f).as_str() < v
            } else if let Some((f, v)) = term.split_once('=') {
                field(f) == v
            } else if let Some((f, v)) = term.split_once("IN") {
                v.split(',').any(|x| x == field(f))
            } else {
                false
            }
        })
}

/// Sorts by every `ORDERBY`/`ORDERBYDESC` term, the first one first (ServiceNow applies them
/// in the order given).
fn order(hits: &mut [&Value], query: &str) {
    let keys: Vec<(&str, bool)> = query
        .split('^')
        .filter_map(|t| t.strip_prefix("ORDERBY"))
        .map(|o| o.strip_prefix("DESC").map_or((o, false), |f| (f, true)))
        .collect();
    hits.sort_by(|a, b| {
        keys.iter()
            .map(|(field, desc)| {
                let o = a[*field].as_str().cmp(&b[*field].as_str());
                if *desc { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

async fn list(State(st): St, Path(table): Path<String>, RawQuery(q): RawQuery) -> Response {
    let p = params(&q);
    let query = param(&p, "sysparm_query").unwrap_or("");
    if let Some(refused) = acl::read_refused(&st, &table) {
        return refused;
    }
    let (users, grants) = (acl::users(&st), acl::grants(&st));
    let d = st.data();
    let source: Vec<&Value> = match table.as_str() {
        "incident" => d.sn_incidents.iter().collect(),
        "sys_journal_field" => d.sn_journal.iter().collect(),
        "sys_user" => users.iter().collect(),
        "sys_user_has_role" => grants.iter().collect(),
        other => return invalid_table(other),
    };
    let mut hits: Vec<&Value> = source
        .into_iter()
        .filter(|r| query_matches(r, query))
        .collect();
    order(&mut hits, query);
    let total = hits.len();
    let offset = param(&p, "sysparm_offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit = param(&p, "sysparm_limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let page: Vec<Value> = hits
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|r| shape(r, &p))
        .collect();
    let mut resp = Json(json!({"result": page})).into_response();
    resp.headers_mut()
        .insert(TOTAL_COUNT, HeaderValue::from(total));
    resp
}

/// ServiceNow stores every value as a string.
fn as_field(v: Value) -> Value {
    match v {
        Value::String(_) => v,
        Value::Null => json!(""),
        Value::Object(ref o) if o.contains_key("value") => as_field(o["value"].clone()),
        other => json!(other.to_string()),
    }
}

/// Applies `changes` to `record`: journal fields go to the journal, everything else is set.
fn apply(record: &mut Value, changes: Map<String, Value>, user: &str, journal: &mut Vec<Value>) {
    let now = servicenow_now();
    let sys_id = record["sys_id"].clone();
    for (k, v) in changes {
        let v = as_field(v);
        if JOURNAL_FIELDS.contains(&k.as_str()) {
            if v.as_str().is_some_and(|s| !s.is_empty()) {
                journal.push(json!({
                    "sys_id": uuid::Uuid::new_v4().simple().to_string(), "name": "incident", "element": k,
                    "element_id": sys_id, "value": v, "sys_created_on": now, "sys_created_by": user,
                }));
            }
            record[k] = json!("");
        } else if !k.starts_with("sys_") {
            record[k] = v;
        }
    }
    let state = record["state"].as_str().unwrap_or("1").to_owned();
    record["incident_state"] = json!(state);
    match state.as_str() {
        "6" => record["resolved_at"] = json!(now),
        "7" => record["closed_at"] = json!(now),
        _ => {}
    }
    record["active"] = json!(if state == "7" || state == "8" {
        "false"
    } else {
        "true"
    });
    record["sys_updated_on"] = json!(now);
    record["sys_updated_by"] = json!(user);
}

fn data_policy_violation(record: &Value) -> bool {
    let closing = matches!(record["state"].as_str(), Some("6" | "7"));
    let missing = |f: &str| record[f].as_str().is_none_or(str::is_empty);
    closing && (missing("close_code") || missing("close_notes"))
}

fn data_policy_error() -> Response {
    servicenow_error(
        StatusCode::FORBIDDEN,
        "Operation Failed",
        "Data Policy Exception: \n\tThe following fields are mandatory: Resolution code, Resolution notes",
    )
}

/// An insert or update of an incident record, checked in the Table API's order before any
/// record is looked at: the table, a JSON object body, the caller's right to write.
struct TableWrite {
    user: ItsmUser,
    /// The query string's parameters (`sysparm_fields`).
    params: Vec<(String, String)>,
    changes: Map<String, Value>,
}

impl FromRequest<Arc<SimState>> for TableWrite {
    type Rejection = Response;

    async fn from_request(req: Request, st: &Arc<SimState>) -> Result<Self, Response> {
        let w = ItsmWrite::<HashMap<String, String>>::from_request(req, st).await?;
        let params = params(&w.query);
        let (user, path, raw) = (w.user, w.path, w.raw);
        let table = path.get("table").map_or("", String::as_str);
        if table != "incident" {
            return Err(invalid_table(table));
        }
        let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(&raw) else {
            return Err(bad_json());
        };
        if let Some(refused) = acl::write_refused(st) {
            return Err(refused);
        }
        Ok(Self {
            user,
            params,
            changes,
        })
    }
}

async fn update(
    State(st): St,
    Path((_, sys_id)): Path<(String, String)>,
    w: TableWrite,
) -> Response {
    let mut d = st.data();
    let Some(current) = d.sn_incidents.get(&sys_id).cloned() else {
        return no_record();
    };
    let mut record = current;
    let mut journal = Vec::new();
    apply(&mut record, w.changes, &w.user.0, &mut journal);
    if data_policy_violation(&record) {
        return data_policy_error();
    }
    let count: u64 = record["sys_mod_count"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    record["sys_mod_count"] = json!((count + 1).to_string());
    d.sn_incidents.insert(sys_id, record.clone());
    d.sn_journal.extend(journal);
    drop(d);
    fire_webhook(&st, &record);
    Json(json!({"result": shape(&record, &w.params)})).into_response()
}

/// What the Table API answers when the database refuses an insert (here: the `sys_id` is
/// taken): 403 "Operation Failed" (docs/orange-assumptions.md, ITSM side).
fn insert_failed(number: &str) -> Response {
    servicenow_error(
        StatusCode::FORBIDDEN,
        "Operation Failed",
        &format!("Error during insert of incident ({number})"),
    )
}

async fn create(State(st): St, w: TableWrite) -> Response {
    let now = servicenow_now();
    let mut d = st.data();
    // A `sys_id` given on insert is kept, as the Table API does; taken, the insert fails.
    let given = w
        .changes
        .get("sys_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if let Some(id) = &given
        && let Some(taken) = d.sn_incidents.get(id)
    {
        return insert_failed(taken["number"].as_str().unwrap_or_default());
    }
    let seq = d.next_seq();
    let sys_id = given.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let mut record = json!({
        "sys_id": sys_id, "number": format!("INC{:07}", 20_000 + seq), "short_description": "", "description": "",
        "state": "1", "impact": "3", "urgency": "3", "priority": "5", "cmdb_ci": "", "correlation_id": "",
        "correlation_display": "", "close_code": "", "close_notes": "", "work_notes": "", "comments": "",
        "sys_mod_count": "0", "sys_created_on": now, "sys_created_by": w.user.0,
    });
    let mut journal = Vec::new();
    apply(&mut record, w.changes, &w.user.0, &mut journal);
    if data_policy_violation(&record) {
        return data_policy_error();
    }
    d.sn_incidents.insert(sys_id, record.clone());
    d.sn_journal.extend(journal);
    drop(d);
    fire_webhook(&st, &record);
    (
        StatusCode::CREATED,
        Json(json!({"result": shape(&record, &w.params)})),
    )
        .into_response()
}

/// Posts the changed record to the configured webhook URL (like a customer's business rule),
/// without waiting; failures are only logged.
fn fire_webhook(st: &SimState, record: &Value) {
    let Some(url) = lock(&st.sn_webhook).clone() else {
        return;
    };
    let client = st.http.clone();
    let body = json!({"table": "incident", "record": record});
    tokio::spawn(async move {
        if let Err(e) = client.post(&url).json(&body).send().await {
            tracing::debug!(error = %e, "sim: servicenow webhook failed");
        }
    });
}
