//! Nothing lost, nothing silent at intake (issue 18), through the real app and the Orange
//! simulator, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL: an event the mapping cannot
//! handle is parked and answered 202; once the mapping file is fixed and reloaded, a replay
//! delivers it once, before the updates that came after it; events that match no route are
//! kept, counted and listed, or parked with `unrouted: park`.

use std::time::Duration;

use itsm_bridge::domain::EventId;
use itsm_bridge::sim::SimHandle;
use serde_json::{Value, json};

use crate::support::intake::{acme_sn_json, default_sim, on_both_stores};
use crate::support::*;

/// The app on a copy of the shipped mappings (returned: the tests edit it), its Orange
/// pointed at `sim`, its store at `store` (SQLite in its temp dir when `None`).
async fn boot(sim: &SimHandle, store: Option<&str>) -> (TestApp, tempfile::TempDir) {
    let (root, maps) = copy_of_mappings();
    let dir = tempfile::tempdir().unwrap();
    let config = config_against(dir.path(), &sim.base_url(), Some(&maps), store);
    (TestApp::spawn_config(config, dir).await, root)
}

/// The shipped ServiceNow insert (golden event), to change.
fn sn_insert() -> Value {
    serde_json::from_slice(&fixture("servicenow/incident-insert.json")).unwrap()
}

fn incidents(sim: &SimHandle, external: &str) -> Vec<Value> {
    let found = incidents_of(sim, external);
    found.into_iter().map(|i| i.body).collect()
}

