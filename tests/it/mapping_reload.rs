//! Checked, per-tenant reloads through the running app: a file whose golden case fails is
//! refused and keeps its tenant on the last good version, while another tenant's change in
//! the same pass is applied — through `POST /admin/v1/reload` and through the file watch.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use itsm_bridge::config::Config;
use itsm_bridge::domain::{SourceName, TenantId};
use reqwest::Method;
use serde_json::Value;

use crate::support::TestApp;

const TOKEN: &str = "reload-admin-token";

/// A mapping that skips everything with `reason`, and a golden case expecting `expected`.
fn mapping(reason: &str, expected: &str) -> String {
    format!(
        "source: jira\nroutes:\n  - skip: {reason}\ngolden:\n  - name: everything is skipped\n    \
         event: {{ \"webhookEvent\": \"jira:issue_updated\", \"issue\": {{ \"id\": \"7\", \"key\": \"A-7\" }} }}\n    \
         headers: {{ X-Atlassian-Webhook-Identifier: \"g-1\" }}\n    \
         expect: {{ skip: {expected} }}\n"
    )
}

/// Two tenants: the first one's edit will break its golden case, the second one's is good.
type Pair = [&'static str; 2];
const ADMIN_PAIR: Pair = ["acme", "globex"];
/// The watch test's own tenants: metrics are process-wide and other tests boot acme.
const WATCH_PAIR: Pair = ["initech", "umbrella"];

fn config(dir: &Path, interval: u64, pair: Pair) -> Config {
    let tenant = |id: &str| {
        format!(
            "  - id: {id}\n    orange: {{ client_id: {id}, client_secret: {id}-secret-long, api_key: {id}-api-key-long }}\n    sources:\n      jira:\n        auth: [{{ type: hub_signature, secret: {id}-webhook-secret }}]\n        mapping: {id}.yaml\n"
        )
    };
    let yaml = format!(
        "store: {{ url: 'sqlite://{db}' }}\nmappings_dir: {m}\nreload_interval_secs: {interval}\nadmin: {{ token: {TOKEN} }}\ndelivery: {{ enabled: false }}\npoller: {{ enabled: false }}\ntenants:\n{}{}",
        tenant(pair[0]),
        tenant(pair[1]),
        db = dir.join("gw.db").display(),
        m = dir.join("m").display(),
    );
    Config::from_yaml(&yaml, "reload-test.yaml", Path::new(""), |_| None)
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}

async fn boot(interval: u64, pair: Pair) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    for t in pair {
        std::fs::write(
            dir.path().join(format!("m/{t}.yaml")),
            mapping("nothing yet", "nothing yet"),
        )
        .unwrap();
    }
    let config = config(dir.path(), interval, pair);
    TestApp::spawn_config(config, dir).await
}

fn key(t: &str) -> (TenantId, SourceName) {
    (
        TenantId::parse(t).unwrap(),
        SourceName::parse("jira").unwrap(),
    )
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.call_as(TOKEN, Method::GET, path).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The first tenant's new file breaks its golden case; the second one's is a good change.
fn edit_both(app: &TestApp, pair: Pair) {
    let m = app.dir.path().join("m");
    std::fs::write(
        m.join(format!("{}.yaml", pair[0])),
        mapping("still nothing", "nothing yet"),
    )
    .unwrap();
    std::fs::write(
        m.join(format!("{}.yaml", pair[1])),
        mapping("still nothing", "still nothing"),
    )
    .unwrap();
}

fn mapping_of(v: &Value, tenant: &str) -> Value {
    v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == tenant)
        .unwrap_or_else(|| panic!("no tenant {tenant} in {v}"))["mappings"][0]
        .clone()
}

