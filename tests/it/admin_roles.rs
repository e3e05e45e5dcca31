//! Named admin tokens through the real app: a viewer reads and cannot act; a token scoped to
//! `acme` neither sees nor acts on `globex`'s objects (404 by id, 403 when named, lists
//! filtered); every action lands in the audit log with who did it, and a scoped token reads
//! only its tenants' entries.

use itsm_bridge::domain::DeliveryState;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::admin::{
    ACME_OPERATOR, ACME_VIEWER, ADMIN, dead_letter_each, post_issue, spawn_roles,
};
use crate::support::json as json_of;

fn ids(list: &Value, key: &str) -> Vec<i64> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {list}"))
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect()
}

/// The `tenant` of each item of `list[key]`.
fn tenants(list: &Value, key: &str) -> Vec<Value> {
    let items = list[key].as_array();
    let items = items.unwrap_or_else(|| panic!("{key} in {list}"));
    items.iter().map(|e| e["tenant"].clone()).collect()
}

#[tokio::test]
async fn a_viewer_reads_its_tenant_and_every_action_is_refused_with_403() {
    let app = spawn_roles(None).await;
    let (acme, _) = dead_letter_each(&app).await;

    let letters = app.get_as(ACME_VIEWER, "/admin/v1/dead-letters").await;
    assert_eq!(ids(&letters, "dead_letters"), [acme.0]);
    let shown = app
        .get_as(ACME_VIEWER, &format!("/admin/v1/dead-letters/{acme}"))
        .await;
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
        let r = app.call_as(ACME_VIEWER, method.clone(), &path).await;
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
    let app = spawn_roles(None).await;
    let (acme, globex) = dead_letter_each(&app).await;
    let op = ACME_OPERATOR;

    // Lists hold acme's objects only; the admin token sees both.
    let all = app.get_as(ADMIN, "/admin/v1/dead-letters").await;
    assert_eq!(ids(&all, "dead_letters"), [globex.0, acme.0]);
    let mine = app.get_as(op, "/admin/v1/dead-letters").await;
    assert_eq!(ids(&mine, "dead_letters"), [acme.0]);
    let events = app.get_as(op, "/admin/v1/events").await;
    let theirs = tenants(&events, "events");
    assert!(
        !theirs.is_empty() && theirs.iter().all(|t| *t == "acme"),
        "{events}"
    );
    let globex_event = app.get_as(ADMIN, "/admin/v1/events?tenant=globex").await["events"][0]["id"]
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
        let r = app.call_as(op, method.clone(), &path).await;
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
    let reload = app.get_as(op, "/admin/v1/reload").await;
    assert_eq!(tenants(&reload, "tenants"), [json!("acme")]);

    // Replaying everything replays acme's letter only; globex's stays dead.
    let r = app
        .call_as(op, Method::POST, "/admin/v1/dead-letters/replay")
        .await;
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
    let app = spawn_roles(None).await;
    let (acme, globex) = dead_letter_each(&app).await;
    // In this order: the operator's replay, its refused replay of globex's, the discard.
    let replay = |id| format!("/admin/v1/dead-letters/{id}/replay");
    for (token, method, path, status) in [
        (ACME_OPERATOR, Method::POST, replay(acme), 200),
        (ACME_OPERATOR, Method::POST, replay(globex), 404),
        (
            ADMIN,
            Method::DELETE,
            format!("/admin/v1/dead-letters/{globex}"),
            204,
        ),
    ] {
        let r = app.call_as(token, method.clone(), &path).await;
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
    }
    post_issue(&app, "acme").await;

    let log = app.get_as(ADMIN, "/admin/v1/audit").await;
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

    let scoped = app.get_as(ACME_VIEWER, "/admin/v1/audit").await;
    let actions = tenants(&scoped, "entries");
    assert_eq!(actions, [json!("acme")], "only acme's entries: {scoped}");
    app.stop().await;
}