/// The scenario of issue 18: broken mapping → 202 parked → fix, reload → replay → delivered
/// once, and the update accepted meanwhile reaches Orange after the create.
async fn parked_then_fixed_and_replayed(store: Option<&str>) {
    let sim = default_sim().await;
    let (app, root) = boot(&sim, store).await;
    let file = root.path().join("mappings/demo/servicenow-incident.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    // The mistake: the create's impact table loses its default.
    let with_default =
        r#"impact: { path: impact, table: { "1": HIGH, "2": MEDIUM, "3": LOW }, default: MEDIUM }"#;
    assert!(good.contains(with_default));
    let broken = good.replacen(
        with_default,
        r#"impact: { path: impact, table: { "1": HIGH, "2": MEDIUM, "3": LOW } }"#,
        1,
    );
    std::fs::write(&file, &broken).unwrap();
    app.admin_post("/admin/v1/reload", 200).await;

    let mut insert = sn_insert();
    insert["impact"] = json!("4");
    let a = acme_sn_json(&app, insert.to_string(), 202).await;
    assert_eq!(a["parked"], "mapping-rejected", "{a}");
    assert_eq!(a["rule"], "routes[1].then[0].set.impact");
    assert_eq!(a["pointer"], "/impact");
    assert_eq!(a["duplicate"], false);
    let id = a["eventId"].as_str().unwrap().to_owned();
    // A redelivery of a parked event is a duplicate of it.
    let again = acme_sn_json(&app, insert.to_string(), 202).await;
    assert_eq!(
        (again["duplicate"].as_bool(), again["eventId"].as_str()),
        (Some(true), Some(id.as_str()))
    );
    // The update that follows maps fine; it waits for the create.
    let update = fixture("servicenow/incident-update-state.json");
    let u = acme_sn_json(&app, update, 202).await;
    assert!(u.get("parked").is_none(), "{u}");

    let listed = app.admin_get("/admin/v1/events?state=parked").await;
    let parked = listed["events"].as_array().unwrap();
    assert_eq!(parked.len(), 1, "{listed}");
    assert_eq!(parked[0]["id"], id.as_str());
    assert_eq!(parked[0]["parked"]["reason"], "mapping-rejected");
    assert_eq!(parked[0]["parked"]["rule"], "routes[1].then[0].set.impact");
    assert_eq!(parked[0]["parked"]["pointer"], "/impact");
    let m = app.metrics().await;
    assert!(
        m.lines()
            .any(|l| l.starts_with("itsm_bridge_events_parked_total")
                && l.contains("tenant=\"acme\"")
                && l.contains("reason=\"mapping-rejected\"")),
        "{m}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(incidents(&sim, "INC0010023").is_empty(), "nothing sent yet");

    // Replayed before the fix: still parked, with the reason.
    let r = app
        .admin_post(&format!("/admin/v1/events/{id}/replay"), 200)
        .await;
    assert_eq!(
        r["disposition"]["parked"]["reason"], "mapping-rejected",
        "{r}"
    );
    assert_eq!(r["calls"], 0);

    std::fs::write(&file, &good).unwrap();
    app.admin_post("/admin/v1/reload", 200).await;
    let r = app
        .admin_post(&format!("/admin/v1/events/{id}/replay"), 200)
        .await;
    assert_eq!(r["calls"], 1, "{r}");
    assert!(r["disposition"].get("parked").is_none(), "{r}");
    // A second replay finds it settled and delivers nothing twice.
    let p = app
        .admin_post(&format!("/admin/v1/events/{id}/replay"), 409)
        .await;
    assert_eq!(p["code"], "conflict");

    eventually("the incident updated at Orange", async || {
        let found = incidents(&sim, "INC0010023");
        (found.len() == 1
            && found[0]["shortDescription"] == "MPLS link down at Paris HQ - all sites impacted")
            .then_some(())
    })
    .await;
    app.drained().await;
    let found = incidents(&sim, "INC0010023");
    assert_eq!(found.len(), 1, "created exactly once");
    let event = app
        .store
        .event(EventId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(event.disposition.parked.is_none());
    let ds = app.store.event_deliveries(event.id).await.unwrap();
    assert_eq!(ds.len(), 1, "one delivery, however many replays");
    let listed = app.admin_get("/admin/v1/events?state=parked").await;
    assert_eq!(listed["events"].as_array().unwrap().len(), 0, "{listed}");
    app.stop().await;
}

on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    "intake", parked_then_fixed_and_replayed =>
    a_parked_event_is_delivered_once_after_the_mapping_is_fixed_on_sqlite,
    a_parked_event_is_delivered_once_after_the_mapping_is_fixed_on_postgres
);

/// Unrouted events are kept, counted by tenant, source and type, and listed with filters; a
/// business rule that names its own events reaches the shipped routes; `unrouted: park`
/// parks them, and replaying all parked events maps them once a route exists.
async fn unrouted_are_visible(store: Option<&str>) {
    let sim = default_sim().await;
    let (app, root) = boot(&sim, store).await;
    let mut delete = sn_insert();
    delete["operation"] = json!("delete");
    delete["sys_mod_count"] = json!("9");
    let a = acme_sn_json(&app, delete.to_string(), 202).await;
    assert!(a.get("parked").is_none(), "{a}");
    let listed = app
        .admin_get("/admin/v1/events?state=unrouted&event_type=delete")
        .await;
    let events = listed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{listed}");
    assert_eq!(events[0]["id"], a["eventId"]);
    assert_eq!(events[0]["unrouted"], true);
    assert_eq!(events[0]["skipped"], "no route matches event `delete`");
    let none = app
        .admin_get("/admin/v1/events?state=unrouted&event_type=insert")
        .await;
    assert_eq!(none["events"].as_array().unwrap().len(), 0);
    let m = app.metrics().await;
    assert!(
        m.lines()
            .any(|l| l.starts_with("itsm_bridge_events_unrouted_total")
                && l.contains("tenant=\"acme\"")
                && l.contains("source=\"servicenow\"")
                && l.contains("event_type=\"delete\"")),
        "{m}"
    );

    // A business rule that names its events itself.
    let mut named = sn_insert();
    named.as_object_mut().unwrap().remove("operation");
    named["event"] = json!("incident.inserted");
    let a = acme_sn_json(&app, named.to_string(), 202).await;
    let id = EventId::parse(a["eventId"].as_str().unwrap()).unwrap();
    let ds = app.store.event_deliveries(id).await.unwrap();
    assert_eq!(ds.len(), 1, "`incident.inserted` takes the create route");

    // `unrouted: park`: the next unrouted event is parked instead.
    let file = root.path().join("mappings/demo/servicenow-incident.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let parking = text.replacen("routes:\n", "unrouted: park\n\nroutes:\n", 1);
    std::fs::write(&file, &parking).unwrap();
    app.admin_post("/admin/v1/reload", 200).await;
    let mut closed = delete.clone();
    closed["operation"] = json!("closed");
    closed["sys_mod_count"] = json!("10");
    let a = acme_sn_json(&app, closed.to_string(), 202).await;
    assert_eq!(a["parked"], "unrouted", "{a}");
    // Still parked when replayed with no route for it; mapped once a route exists.
    let r = app
        .admin_post("/admin/v1/events/replay?tenant=acme", 200)
        .await;
    assert_eq!(r["still_parked"].as_array().unwrap().len(), 1, "{r}");
    let routed = parking.replacen(
        "    when: { event: [insert,",
        "    when: { event: [closed, insert,",
        1,
    );
    assert_ne!(routed, parking);
    std::fs::write(&file, &routed).unwrap();
    app.admin_post("/admin/v1/reload", 200).await;
    let r = app
        .admin_post("/admin/v1/events/replay?tenant=acme", 200)
        .await;
    assert_eq!(r["replayed"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["replayed"][0]["calls"], 1, "{r}");
    app.stop().await;
}

on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    "intake", unrouted_are_visible =>
    unrouted_events_are_counted_listed_and_parked_on_request_on_sqlite,
    unrouted_events_are_counted_listed_and_parked_on_request_on_postgres
);
