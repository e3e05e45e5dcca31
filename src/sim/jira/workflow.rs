//! The simulated issue workflow: Jira's classic default workflow (the system workflow `jira`
//! that Data Center projects get unless an admin assigns another), with its status and
//! transition ids, and the "Resolve Issue" screen that carries `resolution`.
//!
//! Open (1) ─Start Progress (4)→ In Progress (3) ─Stop Progress (301)→ Open;
//! Open / In Progress / Reopened ─Resolve Issue (5)→ Resolved (5), ─Close Issue (2)→ Closed (6);
//! Resolved ─Close Issue (701)→ Closed; Resolved / Closed ─Reopen Issue (3)→ Reopened (4).
//!
//! Only transitions available from the current status are listed and accepted. A field the
//! transition's screen does not show is refused (400), and `resolution` must be an object
//! naming a known resolution, as Jira answers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    Issue, IssueWrite, St, bad, change_issue, change_item, comments_from_update, no_issue, version,
};
use crate::sim::error::jira_error;
use crate::sim::inferred::JiraPermissions;
use crate::sim::state::SimState;

/// (id, name, status category key)
pub const STATUSES: [(&str, &str, &str); 5] = [
    ("1", "Open", "new"),
    ("3", "In Progress", "indeterminate"),
    ("4", "Reopened", "new"),
    ("5", "Resolved", "done"),
    ("6", "Closed", "done"),
];

/// A transition: id, name, the statuses it leaves from, its target, and whether its screen
/// carries `resolution`.
struct Transition {
    id: &'static str,
    name: &'static str,
    from: &'static [&'static str],
    to: &'static str,
    resolution_screen: bool,
}

const TRANSITIONS: [Transition; 6] = [
    Transition {
        id: "4",
        name: "Start Progress",
        from: &["Open", "Reopened"],
        to: "In Progress",
        resolution_screen: false,
    },
    Transition {
        id: "301",
        name: "Stop Progress",
        from: &["In Progress"],
        to: "Open",
        resolution_screen: false,
    },
    Transition {
        id: "5",
        name: "Resolve Issue",
        from: &["Open", "In Progress", "Reopened"],
        to: "Resolved",
        resolution_screen: true,
    },
    Transition {
        id: "2",
        name: "Close Issue",
        from: &["Open", "In Progress", "Reopened"],
        to: "Closed",
        resolution_screen: true,
    },
    Transition {
        id: "701",
        name: "Close Issue",
        from: &["Resolved"],
        to: "Closed",
        resolution_screen: false,
    },
    Transition {
        id: "3",
        name: "Reopen Issue",
        from: &["Resolved", "Closed"],
        to: "Reopened",
        resolution_screen: false,
    },
];

/// Jira's default resolutions (id, name).
const RESOLUTIONS: [(&str, &str); 5] = [
    ("10000", "Done"),
    ("10001", "Won't Do"),
    ("10002", "Duplicate"),
    ("10003", "Cannot Reproduce"),
    ("1", "Fixed"),
];

/// The status view `{id, name, statusCategory}` of a status name.
pub fn status_view(name: &str) -> Value {
    let (id, name, cat) = STATUSES
        .iter()
        .find(|s| s.1 == name)
        .copied()
        .unwrap_or(STATUSES[0]);
    json!({"id": id, "name": name, "statusCategory": {"key": cat}})
}

/// The known status of this name (for seeding).
pub fn status_named(name: &str) -> Option<&'static str> {
    STATUSES.iter().find(|s| s.1 == name).map(|s| s.1)
}

fn available(status: &str, with_fields: bool) -> Vec<Value> {
    TRANSITIONS
        .iter()
        .filter(|t| t.from.contains(&status))
        .map(|t| {
            let mut v = json!({"id": t.id, "name": t.name, "to": status_view(t.to),
                "hasScreen": t.resolution_screen, "isGlobal": false, "isInitial": false,
                "isAvailable": true, "isConditional": false, "looped": false});
            if with_fields {
                v["fields"] = if t.resolution_screen {
                    json!({"resolution": {"required": true, "name": "Resolution", "key": "resolution",
                        "schema": {"type": "resolution", "system": "resolution"},
                        "allowedValues": RESOLUTIONS.iter().map(|(id, n)| json!({"id": id, "name": n})).collect::<Vec<_>>()}})
                } else {
                    json!({})
                };
            }
            v
        })
        .collect()
}

