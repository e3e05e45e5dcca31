//! Jira REST (`/rest/api/2` and `/rest/api/3`): issue create/get/edit, comments and
//! transitions, every issue addressed by id or key (`/issue/{issueIdOrKey}`), as Jira does.
//! v2 speaks wiki-markup strings; v3 requires Atlassian Document Format and rejects a plain
//! string (400 `{"errors":{"comment":"Comment body is not valid!"}}`). Dates are rendered the
//! way Jira renders them for a user in UTC (`2025-05-14T09:20:30.087+0000`); every change is
//! recorded as a changelog history. The workflow lives in `workflow`, the JSM request comment
//! API (`/rest/servicedeskapi`) in `servicedesk` (docs/simulators.md).

mod adf;
mod search;
mod servicedesk;
mod workflow;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::error::jira_error;
pub use super::issue::Issue;
use super::itsm_auth::{ItsmUser, ItsmWrite};
use super::state::{Data, SimState, Table};

use adf::{adf, adf_text, valid_adf};
pub use servicedesk::routes as servicedesk_routes;

type St = State<Arc<SimState>>;

impl Issue {
    pub(crate) fn view(&self, v3: bool) -> Value {
        let mut fields = self.fields.clone();
        if let Some(d) = fields.get("description").cloned() {
            fields["description"] = body_for(d, v3);
        }
        fields["status"] = workflow::status_view(self.status);
        let comments: Vec<Value> = self.comments.iter().map(|c| comment_view(c, v3)).collect();
        fields["comment"] = json!({"comments": comments, "total": comments.len(), "maxResults": comments.len(), "startAt": 0});
        fields["created"] = json!(self.created);
        fields["updated"] = json!(self.updated);
        json!({"id": self.id, "key": self.key, "self": format!("/rest/api/2/issue/{}", self.id), "fields": fields})
    }

    /// The changelog as `?expand=changelog` shows it.
    pub(crate) fn changelog(&self) -> Value {
        json!({"startAt": 0, "maxResults": self.histories.len(), "total": self.histories.len(), "histories": self.histories})
    }

    /// Appends a comment (`public: false` = a JSM internal note) and returns it as stored.
    pub(crate) fn add_comment(
        &mut self,
        body: Value,
        author: &str,
        public: bool,
        stamp: &str,
    ) -> Value {
        let id = next_id();
        let comment = json!({"id": id, "self": format!("/rest/api/2/issue/{}/comment/{id}", self.id),
            "author": user_view(author), "updateAuthor": user_view(author), "body": body,
            "created": stamp, "updated": stamp, "jsdPublic": public});
        self.comments.push(comment.clone());
        self.updated = stamp.to_owned();
        comment
    }

    /// Records a changelog history of `items` by `user` and bumps `updated`.
    pub(crate) fn record_change(&mut self, user: &str, items: Vec<Value>, stamp: &str) {
        if items.is_empty() {
            return;
        }
        let id = next_id();
        self.histories
            .push(json!({"id": id, "author": user_view(user), "created": stamp, "items": items}));
        self.updated = stamp.to_owned();
    }
}

/// Comment and changelog ids: unique and increasing within the process, like Jira's.
fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(20_000);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A Data Center user as Jira shows one (`name`, `key`, `displayName`).
fn user_view(name: &str) -> Value {
    json!({"name": name, "key": name, "displayName": name, "active": true})
}

/// One changelog item; `fieldId` as Cloud adds it.
pub(crate) fn change_item(
    field: &str,
    from: Option<&Value>,
    from_string: Option<&str>,
    to: Option<&Value>,
    to_string: Option<&str>,
) -> Value {
    json!({"field": field, "fieldtype": "jira", "fieldId": field,
        "from": from.cloned().unwrap_or(Value::Null), "fromString": from_string,
        "to": to.cloned().unwrap_or(Value::Null), "toString": to_string})
}

/// A fresh Jira timestamp: the simulator's strictly increasing clock, rendered as Jira does
/// for a user in UTC (no colon in the offset).
pub(crate) fn jira_stamp(d: &mut Data) -> String {
    d.stamp().replace('Z', "+0000")
}

/// The issue with this id or key (Jira's `{issueIdOrKey}`).
pub(crate) fn find<'a>(issues: &'a Table<Issue>, id_or_key: &str) -> Option<&'a Issue> {
    issues
        .get(id_or_key)
        .or_else(|| issues.iter().find(|i| i.id == id_or_key))
}

