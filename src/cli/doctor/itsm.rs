//! doctor's ITSM rows: whether the integration user can do what the tenant's way back needs,
//! found out with reads only (docs/orange-assumptions.md, "ITSM rights", lists what is
//! inferred here).
//!
//! - ServiceNow: read on each way-back table and on `sys_journal_field` (a one-record list);
//!   write on each way-back table from the user's roles (`sys_user` by user name, then
//!   `sys_user_has_role`), since the Table API has no read-only "may I write" call: a table
//!   whose default write ACL is known holds when the user has one of its roles and not
//!   `snc_read_only`; another table is reported with the roles, not judged.
//! - Jira: `myself`; `mypermissions` for browsing, commenting, transitioning and editing;
//!   every transition the way back names is either a status name (the client then finds the
//!   transition by its target) or offered on one of the recently updated issues read.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::{Row, push_ok, row};
use crate::config::TenantConfig;
use crate::domain::call::ItsmKind;
use crate::itsm::jira::JiraClient;
use crate::itsm::servicenow::ServicenowClient;
use crate::mapping::{Mapping, MappingSet, StatusRule, WayBack};

/// The ServiceNow table the journal (work notes, comments) is read from.
const JOURNAL_TABLE: &str = "sys_journal_field";
/// ServiceNow's role that makes a user read-only everywhere.
const READ_ONLY_ROLE: &str = "snc_read_only";
/// Roles the base system's write ACLs grant, per table (`admin` passes every ACL).
const WRITE_ROLES: [(&str, &[&str]); 5] = [
    ("incident", &["itil", "sn_incident_write", "admin"]),
    ("problem", &["itil", "sn_problem_write", "admin"]),
    ("change_request", &["itil", "sn_change_write", "admin"]),
    ("sc_req_item", &["itil", "admin"]),
    ("sc_task", &["itil", "admin"]),
];
/// Jira permissions the write-back uses.
const JIRA_PERMISSIONS: [&str; 4] = [
    "BROWSE_PROJECTS",
    "ADD_COMMENTS",
    "TRANSITION_ISSUES",
    "EDIT_ISSUES",
];
/// Recently updated issues whose transitions are read.
const SAMPLE_ISSUES: u32 = 10;

/// The mappings of `t`'s sources whose way back writes to `itsm`.
fn writing_to(
    t: &TenantConfig,
    mappings: Option<&MappingSet>,
    itsm: ItsmKind,
) -> Vec<Arc<Mapping>> {
    t.sources
        .keys()
        .filter_map(|s| mappings?.get(&t.id, s))
        .filter(|m| m.way_back().itsm == itsm)
        .collect()
}

pub(super) async fn rows(t: &TenantConfig, mappings: Option<&MappingSet>, rows: &mut Vec<Row>) {
    let http = reqwest::Client::new();
    if let Some(sn) = &t.itsm.servicenow {
        let client = ServicenowClient::new(http.clone(), sn.clone());
        let user = match &sn.auth {
            crate::config::OutboundAuth::Basic { username, .. } => Some(username.clone()),
            _ => sn.integration_user.clone(),
        };
        let mut tables: Vec<String> = writing_to(t, mappings, ItsmKind::Servicenow)
            .iter()
            .map(|m| m.way_back().table.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if tables.is_empty() {
            tables.push("incident".into());
        }
        servicenow_rows(t, &client, user.as_deref(), &tables, rows).await;
    }
    if let Some(j) = &t.itsm.jira {
        let client = JiraClient::new(http, j.clone());
        let backs = writing_to(t, mappings, ItsmKind::Jira);
        let named = transitions_named(backs.iter().map(|m| m.way_back()));
        jira_rows(t, &client, &named, rows).await;
    }
}

async fn servicenow_rows(
    t: &TenantConfig,
    client: &ServicenowClient,
    user: Option<&str>,
    tables: &[String],
    rows: &mut Vec<Row>,
) {
    for table in tables.iter().map(String::as_str).chain([JOURNAL_TABLE]) {
        let mut r = row(&t.id, "itsm", format!("servicenow read {table}"));
        match client.list_fields(table, "", Some("sys_id"), 1, 0).await {
            Ok(_) => (r.observed, r.ok) = ("readable".into(), true),
            Err(e) => r.observed = e.message,
        }
        r.setting = "the integration user's roles (ACL read on the table)".into();
        rows.push(r);
    }
    let roles = match user {
        Some(u) => roles_of(client, u).await,
        None => Err("no user name: Basic auth or itsm.servicenow.integration_user names it".into()),
    };
    for table in tables {
        let mut r = row(&t.id, "itsm", format!("servicenow write {table}"));
        r.setting = "the integration user's roles (ACL write on the table)".into();
        match &roles {
            Err(why) => {
                r.observed = format!("cannot tell: {why}");
                // Not contradicted, only unread: reported, not failed.
                r.relied = false;
            }
            Ok(roles) => {
                let list = roles.iter().cloned().collect::<Vec<_>>().join(", ");
                let writers = WRITE_ROLES.iter().find(|(n, _)| n == table).map(|w| w.1);
                if roles.contains(READ_ONLY_ROLE) {
                    r.observed = format!("read-only (roles: {list})");
                } else if let Some(writers) = writers {
                    r.ok = writers.iter().any(|w| roles.contains(*w));
                    r.observed = if r.ok {
                        format!("writable (roles: {list})")
                    } else {
                        format!("no write role ({}) among: {list}", writers.join(" | "))
                    };
                } else {
                    r.observed = format!("roles: {list}; {table}'s write ACL is not known here");
                    r.relied = false;
                }
            }
        }
        rows.push(r);
    }
}

/// The active roles of user `name`, or why they could not be read.
async fn roles_of(client: &ServicenowClient, name: &str) -> Result<BTreeSet<String>, String> {
    let users = client
        .list_fields(
            "sys_user",
            &format!("user_name={name}"),
            Some("sys_id"),
            1,
            0,
        )
        .await
        .map_err(|e| format!("sys_user: {}", e.message))?;
    let Some(sys_id) = users.first().and_then(|u| u["sys_id"].as_str()) else {
        return Err(format!("no sys_user named {name}"));
    };
    let q = format!("user={sys_id}^state=active");
    let grants = client
        .list_fields("sys_user_has_role", &q, Some("role.name"), 500, 0)
        .await
        .map_err(|e| format!("sys_user_has_role: {}", e.message))?;
    Ok(grants
        .iter()
        .filter_map(|g| g["role.name"].as_str().map(str::to_owned))
        .collect())
}

/// Every transition named by the way backs' status and step rules.
fn transitions_named<'a>(backs: impl Iterator<Item = &'a WayBack>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for w in backs {
        let rules = w
            .status
            .iter()
            .map(|(_, r)| r)
            .chain(w.status_default.iter())
            .chain(w.steps.iter().filter_map(|s| s.status.as_ref()));
        for r in rules {
            if let StatusRule::Transition { name, .. } = r {
                out.insert(name.clone());
            }
        }
    }
    out
}

