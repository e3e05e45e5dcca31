//! A gateway wired to the Jira simulator: tenant `acme`, source `jira` on the shipped
//! `demo/jira-incident.yaml`, write-back to the simulator as the integration account
//! `sandbox`, and the webhooks Jira would send, built from what the simulator holds.

use std::path::Path;

use itsm_bridge::config::Config;
use reqwest::Method;
use serde_json::{Value, json};

use super::{ACME_JIRA_SECRET, TestApp, parse};
use crate::sim_support::{Sim, send_json};

/// The tenant's config; `source_extra` is YAML added to `sources.jira` (indented 8 spaces).
pub fn config(sim: &str, db: &Path, source_extra: &str) -> Config {
    config_with(sim, db, source_extra, true, "sandbox")
}

/// The config with the poller on or off and another integration account (with `svc-bridge`,
/// what the simulator's `sandbox` user writes counts as a customer's).
pub fn config_with(
    sim: &str,
    db: &Path,
    source_extra: &str,
    poller: bool,
    integration: &str,
) -> Config {
    let poller = format!("enabled: {poller}, interval_secs: 1, page_size: 20");
    let yaml = config_yaml(
        sim,
        db,
        "demo/jira-incident.yaml",
        source_extra,
        &poller,
        integration,
    );
    parse(&yaml)
}

/// The tenant's config on the shipped `mapping`, with `poller` the inside of the poller's
/// YAML map.
pub fn config_yaml(
    sim: &str,
    db: &Path,
    mapping: &str,
    source_extra: &str,
    poller: &str,
    integration: &str,
) -> String {
    let tenant = format!(
        r#"      jira:
        auth: [{{ type: hub_signature, secret: {ACME_JIRA_SECRET} }}]
        mapping: {mapping}
{source_extra}
    itsm:
      jira:
        base_url: "{sim}"
        api_version: 2
        auth: {{ type: basic, username: sandbox, password: sandbox }}
        integration_account: {integration}
"#
    );
    let store = format!("sqlite://{}", db.join("gw.db").display());
    super::sim_config::acme_yaml(sim, &store, &format!("{{ {poller} }}"), &tenant)
}

/// Boots the gateway on `db` against `sim`.
pub async fn boot(sim: &Sim, db: &Path, source_extra: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    TestApp::spawn_config(config(&sim.handle.base_url(), db, source_extra), dir).await
}

/// A customer of the Jira site (Data Center user shape).
pub fn customer() -> Value {
    json!({"name": "marie.curie", "key": "JIRAUSER10100", "displayName": "Marie Curie"})
}

/// Creates an Incident issue in the simulator (as a customer would in Jira's UI) and returns
/// its REST v2 view.
pub async fn create_incident(sim: &Sim, summary: &str) -> Value {
    let fields = json!({"project": {"key": "OPS"}, "summary": summary,
        "issuetype": {"name": "Incident"}, "priority": {"name": "High"},
        "description": "h2. Symptoms\n*All* users lose internet access."});
    create_issue(sim, fields).await
}

/// Creates an issue with `fields` in the simulator; its REST v2 view.
pub async fn create_issue(sim: &Sim, fields: Value) -> Value {
    let req = sim.itsm(Method::POST, "/rest/api/2/issue");
    let (status, created) = send_json(req.json(&json!({ "fields": fields }))).await;
    assert_eq!(status, 201, "{created}");
    issue(sim, created["id"].as_str().unwrap()).await
}

/// The issue's REST v2 view with its changelog.
pub async fn issue(sim: &Sim, id_or_key: &str) -> Value {
    let path = format!("/rest/api/2/issue/{id_or_key}?expand=changelog");
    let (status, issue) = send_json(sim.itsm(Method::GET, &path)).await;
    assert_eq!(status, 200, "issue {id_or_key}");
    issue
}

/// `jira:issue_created` as Jira sends it for `issue`, created by the customer.
pub fn created_webhook(issue: &Value) -> Value {
    let mut issue = issue.clone();
    if let Some(o) = issue.as_object_mut() {
        o.remove("changelog");
    }
    json!({"timestamp": 1_747_214_430_412_u64, "webhookEvent": "jira:issue_created",
        "issue_event_type_name": "issue_created", "user": customer(), "issue": issue})
}

/// Data Center `comment_created`: only the comment (the issue id is in `comment.self`).
pub fn comment_webhook(comment: &Value) -> Value {
    json!({"timestamp": 1_747_214_430_412_u64, "webhookEvent": "comment_created", "comment": comment})
}

/// Posts a signed Jira webhook (with a fresh delivery id) and returns the 202 body.
pub async fn post(app: &TestApp, body: &Value) -> Value {
    let raw = serde_json::to_vec(body).unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let r = app
        .post_jira(
            "acme",
            &raw,
            ACME_JIRA_SECRET,
            &[("x-atlassian-webhook-identifier", id)],
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}
