//! Shared test helpers: `TestApp` boots the real app on port 0 with a temporary SQLite store
//! and the repository's mappings, and posts signed webhooks to it.

#![allow(dead_code)] // each test module uses a different part of the harness

pub mod admin;
pub mod cli;
pub mod console;
pub mod delivery;
pub mod echo;
pub mod intake;
pub mod jira;
pub mod orange;
pub mod pg;
pub mod routes;
pub mod sandbox;
pub mod servicenow;
pub mod sim_config;
pub mod webdriver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use itsm_bridge::App;
use itsm_bridge::config::Config;
use itsm_bridge::domain::{SourceName, StoredEvent, TenantId, TicketKey};
use itsm_bridge::sim::SimHandle;
use itsm_bridge::sim::state::Incident;
use itsm_bridge::store::Store;
use tokio::sync::oneshot;

/// Secrets of the test tenants (also what the assertions sign with).
pub const ACME_JIRA_SECRET: &str = "acme-jira-webhook-secret";
pub const ACME_SN_USER: &str = "acme-servicenow";
pub const ACME_SN_PASSWORD: &str = "acme-sn-password";
pub const ACME_SN_HMAC: &str = "acme-sn-hmac-key";
pub const GLOBEX_JIRA_SECRET: &str = "globex-jira-webhook-secret";

/// The simulator's sandbox Orange credentials, as the lines of a tenant's `orange:` (YAML).
pub const SANDBOX_ORANGE_YAML: &str = "      client_id: sandbox
      client_secret: sandbox-secret
      api_key: sandbox-api-key";

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

/// A config's YAML, parsed; panics with every problem when it is invalid.
pub fn parse(yaml: &str) -> Config {
    Config::from_yaml(yaml, "test.yaml", Path::new(""), |_| None)
        .unwrap_or_else(|e| panic!("config invalid:\n{e}"))
}

/// What every harness config opens with (YAML): a SQLite store in `dir`, the repository's
/// mappings read once, the admin token `test-admin-token`.
pub fn config_head(dir: &Path) -> String {
    format!(
        r#"
store:
  url: sqlite://{db}
mappings_dir: {mappings}
reload_interval_secs: 0
admin:
  token: test-admin-token
"#,
        db = dir.join("gw.db").display(),
        mappings = repo().join("mappings").display(),
    )
}

/// A tenant of the test config (YAML, in `tenants:`) whose Jira webhooks are signed with
/// `secret` and read with the shipped Jira mapping; its Orange credentials are `client`'s
/// (`{client}-secret`, `{client}-api-key`). Other sources may follow it.
fn jira_tenant(id: &str, client: &str, secret: &str) -> String {
    let orange = format!(
        "{{ client_id: {client}, client_secret: {client}-secret, api_key: {client}-api-key }}"
    );
    format!(
        r#"  - id: {id}
    orange: {orange}
    sources:
      jira:
        auth: [{{ type: hub_signature, secret: {secret} }}]
        mapping: demo/jira-incident.yaml
"#
    )
}

/// The test config: two tenants on the shipped demo mappings; `extra` is appended (YAML).
pub fn test_config_yaml(dir: &Path, extra: &str) -> String {
    format!(
        r#"{head}ingress:
  max_body_bytes: 262144
poller:
  enabled: false
tenants:
{acme}      servicenow:
        auth:
          - {{ type: basic, username: {ACME_SN_USER}, password: {ACME_SN_PASSWORD} }}
          - {{ type: hmac, header: X-Signature, secret: {ACME_SN_HMAC} }}
        mapping: demo/servicenow-incident.yaml
    itsm:
      servicenow:
        base_url: http://127.0.0.1:9
        auth: {{ type: basic, username: sandbox, password: sandbox }}
        integration_user: itsm-bridge
{globex}{extra}
"#,
        head = config_head(dir),
        acme = jira_tenant("acme", "sandbox", ACME_JIRA_SECRET),
        globex = jira_tenant("globex", "globex", GLOBEX_JIRA_SECRET),
    )
}

/// Config YAML (for `extra`) that points the app's Orange at `url` (a simulator), with a
/// dispatcher that polls and retries fast.
pub fn orange_at(url: &str) -> String {
    format!(
        "orange:\n  base_url: {url}\ndelivery:\n  idle_poll_ms: 5\n  \
         retry: {{ max_attempts: 10, base_ms: 5, cap_ms: 100 }}\n"
    )
}

/// The test config with its Orange at `sim` ([`orange_at`]), its mappings read from
/// `mappings` instead of the shipped ones, and its store at `store` instead of SQLite in
/// `dir`, where given.
pub fn config_against(
    dir: &Path,
    sim: &str,
    mappings: Option<&Path>,
    store: Option<&str>,
) -> Config {
    let mut yaml = test_config_yaml(dir, &orange_at(sim));
    if let Some(m) = mappings {
        yaml = yaml.replace(
            &format!("mappings_dir: {}", repo().join("mappings").display()),
            &format!("mappings_dir: {}", m.display()),
        );
    }
    let mut config = parse(&yaml);
    if let Some(url) = store {
        config.store.url = url.to_owned();
    }
    config
}

