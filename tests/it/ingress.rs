//! Webhook intake: authentication, limits, validation, dedupe, byte-exact storage.

use itsm_bridge::domain::TenantId;
use itsm_bridge::store::EventQuery;

use crate::support::intake::{ACME_SN, acme_sn_json};
use crate::support::*;

async fn stored_body(app: &TestApp, id: &str) -> Vec<u8> {
    app.stored_event(id).await.body.to_vec()
}

/// Posts `body` to acme's Jira source signed with its secret, asserting `status`: the JSON
/// answer.
async fn acme_jira(app: &TestApp, body: &[u8], status: u16) -> serde_json::Value {
    json(
        app.post_jira("acme", body, ACME_JIRA_SECRET, &[]).await,
        status,
    )
    .await
}

async fn count_events(app: &TestApp, tenant: &str) -> usize {
    let q = EventQuery {
        tenant: Some(TenantId::parse(tenant).unwrap()),
        limit: 500,
        ..Default::default()
    };
    app.store.list_events(&q).await.unwrap().len()
}

#[tokio::test]
async fn valid_jira_cloud_webhook_is_accepted_and_stored_byte_exact() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-cloud-issue-updated.json");
    let resp = app
        .post_jira(
            "acme",
            &body,
            ACME_JIRA_SECRET,
            &[("x-atlassian-webhook-identifier", "d-1".into())],
        )
        .await;
    let v = json(resp, 202).await;
    assert_eq!(v["duplicate"], false);
    let id = v["eventId"].as_str().unwrap();
    assert_eq!(stored_body(&app, id).await, body);
    let ev = app.stored_event(id).await;
    assert_eq!(ev.ticket.as_str(), "acme/jira/10482");
    assert!(
        ev.headers.iter().all(|(k, _)| k != "x-hub-signature"),
        "signatures are not kept"
    );
    app.stop().await;
}

#[tokio::test]
async fn jira_data_center_comment_without_issue_is_accepted_with_unicode_intact() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-dc-comment-created.json");
    let v = acme_jira(&app, &body, 202).await;
    let id = v["eventId"].as_str().unwrap();
    let stored = stored_body(&app, id).await;
    assert_eq!(stored, body, "RTL marks and U+2028 survive byte-exact");
    let ev = app.stored_event(id).await;
    assert_eq!(
        ev.ticket.as_str(),
        "acme/jira/20311",
        "issue id taken from comment.self"
    );
    app.stop().await;
}

#[tokio::test]
async fn servicenow_webhook_is_accepted_with_basic_auth_or_base64_hmac() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/servicenow-incident-update.json");
    let first = acme_sn_json(&app, body.clone(), 202).await;
    assert_eq!(first["duplicate"], false);
    let sig = itsm_bridge::http::auth::base64_hmac(ACME_SN_HMAC, &body);
    let r = app
        .post(ACME_SN, body.clone(), &[("x-signature", sig)])
        .await;
    let second = json(r, 202).await;
    assert_eq!(
        second["duplicate"], true,
        "same sys_id + sys_mod_count is a redelivery"
    );
    assert_eq!(second["eventId"], first["eventId"]);
    app.stop().await;
}

