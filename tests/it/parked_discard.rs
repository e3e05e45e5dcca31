//! Discarding a parked event through the admin API (issue 19), on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL: an operator discards it once; it is then neither listed
//! nor counted as parked and cannot be replayed, is listed as discarded with why it was
//! parked, and the audit log says who did it. A viewer cannot discard, and a token scoped to
//! another tenant does not find the event.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::admin::{
    ACME_OPERATOR, ACME_VIEWER, ADMIN, jira_secret, on_postgres, spawn_roles,
};
use crate::support::{TestApp, json as json_of};

/// Posts an issue event whose issue id is no string to `tenant`: its source's schema refuses
/// it, so it is parked. `n` tells events apart. Returns its id.
pub(crate) async fn park(app: &TestApp, tenant: &str, n: u32) -> String {
    let body = json!({"webhookEvent": "jira:issue_updated", "timestamp": n, "issue": {"id": true}});
    let body = serde_json::to_vec(&body).unwrap();
    let a = json_of(
        app.post_jira(tenant, &body, jira_secret(tenant), &[]).await,
        202,
    )
    .await;
    assert_eq!(
        (a["parked"].as_str(), a["duplicate"].as_bool()),
        (Some("schema-violation"), Some(false)),
        "{a}"
    );
    a["eventId"].as_str().unwrap().to_owned()
}

fn ids(list: &Value) -> Vec<&str> {
    list["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events in {list}"))
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect()
}

async fn a_parked_event_is_discarded_once(store_url: Option<String>) {
    let app = spawn_roles(store_url).await;
    let doomed = park(&app, "acme", 1).await;
    let kept = park(&app, "acme", 2).await;
    let theirs = park(&app, "globex", 3).await;
    let discard = async |token: &str, id: &str| {
        let path = format!("/admin/v1/events/{id}/discard");
        app.call_as(token, Method::POST, &path).await
    };

    // A viewer cannot act; a token of acme does not find globex's event.
    let r = discard(ACME_VIEWER, &doomed).await;
    assert_eq!(json_of(r, 403).await["code"], "forbidden");
    let r = discard(ACME_OPERATOR, &theirs).await;
    assert_eq!(r.status(), 404);

    let r = discard(ACME_OPERATOR, &doomed).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    let again = discard(ACME_OPERATOR, &doomed).await;
    assert_eq!(json_of(again, 409).await["code"], "conflict");

    // No longer parked: not listed, not counted, not replayed (one by one or all).
    let parked = app
        .get_as(ADMIN, "/admin/v1/events?state=parked&tenant=acme")
        .await;
    assert_eq!(ids(&parked), [kept.as_str()]);
    let gone = app.get_as(ADMIN, "/admin/v1/events?state=discarded").await;
    assert_eq!(ids(&gone), [doomed.as_str()]);
    let d = &gone["events"][0];
    assert!(d.get("parked").is_none(), "{d}");
    assert_eq!(d["discarded"]["reason"], "schema-violation", "{d}");
    assert!(d["discarded"]["at"].as_str().unwrap().contains('T'), "{d}");
    let tenant = itsm_bridge::domain::TenantId::parse("acme").unwrap();
    let activity = app
        .store
        .tenant_activity(&tenant, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        activity.parked, 1,
        "the overview counts the one still parked"
    );
    let r = app
        .call_as(
            ADMIN,
            Method::POST,
            &format!("/admin/v1/events/{doomed}/replay"),
        )
        .await;
    assert_eq!(r.status(), 409);
    let all = json_of(
        app.call_as(ADMIN, Method::POST, "/admin/v1/events/replay?tenant=acme")
            .await,
        200,
    )
    .await;
    let replayed: Vec<&str> = ["replayed", "still_parked"]
        .iter()
        .flat_map(|k| all[k].as_array().unwrap())
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, [kept.as_str()], "{all}");

    // The audit log: the refusal and the discard, by the operator's name.
    let log = app.get_as(ADMIN, "/admin/v1/audit").await;
    let discards: Vec<(&str, &str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "discard-event")
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        discards,
        [
            ("acme-operator", doomed.as_str(), "refused"),
            ("acme-operator", doomed.as_str(), "ok"),
            ("acme-operator", theirs.as_str(), "refused"),
        ],
        "newest first"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_operator_discards_a_parked_event_once_and_it_is_no_longer_parked_on_sqlite() {
    a_parked_event_is_discarded_once(None).await;
}

#[tokio::test]
async fn an_operator_discards_a_parked_event_once_and_it_is_no_longer_parked_on_postgres() {
    on_postgres(
        "an_operator_discards_a_parked_event_once_and_it_is_no_longer_parked_on_postgres",
        a_parked_event_is_discarded_once,
    )
    .await;
}
