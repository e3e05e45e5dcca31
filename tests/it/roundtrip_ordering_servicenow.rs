//! Ordering progress back to ServiceNow, end to end through the simulators: a ServiceNow
//! record becomes an Orange ordering request, and each step Orange moves it through
//! (`POST /_sim/requests/{id}/advance`) reaches the record exactly once — the step's work note
//! and its field rule (`way_back.steps[].fields`: a ServiceNow PATCH) — one step at a time and
//! when two steps happen between two poll cycles. The Jira twin is `roundtrip_ordering.rs`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::roundtrip_reconcile_servicenow::sn_post;
use crate::sim_support::Sim;
use crate::support::{TestApp, acme_ticket, eventually, servicenow};

/// A ServiceNow record with a catalog item becomes an order; its steps come back as work
/// notes, ORDER starts work (state 2), COMPLETED resolves it (state 6 with its close fields).
const MAPPING: &str = r#"
source: servicenow
description: ServiceNow records with a catalog item become Orange ordering requests.
routes:
  - name: order
    when:
      event: insert
      all: [{ path: u_catalog_item, exists: true }]
    then:
      - call: submit_order
        set:
          customerReference: { path: number }
          description: { path: short_description }
          catalogItem.id: { path: u_catalog_item }
    stop: true
  - name: anything else
    skip: only new records with a catalog item are ordered
way_back:
  table: incident
  steps:
    - step: REQUEST
    - step: VALIDATION
      comment: "Orange is validating order {{ id }}."
    - step: ORDER
      fields: { state: "2" }
      comment: "Orange accepted order {{ id }}."
    - step: DELIVERY
      comment: "Order {{ id }} is being delivered."
    - step: COMPLETED
      fields:
        state: "6"
        close_code: Solution provided
        close_notes: "Order {{ id }} delivered by Orange"
      comment: "Order {{ id }} is complete."
  status: { "*": skip }
  notes: { push: orange, as: work_notes }
  orange_id:
    correlation_id: "{{ id }}"
"#;

/// The ServiceNow tenant's config with the ordering mapping above in place of the shipped
/// incident one, and `svc-bridge` as the integration user (not the simulator's user who
/// makes the record: no webhook echoes here anyway).
fn config(sim: &str, dir: &Path) -> itsm_bridge::config::Config {
    let mappings = dir.join("mappings");
    std::fs::create_dir_all(mappings.join("test")).unwrap();
    std::fs::write(mappings.join("test/servicenow-ordering.yaml"), MAPPING).unwrap();
    let store = format!("sqlite://{}", dir.join("gw.db").display());
    let shipped = crate::support::repo().join("mappings");
    let yaml = servicenow::config_yaml(sim, &store, true, "svc-bridge")
        .replace(
            &format!("mappings_dir: {}", shipped.display()),
            &format!("mappings_dir: {}", mappings.display()),
        )
        .replace(
            "mapping: demo/servicenow-incident.yaml",
            "mapping: test/servicenow-ordering.yaml",
        );
    servicenow::parse(&yaml)
}

/// The record's work notes, oldest first.
async fn work_notes(sim: &Sim, sys_id: &str) -> Vec<String> {
    let q = format!(
        "/api/now/table/sys_journal_field?sysparm_query=element_id={sys_id}^element=work_notes^ORDERBYsys_created_on"
    );
    let v = sim.itsm_get(&q).await.expect("the ITSM answers");
    v["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["value"].as_str().map(str::to_owned))
        .collect()
}

/// The field changes the gateway PATCHed onto the record, journal fields left out.
fn field_patches(sim: &Sim, sys_id: &str) -> Vec<Value> {
    sim.accepted("PATCH", &format!("/api/now/table/incident/{sys_id}"))
        .into_iter()
        .filter(|b| b.get("work_notes").is_none() && b.get("comments").is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_ordering_step_reaches_the_servicenow_record_once_as_a_work_note_and_its_fields() {
    let sim = Sim::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_config(
        config(&sim.handle.base_url(), dir.path()),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let record = servicenow::write(
        &sim,
        None,
        json!({"short_description": "New BVPN access for Nantes", "u_catalog_item": "CAT-BVPN-ACCESS"}),
    )
    .await;
    let sys_id = record["sys_id"].as_str().unwrap().to_owned();
    sn_post(&app, &record, "insert", json!({})).await;

    let ticket = acme_ticket("servicenow", &sys_id);
    let order = app.orange_id(&ticket).await;
    let advance = async |to: Option<&str>| {
        let body = to.map_or(json!({}), |s| json!({"step": s}));
        sim.control(&format!("/_sim/requests/{order}/advance"), body)
            .await;
    };
    let notes_reach = async |n: usize| {
        eventually(&format!("{n} work notes"), async || {
            (work_notes(&sim, &sys_id).await.len() >= n).then_some(())
        })
        .await;
    };

    // VALIDATION, then ORDER, a poll cycle apart.
    advance(None).await;
    notes_reach(1).await;
    advance(None).await;
    notes_reach(2).await;
    // DELIVERY and COMPLETED between two reads: both steps' rules, in order.
    advance(Some("DELIVERY")).await;
    advance(Some("COMPLETED")).await;
    notes_reach(4).await;
    // A few more cycles write nothing more.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert_eq!(
        work_notes(&sim, &sys_id).await,
        [
            format!("Orange is validating order {order}."),
            format!("Orange accepted order {order}."),
            format!("Order {order} is being delivered."),
            format!("Order {order} is complete."),
        ],
        "one work note per step, in order"
    );
    assert_eq!(
        field_patches(&sim, &sys_id),
        [
            json!({"correlation_id": order}),
            json!({"state": "2"}),
            json!({"state": "6", "close_code": "Solution provided",
                   "close_notes": format!("Order {order} delivered by Orange")}),
        ],
        "the link, then ORDER's and COMPLETED's fields, once each"
    );
    let v = sim
        .itsm_get(&format!("/api/now/table/incident/{sys_id}"))
        .await
        .expect("the ITSM answers");
    assert_eq!(
        (&v["result"]["state"], &v["result"]["correlation_id"]),
        (&json!("6"), &json!(order))
    );
    app.stop().await;
}
