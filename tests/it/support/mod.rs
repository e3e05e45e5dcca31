//! Shared test helpers: `TestApp` boots the real app on port 0 with a temporary SQLite store
//! and the repository's mappings, and posts signed webhooks to it.

#![allow(dead_code)] // each test module uses a different part of the harness

pub mod admin;
pub mod cli;
pub mod jira;
pub mod sandbox;
pub mod servicenow;
pub mod webdriver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use itsm_bridge::App;
use itsm_bridge::config::Config;
use itsm_bridge::store::Store;
use tokio::sync::oneshot;

/// Secrets of the test tenants (also what the assertions sign with).
pub const ACME_JIRA_SECRET: &str = "acme-jira-webhook-secret";
pub const ACME_SN_USER: &str = "acme-servicenow";
pub const ACME_SN_PASSWORD: &str = "acme-sn-password";
pub const ACME_SN_HMAC: &str = "acme-sn-hmac-key";
pub const GLOBEX_JIRA_SECRET: &str = "globex-jira-webhook-secret";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Orange clients of `config`'s tenants, built as `app.rs` builds them.
pub fn orange_clients(config: &Config) -> itsm_bridge::orange::OrangeClients {
    itsm_bridge::orange::OrangeClients::new(
        &config.orange,
        config.delivery.max_attachment_bytes,
        &config.tenants,
    )
    .expect("Orange clients")
}

/// The ITSM clients of `config`'s tenants, built as `app.rs` builds them.
pub fn itsm_clients(config: &Config) -> itsm_bridge::itsm::ItsmClients {
    itsm_bridge::itsm::ItsmClients::new(reqwest::Client::new(), &config.tenants)
}

/// A payload: `tests/fixtures/REL`, or one of the shipped mappings' golden events
/// (`mappings/demo/events/REL`, e.g. `servicenow/incident-insert.json`).
pub fn fixture(rel: &str) -> Vec<u8> {
    let test = repo().join("tests/fixtures").join(rel);
    let golden = repo().join("mappings/demo/events").join(rel);
    std::fs::read(&test)
        .or_else(|_| std::fs::read(&golden))
        .unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// The test config: two tenants on the shipped demo mappings; `extra` is appended (YAML).
pub fn test_config_yaml(dir: &Path, extra: &str) -> String {
    format!(
        r#"
store:
  url: sqlite://{db}
mappings_dir: {mappings}
reload_interval_secs: 0
admin:
  token: test-admin-token
ingress:
  max_body_bytes: 262144
poller:
  enabled: false
tenants:
  - id: acme
    orange: {{ client_id: sandbox, client_secret: sandbox-secret, api_key: sandbox-api-key }}
    sources:
      jira:
        auth: [{{ type: hub_signature, secret: {ACME_JIRA_SECRET} }}]
        mapping: demo/jira-incident.yaml
      servicenow:
        auth:
          - {{ type: basic, username: {ACME_SN_USER}, password: {ACME_SN_PASSWORD} }}
          - {{ type: hmac, header: X-Signature, secret: {ACME_SN_HMAC} }}
        mapping: demo/servicenow-incident.yaml
    itsm:
      servicenow:
        base_url: http://127.0.0.1:9
        auth: {{ type: basic, username: sandbox, password: sandbox }}
        integration_user: itsm-bridge
  - id: globex
    orange: {{ client_id: globex, client_secret: globex-secret, api_key: globex-api-key }}
    sources:
      jira:
        auth: [{{ type: hub_signature, secret: {GLOBEX_JIRA_SECRET} }}]
        mapping: demo/jira-incident.yaml
{extra}
"#,
        db = dir.join("gw.db").display(),
        mappings = repo().join("mappings").display(),
    )
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// The mappings in force (to drive workers by hand next to the running app).
    pub mappings: Arc<itsm_bridge::mapping::LiveMappings>,
    pub config: Arc<Config>,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with("").await
    }

    /// Boots with extra config YAML appended to the test config.
    pub async fn spawn_with(extra: &str) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let yaml = test_config_yaml(dir.path(), extra);
        let config = Config::from_yaml(&yaml, "test.yaml", Path::new(""), |_| None)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        Self::spawn_config(config, dir).await
    }

    pub async fn spawn_config(config: Config, dir: tempfile::TempDir) -> TestApp {
        let app = App::build(config).await.expect("app builds");
        let store = app.store.clone();
        let (mappings, config) = (app.mappings.clone(), app.config.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            client: reqwest::Client::new(),
            store,
            mappings,
            config,
            dir,
            stop: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts a webhook with the given headers (content type JSON unless given).
    pub async fn post(
        &self,
        path: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, String)],
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).body(body.into());
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.expect("request sent")
    }

    /// Posts a Jira webhook signed with `secret`.
    pub async fn post_jira(
        &self,
        tenant: &str,
        body: &[u8],
        secret: &str,
        extra: &[(&str, String)],
    ) -> reqwest::Response {
        let mut h = vec![(
            "x-hub-signature",
            itsm_bridge::http::auth::hub_signature(secret, body),
        )];
        h.extend(extra.iter().cloned());
        self.post(&format!("/webhooks/{tenant}/jira"), body.to_vec(), &h)
            .await
    }

    /// Stops the app gracefully and hands back its folder (and store), for a next app.
    pub async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        self.stop().await;
        dir
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Waits (bounded: 15 s in 50 ms steps) until `f` returns `Some`, for effects that cross the
/// workers (a delivery, a poll cycle); panics naming `what` otherwise.
pub async fn eventually<T, F: AsyncFnMut() -> Option<T>>(what: &str, mut f: F) -> T {
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Parses a response as JSON, asserting its status and content type family.
pub async fn json(resp: reqwest::Response, status: u16) -> serde_json::Value {
    let got = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    if status >= 400 {
        assert_eq!(
            ct, "application/problem+json",
            "errors are problem+json; body: {text}"
        );
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
