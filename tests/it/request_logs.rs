//! The request id on the log lines of its request: a webhook refused with a caller's
//! `X-Request-Id` logs its refusal with that id, and the answer echoes it.

use crate::support::sandbox::Sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_s_log_lines_carry_its_request_id() {
    let s = Sandbox::start(&[("RUST_LOG", "info")]).await;
    let id = "req-3f1c-log-line-test";
    let r = s
        .client
        .post(s.url("/webhooks/demo/servicenow"))
        .basic_auth("servicenow", Some("not-the-password"))
        .header("x-request-id", id)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-request-id"], id);

    // Its refusal, logged inside the request, names the request.
    let mut refusal = None;
    for _ in 0..100 {
        refusal = s.log().into_iter().find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("webhook rejected"))
        });
        if refusal.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let line = refusal.expect("the refusal is logged");
    let span = &line["spans"][0];
    assert_eq!(span["name"], "request", "{line}");
    assert_eq!(span["request_id"], id, "{line}");
    assert_eq!(span["path"], "/webhooks/demo/servicenow", "{line}");

    // A request without an id gets one, echoed and logged alike.
    let r = s
        .client
        .post(s.url("/webhooks/demo/servicenow"))
        .basic_auth("servicenow", Some("still-not-it"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let given = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!given.is_empty());
    let mut found = false;
    for _ in 0..100 {
        found = s
            .log()
            .iter()
            .any(|l| l["spans"][0]["request_id"] == given.as_str());
        if found {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(found, "no log line carries the given id {given}");
}
