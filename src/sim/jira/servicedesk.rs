//! Jira Service Management's request comment API, the only way to write an internal note
//! (`jsdPublic: false`): `POST /rest/servicedeskapi/request/{issueIdOrKey}/comment` with
//! `{"body": "<plain text>", "public": false}` → 201 with the JSM comment shape (dates as
//! `{iso8601, jira, friendly, epochMillis}`), and `GET` of the same path to list them.
//! The body is a plain string whatever the platform API version; errors use JSM's own shape
//! `{"errorMessage", "i18nErrorMessage"}`. Every simulated project is a service desk.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::{St, find, find_mut, jira_stamp};
use crate::sim::itsm_auth::ItsmUser;
use crate::sim::state::SimState;

/// Routes under `/rest/servicedeskapi`.
pub fn routes() -> Router<std::sync::Arc<SimState>> {
    Router::new().route(
        "/request/{key}/comment",
        get(list_comments).post(add_comment),
    )
}

fn jsm_error(status: StatusCode, key: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"errorMessage": message,
            "i18nErrorMessage": {"i18nKey": key, "parameters": []}})),
    )
        .into_response()
}

fn no_request() -> Response {
    jsm_error(
        StatusCode::NOT_FOUND,
        "sd.customer.request.error.not.found",
        "The request could not be found or you do not have permission to view it.",
    )
}

/// A platform comment as the JSM API shows it.
fn jsm_view(c: &Value, issue_id: &str) -> Value {
    let stamp = c["created"].as_str().unwrap_or_default();
    let millis = time::OffsetDateTime::parse(
        stamp,
        &time::format_description::well_known::Iso8601::DEFAULT,
    )
    .map(|t| t.unix_timestamp_nanos() / 1_000_000)
    .unwrap_or_default();
    let body = match &c["body"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    json!({"id": c["id"], "body": body, "public": c["jsdPublic"].as_bool().unwrap_or(true),
        "author": c["author"],
        "created": {"iso8601": stamp.replace(".000", ""), "jira": stamp, "friendly": stamp, "epochMillis": millis},
        "_links": {"self": format!("/rest/servicedeskapi/request/{issue_id}/comment/{}", c["id"].as_str().unwrap_or_default())}})
}

async fn add_comment(
    State(st): St,
    Extension(user): Extension<ItsmUser>,
    Path(key): Path<String>,
    raw: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&raw) else {
        return jsm_error(
            StatusCode::BAD_REQUEST,
            "sd.request.error.json.invalid",
            "The request body is not valid JSON.",
        );
    };
    let Some(text) = body
        .get("body")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
    else {
        return jsm_error(
            StatusCode::BAD_REQUEST,
            "sd.comment.error.body.required",
            "The comment body is required and must be text.",
        );
    };
    let public = match body.get("public") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return jsm_error(
                StatusCode::BAD_REQUEST,
                "sd.comment.error.public.invalid",
                "'public' must be true or false.",
            );
        }
    };
    let mut d = st.data();
    let stamp = jira_stamp(&mut d);
    let Some(issue) = find_mut(&mut d.jira_issues, &key) else {
        return no_request();
    };
    let c = issue.add_comment(Value::String(text.to_owned()), &user.0, public, &stamp);
    (StatusCode::CREATED, Json(jsm_view(&c, &issue.id))).into_response()
}

/// `?public=false` hides customer-visible comments, `?internal=false` internal ones.
async fn list_comments(State(st): St, Path(key): Path<String>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let want_public = !q.contains("public=false");
    let want_internal = !q.contains("internal=false");
    let d = st.data();
    let Some(issue) = find(&d.jira_issues, &key) else {
        return no_request();
    };
    let values: Vec<Value> = issue
        .comments
        .iter()
        .filter(|c| {
            if c["jsdPublic"].as_bool().unwrap_or(true) {
                want_public
            } else {
                want_internal
            }
        })
        .map(|c| jsm_view(c, &issue.id))
        .collect();
    Json(json!({"size": values.len(), "start": 0, "limit": 50, "isLastPage": true, "values": values}))
        .into_response()
}
