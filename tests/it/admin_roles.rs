//! Named admin tokens through the real app: a viewer reads and cannot act; a token scoped to
//! `acme` neither sees nor acts on `globex`'s objects (404 by id, 403 when named, lists
//! filtered); every action lands in the audit log with who did it, and a scoped token reads
//! only its tenants' entries.

use itsm_bridge::domain::DeliveryState;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::admin::{
    ACME_OPERATOR, ACME_VIEWER, ADMIN, dead_letter_each, post_issue, roles_config,
};
use crate::support::{TestApp, json as json_of};

async fn call(app: &TestApp, token: &str, method: Method, path: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    json_of(call(app, token, Method::GET, path).await, 200).await
}

fn ids(list: &Value, key: &str) -> Vec<i64> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {list}"))
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect()
}

async fn spawn() -> TestApp {
    let (config, dir) = roles_config("");
    TestApp::spawn_config(config, dir).await
}

#[tokio::test]
async fn a_viewer_reads_its_tenant_and_every_action_is_refused_with_403() {
    let app = spawn().await;
    let (acme, _) = dead_letter_each(&app).await;

    let letters = get(&app, ACME_VIEWER, "/admin/v1/dead-letters").await;
    assert_eq!(ids(&letters, "dead_letters"), [acme.0]);
    let shown = get(&app, ACME_VIEWER, &format!("/admin/v1/dead-letters/{acme}")).await;
    assert_eq!(shown["attempts"][0]["http_status"], 400);

    for (method, path) in [
        (
            Method::POST,
            format!("/admin/v1/dead-letters/{acme}/replay"),
        ),
        (Method::POST, "/admin/v1/dead-letters/replay".to_owned()),
        (Method::DELETE, format!("/admin/v1/dead-letters/{acme}")),
        (Method::POST, "/admin/v1/events/replay".to_owned()),
        (Method::POST, "/admin/v1/links".to_owned()),
        (Method::POST, "/admin/v1/reload".to_owned()),
    ] {
        let r = call(&app, ACME_VIEWER, method.clone(), &path).await;
        let p = json_of(r, 403).await;
        assert_eq!(p["code"], "forbidden", "{method} {path}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("viewer"), "{p}");
    }
    let d = app.store.delivery(acme).await.unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Dead, "nothing was replayed");
    app.stop().await;
}

