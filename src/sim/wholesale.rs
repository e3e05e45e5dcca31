//! Orange Wholesale International Trouble Tickets 1.0 (base path configurable; the real one is
//! not public): service numbers, create, update with a comment, get, search with the documented
//! parameters and the `X_Page_Count` / `X-Total-Count` headers, status. Errors carry `infoURL`.
//! Undocumented search parameters (`externalId`), the `X-Application-Id` header and the stored
//! note type follow the inferred switches ([`super::inferred`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::body;
use super::error::OrangeError;
use super::inferred::{ApplicationIdMode, FilterMode, INWARD_COMMENT, NoteTypeMode};
use super::query::{TOTAL_COUNT, lookup, scalar};
use super::state::SimState;

type Result<T> = std::result::Result<T, OrangeError>;
type St = State<Arc<SimState>>;

/// Page-count header, spelled with an underscore as in the docs.
pub const PAGE_COUNT: &str = "x_page_count";
/// Search page size when `pageSize` is absent (paging parameters are not documented).
const DEFAULT_PAGE_SIZE: usize = 20;
const EPOCH: &str = "1970-01-01T00:00:00.000Z";
/// Search parameters the docs list; `page`/`pageSize` are the simulator's (inferred) paging.
const DOCUMENTED_SEARCH: [&str; 12] = [
    "ctxid",
    "sctxid",
    "sortAsc",
    "sortColumn",
    "creationDateFrom",
    "creationDateTo",
    "orangeServiceNumber",
    "reportedBy",
    "id",
    "status",
    "page",
    "pageSize",
];
/// The header that would carry the Wholesale `ApplicationID` (its transport is not public).
pub const APPLICATION_ID_HEADER: &str = "x-application-id";

/// With `application_id=required`, every Wholesale call must carry a non-empty header.
fn check_application_id(st: &SimState, headers: &HeaderMap) -> Result<()> {
    if st.inferred().application_id == ApplicationIdMode::Unchecked {
        return Ok(());
    }
    match headers
        .get(APPLICATION_ID_HEADER)
        .map(HeaderValue::as_bytes)
    {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(OrangeError::with(25, "Missing header 'X-Application-Id'.").wholesale()),
    }
}

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/orangeServiceNumbers", get(service_numbers))
        .route("/troubleTickets", get(search).post(create))
        .route(
            "/troubleTickets/{id}",
            get(read).patch(comment).put(comment),
        )
        .route(
            "/status",
            get(|| async {
                Json(
                    json!({"status": "ok", "name": "API Ticketing WIN_BUS", "version": "",
                "components": {"status": "ok", "name": "WSE", "version": ""}}),
                )
            }),
        )
        .route("/doc", get(doc))
}

/// The document names the base path this simulator was started with (configurable).
async fn doc(State(st): St) -> Json<Value> {
    use super::doc::Op;
    const OPS: &[Op] = &[
        Op {
            path: "/orangeServiceNumbers",
            methods: &["get"],
            summary: "the customer's Orange service numbers",
        },
        Op {
            path: "/troubleTickets",
            methods: &["get", "post"],
            summary: "search trouble tickets (documented parameters, page/pageSize) or create one",
        },
        Op {
            path: "/troubleTickets/{id}",
            methods: &["get", "patch", "put"],
            summary: "read a trouble ticket, or add a comment to it",
        },
        Op {
            path: "/status",
            methods: &["get"],
            summary: "API status",
        },
        Op {
            path: "/doc",
            methods: &["get"],
            summary: "this document",
        },
    ];
    Json(super::doc::swagger(
        "Wholesale International Trouble Tickets",
        "1.0",
        &st.opts.wholesale_base,
        OPS,
    ))
}

async fn service_numbers(State(st): St, headers: HeaderMap) -> Result<Json<Value>> {
    check_application_id(&st, &headers)?;
    Ok(Json(Value::Array(st.data().service_numbers.clone())))
}

