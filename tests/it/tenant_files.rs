//! Tenants in files (`tenants_dir`) and secrets from files (`${file:…}`), changed while the
//! gateway runs: an added tenant's webhooks are accepted and delivered, a removed one's answer
//! 404, a rotated secret takes over from the old one, a broken file keeps its tenant's last
//! good version and shows why; `check` names the broken file and the place. No restart.

use std::path::{Path, PathBuf};

use itsm_bridge::config::Config;
use itsm_bridge::domain::{SourceName, TenantId, TicketKey};
use reqwest::Method;
use serde_json::Value;

use crate::sim_support::Sim;
use crate::support::{TestApp, eventually, fixture, jira, repo};

const TOKEN: &str = "tenant-files-admin-token";

/// The gateway's config file, with `tenants_dir: tenants` and no inline tenant.
fn write_config(dir: &Path, sim: &str, delivery: bool) -> PathBuf {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    let path = dir.join("gateway.yaml");
    std::fs::write(
        &path,
        format!(
            "store: {{ url: 'sqlite://{db}' }}\nmappings_dir: {m}\nreload_interval_secs: 1\n\
             admin: {{ token: {TOKEN} }}\norange: {{ base_url: '{sim}' }}\n\
             delivery: {{ enabled: {delivery}, idle_poll_ms: 50 }}\npoller: {{ enabled: false }}\n\
             tenants_dir: tenants\n",
            db = dir.join("gw.db").display(),
            m = repo().join("mappings").display(),
        ),
    )
    .unwrap();
    path
}

/// A tenant file on the simulator's sandbox credentials; `secret` is the YAML of the Jira
/// webhook secret (a literal or a `${file:…}` placeholder).
fn tenant_yaml(id: &str, sim: &str, secret: &str) -> String {
    format!(
        "id: {id}\norange: {{ client_id: sandbox, client_secret: sandbox-secret, api_key: sandbox-api-key }}\n\
         sources:\n  jira:\n    auth: [{{ type: hub_signature, secret: {secret} }}]\n    mapping: demo/jira-incident.yaml\n\
         itsm:\n  jira:\n    base_url: '{sim}'\n    auth: {{ type: basic, username: sandbox, password: sandbox }}\n    \
         integration_account: sandbox\n"
    )
}

async fn boot(dir: tempfile::TempDir, config: &Path) -> TestApp {
    let config = Config::load(config).unwrap_or_else(|e| panic!("config invalid:\n{e}"));
    TestApp::spawn_config(config, dir).await
}

/// Posts `body` to `tenant`'s Jira source signed with `secret`; the status.
async fn post(app: &TestApp, tenant: &str, body: &Value, secret: &str) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    app.post_jira(
        tenant,
        &raw,
        secret,
        &[("x-atlassian-webhook-identifier", id)],
    )
    .await
}

async fn admin_reload_status(app: &TestApp) -> Value {
    app.get_as(TOKEN, "/admin/v1/reload").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_file_added_while_running_is_served_and_delivered_and_removing_it_answers_404() {
    let sim = Sim::start().await;
    let base = sim.handle.base_url();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &base, true);
    let tenants = dir.path().join("tenants");
    let app = boot(dir, &config).await;
    let issue = jira::create_incident(&sim, "Fibre cut at Nantes").await;
    let webhook = jira::created_webhook(&issue);

    let r = post(&app, "initech", &webhook, "initech-webhook-secret").await;
    assert_eq!(r.status(), 404, "no such tenant yet");

    std::fs::write(
        tenants.join("initech.yaml"),
        tenant_yaml("initech", &base, "initech-webhook-secret"),
    )
    .unwrap();
    eventually("the added tenant's webhook accepted", async || {
        let r = post(&app, "initech", &webhook, "initech-webhook-secret").await;
        (r.status() == 202).then_some(())
    })
    .await;
    let tenant = TenantId::parse("initech").unwrap();
    let id = issue["id"].as_str().unwrap();
    let ticket = TicketKey::new(&tenant, &SourceName::parse("jira").unwrap(), id);
    let store = app.store.clone();
    eventually(
        "the added tenant's incident created at Orange",
        async || store.link(&ticket).await.unwrap().map(|l| l.orange_id),
    )
    .await;
    let status = admin_reload_status(&app).await;
    assert_eq!(
        status["tenant_files"]["tenants"],
        serde_json::json!(["initech"])
    );
    assert_eq!(status["tenant_files"]["files"][0]["tenant"], "initech");

    std::fs::remove_file(tenants.join("initech.yaml")).unwrap();
    let r = eventually("the removed tenant's webhooks answered 404", async || {
        let r = post(&app, "initech", &webhook, "initech-webhook-secret").await;
        (r.status() == 404).then_some(r)
    })
    .await;
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_file_takes_over_and_a_broken_tenant_file_keeps_the_last_good_version() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", false);
    let secret = dir.path().join("jira-webhook-secret");
    std::fs::write(&secret, "first-webhook-secret\n").unwrap();
    let file = dir.path().join("tenants/umbrella.yaml");
    let placeholder = format!("\"${{file:{}}}\"", secret.display());
    std::fs::write(
        &file,
        tenant_yaml("umbrella", "http://127.0.0.1:9", &placeholder),
    )
    .unwrap();
    let app = boot(dir, &config).await;
    let body: Value = serde_json::from_slice(&fixture("jira/cloud-issue-created.json")).unwrap();
    assert_eq!(
        post(&app, "umbrella", &body, "first-webhook-secret")
            .await
            .status(),
        202
    );

    std::fs::write(&secret, "second-webhook-secret\n").unwrap();
    eventually("the rotated secret accepted", async || {
        let r = post(&app, "umbrella", &body, "second-webhook-secret").await;
        (r.status() == 202).then_some(())
    })
    .await;
    let old = post(&app, "umbrella", &body, "first-webhook-secret").await;
    assert_eq!(old.status(), 401, "the old secret is refused once rotated");

    // A broken edit: the tenant keeps serving on its last good version, and it shows.
    std::fs::write(&file, "id: umbrella\norange: [not, a, map]\n").unwrap();
    let status = eventually("the broken file refused", async || {
        let s = admin_reload_status(&app).await;
        (s["tenant_files"]["refused"] == 1).then_some(s)
    })
    .await;
    let f = &status["tenant_files"]["files"][0];
    assert_eq!(f["tenant"], "umbrella");
    let problem = f["last_refusal"]["problems"][0].as_str().unwrap();
    assert!(problem.contains("umbrella.yaml:2:"), "{problem}");
    assert_eq!(
        post(&app, "umbrella", &body, "second-webhook-secret")
            .await
            .status(),
        202,
        "the last good version serves"
    );
    let r = app.call_as(TOKEN, Method::POST, "/admin/v1/reload").await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "tenant-rejected", "{p}");
    app.stop().await;
}

#[test]
fn check_names_a_broken_tenant_file_and_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", false);
    std::fs::write(
        dir.path().join("tenants/hooli.yaml"),
        "id: hooli\norange: { client_id: c, client_secret: s3cr3t-value, api_key: k3y-value }\nsources: {}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("hooli.yaml:sources: a tenant needs at least one webhook source"),
        "{err}"
    );
}