#[tokio::test]
async fn a_tenant_scoped_token_neither_sees_nor_acts_on_another_tenants_objects() {
    let app = spawn().await;
    let (acme, globex) = dead_letter_each(&app).await;
    let op = ACME_OPERATOR;

    // Lists hold acme's objects only; the admin token sees both.
    let all = get(&app, ADMIN, "/admin/v1/dead-letters").await;
    assert_eq!(ids(&all, "dead_letters"), [globex.0, acme.0]);
    let mine = get(&app, op, "/admin/v1/dead-letters").await;
    assert_eq!(ids(&mine, "dead_letters"), [acme.0]);
    let events = get(&app, op, "/admin/v1/events").await;
    let tenants: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["tenant"])
        .collect();
    assert!(
        !tenants.is_empty() && tenants.iter().all(|t| *t == "acme"),
        "{events}"
    );
    let globex_event = get(&app, ADMIN, "/admin/v1/events?tenant=globex").await["events"][0]["id"]
        .as_str()
        .expect("globex's event")
        .to_owned();

    // Another tenant's objects by id are not found; naming the tenant is forbidden.
    for (method, path, status) in [
        (Method::GET, format!("/admin/v1/dead-letters/{globex}"), 404),
        (
            Method::POST,
            format!("/admin/v1/dead-letters/{globex}/replay"),
            404,
        ),
        (
            Method::DELETE,
            format!("/admin/v1/dead-letters/{globex}"),
            404,
        ),
        (Method::GET, format!("/admin/v1/events/{globex_event}"), 404),
        (
            Method::GET,
            "/admin/v1/tickets/globex/SUP-42".to_owned(),
            404,
        ),
        (
            Method::GET,
            "/admin/v1/events?tenant=globex".to_owned(),
            403,
        ),
        (
            Method::GET,
            "/admin/v1/dead-letters?tenant=globex".to_owned(),
            403,
        ),
        (Method::GET, "/admin/v1/links?tenant=globex".to_owned(), 403),
        (
            Method::GET,
            "/admin/v1/waiting-link?tenant=globex".to_owned(),
            403,
        ),
        (
            Method::POST,
            "/admin/v1/dead-letters/replay?tenant=globex".to_owned(),
            403,
        ),
        (
            Method::POST,
            "/admin/v1/events/replay?tenant=globex".to_owned(),
            403,
        ),
        (Method::POST, "/admin/v1/reload".to_owned(), 403),
        (Method::GET, "/admin/v1/audit?tenant=globex".to_owned(), 403),
    ] {
        let r = call(&app, op, method.clone(), &path).await;
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
    }
    let r = app
        .client
        .post(app.url("/admin/v1/links"))
        .bearer_auth(op)
        .json(&json!({"tenant": "globex", "ticket": "10002", "orangeId": "INC-9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r, 403).await["code"], "forbidden");
    let reload = get(&app, op, "/admin/v1/reload").await;
    let shown: Vec<&Value> = reload["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["tenant"])
        .collect();
    assert_eq!(shown, [&json!("acme")]);

    // Replaying everything replays acme's letter only; globex's stays dead.
    let r = call(&app, op, Method::POST, "/admin/v1/dead-letters/replay").await;
    let done = json_of(r, 200).await;
    assert_eq!(ids(&done, "replayed"), [acme.0]);
    let g = app.store.delivery(globex).await.unwrap().unwrap();
    assert_eq!(g.state, DeliveryState::Dead);
    let a = app.store.delivery(acme).await.unwrap().unwrap();
    assert_eq!(a.state, DeliveryState::Pending);
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_lists_each_action_with_who_and_a_scoped_token_reads_its_tenants_only() {
    let app = spawn().await;
    let (acme, globex) = dead_letter_each(&app).await;
    let r = call(
        &app,
        ACME_OPERATOR,
        Method::POST,
        &format!("/admin/v1/dead-letters/{acme}/replay"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = call(
        &app,
        ACME_OPERATOR,
        Method::POST,
        &format!("/admin/v1/dead-letters/{globex}/replay"),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = call(
        &app,
        ADMIN,
        Method::DELETE,
        &format!("/admin/v1/dead-letters/{globex}"),
    )
    .await;
    assert_eq!(r.status(), 204);
    post_issue(&app, "acme").await;

    let log = get(&app, ADMIN, "/admin/v1/audit").await;
    let entries: Vec<(String, String, String, String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("-").to_owned();
            (
                s("actor"),
                s("action"),
                s("tenant"),
                s("target"),
                s("outcome"),
            )
        })
        .collect();
    let owned = |a: &str, b: &str, c: &str, d: String, e: &str| {
        (a.to_owned(), b.to_owned(), c.to_owned(), d, e.to_owned())
    };
    assert_eq!(
        entries,
        [
            owned(
                "admin",
                "discard-dead-letter",
                "globex",
                globex.to_string(),
                "ok"
            ),
            owned(
                "acme-operator",
                "replay-dead-letter",
                "-",
                globex.to_string(),
                "refused"
            ),
            owned(
                "acme-operator",
                "replay-dead-letter",
                "acme",
                acme.to_string(),
                "ok"
            ),
        ],
        "newest first; a webhook is no operator action"
    );
    assert!(log["entries"][0]["at"].as_str().unwrap().contains('T'));

    let scoped = get(&app, ACME_VIEWER, "/admin/v1/audit").await;
    let actions: Vec<&Value> = scoped["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["tenant"])
        .collect();
    assert_eq!(actions, [&json!("acme")], "only acme's entries: {scoped}");
    app.stop().await;
}
