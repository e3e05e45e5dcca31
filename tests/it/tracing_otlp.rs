//! Traces over OTLP/HTTP: a test collector (a small OTLP/HTTP JSON receiver) gets the spans of
//! one webhook (request, authentication, intake with mapping and commit) and of its delivery
//! (the attempt, linked to the webhook's span, and its Orange call), and the simulated Orange
//! and ServiceNow saw their calls' W3C `traceparent`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use serde_json::Value;

use crate::support::sandbox::Sandbox;

/// Spans received, flattened out of their resource and scope.
type Spans = Arc<Mutex<Vec<Value>>>;

async fn collector() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |Json(body): Json<Value>| {
            let kept = kept.clone();
            async move {
                for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                    assert_eq!(rs["resource"]["attributes"][0]["key"], "service.name");
                    for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                        kept.lock()
                            .unwrap()
                            .extend(ss["spans"].as_array().cloned().unwrap_or_default());
                    }
                }
                Json(serde_json::json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]["stringValue"]
        .as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_and_its_delivery_are_traced_linked_and_orange_sees_the_traceparent() {
    let (endpoint, spans) = collector().await;
    let s = Sandbox::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;
    let r = s.post_servicenow_insert().await;
    assert_eq!(r.status(), 202);

    // The incident reaches the simulated Orange with a traceparent.
    let mut seen = None;
    for _ in 0..150 {
        let created = s.journal("POST", "/incident/b2b/v1/incidents").await;
        seen = created
            .iter()
            .find(|e| e["status"] == 201)
            .and_then(|e| e["headers"]["traceparent"].as_str().map(str::to_owned));
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = seen.expect("Orange received the create with a traceparent");

    // The spans arrive (batches leave every half second).
    let find = |name: &str| -> Vec<Value> {
        spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == name)
            .cloned()
            .collect()
    };
    let mut call = None;
    for _ in 0..100 {
        call = find("orange.call").into_iter().find(|c| {
            let tp = format!(
                "00-{}-{}-01",
                c["traceId"].as_str().unwrap(),
                c["spanId"].as_str().unwrap()
            );
            tp == sent
        });
        if call.is_some() && !find("webhook.intake").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = call.unwrap_or_else(|| {
        panic!(
            "no orange.call span matches {sent}: {:#?}",
            spans.lock().unwrap()
        )
    });

    // The webhook: one trace through authentication, mapping and commit.
    let request = find("request")
        .into_iter()
        .find(|r| attr(r, "path") == Some("/webhooks/demo/servicenow"))
        .expect("the webhook's request span");
    assert_eq!(request["kind"], 2, "the request span serves");
    let trace = request["traceId"].as_str().unwrap();
    let in_trace = |name: &str| find(name).into_iter().find(|s| s["traceId"] == trace);
    for step in [
        "webhook.authenticate",
        "webhook.intake",
        "intake.map",
        "intake.commit",
    ] {
        assert!(
            in_trace(step).is_some(),
            "{step} is not in the webhook's trace"
        );
    }
    assert_eq!(
        in_trace("webhook.intake").unwrap()["parentSpanId"],
        request["spanId"]
    );

    // The delivery attempt: its own trace, linked to the webhook, parent of the Orange call.
    let attempt = find("delivery.attempt")
        .into_iter()
        .find(|a| a["spanId"] == call["parentSpanId"])
        .expect("the Orange call's parent is a delivery attempt");
    assert_eq!(attempt["traceId"], call["traceId"]);
    assert_eq!(call["kind"], 3, "the Orange call is a client span");
    assert_eq!(attr(&call, "orange.api"), Some("incident"));
    let links = attempt["links"].as_array().expect("links");
    assert!(
        links
            .iter()
            .any(|l| l["traceId"] == trace && l["spanId"] == request["spanId"]),
        "the attempt links to the webhook's span: {attempt:#}"
    );

    // The write-back of the Orange id to ServiceNow carries its itsm.call span's context too.
    let mut written = None;
    for _ in 0..100 {
        let patches = s.journal("PATCH", "/api/now/table/incident").await;
        let sent: Vec<String> = patches
            .iter()
            .filter_map(|e| e["headers"]["traceparent"].as_str().map(str::to_owned))
            .collect();
        written = find("itsm.call").into_iter().find(|c| {
            let tp = format!(
                "00-{}-{}-01",
                c["traceId"].as_str().unwrap(),
                c["spanId"].as_str().unwrap()
            );
            sent.contains(&tp)
        });
        if written.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let written = written.expect("an itsm.call span whose traceparent ServiceNow received");
    assert_eq!(attr(&written, "itsm"), Some("ServiceNow"));
    assert!(
        find("delivery.attempt")
            .iter()
            .any(|a| a["spanId"] == written["parentSpanId"]),
        "the ITSM call is a delivery attempt's child"
    );
}
