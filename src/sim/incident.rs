//! Orange Incident API 1.3 under `/incident/b2b/v1`: incidents (create, get, update, list),
//! notes, attachments, freezePeriods, aggregation, status/version/doc.
//!
//! Contract the gateway relies on (inferred, see docs/simulators.md): the create body may carry
//! `externalReference` (the ITSM ticket id) and the list filters on it; every incident carries
//! `lastUpdateDate` (strictly increasing RFC 3339 UTC with milliseconds), bumped by every change
//! (fields, status, notes, attachments), sortable and filterable (`lastUpdateDate>=…`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::body;
use super::doc::{About, Op};
use super::error::OrangeError;
use super::inferred::ReferenceMode;
use super::life::{self, status_label};
use super::multipart;
use super::oauth::Caller;
use super::query::{INCIDENTS, ListQuery, list_response};
use super::seed;
use super::state::{Attachment, Data, Incident, SimState};

type Result<T> = std::result::Result<T, OrangeError>;
type St = State<Arc<SimState>>;

/// Fields a customer PATCH cannot change (silently ignored).
const READ_ONLY: [&str; 5] = ["id", "createdAt", "lastUpdateDate", "origin", "customer"];
const STRING_FIELDS: [&str; 8] = [
    "description",
    "externalReference",
    "priority",
    "impact",
    "urgency",
    "serviceCondition",
    "type",
    "status",
];

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/incidents", get(list).post(create))
        .route("/incidents/{id}", get(read).patch(update))
        .route("/incidents/{id}/notes", get(notes).post(add_note))
        .route("/incidents/{id}/attachments", get(attachments).post(upload))
        .route("/incidents/{id}/attachments/{att}", get(download))
        .route("/incidents/{id}/freezePeriods", get(freeze_periods))
        .route("/aggregation", get(aggregation))
        .merge(ABOUT.routes())
}

fn french(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.trim_start().to_ascii_lowercase().starts_with("fr"))
}

/// The incident as served: with `statusLabel` in the caller's language.
fn present(mut body: Value, fr: bool) -> Value {
    let label = status_label(body["status"].as_str().unwrap_or_default(), fr);
    body["statusLabel"] = json!(label);
    body
}

fn not_found(what: &str, id: &str) -> OrangeError {
    OrangeError::with(60, format!("No {what} with id '{id}'."))
}

fn incident<'a>(d: &'a Data, id: &str) -> Result<&'a Incident> {
    d.incidents.get(id).ok_or_else(|| not_found("incident", id))
}

fn incident_mut<'a>(d: &'a mut Data, id: &str) -> Result<&'a mut Incident> {
    d.incidents
        .get_mut(id)
        .ok_or_else(|| not_found("incident", id))
}

/// A list below one incident (its notes, attachments or freeze periods) as `items` picks it
/// out, with the usual offset and limit.
fn list_below(
    st: &SimState,
    id: &str,
    raw_query: Option<&str>,
    items: fn(&Incident) -> Vec<&Value>,
) -> Result<Response> {
    let q = ListQuery::parse(raw_query, &[])?;
    let d = st.data();
    let (total, page) = q.run(items(incident(&d, id)?).into_iter());
    Ok(list_response(total, page))
}

/// The reference field the gateway sends on incidents (not in the public model).
const EXTERNAL_REFERENCE: &str = "externalReference";

/// With `incident_reference=dropped`, Orange keeps only its model's fields.
fn drop_reference(st: &SimState, m: &mut serde_json::Map<String, Value>) {
    if st.inferred().incident_reference == ReferenceMode::Dropped {
        m.remove(EXTERNAL_REFERENCE);
    }
}

