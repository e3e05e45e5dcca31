//! Raw TCP against the gateway's server: the limits a well-behaved HTTP client never meets
//! (slow and idle connections, the connection cap, slow bodies, bodies held back by the
//! memory budget), and that every refusal, hyper's own included, is problem+json.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::support::*;

/// A response read off a socket.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem+json answer with `status` and `code`; returns the problem.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let p: Value = serde_json::from_slice(&self.body).expect("a JSON problem");
        assert_eq!(p["status"], status);
        assert_eq!(p["code"], code, "{p}");
        assert_eq!(
            p["type"],
            format!("https://itsm-bridge.dev/problems/{code}")
        );
        p
    }
}

/// Reads one response (head, then `content-length` bytes) within 10 s.
pub async fn read_response(s: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            while buf.len() < end + 4 + len {
                let n = timeout(deadline - Instant::now(), s.read(&mut chunk))
                    .await
                    .expect("body in time")
                    .expect("read");
                assert!(n > 0, "closed inside a body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return Raw {
                status,
                headers,
                body: buf[end + 4..end + 4 + len].to_vec(),
            };
        }
        let n = timeout(deadline - Instant::now(), s.read(&mut chunk))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(
            n > 0,
            "closed without a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `request` on a new connection and reads the answer.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    read_response(&mut s).await
}

/// Waits until the peer closes `s` (EOF or reset), at most `within`; true if it did.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 1024];
    let until = Instant::now() + within;
    loop {
        match timeout(
            until.saturating_duration_since(Instant::now()),
            s.read(&mut b),
        )
        .await
        {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// The app with `settings` (YAML flow entries) as its `server` section.
async fn app_with_server(settings: &str) -> TestApp {
    TestApp::spawn_with(&format!("server: {{ {settings} }}")).await
}

/// A new connection to `app`.
async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addr).await.expect("connects")
}

const GET_HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n";

#[tokio::test]
async fn a_connection_that_sends_its_head_too_slowly_or_not_at_all_is_closed() {
    let app = app_with_server("header_read_timeout_secs: 1").await;
    // Silent from the start.
    let mut silent = connect(&app).await;
    // A head trickled a byte every 200 ms (bounded: 60 bytes, 12 s).
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let trickle = tokio::spawn(async move {
        for b in b"x-slow-header: ".iter().cycle().take(60) {
            if writer.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    let mut b = [0u8; 64];
    let closed = timeout(Duration::from_secs(3), reader.read(&mut b)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "the slow head was not cut: {closed:?}"
    );
    trickle.abort();
    app.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_outlives_the_head_timeout_and_closes_when_idle() {
    let app = app_with_server("header_read_timeout_secs: 1, idle_timeout_secs: 3").await;
    let mut s = connect(&app).await;
    s.write_all(GET_HEALTH).await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);
    // Idle for longer than the head timeout: still served.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.write_all(GET_HEALTH).await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);
    assert!(closed_within(&mut s, Duration::from_secs(9)).await);
    app.stop().await;
}

#[tokio::test]
async fn a_slow_body_is_answered_408_problem_json() {
    let app = app_with_server("body_read_timeout_secs: 1").await;
    let mut s = connect(&app).await;
    let sig = itsm_bridge::http::auth::hub_signature(ACME_JIRA_SECRET, b"{}");
    let head = format!(
        "POST /webhooks/acme/jira HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n\
         x-hub-signature: {sig}\r\ncontent-length: 100\r\n\r\n{{\"webhookEvent\""
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let r = timeout(Duration::from_secs(3), read_response(&mut s))
        .await
        .expect("408 within 3x the body timeout");
    r.problem(408, "request-timeout");
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app =
        app_with_server("max_connections: 2, header_read_timeout_secs: 30, idle_timeout_secs: 30")
            .await;
    let mut a = connect(&app).await;
    let mut b = connect(&app).await;
    for s in [&mut a, &mut b] {
        s.write_all(GET_HEALTH).await.unwrap();
        assert_eq!(read_response(s).await.status, 200);
    }
    // The third connection is left in the listen backlog: no answer while two are open.
    let mut c = connect(&app).await;
    c.write_all(GET_HEALTH).await.unwrap();
    let mut byte = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(700), c.read(&mut byte))
            .await
            .is_err(),
        "served over the cap"
    );
    drop(a);
    assert_eq!(read_response(&mut c).await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_whose_headers_cannot_authenticate_is_refused_before_its_body() {
    let app = TestApp::spawn().await;
    // 200 KB announced, none sent: the answer cannot wait for the body.
    for auth in ["", "x-hub-signature: sha256=zz\r\n"] {
        let req = format!(
            "POST /webhooks/acme/jira HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n\
             {auth}content-length: 200000\r\n\r\n"
        );
        exchange(app.addr, req.as_bytes())
            .await
            .problem(401, "unauthorized");
    }
    app.stop().await;
}

/// A signed Jira webhook padded to about `size` bytes.
fn big_jira(size: usize) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture("jira/cloud-issue-created.json")).unwrap();
    v["issue"]["fields"]["description"] = Value::String("x".repeat(size));
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn a_body_waits_for_the_memory_other_bodies_hold() {
    let app = app_with_server("max_body_bytes_in_flight: 262144, body_read_timeout_secs: 2").await;
    // A announces 200 KB and stalls: it holds most of the 256 KB budget until its 408.
    let mut a = connect(&app).await;
    let sig = itsm_bridge::http::auth::hub_signature(ACME_JIRA_SECRET, b"{}");
    a.write_all(
        format!(
            "POST /webhooks/acme/jira HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n\
             x-hub-signature: {sig}\r\ncontent-length: 200000\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // B, a real 150 KB webhook, needs more than is left: it is read once A is refused.
    let body = big_jira(150_000);
    let sig = itsm_bridge::http::auth::hub_signature(ACME_JIRA_SECRET, &body);
    let b = tokio::spawn({
        let addr = app.addr;
        async move {
            let mut req = format!(
                "POST /webhooks/acme/jira HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n\
                 x-hub-signature: {sig}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(&body);
            let r = exchange(addr, &req).await;
            (r, Instant::now())
        }
    });
    let ra = read_response(&mut a).await;
    let a_done = Instant::now();
    ra.problem(408, "request-timeout");
    let (rb, b_done) = b.await.unwrap();
    assert_eq!(rb.status, 202, "{:?}", String::from_utf8_lossy(&rb.body));
    assert!(b_done >= a_done, "B was read while A held the budget");
    app.stop().await;
}

#[tokio::test]
async fn every_refusal_of_the_router_and_of_hyper_is_problem_json() {
    let app = TestApp::spawn().await;
    // 500 headers (over hyper's 100), and a 100 KB path (over the 64 KB a URI may have).
    let mut many = b"GET /healthz HTTP/1.1\r\nhost: gw\r\n".to_vec();
    for i in 0..500 {
        many.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let long = format!(
        "GET /{} HTTP/1.1\r\nhost: gw\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let sig = itsm_bridge::http::auth::hub_signature(ACME_JIRA_SECRET, b"{}");
    let too_big = format!(
        "POST /webhooks/acme/jira HTTP/1.1\r\nhost: gw\r\nx-hub-signature: {sig}\r\n\
         content-length: 999999999\r\n\r\n"
    );
    let refusals: [(&[u8], u16, &str); 10] = [
        // An undecodable path (the router's Path rejection).
        (
            b"POST /webhooks/%FF/jira HTTP/1.1\r\nhost: gw\r\ncontent-length: 0\r\n\r\n",
            400,
            "bad-request",
        ),
        (
            b"GET /admin/v1/events/%FF HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer test-admin-token\r\n\r\n",
            400,
            "bad-request",
        ),
        // A raw 0xFF byte in the request line (hyper's parser).
        (b"GET /\xFF HTTP/1.1\r\nhost: gw\r\n\r\n", 400, "bad-request"),
        (b"\xFF\xFF\xFF\r\n\r\n", 400, "bad-request"),
        (&many, 431, "headers-too-large"),
        (long.as_bytes(), 414, "uri-too-long"),
        // Wrong method, unknown route.
        (
            b"GET /webhooks/acme/jira HTTP/1.1\r\nhost: gw\r\n\r\n",
            405,
            "method-not-allowed",
        ),
        (
            b"DELETE /healthz HTTP/1.1\r\nhost: gw\r\n\r\n",
            405,
            "method-not-allowed",
        ),
        (b"GET /nowhere HTTP/1.1\r\nhost: gw\r\n\r\n", 404, "not-found"),
        // A body larger than the limit, refused from its Content-Length alone.
        (too_big.as_bytes(), 413, "body-too-large"),
    ];
    for (request, status, code) in refusals {
        exchange(app.addr, request).await.problem(status, code);
    }
    app.stop().await;
}
