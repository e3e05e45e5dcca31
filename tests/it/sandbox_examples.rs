//! Every shipped example in the sandbox, as a newcomer meets it: the embedded default config
//! (`config/default.yaml`) pointed at the simulators, every demo mapping fed every shipped
//! demo event through its webhook, and each Orange object moved and annotated at Orange so
//! that the way back reaches the ITSM. No dead letter, no delivery left behind.

use std::path::Path;

use itsm_bridge::config::Config;
use itsm_bridge::domain::{SourceName, TenantId, TicketKey};
use itsm_bridge::store::Store;
use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::{TestApp, eventually, fixture, repo};

/// The sandbox's webhook credentials (README, "Sandbox secrets").
const SN_TOKEN: &str = "sandbox-servicenow-token";
const JIRA_SECRET: &str = "sandbox-jira-secret";
/// The demo ServiceNow incident every ServiceNow demo event is about.
const SN_SYS_ID: &str = "9d385017c611228701d22104cc95c371";

/// The embedded default config as `serve --sandbox` runs it, with its store in `db` and the
/// poller and dispatcher quick enough for a test.
fn sandbox_config(sim: &str, db: &Path) -> Config {
    let mut c = Config::embedded_default();
    c.store.url = format!("sqlite://{}", db.join("gw.db").display());
    c.mappings_dir = repo().join("mappings");
    c.reload_interval_secs = 0;
    c.poller.interval_secs = 1;
    c.delivery.idle_poll_ms = 50;
    c.point_at_simulator(&url::Url::parse(sim).unwrap());
    c
}

fn ticket(source: &str, id: &str) -> TicketKey {
    let tenant = TenantId::parse("demo").unwrap();
    TicketKey::new(&tenant, &SourceName::parse(source).unwrap(), id)
}

