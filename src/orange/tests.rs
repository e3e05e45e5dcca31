//! The Orange client against a tiny axum stub on 127.0.0.1:0: token caching and refresh,
//! headers, classification of statuses, bodies and dropped connections, lookups, attachments.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

use super::*;
use crate::config::Config;
use crate::domain::{
    FailureClass, Lookup, OrangeApi, OrangeCall, OrangeOp, TenantId, UNKNOWN_TENANT_HOLD,
};
use crate::worker::OrangeGateway;

/// A scripted answer: status, extra headers, body.
type Scripted = (u16, Vec<(&'static str, &'static str)>, String);

#[derive(Default)]
struct Stub {
    token_hits: AtomicUsize,
    api_hits: AtomicUsize,
    /// Answers given before the default one, in order.
    script: Mutex<VecDeque<Scripted>>,
    /// (method, path+query, headers, body) of every API call.
    seen: Mutex<Vec<(String, String, HeaderMap, Bytes)>>,
}

async fn token(State(s): State<Arc<Stub>>, headers: HeaderMap, body: String) -> Response {
    let n = s.token_hits.fetch_add(1, Ordering::SeqCst) + 1;
    let basic_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "Basic c2FuZGJveDpzYW5kYm94LXNlY3JldA==");
    if !basic_ok || body != "grant_type=client_credentials" || headers.get("accept").is_none() {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#).into_response();
    }
    axum::Json(json!({"token_type":"Bearer","access_token":format!("tok-{n}"),"expires_in":3600}))
        .into_response()
}

async fn api(State(s): State<Arc<Stub>>, req: Request) -> Response {
    s.api_hits.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    s.seen.lock().unwrap().push((
        parts.method.to_string(),
        pq.clone(),
        parts.headers.clone(),
        body,
    ));
    if let Some((status, headers, body)) = s.script.lock().unwrap().pop_front() {
        let mut r = (StatusCode::from_u16(status).unwrap(), body).into_response();
        for (k, v) in headers {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        return r;
    }
    let path = parts.uri.path();
    if path.ends_with("/attachments/file.txt") {
        return "hello attachment".into_response();
    }
    if path.starts_with("/core-information") {
        return axum::Json(json!([{"id": "SP-9", "name": "PARIS-RTR-01"}])).into_response();
    }
    if parts.method == "GET" && path.ends_with("/incidents") {
        let mut r = axum::Json(json!([{"id": "INC-7"}])).into_response();
        r.headers_mut()
            .insert("x-total-count", "31".parse().unwrap());
        r.headers_mut()
            .insert("x-result-count", "1".parse().unwrap());
        return r;
    }
    if path.ends_with("/troubleTickets") && parts.method == "POST" {
        return axum::Json(json!({"ticketId": {"id": "TT-1"}})).into_response();
    }
    (StatusCode::CREATED, axum::Json(json!({"id": "INC-1"}))).into_response()
}

async fn start() -> (Arc<Stub>, url::Url) {
    let stub = Arc::new(Stub::default());
    let app = Router::new()
        .route("/oauth/v3/token", post(token))
        .fallback(any(api))
        .with_state(stub.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (stub, url::Url::parse(&format!("http://{addr}")).unwrap())
}

fn clients_of(c: &Config) -> OrangeClients {
    OrangeClients::new(&c.orange, c.delivery.max_attachment_bytes, &c.tenants).unwrap()
}

fn client(base: &url::Url, tweak: impl FnOnce(&mut Config)) -> Arc<OrangeClient> {
    let mut c = Config::embedded_default();
    c.point_at_simulator(base);
    c.tenants[0].accept_language = Some("fr".into());
    c.tenants[0].orange.rate_limit.per_second = 10_000;
    c.tenants[0].orange.rate_limit.burst = 100;
    c.orange.timeout_ms = 2_000;
    tweak(&mut c);
    let t = TenantId::parse("demo").unwrap();
    clients_of(&c).get(&t).unwrap()
}

fn create() -> OrangeCall {
    OrangeCall {
        op: OrangeOp::CreateIncident,
        body: json!({"shortDescription": "router down"}),
        external_ref: Some("INC0010001".into()),
        lookups: vec![],
    }
}

/// The stub and a client of it, as most tests begin.
async fn started() -> (Arc<Stub>, url::Url, Arc<OrangeClient>) {
    let (stub, base) = start().await;
    let c = client(&base, |_| {});
    (stub, base, c)
}

/// Scripts one answer without extra headers.
fn answer(s: &Stub, status: u16, body: &str) {
    push(s, status, vec![], body);
}

fn push(s: &Stub, status: u16, headers: Vec<(&'static str, &'static str)>, body: &str) {
    s.script
        .lock()
        .unwrap()
        .push_back((status, headers, body.to_owned()));
}

#[tokio::test]
async fn token_endpoint_is_hit_once_for_many_concurrent_calls() {
    let (stub, _, c) = started().await;
    let calls = (0..20).map(|_| {
        let c = c.clone();
        async move { c.execute(&create(), None).await }
    });
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.unwrap().created_id.as_deref(), Some("INC-1"));
    }
    assert_eq!(stub.token_hits.load(Ordering::SeqCst), 1);
    let seen = stub.seen.lock().unwrap();
    assert_eq!(seen.len(), 20);
    let (m, p, h, _) = &seen[0];
    assert_eq!(
        (m.as_str(), p.as_str()),
        ("POST", "/incident/b2b/v1/incidents")
    );
    assert_eq!(h["authorization"], "Bearer tok-1");
    assert_eq!(h["x-api-key"], "sandbox-api-key");
    assert_eq!(h["accept"], "application/json");
    assert_eq!(h["accept-language"], "fr");
    assert_eq!(h["x-application-id"], "sandbox-app");
}

