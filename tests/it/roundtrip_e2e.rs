//! The way back end to end through the simulators: a ServiceNow incident sent to Orange is
//! moved by Orange and gets an Orange note; the ServiceNow incident receives the mapped state
//! (with close fields) and a work note exactly once each, across a gateway restart; the echo
//! webhook is dropped; the customer's own note is not pushed back.

use std::time::Duration;

use itsm_bridge::domain::EventId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::{acme_ticket, eventually, servicenow};

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
    let created = servicenow::write(&sim, None, json!({"short_description": "MPLS down"})).await;
    let sys_id = created["sys_id"].as_str().unwrap().to_owned();
    let number = created["number"].as_str().unwrap().to_owned();
    let app = servicenow::boot(&sim, db.path(), true, "sandbox").await;

    let base = json!({"table": "incident", "sys_id": sys_id, "number": number,
        "sys_updated_by": "abel.tuter", "short_description": "MPLS down at Paris HQ",
        "impact": "1", "urgency": "2", "state": "1"});
    let mut insert = base.clone();
    insert["operation"] = json!("insert");
    insert["sys_mod_count"] = json!("0");
    servicenow::post(&app, &insert).await;
    let ticket = acme_ticket("servicenow", &sys_id);
    let orange_id = app.orange_id(&ticket).await;

    // The customer's own work note goes to Orange (origin CUSTOMER) and must not come back.
    let mut note = base.clone();
    note["operation"] = json!("update");
    note["sys_mod_count"] = json!("1");
    note["work_notes"] = json!("Customer: still down after reboot");
    servicenow::post(&app, &note).await;
    let notes_path = format!("/incident/b2b/v1/incidents/{orange_id}/notes");
    eventually("the customer note at Orange", async || {
        let v = sim.orange_json(&notes_path).await?;
        (v.as_array()?.len() == 1).then_some(())
    })
    .await;

    // Orange works the incident.
    let ctl = |p: &str| format!("/_sim/incidents/{orange_id}/{p}");
    sim.control(&ctl("advance"), json!({"status": "IN_PROGRESS"}))
        .await;
    sim.control(&ctl("notes"), json!({"text": "Engineer dispatched"}))
        .await;
    sim.control(&ctl("advance"), json!({"status": "RESOLVED"}))
        .await;

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
    let mut echo = base.clone();
    echo["operation"] = json!("update");
    echo["sys_mod_count"] = json!("9");
    echo["sys_updated_by"] = json!("sandbox");
    echo["work_notes"] = json!(format!("[Orange {orange_id}] Engineer dispatched"));
    let r = servicenow::post(&app, &echo).await;
    let id = EventId::parse(r["eventId"].as_str().unwrap()).unwrap();
    assert!(
        app.store.event(id).await.unwrap().is_none(),
        "an echo is not stored"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v: Value = sim
        .orange(Method::GET, &notes_path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert!(
        !texts.iter().any(|t| t.starts_with("[Orange")),
        "echo reached Orange: {texts:?}"
    );
    app.stop().await;
}
