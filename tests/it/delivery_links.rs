//! Deliveries whose ticket has no link, against the simulator and the real stores (SQLite,
//! and PostgreSQL when `TEST_DATABASE_URL` is set): they wait visibly (`waiting_link`),
//! become dead letters `no-link` at their deadline (time passed in, not slept), and are
//! delivered once the ticket is linked by hand and they are replayed — or by themselves, when
//! the ticket's create lands.

use std::time::Duration;

use itsm_bridge::domain::{DeliveryState, NO_LINK, OrangeOp, TenantId};
use itsm_bridge::ops::{dlq, links};
use itsm_bridge::sim::SimOptions;
use itsm_bridge::worker::OrangeGateway;
use serde_json::{Value, json};

use crate::delivery_support::*;

/// A rig on SQLite, or on a fresh PostgreSQL schema (`None` when skipped).
async fn rig(pg: Option<&str>) -> Option<(Rig, Option<crate::store_conformance::PgTest>)> {
    let db = match pg {
        Some(test) => Some(crate::store_conformance::postgres(test).await?),
        None => None,
    };
    let url = db.as_ref().map(|d| d.url.clone());
    let rig = Rig::start(SimOptions::default(), "http://127.0.0.1:9", move |c| {
        if let Some(u) = url {
            c.store.url = u;
        }
    })
    .await;
    Some((rig, db))
}