pub(crate) fn find_mut<'a>(issues: &'a mut Table<Issue>, id_or_key: &str) -> Option<&'a mut Issue> {
    if issues.get(id_or_key).is_some() {
        return issues.get_mut(id_or_key);
    }
    issues.iter_mut().find(|i| i.id == id_or_key)
}

/// Runs `change` on the issue with this id or key, with a fresh Jira timestamp; "no issue"
/// when there is none.
pub(crate) fn change_issue(
    st: &SimState,
    id_or_key: &str,
    change: impl FnOnce(&mut Issue, &str) -> Response,
) -> Response {
    let mut d = st.data();
    let stamp = jira_stamp(&mut d);
    let Some(issue) = find_mut(&mut d.jira_issues, id_or_key) else {
        return no_issue();
    };
    change(issue, &stamp)
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

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/{v}/issue", post(create))
        .route("/{v}/search", get(search::search))
        .route(
            "/{v}/search/jql",
            get(search::search_jql).post(search::search_jql_post),
        )
        .route("/{v}/issue/{key}", get(read).put(edit))
        .route("/{v}/issue/{key}/comment", get(comments).post(add_comment))
        .route(
            "/{v}/issue/{key}/transitions",
            get(workflow::transitions).post(workflow::transition),
        )
        .route("/{v}/myself", get(myself))
        .route("/{v}/status", get(workflow::statuses))
        .route("/{v}/mypermissions", get(workflow::my_permissions))
}

/// `GET /myself`: the authenticated user (`itsm-bridge doctor` checks the credentials).
async fn myself(Extension(user): Extension<ItsmUser>) -> Json<Value> {
    Json(json!({"name": user.0, "key": user.0, "accountId": user.0,
        "displayName": user.0, "active": true}))
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

/// A write to one issue (`PUT /issue/{key}`, `POST …/comment`, `POST …/transitions`), checked
/// in Jira's order: an unknown API version is "no issue", then the body must be a JSON object.
pub(crate) struct IssueWrite {
    pub v3: bool,
    /// The issue's id or key, as addressed.
    pub key: String,
    pub user: ItsmUser,
    pub body: Value,
}

impl<S: Send + Sync> FromRequest<S> for IssueWrite {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let ItsmWrite {
            user,
            path: (v, key),
            raw,
            ..
        } = ItsmWrite::<(String, String)>::from_request(req, state).await?;
        let v3 = version(&v).ok_or_else(no_issue)?;
        let body = parse(&raw).map_err(|r| *r)?;
        Ok(Self {
            v3,
            key,
            user,
            body,
        })
    }
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
    fields["project"] = json!({"key": project, "name": project});
    let mut d = st.data();
    let id = new_issue_id(&mut d);
    let stamp = jira_stamp(&mut d);
    let key = next_key(&d.jira_issues, &project);
    d.jira_issues
        .insert(key.clone(), Issue::new(&id, &key, fields, &stamp));
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "key": key, "self": format!("/rest/api/{v}/issue/{id}")})),
    )
        .into_response()
}