async fn create(State(st): St, headers: HeaderMap, raw: Bytes) -> Result<Response> {
    let mut m = body::object(&raw)?;
    body::required_str(&m, "shortDescription")?;
    body::optional_strs(&m, &STRING_FIELDS)?;
    drop_reference(&st, &mut m);
    let mut d = st.data();
    let service_point = match m.get("servicePoint") {
        None | Some(Value::Null) => json!({"serviceLevelManagement": {}}),
        Some(sp) => {
            let id = sp.get("id").and_then(Value::as_str).ok_or_else(|| {
                OrangeError::with(24, "Body field 'servicePoint' must carry an 'id'.")
            })?;
            seed::service_point(&d, id)
                .ok_or_else(|| OrangeError::with(24, format!("Unknown servicePoint '{id}'.")))?
        }
    };
    let seq = d.next_seq();
    let stamp = d.stamp();
    let id = format!("{}{}M{seq:05}", &stamp[2..4], &stamp[5..7]);
    let account = d.accounts.first().cloned().unwrap_or(Value::Null);
    let mut inc = Value::Object(m);
    let defaults = [
        ("status", "SUBMITTED"),
        ("impact", "MEDIUM"),
        ("urgency", "MEDIUM"),
        ("priority", "P3"),
        ("serviceCondition", "DEGRADED"),
        ("type", "FAILURE"),
        ("description", ""),
    ];
    for (k, v) in defaults {
        if inc.get(k).is_none_or(Value::is_null) {
            inc[k] = json!(v);
        }
    }
    if inc.get("location").is_none_or(Value::is_null) {
        inc["location"] = service_point.get("location").cloned().unwrap_or(json!({}));
    }
    inc["status"] = json!("SUBMITTED");
    inc["id"] = json!(id);
    inc["origin"] = json!("CUSTOMER");
    inc["servicePoint"] = service_point;
    inc["customer"] = json!({"id": account["id"], "name": account["name"]});
    inc["createdAt"] = json!(stamp);
    inc["lastUpdateDate"] = json!(stamp);
    d.incidents.insert(
        id.clone(),
        Incident {
            body: inc.clone(),
            notes: vec![],
            attachments: vec![],
            freeze_periods: vec![],
        },
    );
    drop(d);
    tracing::debug!(ticket.id = %id, orange.api = "incident", "sim: incident created");
    Ok((StatusCode::CREATED, Json(present(inc, french(&headers)))).into_response())
}

async fn read(State(st): St, Path(id): Path<String>, headers: HeaderMap) -> Result<Response> {
    let body = incident(&st.data(), &id)?.body.clone();
    Ok(Json(present(body, french(&headers))).into_response())
}