fn known_service_number(st: &SimState, n: &str) -> bool {
    st.data().service_numbers.iter().any(|s| {
        s["orangeServiceNumbers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|o| o["orangeServiceNumber"] == n)
    })
}

async fn create(State(st): St, headers: HeaderMap, raw: Bytes) -> Result<Response> {
    check_application_id(&st, &headers)?;
    let m = body::object(&raw).map_err(OrangeError::wholesale)?;
    let description = body::required_str(&m, "description")
        .map_err(OrangeError::wholesale)?
        .to_owned();
    body::optional_strs(&m, &["externalId"]).map_err(OrangeError::wholesale)?;
    let entities = m
        .get("relatedEntity")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let osn = entities
        .iter()
        .find(|e| e["role"] == "orangeServiceNumber")
        .and_then(|e| e["id"].as_str())
        .ok_or_else(|| {
            OrangeError::with(23, "Missing relatedEntity with role 'orangeServiceNumber'.")
                .wholesale()
        })?
        .to_owned();
    if !known_service_number(&st, &osn) {
        return Err(OrangeError::business(format!(
            "Unknown orange service number '{osn}'."
        )));
    }
    let mut related = vec![json!({"id": osn, "role": "product"})];
    related.extend(
        entities
            .iter()
            .filter(|e| e["role"] == "technicalNumber")
            .map(|e| json!({"id": e["id"], "role": "additionalTechnicalInformation"})),
    );
    let parties = m
        .get("relatedParty")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let reported_by = parties
        .iter()
        .find(|p| p["role"] == "depositor")
        .and_then(|p| p["name"].as_str())
        .unwrap_or("")
        .to_owned();
    let mut d = st.data();
    let id = format!("{}", 1_234_500_000 + d.next_seq());
    let stamp = d.stamp();
    let ticket = json!({
        "id": id, "description": description, "note": [], "creationDate": stamp, "status": "submitted",
        "relatedentity": related, "resolutionDate": EPOCH,
        "statusChange": {"changeDate": EPOCH, "changeReason": ""},
        "externalId": m.get("externalId").cloned().unwrap_or(Value::Null),
        "relatedParty": parties, "reportedBy": reported_by, "attachment": {"name": "{}"},
        "priority": null, "escalationLevel": "0", "@Type": "TtEscalationLevel",
    });
    d.tickets.insert(id.clone(), ticket);
    Ok(Json(json!({"ticketId": {"id": id}})).into_response())
}

fn not_found(id: &str) -> OrangeError {
    OrangeError::with(60, format!("No trouble ticket with id '{id}'.")).wholesale()
}

async fn read(State(st): St, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Value>> {
    check_application_id(&st, &headers)?;
    let t = st
        .data()
        .tickets
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({"ticket": t})))
}

