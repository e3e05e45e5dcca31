//! ITSM-side reconciliation against the ServiceNow simulator (the Table API by
//! `sys_updated_on`, `sys_journal_field` for missed notes), driven one run at a time next to
//! the running gateway: a record whose business-rule calls never came reaches Orange; one
//! whose calls came is not sent again; a missed update is repaired under its version's key;
//! a re-run after a restart repairs nothing twice nor the integration user's notes.

use itsm_bridge::domain::{SourceKind, TicketKey};
use itsm_bridge::worker::reconcile::SyncReport;
use serde_json::{Value, json};

use crate::roundtrip_reconcile::reconcile_once;
use crate::sim_support::Sim;
use crate::support::{TestApp, acme_ticket, eventually, orange, servicenow};

async fn sn_run(app: &TestApp, integration: &str) -> SyncReport {
    reconcile_once(app, "servicenow", SourceKind::Servicenow, integration).await
}

fn sn_ticket(sys_id: &str) -> TicketKey {
    acme_ticket("servicenow", sys_id)
}

/// Types of the events stored for a record, oldest first, with their dedupe keys.
async fn sn_events(app: &TestApp, sys_id: &str) -> Vec<(String, String)> {
    let events = app.events_of(&sn_ticket(sys_id)).await;
    events
        .into_iter()
        .map(|e| (e.event_type, e.dedupe_key))
        .collect()
}

/// The business-rule webhook for `record`'s current version (the demo mapping's shape).
pub(crate) async fn sn_post(app: &TestApp, record: &Value, operation: &str, extra: Value) -> Value {
    let mut body = record.clone();
    body["operation"] = json!(operation);
    body["table"] = json!("incident");
    body["changed_fields"] = json!([]);
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    servicenow::post(app, &body).await
}

/// Successful Orange writes about one ServiceNow incident: its creation (by external
/// reference) and any call on the Orange incident `orange_id`.
fn orange_writes_about(sim: &Sim, number: &str, orange_id: &str) -> Vec<(String, String)> {
    sim.handle
        .journal(0)
        .into_iter()
        .filter(|e| e.method != "GET" && e.path.starts_with("/incident/") && e.status < 300)
        .filter(|e| {
            e.path.contains(orange_id)
                || serde_json::from_str::<Value>(&e.body)
                    .is_ok_and(|b| b["externalReference"] == number)
        })
        .map(|e| (e.method, e.path))
        .collect()
}

async fn sn_orange_id(app: &TestApp, sys_id: &str) -> String {
    app.orange_id(&sn_ticket(sys_id)).await
}

/// The simulator and a gateway against it on a fresh store, `integration` the ServiceNow user
/// whose writes are the gateway's own.
async fn start(integration: &str) -> (Sim, tempfile::TempDir, TestApp) {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let app = servicenow::boot(&sim, db.path(), false, integration).await;
    (sim, db, app)
}

/// The fields of a new incident: the WAN is down at `site`, with `impact` and urgency 2.
fn wan_down(site: &str, impact: &str) -> Value {
    json!({"short_description": format!("WAN down at {site}"), "impact": impact, "urgency": "2"})
}

