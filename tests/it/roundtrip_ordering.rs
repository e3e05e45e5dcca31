//! Ordering progress back to Jira, end to end through the simulators: a Jira service request
//! becomes an Orange ordering request (the shipped `demo/jira-ordering.yaml`); each step
//! Orange moves it through (`POST /_sim/requests/{id}/advance`) comments on the Jira issue,
//! and the steps that carry a transition move it, exactly once each, across a restart and
//! when two steps happen between two poll cycles.

use std::path::Path;
use std::time::Duration;

use itsm_bridge::config::Config;
use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::jira::{self, created_webhook, post};
use crate::support::{TestApp, acme_ticket, eventually};

/// Tenant `acme`, source `jira` on the shipped ordering mapping, polling as `poller` says.
pub fn ordering_config(sim: &str, db: &Path, poller: &str) -> Config {
    let mapping = "demo/jira-ordering.yaml";
    crate::support::parse(&jira::config_yaml(sim, db, mapping, "", poller, "sandbox"))
}

async fn boot(sim: &Sim, db: &Path) -> TestApp {
    let config = ordering_config(
        &sim.handle.base_url(),
        db,
        "enabled: true, interval_secs: 1, page_size: 20",
    );
    TestApp::spawn_config(config, tempfile::tempdir().unwrap()).await
}

/// A service request with a catalog item, as a customer raises it on the portal.
async fn service_request(sim: &Sim) -> Value {
    let fields = json!({"project": {"key": "REQ"}, "summary": "New BVPN access for Nantes",
        "issuetype": {"name": "Service Request"}, "priority": {"name": "Medium"},
        "description": "Please order a *100 Mbps* BVPN access.",
        "customfield_10060": {"value": "CAT-BVPN-ACCESS", "id": "10100"},
        "customfield_10061": "12 rue de la Loire, 44000 Nantes"});
    jira::create_issue(sim, fields).await
}

fn comments(issue: &Value) -> Vec<String> {
    issue["fields"]["comment"]["comments"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|c| c["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Transition posts the Jira simulator accepted for `issue_id`.
fn transitions(sim: &Sim, issue_id: &str) -> Vec<Value> {
    sim.accepted("POST", &format!("/rest/api/2/issue/{issue_id}/transitions"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_ordering_step_reaches_the_jira_request_once_as_a_comment_and_its_transition() {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let issue = service_request(&sim).await;
    let id = issue["id"].as_str().unwrap().to_owned();
    let app = boot(&sim, db.path()).await;
    post(&app, &created_webhook(&issue)).await;

    let ticket = acme_ticket("jira", &id);
    let order = app.orange_id(&ticket).await;
    let request = sim
        .orange_get(&format!("/ordering/b2b/v3/requests/{order}"))
        .await;
    assert_eq!(request["catalogItem"]["id"], "CAT-BVPN-ACCESS");
    assert_eq!(request["customerReference"], issue["key"]);
    let advance = async |to: Option<&str>| {
        let body = to.map_or(json!({}), |s| json!({"step": s}));
        sim.control(&format!("/_sim/requests/{order}/advance"), body)
            .await;
    };

    // VALIDATION, then ORDER: a comment each, and ORDER starts progress.
    advance(None).await;
    eventually("the validation comment", async || {
        let c = comments(&jira::issue(&sim, &id).await);
        c.iter().any(|b| b.contains("validating")).then_some(())
    })
    .await;
    advance(None).await;
    eventually("the request in progress", async || {
        let v = jira::issue(&sim, &id).await;
        (v["fields"]["status"]["name"] == "In Progress").then_some(())
    })
    .await;

    // A restart between steps: the step last seen is in the store.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.stop().await;
    let app = boot(&sim, db.path()).await;

    // DELIVERY and COMPLETED between two reads: both steps' rules, in order.
    advance(Some("DELIVERY")).await;
    advance(Some("COMPLETED")).await;
    eventually("the resolved request", async || {
        let v = jira::issue(&sim, &id).await;
        (v["fields"]["status"]["name"] == "Resolved").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let v = jira::issue(&sim, &id).await;
    let got = comments(&v);
    let expected = [
        format!("Orange is validating order {order}."),
        format!("Orange accepted order {order}; it is being ordered."),
        format!("Order {order} is being delivered."),
        format!("Order {order} is complete."),
    ];
    assert_eq!(got, expected, "one comment per step, in order");
    assert_eq!(v["fields"]["resolution"]["name"], "Done");
    assert_eq!(v["fields"]["customfield_10052"], order.as_str());
    assert_eq!(
        transitions(&sim, &id),
        vec![
            json!({"transition": {"id": "4"}}),
            json!({"transition": {"id": "5"}, "fields": {"resolution": {"name": "Done"}}}),
        ],
        "Start Progress at ORDER, Resolve Issue at COMPLETED, once each"
    );
    app.stop().await;
}