async fn jira_rows(
    t: &TenantConfig,
    client: &JiraClient,
    named: &BTreeSet<String>,
    rows: &mut Vec<Row>,
) {
    let mut r = row(&t.id, "itsm", "jira myself");
    match client.myself().await {
        Ok(v) => {
            let who = ["accountId", "name", "displayName"]
                .iter()
                .find_map(|k| v.get(*k).and_then(|s| s.as_str()))
                .unwrap_or("?");
            (r.observed, r.ok) = (format!("authenticated as {who}"), true);
        }
        Err(e) => r.observed = e.message,
    }
    r.setting = "tenants[].itsm.jira.auth".into();
    if !push_ok(rows, r) {
        return;
    }
    let perms = client
        .read(
            &["mypermissions"],
            &[("permissions", &JIRA_PERMISSIONS.join(","))],
        )
        .await;
    for p in JIRA_PERMISSIONS {
        let mut r = row(&t.id, "itsm", format!("jira permission {p}"));
        r.setting = "the integration account's project permissions".into();
        match &perms {
            Ok(v) => {
                let have = v.pointer(&format!("/permissions/{p}/havePermission"));
                r.ok = have == Some(&Value::Bool(true));
                r.observed = match have {
                    Some(Value::Bool(true)) => "granted".into(),
                    Some(_) => "not granted".into(),
                    None => "not listed".into(),
                };
            }
            Err(e) => r.observed = e.message.clone(),
        }
        rows.push(r);
    }
    if named.is_empty() {
        return;
    }
    let offered = offered_transitions(client).await;
    for name in named {
        let mut r = row(&t.id, "itsm", format!("jira transition {name:?}"));
        r.assumed = "available".into();
        r.setting = "the mapping's way_back transition names, or the project's workflow".into();
        match &offered {
            Err(e) => r.observed = format!("error: {e}"),
            Ok(o) if o.statuses.contains(&name.to_lowercase()) => {
                (r.observed, r.ok) = ("a status of the site (found by target)".into(), true);
            }
            Ok(o) if o.transitions.contains(&name.to_lowercase()) => {
                (r.observed, r.ok) = ("offered on a recent issue".into(), true);
            }
            Ok(o) if o.issues == 0 => {
                // Nothing read contradicts it: no issue to read transitions from.
                r.observed = "undecidable (no recent issue to read transitions from)".into();
                r.ok = true;
            }
            Ok(o) => {
                r.observed = format!(
                    "neither a status nor offered on the recent issues read ({})",
                    o.issues
                );
            }
        }
        rows.push(r);
    }
}

/// Status names of the site and transitions offered on recent issues (lower case).
struct Offered {
    statuses: BTreeSet<String>,
    transitions: BTreeSet<String>,
    issues: usize,
}

async fn offered_transitions(client: &JiraClient) -> Result<Offered, String> {
    let names = |v: &Value, ptr: &str| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.pointer(ptr).and_then(Value::as_str))
            .map(str::to_lowercase)
            .collect()
    };
    let statuses = client.read(&["status"], &[]).await.map_err(|e| e.message)?;
    let jql = r#"updated >= "-30d" ORDER BY updated DESC"#;
    let issues = if client.is_cloud() {
        client
            .search_jql(jql, None, SAMPLE_ISSUES)
            .await
            .map(|p| p.0)
    } else {
        client.search(jql, 0, SAMPLE_ISSUES).await
    }
    .map_err(|e| e.message)?;
    let mut transitions = BTreeSet::new();
    for issue in &issues {
        let Some(id) = issue.get("id").and_then(Value::as_str) else {
            continue;
        };
        let v = client
            .read(&["issue", id, "transitions"], &[])
            .await
            .map_err(|e| e.message)?;
        transitions.extend(names(&v["transitions"], "/name"));
    }
    Ok(Offered {
        statuses: names(&statuses, "/name").into_iter().collect(),
        transitions,
        issues: issues.len(),
    })
}
