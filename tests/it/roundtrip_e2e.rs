//! The way back end to end through the simulators: a ServiceNow incident sent to Orange is
//! moved by Orange and gets an Orange note; the ServiceNow incident receives the mapped state
//! (with close fields) and a work note exactly once each, across a gateway restart; the echo
//! webhook is dropped; the customer's own note is not pushed back.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::servicenow::CustomerIncident;
use crate::support::{acme_ticket, echo, eventually, orange, servicenow};

/// PATCH bodies the ServiceNow simulator received for `sys_id`.
fn patches(sim: &Sim, sys_id: &str) -> Vec<Value> {
    sim.handle
        .journal(0)
        .into_iter()
        .filter(|e| e.method == "PATCH" && e.path.ends_with(sys_id) && e.status == 200)
        .map(|e| serde_json::from_str(&e.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orange_progress_reaches_servicenow_once_across_a_restart_and_echoes_are_dropped() {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let incident = CustomerIncident::open(&sim).await;
    let sys_id = incident.sys_id.clone();
    let app = servicenow::boot(&sim, db.path(), true, "sandbox").await;
    servicenow::post(&app, &incident.webhook("insert", 0, json!({}))).await;
    let ticket = acme_ticket("servicenow", &sys_id);
    let orange_id = app.orange_id(&ticket).await;

    // The customer's own work note goes to Orange (origin CUSTOMER) and must not come back.
    let note = json!({"work_notes": "Customer: still down after reboot"});
    servicenow::post(&app, &incident.webhook("update", 1, note)).await;
    orange::notes_reach(&sim, &orange_id, 1, "the customer note at Orange").await;

    // Orange works the incident.
    orange::works(&sim, &orange_id, "Engineer dispatched").await;
    orange::advance(&sim, &orange_id, "RESOLVED").await;

    let record_path = format!("/api/now/table/incident/{sys_id}");
    eventually("the resolved ServiceNow incident", async || {
        let v = sim.itsm_get(&record_path).await?;
        (v["result"]["state"] == "6").then_some(())
    })
    .await;
    eventually("the Orange work note in ServiceNow", async || {
        patches(&sim, &sys_id)
            .iter()
            .any(|p| {
                p["work_notes"]
                    .as_str()
                    .is_some_and(|t| t.contains("Engineer dispatched"))
            })
            .then_some(())
    })
    .await;
    // A few more poll cycles, then a restart on the same database and a few more.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.stop().await;
    let app = servicenow::boot(&sim, db.path(), true, "sandbox").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;

    let ps = patches(&sim, &sys_id);
    let resolves: Vec<_> = ps.iter().filter(|p| p["state"] == "6").collect();
    assert_eq!(resolves.len(), 1, "one resolve: {ps:#?}");
    assert_eq!(resolves[0]["close_code"], "Solution provided");
    assert!(
        resolves[0]["close_notes"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    let notes: Vec<_> = ps.iter().filter_map(|p| p["work_notes"].as_str()).collect();
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.contains("Engineer dispatched"))
            .count(),
        1,
        "{notes:?}"
    );
    assert!(
        !notes.iter().any(|n| n.contains("still down after reboot")),
        "customer note pushed back: {notes:?}"
    );
    assert_eq!(
        ps.iter()
            .filter(|p| p["correlation_id"] == orange_id.as_str())
            .count(),
        1,
        "{ps:#?}"
    );

    // The webhook our write triggers (updated by the integration user) is dropped.
    let ours = json!({"sys_updated_by": "sandbox",
        "work_notes": format!("[Orange {orange_id}] Engineer dispatched")});
    let webhook = incident.webhook("update", 9, ours);
    let r = servicenow::post(&app, &webhook).await;
    echo::assert_dropped(&app, &r, &webhook).await;
    echo::none_reached_orange(&sim, &orange_id).await;
    app.stop().await;
}
