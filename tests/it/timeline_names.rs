//! Naming a ticket in `GET /admin/v1/tickets/{tenant}/{ticket}` when the name fits several
//! tickets: the answer is the candidates, never a guess (the whole story: `timeline.rs`).

use itsm_bridge::domain::{SourceName, TenantId, TicketKey};
use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, json as json_of};

const TOKEN: &str = "test-admin-token";

/// Two tickets that share a number (two sources of one tenant) are answered with both.
#[tokio::test]
async fn a_number_two_tickets_share_is_answered_with_the_candidates() {
    let app = TestApp::spawn().await;
    let tenant = TenantId::parse("acme").unwrap();
    let jira = SourceName::parse("jira").unwrap();
    let sn = SourceName::parse("servicenow").unwrap();
    // Two events carrying the same number for two tickets, through the store.
    for (key, source, id) in [("k1", &jira, "sys-a"), ("k2", &sn, "sys-b")] {
        let t = TicketKey::new(&tenant, source, id);
        app.store
            .ingest(itsm_bridge::domain::NewEvent {
                id: itsm_bridge::domain::EventId::new(),
                tenant: tenant.clone(),
                source: source.clone(),
                dedupe_key: key.into(),
                ticket: t,
                event_type: "insert".into(),
                body: bytes::Bytes::from_static(b"{}"),
                headers: vec![],
                received_at: time::OffsetDateTime::now_utc(),
                deliveries: vec![],
                disposition: Default::default(),
                ticket_number: Some("INC0000042".into()),
                routing: Default::default(),
            })
            .await
            .unwrap();
    }
    let path = format!("/admin/v1/tickets/{tenant}/INC0000042");
    let r = app.call_as(TOKEN, Method::GET, &path).await;
    let p = json_of(r, 409).await;
    assert_eq!(p["code"], "ticket-ambiguous");
    let keys: Vec<&str> = p["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ticketId"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["sys-a", "sys-b"]);
    // Either is found by its id.
    let path = format!("/admin/v1/tickets/{tenant}/sys-b");
    let r = app.call_as(TOKEN, Method::GET, &path).await;
    let t = json_of(r, 200).await;
    assert_eq!(t["numbers"], json!(["INC0000042"]));
    let entries = t["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (&entries[0]["kind"], &entries[0]["disposition"]),
        (&json!("event"), &json!("skipped"))
    );
    app.stop().await;
}