/// What both tests check once the pass has run: the first tenant refused and on its old
/// version, the second on its new one, the refusal visible, readiness unchanged.
async fn assert_refused_for_one_applied_for_the_other(
    app: &TestApp,
    pair: Pair,
    acme_before: &Arc<itsm_bridge::mapping::Mapping>,
    globex_before: &Arc<itsm_bridge::mapping::Mapping>,
) {
    let now = app.mappings.current();
    let (a, g) = (key(pair[0]), key(pair[1]));
    assert!(
        Arc::ptr_eq(acme_before, &now.get(&a.0, &a.1).unwrap()),
        "acme keeps its last good version"
    );
    assert!(
        !Arc::ptr_eq(globex_before, &now.get(&g.0, &g.1).unwrap()),
        "globex's change is applied in the same pass"
    );

    let (status, shown) = get(app, "/admin/v1/reload").await;
    assert_eq!(status, 200);
    assert_eq!(shown["refused"], 1, "{shown}");
    let acme = mapping_of(&shown, pair[0]);
    let file = format!("{}.yaml", pair[0]);
    assert_eq!(acme["refused"], true);
    assert_eq!(acme["file"], file.as_str());
    assert_eq!(acme["last_attempt"]["result"], "refused");
    let problem = &acme["last_refusal"]["problems"][0];
    assert_eq!(problem["file"], file.as_str());
    assert_eq!(problem["at"], "golden[0] `everything is skipped`");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("expected a skip"),
        "{problem}"
    );
    assert_ne!(
        acme["last_refusal"]["hash"], acme["loaded"]["hash"],
        "the refused file is not the one serving"
    );
    let globex = mapping_of(&shown, pair[1]);
    assert_eq!(globex["refused"], false);
    assert_eq!(globex["last_attempt"]["result"], "applied");
    assert_eq!(globex["loaded"]["hash"], globex["last_attempt"]["hash"]);
    assert!(globex["last_refusal"].is_null());

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200, "a last good version serves");
}

#[tokio::test]
async fn an_admin_reload_refuses_one_tenants_failing_golden_case_and_applies_the_others() {
    let app = boot(0, ADMIN_PAIR).await;
    let (a, g) = (key("acme"), key("globex"));
    let before = app.mappings.current();
    let (acme_before, globex_before) = (
        before.get(&a.0, &a.1).unwrap(),
        before.get(&g.0, &g.1).unwrap(),
    );
    edit_both(&app, ADMIN_PAIR);

    let r = app.call_as(TOKEN, Method::POST, "/admin/v1/reload").await;
    assert_eq!(r.status(), 422, "a refusal fails the reload request");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "mapping-rejected");
    assert_eq!(body["applied"][0]["tenant"], "globex", "{body}");
    assert_eq!(body["refused"][0]["tenant"], "acme");
    assert_eq!(body["refused"][0]["last_good_serves"], true);
    assert_eq!(
        body["errors"][0]["pointer"],
        "acme.yaml:golden[0] `everything is skipped`"
    );
    assert_refused_for_one_applied_for_the_other(&app, ADMIN_PAIR, &acme_before, &globex_before)
        .await;

    // Fixed, acme reloads; globex, unchanged, keeps its compiled mapping.
    let globex_now = app.mappings.current().get(&g.0, &g.1).unwrap();
    std::fs::write(
        app.dir.path().join("m/acme.yaml"),
        mapping("still nothing", "still nothing"),
    )
    .unwrap();
    let r = app.call_as(TOKEN, Method::POST, "/admin/v1/reload").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["applied"][0]["tenant"], "acme", "{body}");
    assert_eq!(body["unchanged"][0]["tenant"], "globex");
    let now = app.mappings.current();
    assert!(!Arc::ptr_eq(&acme_before, &now.get(&a.0, &a.1).unwrap()));
    assert!(Arc::ptr_eq(&globex_now, &now.get(&g.0, &g.1).unwrap()));
    let (_, shown) = get(&app, "/admin/v1/reload").await;
    assert_eq!(shown["refused"], 0);
    let acme = mapping_of(&shown, "acme");
    assert_eq!(acme["last_attempt"]["result"], "applied");
    assert!(
        acme["last_refusal"]["problems"].is_array(),
        "the last refusal stays explainable"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_file_watch_refuses_one_tenants_failing_golden_case_and_applies_the_others() {
    let app = boot(1, WATCH_PAIR).await;
    let (a, g) = (key(WATCH_PAIR[0]), key(WATCH_PAIR[1]));
    let before = app.mappings.current();
    let (acme_before, globex_before) = (
        before.get(&a.0, &a.1).unwrap(),
        before.get(&g.0, &g.1).unwrap(),
    );
    edit_both(&app, WATCH_PAIR);
    let watched = async {
        loop {
            let (_, shown) = get(&app, "/admin/v1/reload").await;
            if shown["last_reload"]["trigger"] == "watch" {
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let shown = tokio::time::timeout(Duration::from_secs(30), watched)
        .await
        .expect("the watch reloaded the changed files");
    assert_eq!(shown["last_reload"]["applied"], 1, "{shown}");
    assert_eq!(shown["last_reload"]["refused"], 1);
    assert_refused_for_one_applied_for_the_other(&app, WATCH_PAIR, &acme_before, &globex_before)
        .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"itsm_bridge_mapping_reload_total{tenant="initech",result="refused"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"itsm_bridge_mappings_refused{tenant="initech"} 1"#));
    app.stop().await;
}
