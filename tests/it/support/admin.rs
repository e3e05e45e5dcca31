//! Set-ups for the admin API's roles and the console: named tokens in the test config, and
//! dead letters of both test tenants made by hand (no dispatcher runs).

use std::path::Path;

use itsm_bridge::config::Config;
use itsm_bridge::domain::{Attempt, AttemptOutcome, DeliveryId};
use itsm_bridge::store::Finish;
use reqwest::Method;

use super::{ACME_JIRA_SECRET, GLOBEX_JIRA_SECRET, TestApp, fixture, test_config_yaml};

/// `admin.token` of the test config: the operator of every tenant, named `admin`.
pub const ADMIN: &str = "test-admin-token";
/// A viewer of `acme`.
pub const ACME_VIEWER: &str = "acme-viewer-token-0001";
/// An operator of `acme`.
pub const ACME_OPERATOR: &str = "acme-operator-token-01";

/// The test config with the named tokens above and no dispatcher (deliveries stay where
/// the test puts them); `extra` is appended.
pub fn roles_config(extra: &str) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = roles_config_in(dir.path(), None, extra);
    (config, dir)
}

/// The config of [`roles_config`] with its store in `dir`; with `orange`, the dispatcher
/// runs and calls Orange there (a simulator).
pub fn roles_config_in(dir: &Path, orange: Option<&str>, extra: &str) -> Config {
    let admin = format!(
        "admin:\n  token: {ADMIN}\n  tokens:\n  \
         - {{name: acme-viewer, token: {ACME_VIEWER}, tenants: [acme]}}\n  \
         - {{name: acme-operator, token: {ACME_OPERATOR}, tenants: [acme], role: operator}}\n"
    );
    let delivery = match orange {
        None => "delivery:\n  enabled: false\n".to_owned(),
        Some(url) => super::orange_at(url),
    };
    let yaml = test_config_yaml(dir, &format!("{delivery}{extra}"))
        .replace("admin:\n  token: test-admin-token\n", &admin);
    super::parse(&yaml)
}

/// Posts a Jira issue-created webhook to `tenant` (`acme` or `globex`).
pub async fn post_issue(app: &TestApp, tenant: &str) {
    let body = fixture("jira/cloud-issue-created.json");
    let r = app.post_jira(tenant, &body, jira_secret(tenant), &[]).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
}

/// Makes every due delivery a dead letter (a 400 from Orange), as the dispatcher would.
/// Returns their ids, oldest first.
pub async fn kill_due(app: &TestApp) -> Vec<DeliveryId> {
    let now = time::OffsetDateTime::now_utc();
    let attempt = Attempt {
        at: now,
        outcome: AttemptOutcome::Permanent,
        http_status: Some(400),
        error_code: Some("24".into()),
        error: Some("Invalid servicePoint".into()),
        latency_ms: 9,
    };
    let store = app.store.as_ref();
    super::delivery::finish_due(store, "test", now, 100, &attempt, |_| Finish::Dead).await
}

/// One dead letter of `acme` and one of `globex`: `(acme, globex)`.
pub async fn dead_letter_each(app: &TestApp) -> (DeliveryId, DeliveryId) {
    post_issue(app, "acme").await;
    let acme = kill_due(app).await;
    post_issue(app, "globex").await;
    let globex = kill_due(app).await;
    assert!(
        !acme.is_empty() && !globex.is_empty(),
        "the issue plans a call"
    );
    (acme[0], globex[0])
}

/// The Jira webhook secret of a test tenant (`acme` or `globex`).
pub fn jira_secret(tenant: &str) -> &'static str {
    if tenant == "acme" {
        ACME_JIRA_SECRET
    } else {
        GLOBEX_JIRA_SECRET
    }
}

/// An app on [`roles_config`], its store at `store_url` instead of SQLite where given.
pub async fn spawn_roles(store_url: Option<String>) -> TestApp {
    let (mut config, dir) = roles_config("");
    if let Some(url) = store_url {
        config.store.url = url;
    }
    TestApp::spawn_config(config, dir).await
}

/// Runs `body` on a fresh PostgreSQL schema (its store URL); without `TEST_DATABASE_URL`, a
/// SKIPPED line naming `test` and nothing else.
pub async fn on_postgres(test: &str, body: impl AsyncFnOnce(Option<String>)) {
    let Some(db) = crate::store_conformance::postgres(test).await else {
        return;
    };
    body(Some(db.url.clone())).await;
    db.drop_schema().await;
}

impl TestApp {
    /// An admin call with `token` as its bearer.
    pub async fn call_as(&self, token: &str, method: Method, path: &str) -> reqwest::Response {
        let req = self.client.request(method, self.url(path));
        req.bearer_auth(token).send().await.expect("request sent")
    }

    /// The JSON of an admin `GET` with `token`, asserting a 200.
    pub async fn get_as(&self, token: &str, path: &str) -> serde_json::Value {
        super::json(self.call_as(token, Method::GET, path).await, 200).await
    }
}
