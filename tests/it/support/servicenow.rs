//! A gateway wired to the ServiceNow simulator: tenant `acme`, source `servicenow` (Basic
//! `sn` / `sn-password-1`) on the shipped `demo/servicenow-incident.yaml`, write-back to the
//! simulator as `sandbox`.

use std::path::Path;

use itsm_bridge::config::Config;
use reqwest::Method;
use serde_json::Value;

pub use super::parse;
use super::{TestApp, repo};
use crate::sim_support::Sim;

/// The tenant's config on `store_url`, with the poller on (every second, pages of 20) or off,
/// and `integration` as the ServiceNow user whose writes are the gateway's own.
pub fn config_yaml(sim: &str, store_url: &str, poller: bool, integration: &str) -> String {
    let poller = if poller {
        "{ enabled: true, interval_secs: 1, page_size: 20 }"
    } else {
        "{ enabled: false }"
    };
    format!(
        r#"
store: {{ url: "{store_url}" }}
mappings_dir: {mappings}
reload_interval_secs: 0
admin: {{ token: test-admin-token }}
orange: {{ base_url: "{sim}" }}
delivery: {{ idle_poll_ms: 50 }}
poller: {poller}
tenants:
  - id: acme
    orange: {{ client_id: sandbox, client_secret: sandbox-secret, api_key: sandbox-api-key }}
    sources:
      servicenow:
        auth: [{{ type: basic, username: sn, password: sn-password-1 }}]
        mapping: demo/servicenow-incident.yaml
    itsm:
      servicenow:
        base_url: "{sim}"
        auth: {{ type: basic, username: sandbox, password: sandbox }}
        integration_user: {integration}
"#,
        mappings = repo().join("mappings").display(),
    )
}

/// [`config_yaml`] on a SQLite file in `db`, parsed.
pub fn config(sim: &str, db: &Path, poller: bool, integration: &str) -> Config {
    let url = format!("sqlite://{}", db.join("gw.db").display());
    parse(&config_yaml(sim, &url, poller, integration))
}

/// Boots the gateway on `db` against `sim`.
pub async fn boot(sim: &Sim, db: &Path, poller: bool, integration: &str) -> TestApp {
    let config = config(&sim.handle.base_url(), db, poller, integration);
    TestApp::spawn_config(config, tempfile::tempdir().unwrap()).await
}

/// Creates (POST) or changes (PATCH) an incident in the ServiceNow simulator as its user
/// (`sandbox`); the record as the Table API answers.
pub async fn write(sim: &Sim, sys_id: Option<&str>, fields: Value) -> Value {
    let (method, path) = match sys_id {
        None => (Method::POST, "/api/now/table/incident".to_owned()),
        Some(id) => (Method::PATCH, format!("/api/now/table/incident/{id}")),
    };
    let r = sim.itsm(method, &path).json(&fields).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let v: Value = r.json().await.unwrap();
    v["result"].clone()
}

/// Posts a business-rule webhook `body` to acme's ServiceNow source (Basic `sn`), asserting
/// a 202; the answer.
pub async fn post(app: &TestApp, body: &Value) -> Value {
    let r = app
        .client
        .post(app.url("/webhooks/acme/servicenow"))
        .basic_auth("sn", Some("sn-password-1"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}