#[tokio::test]
async fn expired_token_code_42_refreshes_once_and_retries_once() {
    let (stub, _, c) = started().await;
    answer(&stub, 401, r#"{"code":42,"message":"Expired credentials"}"#);
    let r = c.execute(&create(), None).await.unwrap();
    assert_eq!(r.created_id.as_deref(), Some("INC-1"));
    assert_eq!(stub.token_hits.load(Ordering::SeqCst), 2);
    assert_eq!(stub.api_hits.load(Ordering::SeqCst), 2);
    assert_eq!(
        stub.seen.lock().unwrap()[1].2["authorization"],
        "Bearer tok-2"
    );

    // Twice in a row: the second 401 is the caller's failure, not a loop.
    answer(&stub, 401, r#"{"code":42,"message":"Expired credentials"}"#);
    answer(&stub, 401, r#"{"code":42,"message":"Expired credentials"}"#);
    let f = c.execute(&create(), None).await.unwrap_err();
    assert_eq!((f.http_status, f.code.as_deref()), (Some(401), Some("42")));
    assert_eq!(f.class, FailureClass::Permanent);
    assert_eq!(stub.token_hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_503_is_retryable_and_the_next_call_succeeds() {
    let (stub, _, c) = started().await;
    answer(&stub, 503, r#"{"code":5,"message":"Service unavailable"}"#);
    let f = c.execute(&create(), None).await.unwrap_err();
    assert!(matches!(
        f.class,
        FailureClass::Retryable { retry_after: None }
    ));
    assert_eq!((f.http_status, f.code.as_deref()), (Some(503), Some("5")));
    assert!(c.execute(&create(), None).await.is_ok());
}

#[tokio::test]
async fn a_429_carries_its_retry_after() {
    let (stub, _, c) = started().await;
    push(
        &stub,
        429,
        vec![("retry-after", "1")],
        r#"{"code":53,"message":"Too many requests"}"#,
    );
    let f = c.execute(&create(), None).await.unwrap_err();
    assert_eq!(
        f.class,
        FailureClass::Retryable {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert_eq!(f.code.as_deref(), Some("53"));
    // The credential is paused, then calls go through again.
    assert!(c.execute(&create(), None).await.is_ok());
}

#[tokio::test]
async fn error_bodies_as_object_or_array_give_the_operator_code_and_message() {
    let (stub, _, c) = started().await;
    answer(
        &stub,
        400,
        r#"{"code":24,"message":"Invalid body field","description":"urgency"}"#,
    );
    answer(
        &stub,
        400,
        r#"[{"code":24,"message":"Invalid body field","description":"urgency"}]"#,
    );
    for _ in 0..2 {
        let f = c.execute(&create(), None).await.unwrap_err();
        assert_eq!(f.class, FailureClass::Permanent);
        assert_eq!(f.code.as_deref(), Some("24"));
        assert_eq!(
            f.message,
            "Orange answered 400 Bad Request: Invalid body field: urgency"
        );
    }
}

#[tokio::test]
async fn refused_connection_is_retryable_and_dropped_after_sending_is_unknown() {
    // Nothing listens: the request was never sent.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", dead.local_addr().unwrap())).unwrap();
    drop(dead);
    let c = client(&base, |_| {});
    let f = c.execute(&create(), None).await.unwrap_err();
    assert!(matches!(f.class, FailureClass::Retryable { .. }), "{f:?}");

    // A server that answers the token, then reads the API request and hangs up.
    let (_stub, base) = start().await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let drop_base = url::Url::parse(&format!("http://{}", l.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            drop(s);
        }
    });
    let c = client(&base, |_| {});
    // Tokens from the stub, API calls to the dropper (same credential, other base URL).
    let cred = c.cred.clone();
    let dropping = OrangeClient {
        cred,
        base: drop_base,
        paths: c.paths.clone(),
        language: None,
        lookups: lookup::LookupCache::new(Duration::ZERO),
        attachments: attachment::AttachmentSource {
            http: reqwest::Client::new(),
            itsm: Default::default(),
            max_bytes: 10,
        },
        inferred: Default::default(),
    };
    let f = dropping.execute(&create(), None).await.unwrap_err();
    assert_eq!(f.class, FailureClass::Unknown, "{f:?}");
}

#[tokio::test]
async fn lists_carry_filters_sort_paging_and_count_headers() {
    let (stub, _, c) = started().await;
    let f = [("priority".to_owned(), "P1".to_owned())];
    let page = c
        .list_incidents(&browse::PageQuery {
            filters: &f,
            sort: Some("-createdAt"),
            offset: Some(10),
            limit: Some(20),
        })
        .await
        .unwrap();
    assert_eq!(page.items, vec![json!({"id": "INC-7"})]);
    assert_eq!((page.total, page.result_count), (Some(31), Some(1)));
    assert_eq!(
        stub.seen.lock().unwrap()[0].1,
        "/incident/b2b/v1/incidents?priority=P1&sort=-createdAt&offset=10&limit=20"
    );
}

#[tokio::test]
async fn a_reference_lookup_trusts_only_an_object_carrying_the_reference_itself() {
    let (stub, _, c) = started().await;
    // The stub ignores the filter: the first listed incident is a stranger's.
    let id = c
        .find_by_external_ref(OrangeApi::Incident, "INC0010001")
        .await
        .unwrap();
    assert_eq!(id, None, "an item without the reference is not ours");
    assert!(
        stub.seen.lock().unwrap()[0]
            .1
            .contains("externalReference=INC0010001")
    );
    answer(
        &stub,
        200,
        r#"[{"id": "INC-7", "externalReference": "INC0099999"},
            {"id": "INC-8", "externalReference": "INC0010001"}]"#,
    );
    let id = c
        .find_by_external_ref(OrangeApi::Incident, "INC0010001")
        .await
        .unwrap();
    assert_eq!(id.as_deref(), Some("INC-8"));
}

#[tokio::test]
async fn lookups_are_resolved_into_the_body_and_cached() {
    let (stub, _, c) = started().await;
    let mut call = create();
    call.lookups = vec![Lookup {
        target: "/servicePoint/id".into(),
        collection: "servicePoints".into(),
        filters: vec![("name".into(), "PARIS-RTR-01".into())],
        field: "id".into(),
        default: None,
    }];
    c.execute(&call, None).await.unwrap();
    c.execute(&call, None).await.unwrap();
    let seen = stub.seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "one lookup, two creates");
    assert_eq!(
        seen[0].1,
        "/core-information/b2b/v2/servicePoints?name=PARIS-RTR-01&limit=20"
    );
    let body: Value = serde_json::from_slice(&seen[1].3).unwrap();
    assert_eq!(body["servicePoint"]["id"], "SP-9");
}

#[tokio::test]
async fn attachments_are_downloaded_with_itsm_credentials_and_uploaded_with_a_size_limit() {
    let (stub, base, c) = started().await;
    let call = |url: String| OrangeCall {
        op: OrangeOp::UploadIncidentAttachment {
            url,
            filename: "file.txt".into(),
            content_type: Some("text/plain".into()),
        },
        body: json!({}),
        external_ref: None,
        lookups: vec![],
    };
    let url = format!("{base}api/now/attachment/1/attachments/file.txt");
    c.execute(&call(url.clone()), Some("INC-1")).await.unwrap();
    {
        let seen = stub.seen.lock().unwrap();
        assert_eq!(seen[0].2["authorization"], "Basic c2FuZGJveDpzYW5kYm94");
        assert_eq!(seen[1].1, "/incident/b2b/v1/incidents/INC-1/attachments");
        let body = String::from_utf8_lossy(&seen[1].3);
        assert!(body.contains("filename=\"file.txt\"") && body.contains("hello attachment"));
    }
    let small = client(&base, |c| c.delivery.max_attachment_bytes = 4);
    let f = small.execute(&call(url), Some("INC-1")).await.unwrap_err();
    assert_eq!(f.class, FailureClass::Permanent);
    let f = c
        .execute(&call("http://example.invalid/x".into()), Some("INC-1"))
        .await
        .unwrap_err();
    assert_eq!(
        f.class,
        FailureClass::Permanent,
        "credentials only go to the ITSM"
    );
}

#[tokio::test]
async fn wholesale_creates_read_the_ticket_id_envelope() {
    let (_stub, _, c) = started().await;
    let call = OrangeCall {
        op: OrangeOp::CreateTroubleTicket,
        body: json!({"description": "x", "externalId": "INC1"}),
        external_ref: Some("INC1".into()),
        lookups: vec![],
    };
    let r = c.execute(&call, None).await.unwrap();
    assert_eq!(r.created_id.as_deref(), Some("TT-1"));
}

#[tokio::test]
async fn a_reload_keeps_an_unchanged_credentials_token_and_drops_a_changed_ones() {
    let (stub, base) = start().await;
    let mut c = Config::embedded_default();
    c.point_at_simulator(&base);
    let clients = clients_of(&c);
    let t = TenantId::parse("demo").unwrap();
    clients.deliver(&t, &create(), None, None).await.unwrap();
    assert_eq!(stub.token_hits.load(Ordering::SeqCst), 1);

    // A reload that changes nothing of the credential keeps its cached token.
    c.tenants[0].accept_language = Some("fr".into());
    clients.update(&c.tenants).unwrap();
    clients.deliver(&t, &create(), None, None).await.unwrap();
    assert_eq!(stub.token_hits.load(Ordering::SeqCst), 1);

    // A rotated client secret is a new credential: its first call asks for a token with the
    // new secret (which the stub, knowing only the old one, refuses).
    c.tenants[0].orange.client_secret = crate::config::Secret::new("rotated-client-secret");
    clients.update(&c.tenants).unwrap();
    let refused = clients
        .deliver(&t, &create(), None, None)
        .await
        .unwrap_err();
    assert_eq!(refused.code.as_deref(), Some("invalid_client"));
    assert_eq!(stub.token_hits.load(Ordering::SeqCst), 2);

    // A removed tenant's deliveries are held, not failed.
    c.tenants.clear();
    clients.update(&c.tenants).unwrap();
    assert!(clients.get(&t).is_none());
    assert_eq!(clients.admit(&t, Duration::ZERO), Err(UNKNOWN_TENANT_HOLD));
}

mod deliver;
