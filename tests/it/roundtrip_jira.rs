//! The way back end to end through the simulators, for Jira: an issue sent to Orange is moved
//! by Orange and gets an Orange note; the Jira issue receives the transitions (the resolve
//! one with its resolution) and one internal comment (JSM API) exactly once each, across a
//! gateway restart, addressed by `issue.id` as the gateway keys tickets; the webhooks Jira
//! fires for those writes are dropped; the customer's own comment is not pushed back.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::jira::{self, boot, comment_webhook, created_webhook, customer, post};
use crate::support::{acme_ticket, echo, eventually, orange};

/// Successful Jira write calls the simulator received about `issue_id`: (method, path, body).
fn writes(sim: &Sim, issue_id: &str) -> Vec<(String, String, Value)> {
    sim.handle
        .journal(0)
        .into_iter()
        .filter(|e| e.method != "GET" && (200..300).contains(&e.status))
        .filter(|e| e.path.starts_with("/rest/") && e.path.contains(&format!("/{issue_id}")))
        .map(|e| {
            let body = serde_json::from_str(&e.body).unwrap_or(Value::Null);
            (e.method, e.path, body)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orange_progress_reaches_jira_once_across_a_restart_and_echoes_are_dropped() {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let issue = jira::create_incident(&sim, "MPLS down at Lyon").await;
    let id = issue["id"].as_str().unwrap().to_owned();
    let app = boot(&sim, db.path(), "").await;

    post(&app, &created_webhook(&issue)).await;
    let ticket = acme_ticket("jira", &id);
    let orange_id = app.orange_id(&ticket).await;

    // The customer's comment goes to Orange, once although Jira delivers it twice.
    let comment = json!({"id": "90001", "self": format!("/rest/api/2/issue/{id}/comment/90001"),
        "author": customer(), "updateAuthor": customer(), "body": "Customer: still down after reboot",
        "created": "2025-05-14T09:20:30.087+0000", "updated": "2025-05-14T09:20:30.087+0000"});
    post(&app, &comment_webhook(&comment)).await;
    let twin = json!({"webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_commented",
        "user": customer(), "issue": {"id": id, "key": issue["key"]}, "comment": comment});
    assert_eq!(post(&app, &twin).await["duplicate"], true);
    orange::notes_reach(&sim, &orange_id, 1, "the customer note at Orange").await;

    // Orange works the incident.
    orange::advance(&sim, &orange_id, "IN_PROGRESS").await;
    eventually("the Jira issue in progress", async || {
        (jira::issue(&sim, &id).await["fields"]["status"]["name"] == "In Progress").then_some(())
    })
    .await;
    orange::note(&sim, &orange_id, "Engineer dispatched").await;
    orange::advance(&sim, &orange_id, "RESOLVED").await;

    eventually("the resolved Jira issue with the Orange note", async || {
        let v = jira::issue(&sim, &id).await;
        let noted = v["fields"]["comment"]["comments"]
            .as_array()?
            .iter()
            .any(|c| {
                c["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Engineer dispatched"))
            });
        (v["fields"]["status"]["name"] == "Resolved" && noted).then_some(())
    })
    .await;
    // A few more poll cycles, then a restart on the same database and a few more.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.stop().await;
    let app = boot(&sim, db.path(), "").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;

    let ws = writes(&sim, &id);
    let internal: Vec<_> = ws
        .iter()
        .filter(|(m, p, _)| {
            m == "POST" && p == &format!("/rest/servicedeskapi/request/{id}/comment")
        })
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(internal.len(), 1, "one Orange note: {ws:#?}");
    assert_eq!(internal[0]["public"], false);
    assert!(
        internal[0]["body"]
            .as_str()
            .unwrap()
            .contains("Engineer dispatched")
    );
    assert!(
        !ws.iter()
            .any(|(_, _, b)| b.to_string().contains("still down after reboot")),
        "customer comment pushed back: {ws:#?}"
    );
    let transitions: Vec<_> = ws
        .iter()
        .filter(|(_, p, _)| p.ends_with("/transitions"))
        .map(|(_, _, b)| b.clone())
        .collect();
    assert_eq!(
        transitions,
        vec![
            json!({"transition": {"id": "4"}}),
            json!({"transition": {"id": "5"}, "fields": {"resolution": {"name": "Done"}}}),
        ],
        "Start Progress, then Resolve Issue with its resolution, once each"
    );
    let edits: Vec<_> = ws.iter().filter(|(m, _, _)| m == "PUT").collect();
    assert_eq!(edits.len(), 1, "{ws:#?}");
    assert_eq!(
        edits[0].2["fields"]["customfield_10051"],
        orange_id.as_str()
    );
    let now = jira::issue(&sim, &id).await;
    assert_eq!(now["fields"]["resolution"]["name"], "Done");

    // The webhooks Jira fires for those writes (by the integration account) are dropped.
    let ours = now["fields"]["comment"]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["jsdPublic"] == false)
        .unwrap()
        .clone();
    let resolve = now["changelog"]["histories"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|h| h["items"][0]["field"] == "status")
        .unwrap()
        .clone();
    let echoes = [
        comment_webhook(&ours),
        json!({"webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_commented",
            "user": ours["author"], "issue": {"id": id, "key": now["key"]}, "comment": ours}),
        json!({"webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
            "user": resolve["author"], "issue": {"id": id, "key": now["key"], "fields": now["fields"]},
            "changelog": {"id": resolve["id"], "items": resolve["items"]}}),
    ];
    for webhook in &echoes {
        let r = post(&app, webhook).await;
        echo::assert_dropped(&app, &r, webhook).await;
    }
    echo::none_reached_orange(&sim, &orange_id).await;
    app.stop().await;
}
