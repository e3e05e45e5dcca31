//! The overview's rate budget and last poll cycle, end to end: a ServiceNow incident goes to
//! the Orange simulator (one Orange call), the poller runs its cycles against the simulator,
//! and both `GET /admin/v1/overview` and the console's overview page show the cycle (outcome,
//! figures, mode) and the Orange calls against the tenant's budget of 10 calls a second.

use itsm_bridge::domain::TenantId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::console::Console;
use crate::support::servicenow::CustomerIncident;
use crate::support::{TestApp, acme_ticket, eventually, servicenow};

const TOKEN: &str = "test-admin-token";

async fn overview(app: &TestApp) -> Option<Value> {
    let path = "/admin/v1/overview?tenant=acme";
    let v: Value = app
        .call_as(TOKEN, Method::GET, path)
        .await
        .json()
        .await
        .ok()?;
    Some(v["tenants"][0].clone())
}

/// The console's overview page, signed in with the admin token.
async fn console_overview(app: &TestApp) -> String {
    let (status, page) = Console::sign_in(app, TOKEN).await.get("/console").await;
    assert_eq!(status, 200);
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_cycle_against_the_simulator_shows_on_the_overview_with_the_rate_budget() {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let incident = CustomerIncident::open(&sim).await;
    let app = servicenow::boot(&sim, db.path(), true, "sandbox").await;
    servicenow::post(&app, &incident.webhook("insert", 0, json!({}))).await;
    let tenant = TenantId::parse("acme").unwrap();
    let ticket = acme_ticket("servicenow", &incident.sys_id);
    let store = app.store.clone();
    eventually("the Orange incident", async || {
        store.link(&ticket).await.unwrap()
    })
    .await;

    // A cycle that ran after the link: it read the linked incident from the simulator.
    let t = eventually("a poll cycle that read the linked incident", async || {
        let t = overview(&app).await?;
        let last = &t["poll"]["last"];
        (last["outcome"] == "ok" && last["modes"]["incident"].is_string() && {
            let cycles = store.poll_cycles(&tenant).await.ok()?;
            cycles.first()?.ended_at > store.link(&ticket).await.ok()??.created_at
        })
        .then_some(t)
    })
    .await;
    let last = &t["poll"]["last"];
    assert!(last["orange_calls"].as_u64().unwrap() >= 1, "{last:#}");
    assert_eq!(last["detail"], Value::Null);
    assert_eq!(t["poll"]["enabled"], true);
    assert_eq!(t["poll"]["interval_secs"], 1);
    assert_eq!(t["poll"]["stale"], false);
    assert!(!last["replica"].as_str().unwrap().is_empty());

    // One Orange call (the create) against 10 calls a second: 1 ÷ 600 of the busiest minute.
    let budget = &t["budget"];
    assert_eq!(budget["per_minute"], 600);
    let calls: u64 = budget["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!((calls, budget["calls"].as_array().unwrap().len()), (1, 60));
    assert_eq!(budget["peak_percent"], 0.2);
    assert_eq!(t["activity"]["pending"], 0);

    // The console shows the same.
    let page = console_overview(&app).await;
    for shown in [
        "Last poll cycle",
        "<dd class=\"outcome ok\">ok</dd>",
        "Orange calls / min",
        "1 (budget 600/min)",
        "<dt>Rate budget, busiest minute</dt><dd>0.2%</dd>",
        "incident: ",
    ] {
        assert!(
            page.contains(shown),
            "{shown:?} not on the overview:\n{page}"
        );
    }
    assert!(!page.contains("may have stopped"), "{page}");
    app.stop().await;
}
