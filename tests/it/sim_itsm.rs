//! Contract of the simulated ServiceNow Table API and Jira REST API.

use axum::routing::post;
use itsm_bridge::sim::{SEED_JIRA_KEY, SEED_SN_SYS_ID};
use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::{Sim, header, status_json};

fn sn_incident() -> String {
    format!("/api/now/table/incident/{SEED_SN_SYS_ID}")
}

#[tokio::test]
async fn servicenow_patch_appends_journal_fields_and_counts_modifications() {
    let sim = Sim::start().await;
    let resp = sim.itsm(Method::PATCH, &sn_incident()).json(&json!({"work_notes": "[Orange 2103M44704] engineer on site", "correlation_id": "2103M44704"})).send().await.unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 200);
    let r = &body["result"];
    assert_eq!(
        (r["work_notes"].as_str(), r["correlation_id"].as_str()),
        (Some(""), Some("2103M44704"))
    );
    assert_eq!(
        (r["sys_mod_count"].as_str(), r["sys_updated_by"].as_str()),
        (Some("1"), Some("sandbox"))
    );
    let q = format!(
        "/api/now/table/sys_journal_field?sysparm_query=element_id={SEED_SN_SYS_ID}^element=work_notes"
    );
    let (_, journal) = status_json(sim.itsm(Method::GET, &q).send().await.unwrap()).await;
    assert_eq!(
        journal["result"][0]["value"],
        "[Orange 2103M44704] engineer on site"
    );
    let q = "/api/now/table/incident?sysparm_query=correlation_id=2103M44704&sysparm_fields=sys_id,number";
    let resp = sim.itsm(Method::GET, q).send().await.unwrap();
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("1"));
    let (_, found) = status_json(resp).await;
    assert_eq!(
        found["result"][0],
        json!({"sys_id": SEED_SN_SYS_ID, "number": "INC0010001"})
    );
}

#[tokio::test]
async fn servicenow_refuses_to_resolve_without_close_code_and_notes() {
    let sim = Sim::start().await;
    let (status, body) = status_json(
        sim.itsm(Method::PATCH, &sn_incident())
            .json(&json!({"state": "6"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["status"], "failure");
    assert!(
        body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("Data Policy Exception")
    );
    let ok = json!({"state": "6", "close_code": "Solution provided", "close_notes": "Line card replaced"});
    let (status, body) = status_json(
        sim.itsm(Method::PATCH, &sn_incident())
            .json(&ok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["state"], "6");
}

#[tokio::test]
async fn servicenow_auth_failures_and_unknown_records_use_servicenow_bodies() {
    let sim = Sim::start().await;
    let (status, body) = status_json(
        sim.http
            .get(sim.url(&sn_incident()))
            .basic_auth("sandbox", Some("bad"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (401, Some("User Not Authenticated"))
    );
    let resp = sim
        .http
        .get(sim.url(&sn_incident()))
        .bearer_auth("sandbox-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = status_json(
        sim.itsm(Method::GET, "/api/now/table/incident/0000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some("No Record found"))
    );
}

#[tokio::test]
async fn servicenow_changes_fire_the_configured_webhook() {
    let sim = Sim::start().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.control("/_sim/servicenow/webhook", json!({"url": hook}))
        .await;
    let created = sim
        .itsm(Method::POST, "/api/now/table/incident")
        .json(&json!({"short_description": "VPN down", "cmdb_ci": "PARIS-RTR-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["record"]["short_description"], "VPN down");
    assert_eq!(got["record"]["sys_updated_by"], "sandbox");
}

#[tokio::test]
async fn jira_v3_rejects_a_plain_string_comment_and_accepts_adf() {
    let sim = Sim::start().await;
    let path = format!("/rest/api/3/issue/{SEED_JIRA_KEY}/comment");
    let (status, body) = status_json(
        sim.itsm(Method::POST, &path)
            .json(&json!({"body": "plain"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"]["comment"], "Comment body is not valid!");
    let adf = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "from Orange"}]}]});
    let (status, c) = status_json(
        sim.itsm(Method::POST, &path)
            .json(&json!({"body": adf}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert!(c["id"].is_string());
    let (status, _) = status_json(
        sim.itsm(
            Method::POST,
            &format!("/rest/api/2/issue/{SEED_JIRA_KEY}/comment"),
        )
        .json(&json!({"body": "wiki *text*"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let (_, issue) = status_json(
        sim.itsm(Method::GET, &format!("/rest/api/2/issue/{SEED_JIRA_KEY}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(issue["fields"]["comment"]["total"], 2);
    assert_eq!(
        issue["fields"]["comment"]["comments"][0]["body"],
        "from Orange"
    );
}

#[tokio::test]
async fn jira_transitions_only_available_ones_by_id() {
    let sim = Sim::start().await;
    let path = format!("/rest/api/2/issue/{SEED_JIRA_KEY}/transitions");
    let (_, list) = status_json(sim.itsm(Method::GET, &path).send().await.unwrap()).await;
    let ids: Vec<&str> = list["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["11", "31"]);
    let resp = sim
        .itsm(Method::POST, &path)
        .json(&json!({"transition": {"id": "41"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = sim
        .itsm(Method::POST, &path)
        .json(&json!({"transition": {"id": "31"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (_, issue) = status_json(
        sim.itsm(Method::GET, &format!("/rest/api/3/issue/{SEED_JIRA_KEY}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(issue["fields"]["status"]["name"], "Done");
    assert_eq!(issue["fields"]["description"]["type"], "doc");
}

#[tokio::test]
async fn jira_edit_returns_204_and_v3_requires_adf_descriptions() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/jira/issues",
        json!({"key": "OPS-9", "fields": {"summary": "seeded"}, "status": "In Progress"}),
    )
    .await;
    let resp = sim
        .http
        .put(sim.url("/rest/api/2/issue/OPS-9"))
        .bearer_auth("sandbox-token")
        .json(&json!({"fields": {"summary": "renamed"}, "update": {"labels": [{"add": "orange"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (status, body) = status_json(
        sim.itsm(Method::PUT, "/rest/api/3/issue/OPS-9")
            .json(&json!({"fields": {"description": "plain"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["errors"]["description"].is_string());
    let (_, issue) = status_json(
        sim.itsm(Method::GET, "/rest/api/2/issue/OPS-9")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            issue["fields"]["summary"].as_str(),
            issue["fields"]["labels"][0].as_str()
        ),
        (Some("renamed"), Some("orange"))
    );
    assert_eq!(issue["fields"]["status"]["name"], "In Progress");
    let (status, _) = status_json(
        sim.http
            .get(sim.url("/rest/api/2/issue/OPS-9"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = status_json(
        sim.itsm(Method::GET, "/rest/api/2/issue/NOPE-1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["errorMessages"][0].is_string());
}
