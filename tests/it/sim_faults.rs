//! Fault injection and the journal: faults before the request takes effect, faults after it
//! ("create applied, response lost"), dropped connections, timeouts, random rates, and the
//! journal that lets tests count creates and prove order.

use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::{Sim, header, send, status_json};

const INCIDENTS: &str = "/incident/b2b/v1/incidents";

async fn count_incidents(sim: &Sim) -> usize {
    let resp = sim.orange_response(INCIDENTS).await;
    header(&resp, "x-total-count").unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_fault_before_the_request_leaves_nothing_behind() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/faults/next",
        json!({"kind": "too_many_requests", "method": "POST", "path_prefix": INCIDENTS}),
    )
    .await;
    let resp = send(
        sim.orange(Method::POST, INCIDENTS)
            .json(&json!({"shortDescription": "x"})),
    )
    .await;
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("1"));
    let (status, err) = status_json(resp).await;
    assert_eq!((status, err["code"].as_u64()), (429, Some(53)));
    assert_eq!(count_incidents(&sim).await, 0);
}

#[tokio::test]
async fn a_dropped_connection_after_the_create_loses_the_response_but_keeps_the_incident() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/faults/next",
        json!({"kind": "drop", "phase": "after", "method": "POST", "path_prefix": INCIDENTS}),
    )
    .await;
    let sent = sim
        .orange(Method::POST, INCIDENTS)
        .json(&json!({"shortDescription": "x", "externalReference": "INC7"}))
        .send()
        .await;
    let lost = match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(lost, "the client must not get a response");
    let (_, found) = sim
        .orange_read(&format!("{INCIDENTS}?externalReference=INC7"))
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let creates = sim
        .handle
        .journal(0)
        .into_iter()
        .filter(|e| e.method == "POST" && e.path == INCIDENTS)
        .collect::<Vec<_>>();
    assert_eq!(creates.len(), 1);
    assert_eq!(
        (creates[0].status, creates[0].fault.as_deref()),
        (0, Some("drop:after"))
    );
}

#[tokio::test]
async fn a_timeout_fault_answers_504_after_holding_the_request() {
    let sim = Sim::tuned(|o| o.timeout_ms = 50).await;
    sim.control(
        "/_sim/faults/next",
        json!({"kind": "timeout", "phase": "after", "path_prefix": INCIDENTS}),
    )
    .await;
    let (status, err) = sim
        .orange_send(Method::POST, INCIDENTS, &json!({"shortDescription": "x"}))
        .await;
    assert_eq!((status, err["code"].as_u64()), (504, Some(6)));
    assert_eq!(count_incidents(&sim).await, 1);
}

#[tokio::test]
async fn a_full_fault_rate_set_at_runtime_hits_every_call_until_cleared() {
    let sim = Sim::start().await;
    let f = sim
        .control(
            "/_sim/faults",
            json!({"rate": 1.0, "kinds": ["server_error", "unavailable"]}),
        )
        .await;
    assert_eq!(f["rate"], 1.0);
    for _ in 0..5 {
        let (status, err) = sim.orange_read(INCIDENTS).await;
        assert!(
            matches!(
                (status, err["code"].as_u64()),
                (500, Some(1)) | (503, Some(5))
            ),
            "{status} {err}"
        );
    }
    sim.control("/_sim/faults", json!({"rate": 0.0})).await;
    assert_eq!(sim.orange_response(INCIDENTS).await.status(), 200);
}

#[tokio::test]
async fn servicenow_faults_use_servicenow_error_bodies() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/faults/next",
        json!({"kind": "too_many_requests", "path_prefix": "/api/now"}),
    )
    .await;
    let resp = send(sim.itsm(Method::GET, "/api/now/table/incident")).await;
    assert!(header(&resp, "retry-after").is_some());
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 429);
    assert_eq!(body["status"], "failure");
}

#[tokio::test]
async fn the_journal_keeps_calls_in_order_without_secrets() {
    let sim = Sim::start().await;
    let inc = sim.new_incident("x").await;
    let id = inc["id"].as_str().unwrap();
    for text in ["first", "second", "third"] {
        let notes = format!("{INCIDENTS}/{id}/notes");
        sim.orange_send(Method::POST, &notes, &json!({"text": text}))
            .await;
    }
    let url = sim.url(&format!(
        "/_sim/journal?method=POST&path_prefix={INCIDENTS}/{id}/notes"
    ));
    let entries = send(sim.http.get(url)).await.json::<Vec<Value>>().await;
    let entries = entries.expect("a JSON journal");
    let texts: Vec<String> = entries
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e["body"].as_str().unwrap()).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["first", "second", "third"]);
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64())
    );
    for e in &entries {
        assert_eq!(e["status"], 201);
        assert!(
            e["headers"].get("authorization").is_none() && e["headers"].get("x-api-key").is_none()
        );
    }
    // Token requests are journaled too, without the Basic credentials.
    let token_calls = sim
        .handle
        .journal(0)
        .into_iter()
        .filter(|e| e.path == "/oauth/v3/token")
        .count();
    assert_eq!(token_calls, 1);
    sim.control("/_sim/reset", json!({})).await;
    assert!(sim.handle.journal(0).is_empty());
}