pub async fn transitions(
    State(st): St,
    Path((v, key)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    if version(&v).is_none() {
        return no_issue();
    }
    let with_fields = q.is_some_and(|q| q.contains("transitions.fields"));
    // Jira offers no transition to a user without the permission to transition.
    let permitted = st.inferred().jira_permissions == JiraPermissions::All;
    let d = st.data();
    let Some(issue) = super::find(&d.jira_issues, &key) else {
        return no_issue();
    };
    let offered = if permitted {
        available(issue.status, with_fields)
    } else {
        Vec::new()
    };
    Json(json!({"expand": "transitions", "transitions": offered})).into_response()
}

/// `GET /status`: every status of the site.
pub async fn statuses(Path(v): Path<String>) -> Response {
    if version(&v).is_none() {
        return no_issue();
    }
    let all: Vec<Value> = STATUSES.iter().map(|s| status_view(s.1)).collect();
    Json(Value::Array(all)).into_response()
}

/// `GET /mypermissions?permissions=A,B`: whether the user has each (Cloud requires the list;
/// without it, 400 as Cloud answers).
pub async fn my_permissions(
    State(st): St,
    Path(v): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if version(&v).is_none() {
        return no_issue();
    }
    let asked: Vec<String> = url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "permissions")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|p| p.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    if asked.is_empty() {
        return jira_error(
            StatusCode::BAD_REQUEST,
            &["The 'permissions' query parameter is required."],
            json!({}),
        );
    }
    let denied = match st.inferred().jira_permissions {
        JiraPermissions::All => None,
        JiraPermissions::NoTransition => Some("TRANSITION_ISSUES"),
    };
    let perms: serde_json::Map<String, Value> = asked
        .into_iter()
        .map(|p| {
            let have = denied != Some(p.as_str());
            let v = json!({"key": p, "name": p, "type": "PROJECT", "havePermission": have});
            (p, v)
        })
        .collect();
    Json(json!({"permissions": perms})).into_response()
}

pub async fn transition(State(st): State<Arc<SimState>>, w: IssueWrite) -> Response {
    let IssueWrite {
        v3,
        key,
        user,
        body,
    } = w;
    let id = match &body["transition"]["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return jira_error(
                StatusCode::BAD_REQUEST,
                &["Missing 'transition' identifier"],
                json!({}),
            );
        }
    };
    let new_comments = match comments_from_update(&body, v3) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    change_issue(&st, &key, |issue, stamp| {
        let Some(t) = TRANSITIONS
            .iter()
            .find(|t| t.id == id && t.from.contains(&issue.status))
        else {
            return jira_error(
                StatusCode::BAD_REQUEST,
                &[&format!(
                    "Transition id '{id}' is not valid for this issue."
                )],
                json!({}),
            );
        };
        let resolution = match screen_fields(t, &body["fields"]) {
            Ok(r) => r,
            Err(r) => return *r,
        };
        apply(issue, t, resolution, &user.0, stamp);
        for body in new_comments {
            issue.add_comment(body, &user.0, true, stamp);
        }
        StatusCode::NO_CONTENT.into_response()
    })
}

/// The resolution the transition sets, after checking `fields` against its screen.
fn screen_fields(t: &Transition, fields: &Value) -> Result<Option<Value>, Box<Response>> {
    let Some(fields) = fields.as_object() else {
        return Ok(None);
    };
    let mut resolution = None;
    for (name, value) in fields {
        if name != "resolution" || !t.resolution_screen {
            return Err(Box::new(bad(json!({name: format!(
                "Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
            )}))));
        }
        let wanted = |k: &str| value.get(k).and_then(Value::as_str);
        let found = RESOLUTIONS.iter().find(|(id, n)| {
            wanted("id") == Some(id) || wanted("name").is_some_and(|w| w.eq_ignore_ascii_case(n))
        });
        let Some((id, n)) = found else {
            return Err(Box::new(bad(
                json!({"resolution": "Could not find valid 'id' or 'name' in resolution object."}),
            )));
        };
        resolution = Some(json!({"id": id, "name": n}));
    }
    Ok(resolution)
}

fn apply(issue: &mut Issue, t: &Transition, resolution: Option<Value>, user: &str, stamp: &str) {
    let from = issue.status;
    issue.status = t.to;
    let mut items = vec![change_item(
        "status",
        Some(&status_view(from)["id"]),
        Some(from),
        Some(&status_view(t.to)["id"]),
        Some(t.to),
    )];
    let done = STATUSES.iter().any(|s| s.1 == t.to && s.2 == "done");
    let old = issue
        .fields
        .get("resolution")
        .cloned()
        .unwrap_or(Value::Null);
    // Reaching a done status without a screen keeps the resolution; leaving one clears it.
    let new = match (done, resolution) {
        (true, Some(r)) => r,
        (true, None) => old.clone(),
        (false, _) => Value::Null,
    };
    if new != old {
        items.push(change_item(
            "resolution",
            Some(&old["id"]),
            old["name"].as_str(),
            Some(&new["id"]),
            new["name"].as_str(),
        ));
        issue.fields["resolutiondate"] = if new.is_null() {
            Value::Null
        } else {
            json!(stamp)
        };
        issue.fields["resolution"] = new;
    }
    issue.record_change(user, items, stamp);
}