/// `?expand=changelog` adds the issue's changelog histories.
async fn read(
    State(st): St,
    Path((v, key)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    let Some(issue) = find(&st.data().jira_issues, &key).cloned() else {
        return no_issue();
    };
    let mut view = issue.view(v3);
    if q.is_some_and(|q| q.contains("changelog")) {
        view["changelog"] = issue.changelog();
    }
    Json(view).into_response()
}

/// Fields whose edits the changelog shows (the ones a mapping's `changed:` looks at).
const TRACKED: [&str; 4] = ["summary", "description", "priority", "labels"];

async fn edit(State(st): St, w: IssueWrite) -> Response {
    let fields = w.body.get("fields").cloned().unwrap_or(json!({}));
    if fields.get("status").is_some() {
        return bad(
            json!({"status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."}),
        );
    }
    if let Err(r) = check_description(&fields, w.v3) {
        return *r;
    }
    let new_comments = match comments_from_update(&w.body, w.v3) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    change_issue(&st, &w.key, |issue, stamp| {
        let before = issue.fields.clone();
        if let (Some(dst), Some(src)) = (issue.fields.as_object_mut(), fields.as_object()) {
            dst.extend(src.clone());
        }
        if let Some(ops) = w.body["update"]["labels"].as_array() {
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
        let items = changed_items(&before, &issue.fields);
        issue.record_change(&w.user.0, items, stamp);
        for b in new_comments {
            issue.add_comment(b, &w.user.0, true, stamp);
        }
        StatusCode::NO_CONTENT.into_response()
    })
}

/// Changelog items for the tracked fields and custom fields that differ.
fn changed_items(before: &Value, after: &Value) -> Vec<Value> {
    let Some(after) = after.as_object() else {
        return vec![];
    };
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("value"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| Some(adf_text(v))),
        other => Some(other.to_string()),
    };
    after
        .iter()
        .filter(|(k, _)| TRACKED.contains(&k.as_str()) || k.starts_with("customfield_"))
        .filter(|(k, v)| before.get(k.as_str()) != Some(v))
        .map(|(k, v)| {
            let old = before.get(k.as_str()).cloned().unwrap_or(Value::Null);
            let (from, to) = (text(&old), text(v));
            change_item(k, None, from.as_deref(), None, to.as_deref())
        })
        .collect()
}

/// Bodies of `update.comment[].add` of an edit or transition, validated.
fn comments_from_update(body: &Value, v3: bool) -> Result<Vec<Value>, Box<Response>> {
    let mut out = Vec::new();
    for op in body["update"]["comment"].as_array().into_iter().flatten() {
        if let Some(b) = op["add"].get("body") {
            out.push(comment_body(b, v3)?);
        }
    }
    Ok(out)
}

fn comment_body(b: &Value, v3: bool) -> Result<Value, Box<Response>> {
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
    Ok(b.clone())
}

async fn comments(State(st): St, Path((v, key)): Path<(String, String)>) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    let d = st.data();
    let Some(issue) = find(&d.jira_issues, &key) else {
        return no_issue();
    };
    let c: Vec<Value> = issue.comments.iter().map(|c| comment_view(c, v3)).collect();
    Json(json!({"startAt": 0, "maxResults": c.len(), "total": c.len(), "comments": c}))
        .into_response()
}

async fn add_comment(State(st): St, w: IssueWrite) -> Response {
    let text = match comment_body(&w.body["body"], w.v3) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    change_issue(&st, &w.key, |issue, stamp| {
        let comment = issue.add_comment(text, &w.user.0, true, stamp);
        (StatusCode::CREATED, Json(comment_view(&comment, w.v3))).into_response()
    })
}

/// Seeds or replaces an issue (control API):
/// `{"key": "SUP-7", "fields": {…}, "status": "Open|In Progress|Reopened|Resolved|Closed"}`.
/// An issue id no issue has: from the world's sequence, stepping over ids that were seeded
/// explicitly (`10482` for the demo's `OPS-1287`).
pub(crate) fn new_issue_id(d: &mut Data) -> String {
    loop {
        let id = (10_000 + d.next_seq()).to_string();
        if find(&d.jira_issues, &id).is_none() {
            return id;
        }
    }
}

/// The project's next key: one past its highest number, as Jira counts.
fn next_key(issues: &Table<Issue>, project: &str) -> String {
    let prefix = format!("{project}-");
    let highest = issues
        .iter()
        .filter_map(|i| i.key.strip_prefix(&prefix)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("{project}-{}", highest + 1)
}

/// Seeds an issue: `{"key", "id"?, "fields"?, "status"?}`. An explicit id is kept (the
/// demo events name their issues by id); `None` when the body is not that shape or the id
/// or key is taken.
pub fn seed_issue(st: &SimState, body: &Value) -> Option<Value> {
    let key = body["key"].as_str()?.to_owned();
    let mut d = st.data();
    if find(&d.jira_issues, &key).is_some() {
        return None;
    }
    let id = match body.get("id") {
        None | Some(Value::Null) => new_issue_id(&mut d),
        Some(v) => {
            let id = v
                .as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))?;
            if id.is_empty()
                || !id.bytes().all(|b| b.is_ascii_digit())
                || find(&d.jira_issues, &id).is_some()
            {
                return None;
            }
            id
        }
    };
    let stamp = jira_stamp(&mut d);
    let mut issue = Issue::new(
        &id,
        &key,
        body.get("fields")
            .cloned()
            .unwrap_or(json!({"summary": key})),
        &stamp,
    );
    if let Some(s) = body["status"].as_str() {
        issue.status = workflow::status_named(s)?;
    }
    let view = issue.view(false);
    d.jira_issues.insert(key, issue);
    Some(view)
}