async fn post(app: &TestApp, source: &str, event: &str) -> Value {
    let body = fixture(event);
    let auth = if source.starts_with("jira") {
        (
            "x-hub-signature",
            itsm_bridge::http::auth::hub_signature(JIRA_SECRET, &body),
        )
    } else {
        ("authorization", format!("Bearer {SN_TOKEN}"))
    };
    let r = app
        .post(&format!("/webhooks/demo/{source}"), body, &[auth])
        .await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 202, "{source} {event}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The JSON of an admin `GET` of `path` with the sandbox's admin token.
async fn admin_json(app: &TestApp, path: &str) -> Value {
    let req = app
        .client
        .get(app.url(path))
        .bearer_auth("sandbox-admin-token");
    let resp = req.send().await.expect("request sent");
    resp.json().await.expect("JSON")
}

/// `Some` when an item of the array `list` has a string `field` that contains `text` (for
/// `eventually`).
fn any_contains(list: &Value, field: &str, text: &str) -> Option<()> {
    let found = list.as_array()?.iter().any(|item| {
        let value = item[field].as_str();
        value.is_some_and(|t| t.contains(text))
    });
    found.then_some(())
}

/// Waits until nothing is pending or in flight, then asserts no dead letter.
async fn settle(app: &TestApp, when: &str) {
    let store = app.store.clone();
    for _ in 0..300 {
        let s = store.queue_stats().await.unwrap();
        if s.pending == 0 && s.in_flight == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let s = store.queue_stats().await.unwrap();
    if s.pending + s.in_flight > 0 {
        let events = admin_json(app, "/admin/v1/events?limit=100").await;
        let mut stuck = Vec::new();
        for e in events["events"].as_array().unwrap() {
            let id = e["id"].as_str().unwrap();
            let v = admin_json(app, &format!("/admin/v1/events/{id}")).await;
            for d in v["deliveries"].as_array().unwrap() {
                if !matches!(d["delivery"]["state"].as_str(), Some("done")) {
                    stuck.push(d["delivery"].clone());
                }
            }
        }
        panic!("the queue did not drain ({when}): {:#}", Value::from(stuck));
    }
    let dead = app.store.dead_letters(None, 50).await.unwrap();
    assert!(
        dead.is_empty(),
        "no dead letter ({when}): {:#?}",
        dead.iter()
            .map(|d| (&d.ticket, &d.last_error))
            .collect::<Vec<_>>()
    );
}

async fn orange_id(store: &dyn Store, t: &TicketKey) -> String {
    eventually(&format!("the link of {t}"), async || {
        store.link(t).await.unwrap().map(|l| l.orange_id)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_demo_event_goes_to_orange_and_orange_changes_come_back() {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let config = sandbox_config(&sim.handle.base_url(), db.path());
    let app = TestApp::spawn_config(config, tempfile::tempdir().unwrap()).await;

    // ServiceNow → Incident: the insert first (it creates), then the rest in story order.
    for e in [
        "servicenow/incident-insert.json",
        "servicenow/incident-update-state.json",
        "servicenow/incident-work-note.json",
        "servicenow/incident-attachment.json",
        "servicenow/incident-echo.json",
    ] {
        post(&app, "servicenow", e).await;
    }
    // ServiceNow → Wholesale trouble tickets (same incident, its own source).
    for e in [
        "servicenow/incident-insert.json",
        "servicenow/incident-work-note.json",
    ] {
        post(&app, "servicenow-tt", e).await;
    }
    // Jira → Incident, Cloud and Data Center payloads.
    for e in [
        "jira/cloud-issue-created.json",
        "jira/cloud-issue-updated.json",
        "jira/cloud-issue-labels.json",
        "jira/cloud-comment-created.json",
        "jira/cloud-issue-commented.json",
        "jira/dc-comment-created.json",
    ] {
        post(&app, "jira", e).await;
    }
    // Jira service request → Ordering.
    post(&app, "jira-orders", "jira/service-request-created.json").await;
    settle(&app, "after the demo events").await;

    let store = app.store.clone();
    let sn_incident = orange_id(store.as_ref(), &ticket("servicenow", SN_SYS_ID)).await;
    let jira_incident = orange_id(store.as_ref(), &ticket("jira", "10482")).await;
    let trouble_ticket = orange_id(store.as_ref(), &ticket("servicenow-tt", SN_SYS_ID)).await;
    let order = orange_id(store.as_ref(), &ticket("jira-orders", "10901")).await;

    // The ServiceNow incident names PARIS-RTR-01: the lookup found its service point.
    for (id, point) in [(&sn_incident, "SP-100001"), (&jira_incident, "SP-100002")] {
        let inc = sim
            .orange_get(&format!("/incident/b2b/v1/incidents/{id}"))
            .await;
        assert_eq!(inc["servicePoint"]["id"], point, "{inc:#}");
    }
    assert!(!order.is_empty() && !trouble_ticket.is_empty());

    // Orange moves each object and writes a note; the poller brings both back.
    for id in [&sn_incident, &jira_incident] {
        sim.control(&format!("/_sim/incidents/{id}/advance"), json!({}))
            .await;
        let note = json!({"text": format!("Orange engineer on site for {id}")});
        sim.control(&format!("/_sim/incidents/{id}/notes"), note)
            .await;
    }

    // ServiceNow: the Orange note arrives as a work note on the demo incident.
    let note = format!("Orange engineer on site for {sn_incident}");
    eventually("the Orange note in ServiceNow", async || {
        let v = sim
            .itsm_get(&format!(
                "/api/now/table/sys_journal_field?sysparm_query=element_id={SN_SYS_ID}"
            ))
            .await?;
        any_contains(&v["result"], "value", &note)
    })
    .await;
    // Jira: the Orange note arrives as a comment on OPS-1287.
    let note = format!("Orange engineer on site for {jira_incident}");
    eventually("the Orange note in Jira", async || {
        let v = sim.itsm_get("/rest/api/2/issue/OPS-1287/comment").await?;
        any_contains(&v["comments"], "body", &note)
    })
    .await;
    settle(&app, "after the way back").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_shows_every_hop_of_every_example_in_process() {
    let mut config = Config::embedded_default();
    config.mappings_dir = repo().join("mappings");
    let mut out = Vec::new();
    let ok = itsm_bridge::cli::tour_in_process(config, &mut out)
        .await
        .expect("the tour runs");
    let text = String::from_utf8(out).unwrap();
    assert!(ok, "every hop happened:\n{text}");
    assert!(!text.contains(" !! "), "{text}");
    for hop in [
        "accepted",
        "mapped",
        "called",
        "linked",
        "Orange changed",
        "written back",
    ] {
        assert!(
            text.matches(&format!(" ok  {hop}")).count() >= 4,
            "`{hop}` for each of the four examples:\n{text}"
        );
    }
    for example in [
        "servicenow-incident.yaml",
        "jira-incident.yaml",
        "servicenow-trouble-ticket.yaml",
        "jira-ordering.yaml",
    ] {
        assert!(text.contains(example), "{example}:\n{text}");
    }
}