async fn update(
    State(st): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response> {
    let mut m = body::object(&raw)?;
    body::optional_strs(&m, &STRING_FIELDS)?;
    drop_reference(&st, &mut m);
    if m.contains_key("shortDescription") {
        body::required_str(&m, "shortDescription")?;
    }
    let mut d = st.data();
    let stamp = d.stamp();
    let inc = incident_mut(&mut d, &id)?;
    for (k, v) in m {
        if !READ_ONLY.contains(&k.as_str()) {
            inc.body[k] = v;
        }
    }
    inc.body["lastUpdateDate"] = json!(stamp);
    let body = inc.body.clone();
    Ok(Json(present(body, french(&headers))).into_response())
}

async fn list(State(st): St, RawQuery(q): RawQuery, headers: HeaderMap) -> Result<Response> {
    let q = ListQuery::parse_inferred(q.as_deref(), &[], &INCIDENTS, &st.inferred())?;
    let (total, page) = q.run(st.data().incidents.iter().map(|i| &i.body));
    let fr = french(&headers);
    Ok(list_response(
        total,
        page.into_iter().map(|b| present(b, fr)).collect(),
    ))
}

async fn notes(State(st): St, Path(id): Path<String>, RawQuery(q): RawQuery) -> Result<Response> {
    list_below(&st, &id, q.as_deref(), |i| i.notes.iter().collect())
}

async fn add_note(
    State(st): St,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Response> {
    let m = body::object(&raw)?;
    let text = body::required_str(&m, "text")?;
    let note = life::add_note(&mut st.data(), &id, text, "CUSTOMER", &caller.0)
        .ok_or_else(|| not_found("incident", &id))?;
    Ok((StatusCode::CREATED, Json(note)).into_response())
}

async fn attachments(
    State(st): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    list_below(&st, &id, q.as_deref(), |i| {
        i.attachments.iter().map(|a| &a.meta).collect()
    })
}

async fn upload(
    State(st): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multipart::boundary(ct)
        .ok_or_else(|| OrangeError::with(68, "Attachments are uploaded as multipart/form-data."))?;
    if raw.is_empty() {
        return Err(OrangeError::code(21));
    }
    let parts = multipart::parse(&raw, &boundary)
        .ok_or_else(|| OrangeError::with(22, "Malformed multipart body."))?;
    let file = parts
        .into_iter()
        .find(|p| p.filename.is_some() || p.name.as_deref() == Some("file"))
        .ok_or_else(|| OrangeError::with(23, "Missing file part."))?;
    let mut d = st.data();
    let seq = d.next_seq();
    let stamp = d.stamp();
    let inc = incident_mut(&mut d, &id)?;
    let meta = json!({
        "id": format!("A{seq:07}"),
        "name": file.filename.clone().or(file.name.clone()).unwrap_or_else(|| "attachment".into()),
        "mimeType": file.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
        "size": file.data.len(), "createdAt": stamp, "author": {"origin": "CUSTOMER"},
    });
    inc.attachments.push(Attachment {
        meta: meta.clone(),
        bytes: file.data,
    });
    inc.body["lastUpdateDate"] = json!(stamp);
    Ok((StatusCode::CREATED, Json(meta)).into_response())
}

async fn download(State(st): St, Path((id, att)): Path<(String, String)>) -> Result<Response> {
    let d = st.data();
    let a = incident(&d, &id)?
        .attachments
        .iter()
        .find(|a| a.meta["id"] == att.as_str())
        .ok_or_else(|| not_found("attachment", &att))?;
    let ct = a.meta["mimeType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_owned();
    let disposition = format!(
        "attachment; filename=\"{}\"",
        a.meta["name"].as_str().unwrap_or("attachment")
    );
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        a.bytes.clone(),
    )
        .into_response())
}

async fn freeze_periods(
    State(st): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    list_below(&st, &id, q.as_deref(), |i| {
        i.freeze_periods.iter().collect()
    })
}

/// `GET /aggregation?groupBy=status,priority&<filters>`: `[{status, priority, count}]`.
async fn aggregation(State(st): St, RawQuery(q): RawQuery) -> Result<Response> {
    let q = ListQuery::parse_inferred(q.as_deref(), &["groupBy"], &INCIDENTS, &st.inferred())?;
    let group_by: Vec<String> = q
        .extra("groupBy")
        .ok_or_else(|| OrangeError::with(27, "Missing query-string parameter 'groupBy'."))?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut counts: BTreeMap<Vec<Option<String>>, usize> = BTreeMap::new();
    for inc in st.data().incidents.iter().filter(|i| q.matches(&i.body)) {
        let key = group_by
            .iter()
            .map(|f| super::query::lookup(&inc.body, f).and_then(super::query::scalar))
            .collect();
        *counts.entry(key).or_default() += 1;
    }
    let rows = counts
        .into_iter()
        .map(|(key, count)| {
            let mut row = serde_json::Map::new();
            for (f, v) in group_by.iter().zip(key) {
                row.insert(f.clone(), v.map_or(Value::Null, Value::String));
            }
            row.insert("count".into(), json!(count));
            Value::Object(row)
        })
        .collect::<Vec<_>>();
    let total = rows.len();
    Ok(list_response(total, rows))
}

/// What the API says about itself; a minimal swagger of the simulated paths (the real file is
/// not public).
static ABOUT: About = About {
    title: "Incident API",
    name: "incident",
    version: "1.3",
    build: Some("itsm-bridge-sim"),
    base: super::INCIDENT_BASE,
    ops: &[
        Op {
            path: "/incidents",
            methods: &["get", "post"],
            summary: "list (filters, sort, offset/limit) or create incidents",
        },
        Op {
            path: "/incidents/{id}",
            methods: &["get", "patch"],
            summary: "read or update an incident",
        },
        Op {
            path: "/incidents/{id}/notes",
            methods: &["get", "post"],
            summary: "an incident's notes; add one",
        },
        Op {
            path: "/incidents/{id}/attachments",
            methods: &["get", "post"],
            summary: "an incident's attachments; upload one (multipart)",
        },
        Op {
            path: "/incidents/{id}/attachments/{attachmentId}",
            methods: &["get"],
            summary: "download an attachment",
        },
        Op {
            path: "/incidents/{id}/freezePeriods",
            methods: &["get"],
            summary: "an incident's freeze periods",
        },
        Op {
            path: "/aggregation",
            methods: &["get"],
            summary: "incident counts by a field",
        },
    ],
};
