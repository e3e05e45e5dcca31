//! Jira REST (`/rest/api/2` and `/rest/api/3`): issue create/get/edit, comments and
//! transitions. v2 speaks wiki-markup strings; v3 requires Atlassian Document Format and
//! rejects a plain string (400 `{"errors":{"comment":"Comment body is not valid!"}}`).
//! Workflow: To Do → In Progress → Done, transitions 11/21/31/41 (docs/simulators.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::error::jira_error;
use super::itsm_auth::ItsmUser;
use super::state::{SimState, now_stamp};

type St = State<Arc<SimState>>;

/// (id, name, status category key)
const STATUSES: [(&str, &str, &str); 3] = [
    ("1", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "Done", "done"),
];
/// (id, name, from statuses, to status)
const TRANSITIONS: [(&str, &str, &[&str], &str); 4] = [
    ("11", "Start Progress", &["To Do"], "In Progress"),
    ("21", "Stop Progress", &["In Progress"], "To Do"),
    ("31", "Resolve", &["To Do", "In Progress"], "Done"),
    ("41", "Reopen", &["Done"], "To Do"),
];

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: String,
    pub key: String,
    pub fields: Value,
    pub status: &'static str,
    pub comments: Vec<Value>,
    pub created: String,
    pub updated: String,
}

impl Issue {
    pub fn new(id: &str, key: &str, fields: Value) -> Self {
        let now = now_stamp();
        Self {
            id: id.into(),
            key: key.into(),
            fields,
            status: "To Do",
            comments: vec![],
            created: now.clone(),
            updated: now,
        }
    }

    fn view(&self, v3: bool) -> Value {
        let mut fields = self.fields.clone();
        if let Some(d) = fields.get("description").cloned() {
            fields["description"] = body_for(d, v3);
        }
        let (id, name, cat) = STATUSES
            .iter()
            .find(|s| s.1 == self.status)
            .copied()
            .unwrap_or(STATUSES[0]);
        fields["status"] = json!({"id": id, "name": name, "statusCategory": {"key": cat}});
        let comments: Vec<Value> = self.comments.iter().map(|c| comment_view(c, v3)).collect();
        fields["comment"] = json!({"comments": comments, "total": comments.len(), "maxResults": comments.len(), "startAt": 0});
        fields["created"] = json!(self.created);
        fields["updated"] = json!(self.updated);
        json!({"id": self.id, "key": self.key, "fields": fields})
    }
}

fn comment_view(c: &Value, v3: bool) -> Value {
    let mut c = c.clone();
    c["body"] = body_for(c["body"].clone(), v3);
    c
}

/// A stored body as the API version shows it: ADF for v3, text for v2.
fn body_for(b: Value, v3: bool) -> Value {
    match (b, v3) {
        (Value::String(s), true) => adf(&s),
        (Value::String(s), false) => Value::String(s),
        (doc, true) => doc,
        (doc, false) => Value::String(adf_text(&doc)),
    }
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

fn adf_text(node: &Value) -> String {
    if let Some(t) = node.get("text").and_then(Value::as_str) {
        return t.to_owned();
    }
    node.get("content")
        .and_then(Value::as_array)
        .map(|c| c.iter().map(adf_text).collect::<Vec<_>>().join(""))
        .unwrap_or_default()
}

/// The ADF rules that bite: a `doc` of version 1 with a content array, non-empty text nodes.
pub fn valid_adf(v: &Value) -> bool {
    fn nodes_ok(n: &Value) -> bool {
        let text_ok = n.get("type") != Some(&json!("text"))
            || n.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty());
        text_ok
            && n.get("content")
                .and_then(Value::as_array)
                .is_none_or(|c| c.iter().all(nodes_ok))
    }
    v.get("type") == Some(&json!("doc"))
        && v.get("version") == Some(&json!(1))
        && v.get("content").is_some_and(Value::is_array)
        && nodes_ok(v)
}

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/{v}/issue", post(create))
        .route("/{v}/issue/{key}", get(read).put(edit))
        .route("/{v}/issue/{key}/comment", get(comments).post(add_comment))
        .route(
            "/{v}/issue/{key}/transitions",
            get(transitions).post(transition),
        )
}

