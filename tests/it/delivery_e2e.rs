//! Delivery end to end against the simulator: events committed in the store are carried to
//! Orange by the dispatcher; creates link the ticket, later calls land on the same object,
//! lookups and attachments are resolved, permanent errors become dead letters with their
//! attempt history, and a replay delivers them.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use itsm_bridge::domain::{DeliveryState, Lookup, OrangeApi, OrangeOp};
use itsm_bridge::ops::dlq;
use itsm_bridge::sim::SimOptions;
use serde_json::{Value, json};

use crate::delivery_support::*;

#[tokio::test]
async fn create_update_and_note_reach_one_incident_and_the_link_is_stored() {
    let rig = Rig::start(SimOptions::default(), "http://127.0.0.1:9", |_| {}).await;
    let s = rig.store.as_ref();
    ingest(s, "INC0010001", 1, vec![call(
        OrangeOp::CreateIncident,
        json!({"shortDescription": "MPLS link down - Lyon", "externalReference": "INC0010001", "urgency": "HIGH"}),
        Some("INC0010001"),
    )]).await;
    let update = incident_update("customer impact 300 users");
    ingest(s, "INC0010001", 2, vec![update]).await;
    let note = incident_note("router rebooted");
    ingest(s, "INC0010001", 3, vec![note]).await;
    assert!(rig.drain(DRAIN).await, "queue drained");

    let link = s
        .link(&ticket_key("INC0010001"))
        .await
        .unwrap()
        .expect("link stored");
    assert_eq!(link.api, OrangeApi::Incident);
    let inc = rig.incident("INC0010001");
    assert_eq!(inc.body["id"], link.orange_id.as_str());
    assert_eq!(inc.body["shortDescription"], "MPLS link down - Lyon");
    assert_eq!(inc.body["urgency"], "HIGH");
    assert_eq!(inc.body["description"], "customer impact 300 users");
    assert_eq!(inc.notes.len(), 1);
    assert_eq!(inc.notes[0]["text"], "router rebooted");

    // Headers every Orange call carried.
    let calls = orange_calls(&rig.sim);
    assert!(
        calls
            .iter()
            .all(|e| e.headers.get("accept").and_then(Value::as_str) == Some("application/json"))
    );
    assert!(
        calls
            .iter()
            .all(|e| e.headers.get("x-application-id").and_then(Value::as_str) == Some("acme-app"))
    );
}

#[tokio::test]
async fn a_core_information_lookup_fills_the_service_point() {
    let rig = Rig::start(SimOptions::default(), "http://127.0.0.1:9", |_| {}).await;
    let (ci, sp) = {
        let d = rig.sim.state.data();
        let ci = d.configuration_items[0].clone();
        (
            ci["name"].as_str().unwrap().to_owned(),
            ci["servicePoint"]["id"].as_str().unwrap().to_owned(),
        )
    };
    let mut c = call(
        OrangeOp::CreateIncident,
        json!({"shortDescription": "x", "externalReference": "INC2"}),
        Some("INC2"),
    );
    // The CI's `servicePoint` reference ({"id": …}) becomes the incident's.
    c.lookups = vec![Lookup {
        target: "/servicePoint".into(),
        collection: "configurationItems".into(),
        filters: vec![("name".into(), ci)],
        field: "servicePoint".into(),
        default: None,
    }];
    ingest(rig.store.as_ref(), "INC2", 1, vec![c]).await;
    assert!(rig.drain(DRAIN).await);
    let inc = rig.incident("INC2");
    assert_eq!(inc.body["servicePoint"]["id"], sp.as_str());
}

