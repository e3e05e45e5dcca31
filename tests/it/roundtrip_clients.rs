//! The ServiceNow and Jira write-back clients over HTTP, against a recording fake ITSM on
//! 127.0.0.1: headers and credentials, the request shapes, error classification and
//! `Retry-After`, transition look-up, and the fingerprints kept for echo suppression.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use itsm_bridge::config::{JiraTarget, OutboundAuth, RateLimit, Secret, ServicenowTarget};
use itsm_bridge::domain::FailureClass;
use itsm_bridge::domain::echo::sn_note_fingerprint;
use itsm_bridge::itsm::jira::JiraClient;
use itsm_bridge::itsm::servicenow::ServicenowClient;
use serde_json::{Value, json};

/// One request the fake ITSM received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Value,
}

type Script = Arc<dyn Fn(&Seen, usize) -> Response + Send + Sync>;

#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
}

async fn record(State(f): State<Fake>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    let n = {
        let mut v = f.seen.lock().unwrap();
        v.push(seen.clone());
        v.len()
    };
    (f.script)(&seen, n)
}

async fn fake_itsm(
    script: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
) -> (url::Url, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().fallback(record).with_state(Fake {
        seen: seen.clone(),
        script: Arc::new(script),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url::Url::parse(&format!("http://{addr}/")).unwrap(), seen)
}

fn json_response(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn rate() -> RateLimit {
    RateLimit {
        per_second: 100,
        burst: 100,
    }
}

fn sn(base: url::Url, auth: OutboundAuth) -> ServicenowClient {
    ServicenowClient::new(
        reqwest::Client::new(),
        ServicenowTarget {
            base_url: base,
            auth,
            integration_user: Some("orange.bridge".into()),
            rate_limit: rate(),
        },
    )
}

fn jira(base: url::Url, version: u8) -> JiraClient {
    JiraClient::new(
        reqwest::Client::new(),
        JiraTarget {
            base_url: base,
            deployment: Default::default(),
            api_version: version,
            auth: OutboundAuth::Bearer {
                token: Secret::new("pat-123"),
            },
            integration_account: Some("svc-bridge".into()),
            rate_limit: rate(),
        },
    )
}

fn fields(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn servicenow_patch_sends_state_close_fields_and_note_in_one_call_with_basic_auth() {
    let (base, seen) =
        fake_itsm(|_, _| json_response(200, json!({"result": {"sys_id": "abc"}}))).await;
    let client = sn(
        base,
        OutboundAuth::Basic {
            username: "orange.bridge".into(),
            password: Secret::new("pw"),
        },
    );
    let f = fields(json!({"state": "6", "close_code": "Solution provided",
        "close_notes": "Line card replaced", "work_notes": "[Orange INC1] done",
        "correlation_id": "INC1", "correlation_display": "Orange Business"}));
    let written = client.patch("incident", "abc", &f).await.unwrap();
    assert_eq!(
        written.echo_fingerprints,
        vec![sn_note_fingerprint("[Orange INC1] done")]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, Method::PATCH);
    assert_eq!(r.path, "/api/now/table/incident/abc");
    assert_eq!(r.headers["accept"], "application/json");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["authorization"], "Basic b3JhbmdlLmJyaWRnZTpwdw==");
    assert_eq!(r.body, Value::Object(f));
}

#[tokio::test]
async fn servicenow_429_is_retryable_after_the_announced_delay_and_403_is_permanent() {
    let (base, _) = fake_itsm(|_, n| {
        if n == 1 {
            let mut r = json_response(
                429,
                json!({"error": {"message": "Rate limit exceeded", "detail": "Rate limit of 100 requests per hour for Table API exceeded"}, "status": "failure"}),
            );
            r.headers_mut().insert("retry-after", "7".parse().unwrap());
            r
        } else {
            json_response(
                403,
                json!({"error": {"message": "Operation Failed", "detail": "Data Policy Exception: Resolution code is mandatory"}, "status": "failure"}),
            )
        }
    })
    .await;
    let client = sn(
        base,
        OutboundAuth::Bearer {
            token: Secret::new("tok"),
        },
    );
    let f = fields(json!({"state": "6"}));
    let e = client.patch("incident", "abc", &f).await.unwrap_err();
    assert_eq!(
        e.class,
        FailureClass::Retryable {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(e.http_status, Some(429));
    assert_eq!(e.code.as_deref(), Some("Rate limit exceeded"));
    let e = client.patch("incident", "abc", &f).await.unwrap_err();
    assert_eq!(e.class, FailureClass::Permanent);
    assert!(e.message.contains("Data Policy Exception"), "{}", e.message);
}

#[tokio::test]
async fn jira_v3_comment_is_sent_as_adf_and_its_id_becomes_the_echo_fingerprint() {
    let (base, seen) =
        fake_itsm(|_, _| json_response(201, json!({"id": "10042", "body": {}}))).await;
    let w = jira(base, 3)
        .comment("PRJ-7", "Line card replaced.\nMonitoring.", true)
        .await
        .unwrap();
    assert_eq!(w.echo_fingerprints, vec!["jira-comment:10042".to_owned()]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].path, "/rest/api/3/issue/PRJ-7/comment");
    assert_eq!(seen[0].headers["authorization"], "Bearer pat-123");
    assert_eq!(seen[0].body["body"]["type"], "doc");
    assert_eq!(
        seen[0].body["body"]["content"][0]["content"][1],
        json!({"type": "hardBreak"})
    );
}

#[tokio::test]
async fn jira_v2_comment_is_wiki_text_and_an_internal_note_goes_through_the_jsm_api() {
    let (base, seen) = fake_itsm(|_, _| json_response(201, json!({"id": 20002}))).await;
    let client = jira(base, 2);
    client.comment("PRJ-7", "public text", true).await.unwrap();
    let w = client
        .comment("PRJ-7", "internal text", false)
        .await
        .unwrap();
    assert_eq!(w.echo_fingerprints, vec!["jira-comment:20002".to_owned()]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].path, "/rest/api/2/issue/PRJ-7/comment");
    assert_eq!(seen[0].body, json!({"body": "public text"}));
    assert_eq!(seen[1].path, "/rest/servicedeskapi/request/PRJ-7/comment");
    assert_eq!(
        seen[1].body,
        json!({"body": "internal text", "public": false})
    );
}

#[tokio::test]
async fn jira_transition_is_looked_up_by_target_status_then_posted() {
    let (base, seen) = fake_itsm(|s, _| {
        if s.method == Method::GET {
            json_response(
                200,
                json!({"transitions": [
                    {"id": "11", "name": "Start Progress", "to": {"name": "In Progress"}},
                    {"id": "31", "name": "Resolve issue", "to": {"name": "Resolved"}}]}),
            )
        } else {
            StatusCode::NO_CONTENT.into_response()
        }
    })
    .await;
    let client = jira(base, 2);
    let resolution = json!({"resolution": {"name": "Done"}});
    client
        .transition("PRJ-7", "resolved", Some(&resolution))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/rest/api/2/issue/PRJ-7/transitions");
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(
        seen[1].body,
        json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}})
    );
}