/// `Some(true)` for v3, `Some(false)` for v2 (and `latest`), `None` otherwise.
fn version(v: &str) -> Option<bool> {
    match v {
        "3" => Some(true),
        "2" | "latest" => Some(false),
        _ => None,
    }
}

fn no_issue() -> Response {
    jira_error(
        StatusCode::NOT_FOUND,
        &["Issue does not exist or you do not have permission to see it."],
        json!({}),
    )
}

fn bad(errors: Value) -> Response {
    jira_error(StatusCode::BAD_REQUEST, &[], errors)
}

fn parse(raw: &[u8]) -> Result<Value, Box<Response>> {
    serde_json::from_slice::<Value>(raw)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            Box::new(jira_error(
                StatusCode::BAD_REQUEST,
                &["Unexpected character in the request body."],
                json!({}),
            ))
        })
}

fn check_description(fields: &Value, v3: bool) -> Result<(), Box<Response>> {
    match fields.get("description") {
        Some(d) if v3 && !valid_adf(d) => Err(Box::new(bad(
            json!({"description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"}),
        ))),
        _ => Ok(()),
    }
}

async fn create(State(st): St, Path(v): Path<String>, raw: Bytes) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    let body = match parse(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut fields = body.get("fields").cloned().unwrap_or(json!({}));
    if fields
        .get("summary")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return bad(json!({"summary": "You must specify a summary of the issue."}));
    }
    if let Err(r) = check_description(&fields, v3) {
        return *r;
    }
    let project = fields["project"]["key"]
        .as_str()
        .unwrap_or("SUP")
        .to_owned();
    if let Some(o) = fields.as_object_mut() {
        o.remove("project");
    }
    let mut d = st.data();
    let seq = d.next_seq();
    let key = format!("{project}-{}", d.jira_issues.len() + 1);
    let id = (10_000 + seq).to_string();
    d.jira_issues
        .insert(key.clone(), Issue::new(&id, &key, fields));
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "key": key, "self": format!("/rest/api/{v}/issue/{id}")})),
    )
        .into_response()
}

async fn read(State(st): St, Path((v, key)): Path<(String, String)>) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    match st.data().jira_issues.get(&key) {
        Some(i) => Json(i.view(v3)).into_response(),
        None => no_issue(),
    }
}

async fn edit(
    State(st): St,
    Extension(user): Extension<ItsmUser>,
    Path((v, key)): Path<(String, String)>,
    raw: Bytes,
) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    let body = match parse(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let fields = body.get("fields").cloned().unwrap_or(json!({}));
    if fields.get("status").is_some() {
        return bad(
            json!({"status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."}),
        );
    }
    if let Err(r) = check_description(&fields, v3) {
        return *r;
    }
    let new_comments = match comments_from_update(&body, v3, &user.0) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut d = st.data();
    let Some(issue) = d.jira_issues.get_mut(&key) else {
        return no_issue();
    };
    if let (Some(dst), Some(src)) = (issue.fields.as_object_mut(), fields.as_object()) {
        dst.extend(src.clone());
    }
    if let Some(ops) = body["update"]["labels"].as_array() {
        let mut labels: Vec<Value> = issue.fields["labels"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for op in ops {
            if let Some(l) = op.get("add") {
                labels.push(l.clone());
            }
            if let Some(l) = op.get("remove") {
                labels.retain(|x| x != l);
            }
        }
        issue.fields["labels"] = Value::Array(labels);
    }
    issue.comments.extend(new_comments);
    issue.updated = now_stamp();
    StatusCode::NO_CONTENT.into_response()
}

/// `update.comment[].add.body` of an edit or transition.
fn comments_from_update(body: &Value, v3: bool, user: &str) -> Result<Vec<Value>, Box<Response>> {
    let mut out = Vec::new();
    for op in body["update"]["comment"].as_array().into_iter().flatten() {
        if let Some(b) = op["add"].get("body") {
            out.push(new_comment(b, v3, user)?);
        }
    }
    Ok(out)
}

fn new_comment(b: &Value, v3: bool, user: &str) -> Result<Value, Box<Response>> {
    let ok = if v3 {
        valid_adf(b)
    } else {
        b.as_str().is_some_and(|s| !s.is_empty())
    };
    if !ok {
        return Err(Box::new(bad(
            json!({"comment": "Comment body is not valid!"}),
        )));
    }
    let now = now_stamp();
    Ok(
        json!({"id": rand::random_range(10_000..100_000_000u32).to_string(), "body": b,
        "author": {"name": user, "displayName": user}, "created": now, "updated": now}),
    )
}

async fn comments(State(st): St, Path((v, key)): Path<(String, String)>) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    let d = st.data();
    let Some(issue) = d.jira_issues.get(&key) else {
        return no_issue();
    };
    let c: Vec<Value> = issue.comments.iter().map(|c| comment_view(c, v3)).collect();
    Json(json!({"startAt": 0, "maxResults": c.len(), "total": c.len(), "comments": c}))
        .into_response()
}

