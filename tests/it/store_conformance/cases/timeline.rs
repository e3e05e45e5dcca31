//! What the ticket timeline reads: routing decisions and numbers kept at ingest, the
//! poller's observations derived at `commit_poll`, a ticket found by number or Orange id,
//! and its whole history.

use std::sync::Arc;

use itsm_bridge::domain::{
    AttemptOutcome::Success, ObservedChange, OrangeApi, RemoteState, Routing,
};
use itsm_bridge::store::Store;
use time::Duration;

use super::super::{delivery, event, now, tenant, ticket};
use super::{LEASE, create, done_linking, finish};

pub async fn a_ticket_s_history_keeps_routes_numbers_attempts_link_and_observations(
    s: Arc<dyn Store>,
) {
    let (t0, t) = (now(), ticket("10482"));
    let mut first = event("k1", &t, t0, vec![create(&t, "")]);
    first.ticket_number = Some("OPS-1287".into());
    first.routing = Routing {
        routes: vec!["create".into()],
        skipped: None,
    };
    s.ingest(first).await.unwrap();
    let mut second = event("k2", &t, t0 + Duration::seconds(1), vec![]);
    second.ticket_number = Some("OPS-1287".into());
    second.routing = Routing {
        routes: vec![],
        skipped: Some("no route matches event `x`".into()),
    };
    s.ingest(second).await.unwrap();
    // Moved to another project: a second key finds the same ticket.
    let mut moved = event("k3", &t, t0 + Duration::seconds(2), vec![]);
    moved.ticket_number = Some("NET-5".into());
    s.ingest(moved).await.unwrap();

    let d = s.claim_due("w", t0, t0 + LEASE, 1).await.unwrap().remove(0);
    let fin = done_linking(OrangeApi::Incident, "2611M00001");
    finish(&*s, d.id, "w", t0, Success, fin).await;

    assert!(s.try_lease("poll", "p", t0, t0 + LEASE).await.unwrap());
    let seen = |status: &str, notes: &[&str]| RemoteState {
        status: Some(status.into()),
        seen_notes: notes.iter().map(|n| (*n).to_owned()).collect(),
        resolution: None,
        step: None,
        last_update: None,
    };
    let polls = [
        seen("ACKNOWLEDGED", &["n1"]),
        seen("ACKNOWLEDGED", &["n1"]),
        seen("IN_PROGRESS", &["n1", "n2"]),
    ];
    for state in polls {
        s.commit_poll(
            "poll",
            "p",
            &tenant(),
            None,
            vec![(t.clone(), state)],
            vec![delivery(&t, "write-back")],
        )
        .await
        .unwrap();
    }

    for name in ["OPS-1287", "NET-5", "2611M00001"] {
        assert_eq!(
            s.find_tickets(&tenant(), name).await.unwrap(),
            vec![t.clone()],
            "{name}"
        );
    }
    assert!(s.find_tickets(&tenant(), "OPS-1").await.unwrap().is_empty());
    let other = itsm_bridge::domain::TenantId::parse("globex").unwrap();
    assert!(s.find_tickets(&other, "OPS-1287").await.unwrap().is_empty());

    let h = s.ticket_history(&t, 100).await.unwrap();
    assert_eq!(h.numbers, ["NET-5", "OPS-1287"]);
    assert_eq!(h.events.len(), 3);
    assert!(!h.events_truncated);
    assert!(
        h.events
            .windows(2)
            .all(|w| w[0].received_at <= w[1].received_at)
    );
    assert_eq!(
        h.events[0].routing.as_ref().map(|r| r.routes.clone()),
        Some(vec!["create".to_owned()])
    );
    assert_eq!(
        h.events[1]
            .routing
            .as_ref()
            .and_then(|r| r.skipped.clone())
            .as_deref(),
        Some("no route matches event `x`")
    );
    assert_eq!(h.deliveries.len(), 4, "the create and three write-backs");
    assert!(h.deliveries.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(h.attempts.len(), 1);
    assert_eq!(h.attempts[0].0, d.id);
    assert_eq!(h.attempts[0].1.http_status, Some(201));
    assert_eq!(
        h.link.as_ref().map(|l| l.orange_id.as_str()),
        Some("2611M00001")
    );
    assert_eq!(
        h.remote_state.and_then(|r| r.status).as_deref(),
        Some("IN_PROGRESS")
    );
    let changes: Vec<ObservedChange> = h.observations.into_iter().map(|o| o.change).collect();
    assert_eq!(
        changes,
        vec![
            ObservedChange::FirstSeen {
                status: Some("ACKNOWLEDGED".into())
            },
            ObservedChange::Note { id: "n1".into() },
            ObservedChange::Status {
                from: Some("ACKNOWLEDGED".into()),
                to: "IN_PROGRESS".into()
            },
            ObservedChange::Note { id: "n2".into() },
        ],
        "an unchanged poll observes nothing"
    );

    // A limit keeps the latest of each kind.
    let h = s.ticket_history(&t, 1).await.unwrap();
    assert!(h.events_truncated);
    assert_eq!(h.events.len(), 1);
    assert_eq!(h.events[0].dedupe_key, "k3");
    assert_eq!(h.deliveries.len(), 1);
    assert_eq!(h.observations.len(), 1);

    let unknown = s.ticket_history(&ticket("nope"), 10).await.unwrap();
    assert!(unknown.events.is_empty() && unknown.deliveries.is_empty() && unknown.link.is_none());
}