#[tokio::test]
async fn servicenow_to_wholesale_trouble_ticket_then_comment() {
    let rig = Rig::start(SimOptions::default(), "http://127.0.0.1:9", |_| {}).await;
    let s = rig.store.as_ref();
    let number = {
        let d = rig.sim.state.data();
        d.service_numbers[0]["orangeServiceNumbers"][0]["orangeServiceNumber"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    ingest(s, "INC3", 1, vec![call(
        OrangeOp::CreateTroubleTicket,
        json!({"description": "link down", "externalId": "INC3",
               "relatedEntity": [{"id": number, "role": "orangeServiceNumber"}],
               "relatedParty": [{"name": "Chloe Martin", "role": "depositor", "@type": "RelatedPartyTtContactMedium",
                                 "contactMedium": [{"id": "chloe@acme.example", "contactType": "email"}]}]}),
        Some("INC3"),
    )]).await;
    ingest(s, "INC3", 2, vec![call(
        OrangeOp::CommentTroubleTicket,
        json!({"note": {"date": "2026-01-01T10:00:00.000Z", "type": "Comments", "text": "still down"},
               "relatedEntity": {"id": number, "role": "orangeServiceNumber"}}),
        None,
    )]).await;
    assert!(rig.drain(DRAIN).await);
    let link = s.link(&ticket_key("INC3")).await.unwrap().expect("link");
    assert_eq!(link.api, OrangeApi::TroubleTicket);
    let d = rig.sim.state.data();
    let t = d.tickets.get(&link.orange_id).expect("ticket exists");
    assert_eq!(t["externalId"], "INC3");
    assert!(
        t.to_string().contains("still down"),
        "comment on the ticket: {t}"
    );
}

#[tokio::test]
async fn a_service_request_becomes_an_ordering_request_and_is_linked() {
    let rig = Rig::start(SimOptions::default(), "http://127.0.0.1:9", |_| {}).await;
    let item = rig.sim.state.data().catalog_items[0]["id"].clone();
    ingest(
        rig.store.as_ref(),
        "SR-1",
        1,
        vec![call(
            OrangeOp::SubmitOrder,
            json!({"customerReference": "SR-1", "priority": "MEDIUM", "catalogItem": {"id": item}}),
            Some("SR-1"),
        )],
    )
    .await;
    assert!(rig.drain(DRAIN).await);
    let link = rig
        .store
        .link(&ticket_key("SR-1"))
        .await
        .unwrap()
        .expect("link");
    assert_eq!(link.api, OrangeApi::Ordering);
    let d = rig.sim.state.data();
    assert_eq!(
        d.requests.get(&link.orange_id).expect("request")["customerReference"],
        "SR-1"
    );
}

async fn attachment(headers: HeaderMap) -> Result<&'static str, StatusCode> {
    // sn-user:sn-password
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some("Basic c24tdXNlcjpzbi1wYXNzd29yZA==")
    {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok("traceroute output: 12 hops")
}

#[tokio::test]
async fn an_itsm_attachment_is_copied_to_the_orange_incident() {
    let app = Router::new().route("/api/now/attachment/{id}/file", get(attachment));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let itsm = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });

    let rig = Rig::start(SimOptions::default(), &itsm, |_| {}).await;
    let s = rig.store.as_ref();
    ingest(
        s,
        "INC4",
        1,
        vec![call(
            OrangeOp::CreateIncident,
            json!({"shortDescription": "x", "externalReference": "INC4"}),
            Some("INC4"),
        )],
    )
    .await;
    ingest(
        s,
        "INC4",
        2,
        vec![call(
            OrangeOp::UploadIncidentAttachment {
                url: format!("{itsm}/api/now/attachment/abc/file"),
                filename: "traceroute.txt".into(),
                content_type: Some("text/plain".into()),
            },
            json!({}),
            None,
        )],
    )
    .await;
    assert!(rig.drain(DRAIN).await);
    let inc = rig.incident("INC4");
    assert_eq!(inc.attachments.len(), 1);
    assert_eq!(inc.attachments[0].meta["name"], "traceroute.txt");
    assert_eq!(&inc.attachments[0].bytes[..], b"traceroute output: 12 hops");
}

#[tokio::test]
async fn a_400_is_dead_lettered_with_its_history_and_delivered_after_replay() {
    let rig = Rig::start(SimOptions::default(), "http://127.0.0.1:9", |_| {}).await;
    let s = rig.store.as_ref();
    // A mapping mistake: no shortDescription (Orange answers 400 code 23).
    ingest_broken_create_then_note(s, "INC5", "after the create").await;
    assert!(
        !rig.drain(Duration::from_millis(500)).await,
        "the note waits for its create"
    );

    let dead = dlq::list(s, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let letter = dlq::show(s, dead[0].id).await.unwrap();
    assert_eq!(letter.delivery.state, DeliveryState::Dead);
    assert_eq!(letter.attempts.len(), 1, "a permanent error is not retried");
    assert_eq!(letter.attempts[0].http_status, Some(400));
    assert_eq!(letter.attempts[0].error_code.as_deref(), Some("23"));
    let note = s
        .event_deliveries(letter.delivery.event_id.unwrap())
        .await
        .unwrap();
    assert_eq!(note[0].id, dead[0].id);

    // The mapping is fixed: the delivery is re-rendered and replayed.
    let inc = rig.replay_fixed_create(dead[0].id, "INC5").await;
    assert_eq!(inc.body["shortDescription"], "fixed");
}