async fn add_comment(
    State(st): St,
    Extension(user): Extension<ItsmUser>,
    Path((v, key)): Path<(String, String)>,
    raw: Bytes,
) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    let body = match parse(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let comment = match new_comment(&body["body"], v3, &user.0) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut d = st.data();
    let Some(issue) = d.jira_issues.get_mut(&key) else {
        return no_issue();
    };
    issue.comments.push(comment.clone());
    issue.updated = now_stamp();
    (StatusCode::CREATED, Json(comment_view(&comment, v3))).into_response()
}

fn available(status: &str) -> Vec<Value> {
    TRANSITIONS.iter().filter(|t| t.2.contains(&status)).map(|(id, name, _, to)| {
        let (sid, sname, cat) = STATUSES.iter().find(|s| s.1 == *to).copied().unwrap_or(STATUSES[0]);
        json!({"id": id, "name": name, "to": {"id": sid, "name": sname, "statusCategory": {"key": cat}},
            "hasScreen": false, "isGlobal": false, "isInitial": false, "isAvailable": true, "isConditional": false, "looped": false})
    }).collect()
}

async fn transitions(State(st): St, Path((v, key)): Path<(String, String)>) -> Response {
    if version(&v).is_none() {
        return no_issue();
    }
    let d = st.data();
    let Some(issue) = d.jira_issues.get(&key) else {
        return no_issue();
    };
    Json(json!({"expand": "transitions", "transitions": available(issue.status)})).into_response()
}

async fn transition(
    State(st): St,
    Extension(user): Extension<ItsmUser>,
    Path((v, key)): Path<(String, String)>,
    raw: Bytes,
) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    let body = match parse(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(id) = body["transition"]["id"].as_str().map(str::to_owned) else {
        return jira_error(
            StatusCode::BAD_REQUEST,
            &["Missing 'transition' identifier"],
            json!({}),
        );
    };
    let new_comments = match comments_from_update(&body, v3, &user.0) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut d = st.data();
    let Some(issue) = d.jira_issues.get_mut(&key) else {
        return no_issue();
    };
    let Some(t) = TRANSITIONS
        .iter()
        .find(|t| t.0 == id && t.2.contains(&issue.status))
    else {
        return jira_error(
            StatusCode::BAD_REQUEST,
            &[&format!(
                "Transition id '{id}' is not valid for this issue."
            )],
            json!({}),
        );
    };
    issue.status = t.3;
    if let (Some(dst), Some(src)) = (issue.fields.as_object_mut(), body["fields"].as_object()) {
        dst.extend(src.clone());
    }
    issue.comments.extend(new_comments);
    issue.updated = now_stamp();
    StatusCode::NO_CONTENT.into_response()
}

/// Seeds or replaces an issue (control API): `{"key": "SUP-7", "fields": {…}, "status": "To Do"}`.
pub fn seed_issue(st: &SimState, body: &Value) -> Option<Value> {
    let key = body["key"].as_str()?.to_owned();
    let mut d = st.data();
    let id = (10_000 + d.next_seq()).to_string();
    let mut issue = Issue::new(
        &id,
        &key,
        body.get("fields")
            .cloned()
            .unwrap_or(json!({"summary": key})),
    );
    if let Some(s) = body["status"].as_str() {
        issue.status = STATUSES.iter().find(|x| x.1 == s)?.1;
    }
    let view = issue.view(false);
    d.jira_issues.insert(key, issue);
    Some(view)
}
