//! A gateway wired to the ServiceNow simulator: tenant `acme`, source `servicenow` (Basic
//! `sn` / `sn-password-1`) on the shipped `demo/servicenow-incident.yaml`, write-back to the
//! simulator as `sandbox`.

use std::path::Path;

use itsm_bridge::config::Config;
use reqwest::Method;
use serde_json::{Value, json};

use super::TestApp;
pub use super::parse;
use crate::sim_support::Sim;

/// The tenant's config on `store_url`, with the poller on (every second, pages of 20) or off,
/// and `integration` as the ServiceNow user whose writes are the gateway's own.
pub fn config_yaml(sim: &str, store_url: &str, poller: bool, integration: &str) -> String {
    let poller = if poller {
        "{ enabled: true, interval_secs: 1, page_size: 20 }"
    } else {
        "{ enabled: false }"
    };
    let tenant = format!(
        r#"      servicenow:
        auth: [{{ type: basic, username: sn, password: sn-password-1 }}]
        mapping: demo/servicenow-incident.yaml
    itsm:
      servicenow:
        base_url: "{sim}"
        auth: {{ type: basic, username: sandbox, password: sandbox }}
        integration_user: {integration}
"#
    );
    super::sim_config::acme_yaml(sim, store_url, poller, &tenant)
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

/// An incident a customer opened in the ServiceNow simulator (`MPLS down`, impact 1, urgency
/// 2, by `abel.tuter`), and the business-rule webhooks about its versions.
pub struct CustomerIncident {
    pub sys_id: String,
    pub number: String,
    /// The fields every webhook about it carries.
    base: Value,
}

impl CustomerIncident {
    /// Creates the incident in the simulator.
    pub async fn open(sim: &Sim) -> CustomerIncident {
        let created = write(sim, None, json!({"short_description": "MPLS down"})).await;
        let sys_id = created["sys_id"].as_str().unwrap().to_owned();
        let number = created["number"].as_str().unwrap().to_owned();
        let base = json!({"table": "incident", "sys_id": sys_id, "number": number,
            "sys_updated_by": "abel.tuter", "short_description": "MPLS down at Paris HQ",
            "impact": "1", "urgency": "2", "state": "1"});
        CustomerIncident {
            sys_id,
            number,
            base,
        }
    }

    /// The webhook of `operation` on version `n` (its `sys_mod_count`), with `extra` fields
    /// set over the incident's.
    pub fn webhook(&self, operation: &str, n: u32, extra: Value) -> Value {
        let mut body = self.base.clone();
        body["operation"] = json!(operation);
        body["sys_mod_count"] = json!(n.to_string());
        for (k, v) in extra.as_object().expect("extra fields") {
            body[k] = v.clone();
        }
        body
    }
}