async fn unlinked_update_waits_dies_and_is_delivered_once_linked_by_hand(pg: Option<&str>) {
    let Some((rig, db)) = rig(pg).await else {
        return;
    };
    let s = rig.store.as_ref();
    // The incident exists at Orange, made before the gateway knew the ticket.
    let tenant = TenantId::parse(TENANT).unwrap();
    let orange = crate::support::orange_clients(&rig.config);
    let made = orange
        .deliver(
            &tenant,
            &call(
                OrangeOp::CreateIncident,
                json!({"shortDescription": "made by hand", "externalReference": "OLD100"}),
                None,
            ),
            None,
            None,
        )
        .await
        .expect("incident made at the simulator");
    let orange_id = made.created_id().expect("an id");

    ingest(s, "OLD100", 1, vec![incident_note("late note")]).await;
    let t0 = time::OffsetDateTime::now_utc();
    assert_eq!(rig.dispatcher.tick(t0).await.unwrap(), 1);
    let waiting = links::waiting(s, Some(&tenant), 10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    let id = waiting[0].id;
    assert_eq!(
        (waiting[0].state, waiting[0].attempts),
        (DeliveryState::WaitingLink, 0)
    );
    assert!(
        waiting[0]
            .waiting_link
            .as_deref()
            .unwrap()
            .contains("OLD100")
    );
    let stats = s.queue_stats().await.unwrap();
    assert_eq!((stats.waiting_link, stats.pending), (1, 0));

    // An hour later (delivery.link_wait_secs): a dead letter no-link, nothing sent.
    let deadline = t0 + Duration::from_secs(rig.config.delivery.link_wait_secs);
    assert_eq!(rig.dispatcher.tick(deadline).await.unwrap(), 1);
    let letter = dlq::show(s, id).await.unwrap();
    assert_eq!(letter.delivery.state, DeliveryState::Dead);
    assert_eq!(letter.attempts[0].error_code.as_deref(), Some(NO_LINK));
    assert_eq!(s.queue_stats().await.unwrap().waiting_link, 0);

    // Linked by hand (a second, different link is refused), replayed, delivered.
    let req = |id: &str| links::LinkRequest {
        tenant: TENANT.into(),
        ticket: "OLD100".into(),
        orange_id: id.into(),
        api: None,
        source: None,
    };
    let linked = links::add(s, &rig.config, &req(&orange_id), t0)
        .await
        .unwrap();
    assert!(linked.added);
    assert_eq!(linked.ticket, ticket_key("OLD100"));
    let refused = links::add(s, &rig.config, &req("INC-OTHER"), t0).await;
    assert!(
        matches!(refused, Err(links::LinksError::TicketLinked { .. })),
        "{refused:?}"
    );
    assert!(
        s.replay(id, None, time::OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    assert!(rig.drain(DRAIN).await, "delivered after the replay");
    {
        let d = rig.sim.state.data();
        let inc = d
            .incidents
            .iter()
            .find(|i| i.body["id"] == orange_id.as_str())
            .expect("the incident");
        assert_eq!(inc.notes.len(), 1);
        assert_eq!(inc.notes[0]["text"], "late note");
    }
    if let Some(db) = db {
        db.drop_schema().await;
    }
}

async fn waiting_update_proceeds_when_its_create_lands(pg: Option<&str>) {
    let Some((rig, db)) = rig(pg).await else {
        return;
    };
    let s = rig.store.as_ref();
    // A mapping mistake: no shortDescription (Orange answers 400): the create dies.
    ingest_broken_create_then_note(s, "INC77", "after").await;
    assert!(
        !rig.drain(Duration::from_millis(500)).await,
        "the note waits"
    );
    let tenant = TenantId::parse(TENANT).unwrap();
    assert_eq!(links::waiting(s, Some(&tenant), 10).await.unwrap().len(), 1);
    let dead = dlq::list(s, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    // No operator action for the note: the create's link wakes it, well before its deadline.
    rig.replay_fixed_create(dead[0].id, "INC77").await;
    if let Some(db) = db {
        db.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_an_unlinked_update_waits_dies_no_link_and_is_delivered_once_linked_by_hand() {
    unlinked_update_waits_dies_and_is_delivered_once_linked_by_hand(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_unlinked_update_waits_dies_no_link_and_is_delivered_once_linked_by_hand() {
    unlinked_update_waits_dies_and_is_delivered_once_linked_by_hand(Some("links_by_hand")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_waiting_update_proceeds_by_itself_when_its_create_lands() {
    waiting_update_proceeds_when_its_create_lands(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_waiting_update_proceeds_by_itself_when_its_create_lands() {
    waiting_update_proceeds_when_its_create_lands(Some("links_create_lands")).await;
}

#[tokio::test]
async fn the_admin_api_links_a_ticket_by_hand_and_answers_409_when_it_is_linked_elsewhere() {
    use crate::support::{TestApp, json};
    let app = TestApp::spawn_with("delivery: { enabled: false }").await;
    let post = |body: Value| {
        app.client
            .post(app.url("/admin/v1/links"))
            .bearer_auth("test-admin-token")
            .json(&body)
            .send()
    };
    // acme has two sources and nothing names this ticket yet: the source must be named.
    let p = json(
        post(json!({"tenant": "acme", "ticket": "SYS1", "orangeId": "INC-1"}))
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("several sources"),
        "{p}"
    );
    let body =
        json!({"tenant": "acme", "ticket": "SYS1", "orangeId": "INC-1", "source": "servicenow"});
    let linked = json(post(body.clone()).await.unwrap(), 201).await;
    assert_eq!(
        (&linked["ticket"], &linked["api"], &linked["orangeId"]),
        (
            &json!("acme/servicenow/SYS1"),
            &json!("incident"),
            &json!("INC-1")
        )
    );
    let again = json(post(body).await.unwrap(), 200).await;
    assert_eq!(again["added"], false);
    let other = post(
        json!({"tenant": "acme", "ticket": "SYS1", "orangeId": "INC-2", "source": "servicenow"}),
    )
    .await
    .unwrap();
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    let p = json(other, 409).await;
    assert_eq!(p["code"], "already-linked");
    assert!(p["detail"].as_str().unwrap().contains("INC-1"), "{p}");
    // Refused, saying why: the Orange object is another ticket's; the API is unknown.
    for (body, status, why) in [
        (
            json!({"tenant": "acme", "ticket": "SYS2", "orangeId": "INC-1", "source": "servicenow"}),
            409,
            "SYS1",
        ),
        (
            json!({"tenant": "acme", "ticket": "X", "orangeId": "Y", "api": "fax"}),
            400,
            "fax",
        ),
    ] {
        let p = json(post(body).await.unwrap(), status).await;
        assert!(p["detail"].as_str().unwrap().contains(why), "{p}");
    }
    let unknown = json!({"tenant": "nope", "ticket": "X", "orangeId": "Y"});
    let p = json(post(unknown).await.unwrap(), 404).await;
    assert_eq!(p["code"], "unknown-tenant");
    let raw = app
        .client
        .post(app.url("/admin/v1/links"))
        .bearer_auth("test-admin-token")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(json(raw, 400).await["code"], "malformed-json");
    let waiting = app.admin_get("/admin/v1/waiting-link?tenant=acme").await;
    assert_eq!(waiting["waiting_link"], json!([]));
    app.stop().await;
}
