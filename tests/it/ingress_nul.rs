//! Text PostgreSQL refuses (`\u0000` in a mapped field, a key, a ticket number) is accepted,
//! stored and delivered alike on SQLite and PostgreSQL: the raw body is kept byte for byte,
//! the stored call and keys lose their NUL characters, and Orange gets the call without them.

use serde_json::Value;

use crate::support::intake::{default_sim, on_both_stores, post_acme_sn};
use crate::support::*;

async fn app(sim: &str, store_url: Option<&str>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = config_against(dir.path(), sim, None, store_url);
    TestApp::spawn_config(config, dir).await
}

/// A schema for one PostgreSQL test (`None`, SKIPPED, without `TEST_DATABASE_URL`).
async fn schema() -> Option<pg::Schema> {
    pg::Schema::create("nul", "ingress_nul::…postgres").await
}

/// The golden insert with NUL in its dedupe key (`sys_mod_count`), its number and two mapped
/// texts, as the JSON escape a sender writes.
fn poisoned_insert() -> Vec<u8> {
    let raw = String::from_utf8(fixture("servicenow/incident-insert.json")).unwrap();
    let raw = raw
        .replace(
            "\"sys_mod_count\": \"0\"",
            "\"sys_mod_count\": \"0\\u0000\"",
        )
        .replace("\"INC0010023\"", "\"INC00\\u000010023\"")
        .replace("MPLS link down", "MPLS\\u0000 link down")
        .replace("Since 09:05", "Since\\u0000\\u0000 09:05");
    assert_eq!(raw.matches("\\u0000").count(), 5);
    raw.into_bytes()
}

async fn nul_is_stored_and_delivered_without_it(store_url: Option<&str>) {
    let sim = default_sim().await;
    let app = app(&sim.base_url(), store_url).await;
    let body = poisoned_insert();
    let resp = post_acme_sn(&app, body.clone()).await;
    let accepted = json(resp, 202).await;
    assert_eq!(accepted["duplicate"], false);
    let id = itsm_bridge::domain::EventId::parse(accepted["eventId"].as_str().unwrap()).unwrap();

    // The raw body byte for byte; the keys and the stored call without NUL.
    let stored = app.store.event(id).await.unwrap().expect("event stored");
    assert_eq!(stored.body.as_ref(), &body[..]);
    assert!(
        stored
            .ticket
            .as_str()
            .ends_with("9d385017c611228701d22104cc95c371")
    );
    assert!(!stored.dedupe_key.contains('\0'), "{:?}", stored.dedupe_key);
    assert!(stored.dedupe_key.contains('0'), "{:?}", stored.dedupe_key);
    let deliveries = app.store.event_deliveries(id).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    let target = serde_json::to_string(&deliveries[0].target).unwrap();
    assert!(!target.contains("\\u0000"), "{target}");

    // A redelivery is the same event.
    let again = post_acme_sn(&app, body.clone()).await;
    assert_eq!(json(again, 202).await["duplicate"], true);

    // What reaches Orange.
    let incident: Value = eventually("the incident at the simulator", async || {
        let found = incidents_of(&sim, "INC0010023");
        found.into_iter().next().map(|i| i.body)
    })
    .await;
    assert_eq!(incident["shortDescription"], "MPLS link down at Paris HQ");
    assert!(
        incident["description"]
            .as_str()
            .unwrap()
            .starts_with("Since 09:05 the primary")
    );
    app.drained().await;
    assert_eq!(app.store.queue_stats().await.unwrap().dead, 0);
    app.stop().await;
}

on_both_stores!(
    #[tokio::test]
    "nul", nul_is_stored_and_delivered_without_it =>
    nul_in_a_webhook_is_accepted_stored_and_delivered_without_it_on_sqlite,
    nul_in_a_webhook_is_accepted_stored_and_delivered_without_it_on_postgres
);

/// A ServiceNow insert whose `sys_mod_count` (part of the dedupe key) is `n` random hex
/// characters: over PostgreSQL's ~2.7 KB index row limit, even compressed.
fn insert_with_mod_count(n: usize) -> Vec<u8> {
    let count: String = (0..n.div_ceil(32))
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect::<String>()[..n]
        .to_owned();
    let raw = String::from_utf8(fixture("servicenow/incident-insert.json")).unwrap();
    raw.replace(
        "\"sys_mod_count\": \"0\"",
        &format!("\"sys_mod_count\": \"{count}\""),
    )
    .into_bytes()
}

#[tokio::test]
async fn an_event_postgres_refuses_is_500_store_rejected_and_the_next_one_is_accepted() {
    let Some(pg) = schema().await else {
        return;
    };
    let sim = default_sim().await;
    let app = app(&sim.base_url(), Some(&pg.url)).await;
    let refused = post_acme_sn(&app, insert_with_mod_count(20_000)).await;
    let p = json(refused, 500).await;
    assert_eq!(p["code"], "store-rejected", "{p}");
    // The store is up: the next event is taken.
    let ok = post_acme_sn(&app, insert_with_mod_count(8)).await;
    assert_eq!(json(ok, 202).await["duplicate"], false);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    app.stop().await;
    pg.drop().await;
}