#[tokio::test]
async fn redelivery_is_deduplicated_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-cloud-issue-updated.json");
    let h = [("x-atlassian-webhook-identifier", "delivery-42".to_owned())];
    let a = json(
        app.post_jira("acme", &body, ACME_JIRA_SECRET, &h).await,
        202,
    )
    .await;
    let b = json(
        app.post_jira("acme", &body, ACME_JIRA_SECRET, &h).await,
        202,
    )
    .await;
    assert_eq!(a["duplicate"], false);
    assert_eq!(b["duplicate"], true);
    assert_eq!(a["eventId"], b["eventId"]);
    assert_eq!(count_events(&app, "acme").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_redeliveries_commit_exactly_one_event() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-cloud-issue-updated.json");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, body) = (
            app.client.clone(),
            app.url("/webhooks/acme/jira"),
            body.clone(),
        );
        let sig = itsm_bridge::http::auth::hub_signature(ACME_JIRA_SECRET, &body);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature", sig)
                .header("x-atlassian-webhook-identifier", "same")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.json::<serde_json::Value>().await.unwrap()
        }));
    }
    let mut accepted = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let v = t.await.unwrap();
        if v["duplicate"] == false {
            accepted += 1;
        }
        ids.insert(v["eventId"].as_str().unwrap().to_owned());
    }
    assert_eq!(accepted, 1);
    assert_eq!(ids.len(), 1, "duplicates point at the first event");
    assert_eq!(count_events(&app, "acme").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn webhook_with_bad_signature_is_rejected_with_401() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-cloud-issue-updated.json");
    let r = app.post_jira("acme", &body, "not-the-secret", &[]).await;
    let p = json(r, 401).await;
    assert_eq!(p["code"], "unauthorized");
    assert_eq!(p["detail"], "invalid credentials");
    assert_eq!(count_events(&app, "acme").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn webhook_without_credentials_is_told_what_is_expected() {
    let app = TestApp::spawn().await;
    let r = app.post(ACME_SN, b"{}".to_vec(), &[]).await;
    let p = json(r, 401).await;
    let d = p["detail"].as_str().unwrap();
    assert!(
        d.contains("Authorization: Basic") && d.contains("X-Signature"),
        "{d}"
    );
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_secret_is_rejected() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-cloud-issue-updated.json");
    let r = app.post_jira("acme", &body, GLOBEX_JIRA_SECRET, &[]).await;
    json(r, 401).await;
    let r = app
        .post_jira("globex", &body, GLOBEX_JIRA_SECRET, &[])
        .await;
    json(r, 202).await;
    assert_eq!(count_events(&app, "acme").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn wrong_content_type_is_rejected_with_415() {
    let app = TestApp::spawn().await;
    let body = b"{\"webhookEvent\":\"x\"}".to_vec();
    let sig = itsm_bridge::http::auth::hub_signature(ACME_JIRA_SECRET, &body);
    let r = app
        .post(
            "/webhooks/acme/jira",
            body,
            &[
                ("x-hub-signature", sig),
                ("content-type", "text/plain".into()),
            ],
        )
        .await;
    let p = json(r, 415).await;
    assert_eq!(p["code"], "unsupported-media-type");
    assert!(p["detail"].as_str().unwrap().contains("text/plain"));
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_is_rejected_with_400_and_the_parse_error() {
    let app = TestApp::spawn().await;
    let r = app
        .post_jira("acme", b"{\"webhookEvent\": ", ACME_JIRA_SECRET, &[])
        .await;
    let p = json(r, 400).await;
    assert_eq!(p["code"], "malformed-json");
    assert!(p["detail"].as_str().unwrap().contains("line 1"), "{p}");
    app.stop().await;
}

#[tokio::test]
async fn oversized_body_is_rejected_with_413() {
    let app = TestApp::spawn().await;
    let big = format!(
        "{{\"webhookEvent\":\"x\",\"pad\":\"{}\"}}",
        "a".repeat(300 * 1024)
    );
    let r = app
        .post_jira("acme", big.as_bytes(), ACME_JIRA_SECRET, &[])
        .await;
    let p = json(r, 413).await;
    assert_eq!(p["code"], "body-too-large");
    assert!(p["detail"].as_str().unwrap().contains("262144"));
    app.stop().await;
}

#[tokio::test]
async fn schema_violation_is_parked_with_202_and_the_failing_pointer() {
    let app = TestApp::spawn().await;
    let body = br#"{"webhookEvent": "jira:issue_updated", "issue": {"id": true}}"#;
    let a = acme_jira(&app, body, 202).await;
    assert_eq!(a["parked"], "schema-violation", "{a}");
    assert_eq!(a["pointer"], "/issue/id");
    assert_eq!(a["duplicate"], false);
    let id = a["eventId"].as_str().unwrap().to_owned();
    let stored = app.stored_event(&id).await;
    assert_eq!(stored.body.as_ref(), body.as_slice(), "kept byte-exact");
    let again = acme_jira(&app, body, 202).await;
    assert_eq!(again["duplicate"], true, "dedupe applies to parked events");
    assert_eq!(again["eventId"], id.as_str());
    let a = acme_jira(&app, b"[1, 2]", 202).await;
    assert_eq!(a["parked"], "schema-violation");
    assert_eq!(a["pointer"], "");
    app.stop().await;
}

#[tokio::test]
async fn unknown_tenant_and_source_are_404() {
    let app = TestApp::spawn().await;
    for (path, code) in [
        ("/webhooks/nobody/jira", "unknown-tenant"),
        ("/webhooks/acme/remedy", "unknown-source"),
        ("/webhooks/ACME!/jira", "unknown-tenant"),
    ] {
        let p = json(app.post(path, b"{}".to_vec(), &[]).await, 404).await;
        assert_eq!(p["code"], code, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn changes_made_by_the_integration_user_are_dropped_as_echoes() {
    let app = TestApp::spawn().await;
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("ingress/servicenow-incident-update.json")).unwrap();
    v["sys_updated_by"] = "itsm-bridge".into();
    let body = serde_json::to_vec(&v).unwrap();
    acme_sn_json(&app, body, 202).await;
    assert_eq!(
        count_events(&app, "acme").await,
        0,
        "an echo creates nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_answer() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-cloud-issue-updated.json");
    acme_jira(&app, &body, 202).await;
    json(app.post_jira("acme", &body, "wrong", &[]).await, 401).await;
    let h = json(app.get("/healthz").await, 200).await;
    assert_eq!(h["status"], "ok");
    let r = json(app.get("/readyz").await, 200).await;
    assert_eq!(r["store"], "sqlite");
    let m = app.metrics().await;
    assert!(m.contains("itsm_bridge_webhooks_received_total"), "{m}");
    assert!(m.contains("itsm_bridge_webhooks_rejected_total"), "{m}");
    assert!(m.contains("itsm_bridge_ingest_commit_seconds"), "{m}");
    let o = json(app.get("/openapi.json").await, 200).await;
    assert!(o["paths"]["/webhooks/{tenant}/{source}"]["post"].is_object());
    let resp = app.get("/healthz").await;
    assert!(
        resp.headers().contains_key("x-request-id"),
        "request ids are set"
    );
    app.stop().await;
}

#[tokio::test]
async fn admin_api_needs_the_token_and_lists_events() {
    let app = TestApp::spawn().await;
    let body = fixture("ingress/jira-cloud-issue-updated.json");
    let v = acme_jira(&app, &body, 202).await;
    let p = json(app.get("/admin/v1/events").await, 401).await;
    assert_eq!(p["code"], "unauthorized");
    let list = app.admin_get("/admin/v1/events?tenant=acme").await;
    assert_eq!(list["events"][0]["id"], v["eventId"]);
    let one = app
        .admin_get(&format!(
            "/admin/v1/events/{}",
            v["eventId"].as_str().unwrap()
        ))
        .await;
    assert!(one["body"].as_str().unwrap().contains("OPS-1287"));
    let bad = app.client.get(app.url("/admin/v1/events?before=nope"));
    let bad = json(
        bad.bearer_auth("test-admin-token").send().await.unwrap(),
        400,
    )
    .await;
    assert!(bad["detail"].as_str().unwrap().contains("before"));
    app.stop().await;
}