#[tokio::test]
async fn jira_transition_already_done_is_a_success_and_an_impossible_one_is_permanent() {
    let (base, seen) = fake_itsm(|s, _| {
        if s.path.ends_with("/transitions") {
            json_response(
                200,
                json!({"transitions": [{"id": "41", "name": "Reopen", "to": {"name": "Open"}}]}),
            )
        } else {
            json_response(200, json!({"fields": {"status": {"name": "Resolved"}}}))
        }
    })
    .await;
    let client = jira(base, 2);
    client.transition("PRJ-7", "Resolved", None).await.unwrap();
    assert_eq!(
        seen.lock().unwrap()[1].query.as_deref(),
        Some("fields=status")
    );
    let e = client
        .transition("PRJ-7", "In Progress", None)
        .await
        .unwrap_err();
    assert_eq!(e.class, FailureClass::Permanent);
    assert_eq!(e.code.as_deref(), Some("no_transition"));
}

#[tokio::test]
async fn jira_field_errors_are_read_and_a_503_is_retryable() {
    let (base, _) = fake_itsm(|_, n| {
        if n == 1 {
            json_response(
                400,
                json!({"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}}),
            )
        } else {
            json_response(
                503,
                json!({"errorMessages": ["Service unavailable"], "errors": {}}),
            )
        }
    })
    .await;
    let client = jira(base, 3);
    let e = client.comment("PRJ-7", "x", true).await.unwrap_err();
    assert_eq!(
        (e.class, e.code.as_deref()),
        (FailureClass::Permanent, Some("comment"))
    );
    let e = client.comment("PRJ-7", "x", true).await.unwrap_err();
    assert!(e.retryable());
    assert_eq!(e.http_status, Some(503));
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let e = jira(base, 2).comment("PRJ-7", "x", true).await.unwrap_err();
    assert_eq!(e.class, FailureClass::Retryable { retry_after: None });
}

// ---- against the simulators ----------------------------------------------------------------

fn sandbox_basic() -> OutboundAuth {
    OutboundAuth::Basic {
        username: "sandbox".into(),
        password: Secret::new("sandbox"),
    }
}

#[tokio::test]
async fn servicenow_simulator_refuses_a_resolve_without_close_fields_and_takes_one_with_them() {
    let sim = crate::sim_support::Sim::start().await;
    let created =
        crate::support::servicenow::write(&sim, None, json!({"short_description": "Link down"}))
            .await;
    let sys_id = created["sys_id"].as_str().unwrap().to_owned();
    let base = url::Url::parse(&sim.handle.base_url()).unwrap();
    let client = sn(base, sandbox_basic());

    let e = client
        .patch("incident", &sys_id, &fields(json!({"state": "6"})))
        .await
        .unwrap_err();
    assert_eq!(
        (e.class, e.http_status),
        (FailureClass::Permanent, Some(403))
    );
    assert!(e.message.contains("Data Policy Exception"), "{}", e.message);

    let resolve = fields(json!({"state": "6", "close_code": "Solution provided",
        "close_notes": "Line card replaced", "work_notes": "[Orange INC1] Line card replaced"}));
    let w = client.patch("incident", &sys_id, &resolve).await.unwrap();
    assert_eq!(w.echo_fingerprints.len(), 1);
    let rec = sim
        .itsm_get(&format!("/api/now/table/incident/{sys_id}"))
        .await
        .expect("the ITSM answers");
    assert_eq!(rec["result"]["state"], "6");
    assert_eq!(rec["result"]["close_code"], "Solution provided");
    assert_eq!(rec["result"]["sys_updated_by"], "sandbox");
}

#[tokio::test]
async fn jira_simulator_accepts_an_adf_comment_and_a_transition_found_by_target_status() {
    let sim = crate::sim_support::Sim::start().await;
    sim.control(
        "/_sim/jira/issues",
        json!({"key": "SUP-7", "fields": {"summary": "Link down"}, "status": "Open"}),
    )
    .await;
    let base = url::Url::parse(&sim.handle.base_url()).unwrap();
    let mut client_cfg = JiraTarget {
        base_url: base,
        deployment: Default::default(),
        api_version: 3,
        auth: sandbox_basic(),
        integration_account: None,
        rate_limit: rate(),
    };
    let client = JiraClient::new(reqwest::Client::new(), client_cfg.clone());
    let w = client
        .comment("SUP-7", "Line card replaced.\n\nMonitoring.", true)
        .await
        .unwrap();
    assert!(w.echo_fingerprints[0].starts_with("jira-comment:"));
    client.transition("SUP-7", "resolved", None).await.unwrap();
    // Again: nothing leads to Resolved from Resolved, but the issue is there already.
    client.transition("SUP-7", "Resolved", None).await.unwrap();
    client_cfg.api_version = 2;
    let v2 = JiraClient::new(reqwest::Client::new(), client_cfg);
    v2.comment("SUP-7", "plain wiki text", true).await.unwrap();
    let issue = sim
        .itsm_get("/rest/api/2/issue/SUP-7")
        .await
        .expect("the ITSM answers");
    assert_eq!(issue["fields"]["status"]["name"], "Resolved");
}