/// A copy of the shipped mappings in a fresh folder (the test edits it): the folder, and the
/// copy's path (`mappings/` in it).
pub fn copy_of_mappings() -> (tempfile::TempDir, PathBuf) {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                copy_dir(&p, &to.join(e.file_name()));
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
    let root = tempfile::tempdir().unwrap();
    let maps = root.path().join("mappings");
    copy_dir(&repo().join("mappings"), &maps);
    (root, maps)
}

/// `Authorization` of acme's ServiceNow webhooks (basic, the test config's credentials).
pub fn acme_sn_basic() -> (&'static str, String) {
    let b = base64::engine::general_purpose::STANDARD
        .encode(format!("{ACME_SN_USER}:{ACME_SN_PASSWORD}"));
    ("authorization", format!("Basic {b}"))
}

/// `Authorization` of the test config's admin token.
pub fn admin_bearer() -> (&'static str, String) {
    ("authorization", "Bearer test-admin-token".to_owned())
}

/// The key of `acme`'s ticket `id` of `source` (`jira`, `servicenow`).
pub fn acme_ticket(source: &str, id: &str) -> TicketKey {
    let tenant = TenantId::parse("acme").expect("tenant");
    TicketKey::new(&tenant, &SourceName::parse(source).expect("source"), id)
}

/// The simulated Orange's incidents whose `externalReference` is `external`, as they are now.
pub fn incidents_of(sim: &SimHandle, external: &str) -> Vec<Incident> {
    let d = sim.state.data();
    d.incidents
        .iter()
        .filter(|i| i.body["externalReference"] == external)
        .cloned()
        .collect()
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
        Self::spawn_config(parse(&yaml), dir).await
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

    /// Posts a ServiceNow webhook of `acme` (basic auth, the test config's credentials).
    pub async fn post_acme_servicenow(&self, body: impl Into<Vec<u8>>) -> reqwest::Response {
        let path = "/webhooks/acme/servicenow";
        self.post(path, body, &[acme_sn_basic()]).await
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

    /// The JSON of an admin `GET` (the test config's admin token), asserting a 200.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth("test-admin-token")
            .send()
            .await
            .expect("request sent");
        json(r, 200).await
    }

    /// A `GET` of `path`, without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let r = self.client.get(self.url(path)).send().await;
        r.expect("request sent")
    }

    /// The stored event `id` (its id as the intake answered it); panics when it is missing.
    pub async fn stored_event(&self, id: &str) -> itsm_bridge::domain::StoredEvent {
        let id = itsm_bridge::domain::EventId::parse(id).expect("an event id");
        let event = self.store.event(id).await.expect("store answers");
        event.unwrap_or_else(|| panic!("event {id} stored"))
    }

    /// The id of the Orange object `ticket` is linked to, once the link is stored (waits,
    /// bounded, for the create's delivery).
    pub async fn orange_id(&self, ticket: &TicketKey) -> String {
        let what = format!("the Orange object of {}", ticket.as_str());
        eventually(&what, async || {
            let link = self.store.link(ticket).await.expect("store answers");
            link.map(|l| l.orange_id)
        })
        .await
    }

    /// The events stored for `ticket`, oldest first.
    pub async fn events_of(&self, ticket: &TicketKey) -> Vec<StoredEvent> {
        let q = itsm_bridge::store::EventQuery {
            ticket: Some(ticket.clone()),
            limit: 100,
            ..Default::default()
        };
        let mut events = self.store.list_events(&q).await.expect("events");
        events.reverse();
        events
    }

    /// The JSON answer of an admin `POST` without a body (the test config's admin token),
    /// asserting its status.
    pub async fn admin_post(&self, path: &str, status: u16) -> serde_json::Value {
        json(self.post(path, Vec::new(), &[admin_bearer()]).await, status).await
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("body")
    }

    /// Waits (bounded: 15 s) until nothing is pending or in flight; panics with the queue
    /// figures and the dead letters' errors otherwise.
    pub async fn drained(&self) {
        for _ in 0..600 {
            let q = self.store.queue_stats().await.expect("stats");
            if q.pending == 0 && q.in_flight == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let dead = self
            .store
            .dead_letters(None, 10)
            .await
            .expect("dead letters");
        let why: Vec<_> = dead
            .iter()
            .map(|d| (d.target.label(), d.last_error.clone()))
            .collect();
        panic!(
            "queue not drained: {:?}; dead: {why:?}",
            self.store.queue_stats().await
        );
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

/// The `content-type` header of `resp` (empty when it has none or it is not text).
pub fn content_type(resp: &reqwest::Response) -> String {
    let ct = resp.headers().get("content-type");
    ct.and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Parses a response as JSON, asserting its status and content type family.
pub async fn json(resp: reqwest::Response, status: u16) -> serde_json::Value {
    let (got, ct) = (resp.status().as_u16(), content_type(&resp));
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