/// Creates an incident in ServiceNow as its user: the record and its `sys_id`.
async fn create(sim: &Sim, fields: Value) -> (Value, String) {
    let record = servicenow::write(sim, None, fields).await;
    let sys_id = record["sys_id"].as_str().unwrap().to_owned();
    (record, sys_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servicenow_record_whose_webhooks_never_came_reaches_orange_after_one_reconciliation() {
    // `sandbox`, the simulator's user, is a customer here.
    let (sim, _db, app) = start("svc-bridge").await;
    // Created, then given a work note; the business rule's two calls never arrived.
    let (record, sys_id) = create(&sim, wan_down("Lille", "1")).await;
    servicenow::write(
        &sim,
        Some(&sys_id),
        json!({"work_notes": "Customer: the backup link is down too"}),
    )
    .await;
    // Others in the same seconds make the scan page (2 per page), within a second too.
    for n in 0..3 {
        servicenow::write(
            &sim,
            None,
            json!({"short_description": format!("noise {n}")}),
        )
        .await;
    }

    let rep = sn_run(&app, "svc-bridge").await;
    // The record, the three others and the simulator's seeded one: five inserts, one note.
    assert_eq!((rep.issues, rep.ingested, rep.echoes), (5, 6, 0), "{rep:?}");
    assert!(rep.pages >= 3, "{rep:?}");
    let events = sn_events(&app, &sys_id).await;
    let types: Vec<_> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["insert", "update"]);
    assert_eq!(
        events[0].1,
        format!("sn:{sys_id}:0"),
        "the insert's own key"
    );

    let orange_id = sn_orange_id(&app, &sys_id).await;
    let v = sim
        .orange_get(&format!("/incident/b2b/v1/incidents/{orange_id}"))
        .await;
    assert_eq!(v["externalReference"], record["number"]);
    assert_eq!(v["impact"], "HIGH");
    eventually("the work note as an Orange note", async || {
        let texts = sim.orange_note_texts(&orange_id).await;
        texts
            .iter()
            .any(|t| t == "Customer: the backup link is down too")
            .then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servicenow_record_whose_webhooks_came_produces_no_second_orange_call() {
    let (sim, _db, app) = start("svc-bridge").await;
    let (record, sys_id) = create(&sim, wan_down("Nantes", "2")).await;
    let number = record["number"].as_str().unwrap().to_owned();
    sn_post(&app, &record, "insert", json!({})).await;
    let noted = servicenow::write(
        &sim,
        Some(&sys_id),
        json!({"work_notes": "Customer: rebooted the CPE"}),
    )
    .await;
    let header = format!(
        "{} - sandbox (Work notes)",
        noted["sys_updated_on"].as_str().unwrap()
    );
    sn_post(
        &app,
        &noted,
        "update",
        json!({"changed_fields": ["work_notes"],
            "work_notes": format!("{header}\nCustomer: rebooted the CPE")}),
    )
    .await;
    let orange_id = sn_orange_id(&app, &sys_id).await;
    orange::notes_reach(&sim, &orange_id, 1, "the note at Orange").await;
    let before = orange_writes_about(&sim, &number, &orange_id);
    assert_eq!(before.len(), 2, "{before:?}");

    let stored = sn_events(&app, &sys_id).await;
    let rep = sn_run(&app, "svc-bridge").await;
    // Only the simulator's seeded record is new to the gateway.
    assert_eq!((rep.ingested, rep.duplicates), (1, 0), "{rep:?}");
    assert_eq!(
        sn_events(&app, &sys_id).await,
        stored,
        "nothing new for the record"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(orange_writes_about(&sim, &number, &orange_id), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servicenow_rerun_after_a_restart_repairs_nothing_twice_nor_the_integration_users_notes()
{
    // The simulator's user is the integration user here: its writes are the gateway's. The
    // seeded incident (INC0010001, by `admin`) is the customer's, and its insert never came.
    let (sim, db, app) = start("sandbox").await;
    let seeded = sim
        .itsm_get("/api/now/table/incident?sysparm_query=number=INC0010001")
        .await
        .expect("the seeded incident");
    let sys_id = seeded["result"][0]["sys_id"].as_str().unwrap().to_owned();
    let rep = sn_run(&app, "sandbox").await;
    assert_eq!(rep.ingested, 1, "{rep:?}");
    let orange_id = sn_orange_id(&app, &sys_id).await;

    app.stop().await;
    let app = servicenow::boot(&sim, db.path(), false, "sandbox").await;
    let rep = sn_run(&app, "sandbox").await;
    assert_eq!((rep.ingested, rep.duplicates), (0, 0), "{rep:?}");
    assert!(
        rep.issues >= 1,
        "the watermark's second is read again: {rep:?}"
    );

    // A work note by the integration user (an Orange note written back) is an echo.
    servicenow::write(
        &sim,
        Some(&sys_id),
        json!({"work_notes": "[Orange 2601M00001] Engineer dispatched"}),
    )
    .await;
    let rep = sn_run(&app, "sandbox").await;
    assert_eq!((rep.ingested, rep.echoes), (0, 1), "{rep:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let writes = orange_writes_about(&sim, "INC0010001", &orange_id);
    assert_eq!(
        writes,
        [("POST".to_owned(), "/incident/b2b/v1/incidents".to_owned())],
        "one creation, and the gateway's own note did not go to Orange"
    );
    assert_eq!(
        sn_events(&app, &sys_id).await,
        [("insert".to_owned(), format!("sn:{sys_id}:0"))]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_servicenow_update_is_repaired_with_its_versions_key_so_the_late_webhook_is_a_duplicate()
 {
    let (sim, _db, app) = start("svc-bridge").await;
    let (record, sys_id) = create(&sim, wan_down("Rennes", "2")).await;
    let number = record["number"].as_str().unwrap().to_owned();
    sn_post(&app, &record, "insert", json!({})).await;
    let orange_id = sn_orange_id(&app, &sys_id).await;
    // The customer raises the urgency; the business rule's call is lost.
    let changed = servicenow::write(&sim, Some(&sys_id), json!({"urgency": "1"})).await;

    let rep = sn_run(&app, "svc-bridge").await;
    // The record's update and the simulator's seeded record's insert.
    assert_eq!((rep.ingested, rep.duplicates), (2, 0), "{rep:?}");
    let events = sn_events(&app, &sys_id).await;
    assert_eq!(
        events[1],
        ("update".to_owned(), format!("sn:{sys_id}:1")),
        "{events:?}"
    );
    let path = format!("/incident/b2b/v1/incidents/{orange_id}");
    eventually("the urgency at Orange", async || {
        let v = sim.orange_json(&path).await?;
        (v["urgency"] == "HIGH").then_some(())
    })
    .await;
    let writes = orange_writes_about(&sim, &number, &orange_id);

    // The business rule's call arrives after all: the same version, the same key.
    let late = sn_post(
        &app,
        &changed,
        "update",
        json!({"changed_fields": ["urgency"]}),
    )
    .await;
    assert_eq!(late["duplicate"], true, "{late}");
    // And a second run finds the version received.
    let rep = sn_run(&app, "svc-bridge").await;
    assert_eq!((rep.ingested, rep.duplicates), (0, 0), "{rep:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(orange_writes_about(&sim, &number, &orange_id), writes);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconciled_servicenow_record_the_mapping_cannot_handle_is_parked_like_a_webhook() {
    let (sim, _db, app) = start("svc-bridge").await;
    // No short description: the create route's `shortDescription` rule has nothing to read.
    let (_, sys_id) = create(&sim, json!({"impact": "2", "urgency": "2"})).await;

    let rep = sn_run(&app, "svc-bridge").await;
    assert!(rep.parked >= 1, "{rep:?}");
    let q = itsm_bridge::store::EventQuery {
        ticket: Some(sn_ticket(&sys_id)),
        limit: 10,
        ..Default::default()
    };
    let events = app.store.list_events(&q).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let parked = events[0]
        .disposition
        .parked
        .as_ref()
        .expect("the reconciled insert is parked, not skipped");
    assert!(parked.rule.is_some(), "{parked:?}");
    let listed = app.admin_get("/admin/v1/events?state=parked").await;
    assert!(
        listed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == events[0].id.to_string()),
        "{listed}"
    );
    // The watermark moved past it: a second run parks nothing again.
    let again = sn_run(&app, "svc-bridge").await;
    assert_eq!(again.parked, 0, "{again:?}");
    app.stop().await;
}