async fn comment(
    State(st): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<StatusCode> {
    check_application_id(&st, &headers)?;
    let m = body::object(&raw).map_err(OrangeError::wholesale)?;
    let note = m
        .get("note")
        .and_then(Value::as_object)
        .ok_or_else(|| OrangeError::with(23, "Missing body field 'note'.").wholesale())?;
    let text = body::required_str(note, "text")
        .map_err(OrangeError::wholesale)?
        .to_owned();
    let mut d = st.data();
    let stamp = d.stamp();
    let t = d.tickets.get_mut(&id).ok_or_else(|| not_found(&id))?;
    if t["status"] == "closed" {
        return Err(OrangeError::business(
            "The ticket is closed and cannot be updated.",
        ));
    }
    let kind = match st.inferred().wholesale_note_type {
        NoteTypeMode::AsSent => note
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(INWARD_COMMENT),
        NoteTypeMode::Inward => INWARD_COMMENT,
    };
    if let Some(notes) = t["note"].as_array_mut() {
        notes.push(json!({"date": stamp, "type": kind, "text": text, "@type": "NoteTtType"}));
    }
    Ok(StatusCode::OK)
}

fn bad_param(name: &str) -> OrangeError {
    OrangeError::with(
        28,
        format!("Invalid value for query-string parameter '{name}'."),
    )
    .wholesale()
}

async fn search(State(st): St, RawQuery(q): RawQuery, headers: HeaderMap) -> Result<Response> {
    check_application_id(&st, &headers)?;
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    // Undocumented parameters (`externalId`): equality filters on the ticket's field of that
    // name, dropped, or refused, as `unknown_filters` says.
    let mut unknown: Vec<(String, String)> = Vec::new();
    for (k, v) in &params {
        if DOCUMENTED_SEARCH.contains(&k.as_str()) {
            continue;
        }
        match st.inferred().unknown_filters {
            FilterMode::Apply => unknown.push((k.clone(), v.clone())),
            FilterMode::Ignore => {}
            FilterMode::Reject => {
                return Err(OrangeError::with(
                    28,
                    format!("Unknown query-string parameter '{k}'."),
                )
                .wholesale());
            }
        }
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (name, only) in [("ctxid", "TCKTNG"), ("sctxid", "wse")] {
        match get(name) {
            None => {
                return Err(OrangeError::with(
                    27,
                    format!("Missing query-string parameter '{name}'."),
                )
                .wholesale());
            }
            Some(v) if v != only => return Err(bad_param(name)),
            Some(_) => {}
        }
    }
    let asc = match get("sortAsc") {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => return Err(bad_param("sortAsc")),
    };
    let column = match get("sortColumn").unwrap_or("START_DATE") {
        "TICKET_NUMBER" => "id",
        "ORANGE_SERVICE_NUMBER" => "relatedentity",
        "STATUS" => "status",
        "START_DATE" => "creationDate",
        "CUSTOMER_REF" => "externalId",
        "REPORTED_BY" => "reportedBy",
        _ => return Err(bad_param("sortColumn")),
    };
    for name in ["creationDateFrom", "creationDateTo"] {
        if let Some(v) = get(name)
            && OffsetDateTime::parse(v, &Rfc3339).is_err()
        {
            return Err(bad_param(name));
        }
    }
    let status = get("status").filter(|s| *s != "-1");
    if status.is_some_and(|s| !super::life::TICKET_STATUSES.contains(&s)) {
        return Err(bad_param("status"));
    }
    let page: usize = get("page")
        .map_or(Ok(1), str::parse)
        .map_err(|_| bad_param("page"))?
        .max(1);
    let size: usize = get("pageSize")
        .map_or(Ok(DEFAULT_PAGE_SIZE), str::parse)
        .map_err(|_| bad_param("pageSize"))?
        .clamp(1, 1000);
    let d = st.data();
    let mut hits: Vec<&Value> = d
        .tickets
        .iter()
        .filter(|t| {
            let osn = t["relatedentity"][0]["id"].as_str();
            get("id").is_none_or(|v| t["id"] == v)
                && status.is_none_or(|v| t["status"] == v)
                && get("orangeServiceNumber").is_none_or(|v| osn == Some(v))
                && get("reportedBy").is_none_or(|v| t["reportedBy"] == v)
                && unknown
                    .iter()
                    .all(|(k, v)| lookup(t, k).and_then(scalar).as_deref() == Some(v.as_str()))
                && get("creationDateFrom").is_none_or(|v| t["creationDate"].as_str() >= Some(v))
                && get("creationDateTo").is_none_or(|v| t["creationDate"].as_str() <= Some(v))
        })
        .collect();
    let key = |t: &Value| {
        if column == "relatedentity" {
            t["relatedentity"][0]["id"].clone()
        } else {
            lookup(t, column).cloned().unwrap_or(Value::Null)
        }
    };
    hits.sort_by(|a, b| {
        let o = scalar(&key(a)).cmp(&scalar(&key(b)));
        if asc { o } else { o.reverse() }
    });
    let total = hits.len();
    let pages = total.div_ceil(size);
    let tickets: Vec<Value> = hits
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    let mut resp = Json(json!({"search": {"tickets": tickets}})).into_response();
    resp.headers_mut().insert(
        HeaderName::from_static(PAGE_COUNT),
        HeaderValue::from(pages),
    );
    resp.headers_mut()
        .insert(TOTAL_COUNT, HeaderValue::from(total));
    Ok(resp)
}
