//! Parked and unrouted events: dispositions round-trip, the state and type filters, a parked
//! event settled once, its calls placed before later waiting deliveries of its ticket, and a
//! parked event discarded: no longer parked, never replayed, purged as done.

use std::sync::Arc;

use itsm_bridge::domain::{AttemptOutcome::Success, Discarded, Disposition, ParkReason, Parked};
use itsm_bridge::store::{EventQuery, EventState, PurgeRules, Store};

use super::super::{delivery, done, event, now, tenant, ticket};
use super::{LEASE, create, finish};

fn parked(rule: &str) -> Disposition {
    Disposition::parked(Parked {
        reason: ParkReason::MappingRejected,
        detail: "value \"P9\" is not in the table".into(),
        rule: Some(rule.into()),
        pointer: Some("/issue/fields/priority/name".into()),
    })
}

pub async fn parked_and_unrouted_events_are_kept_with_their_reason_and_filtered(s: Arc<dyn Store>) {
    let t = ticket("OPS-7");
    let mut p = event("p", &t, now(), vec![]);
    p.disposition = parked("routes[0].then[0].set.priority");
    let mut u = event("u", &t, now(), vec![]);
    u.event_type = "jira:issue_deleted".into();
    u.disposition = Disposition {
        skipped: Some("no route matches event `jira:issue_deleted`".into()),
        unrouted: true,
        parked: None,
    };
    let mut skipped = event("s", &t, now(), vec![]);
    skipped.disposition.skipped = Some("route `echo`: written by itsm-bridge".into());
    let routed = event("r", &t, now(), vec![delivery(&t, "a")]);
    for e in [&p, &u, &skipped, &routed] {
        s.ingest(e.clone()).await.unwrap();
    }
    let got = s.event(p.id).await.unwrap().unwrap();
    assert_eq!(
        got.disposition, p.disposition,
        "reason, rule and pointer kept"
    );
    let got = s.event(u.id).await.unwrap().unwrap();
    assert_eq!(got.disposition, u.disposition);
    let got = s.event(skipped.id).await.unwrap().unwrap();
    assert_eq!(got.disposition, skipped.disposition);
    assert_eq!(
        s.event(routed.id).await.unwrap().unwrap().disposition,
        Disposition::routed()
    );
    let list = |state, event_type: Option<&str>| EventQuery {
        limit: 10,
        state,
        event_type: event_type.map(str::to_owned),
        ..EventQuery::default()
    };
    let ids =
        |es: Vec<itsm_bridge::domain::StoredEvent>| es.iter().map(|e| e.id).collect::<Vec<_>>();
    for (state, event_type, want) in [
        (Some(EventState::Parked), None, vec![p.id]),
        (Some(EventState::Unrouted), None, vec![u.id]),
        (None, Some("jira:issue_deleted"), vec![u.id]),
        (
            Some(EventState::Unrouted),
            Some("jira:issue_updated"),
            vec![],
        ),
    ] {
        let got = s.list_events(&list(state, event_type)).await.unwrap();
        assert_eq!(ids(got), want, "state {state:?}, type {event_type:?}");
    }
}

pub async fn a_parked_event_is_settled_once_and_its_calls_go_before_later_waiting_ones(
    s: Arc<dyn Store>,
) {
    let t = ticket("OPS-8");
    let mut p = event("create", &t, now(), vec![]);
    p.disposition = parked("routes[0].then[0].set.impact");
    s.ingest(p.clone()).await.unwrap();
    // Accepted after it: an update that waits (no create yet), then a second one.
    let later = event("update-1", &t, now(), vec![delivery(&t, "u1")]);
    let later2 = event("update-2", &t, now(), vec![delivery(&t, "u2")]);
    s.ingest(later.clone()).await.unwrap();
    s.ingest(later2.clone()).await.unwrap();

    // Still failing: the new reason is kept, nothing is queued.
    let again = parked("routes[0].then[0].set.urgency");
    assert!(
        s.settle_parked(p.id, "insert", again.clone(), vec![], now())
            .await
            .unwrap()
    );
    assert_eq!(s.event(p.id).await.unwrap().unwrap().disposition, again);
    assert!(s.event_deliveries(p.id).await.unwrap().is_empty());

    // Mapped now: its call goes ahead of the updates.
    let mapped = create(&t, "create");
    assert!(
        s.settle_parked(
            p.id,
            "insert",
            Disposition::routed(),
            vec![mapped.clone()],
            now()
        )
        .await
        .unwrap()
    );
    assert!(
        !s.settle_parked(p.id, "insert", Disposition::routed(), vec![mapped], now())
            .await
            .unwrap(),
        "a second settle writes nothing"
    );
    assert_eq!(s.event_deliveries(p.id).await.unwrap().len(), 1);
    let e = s.event(p.id).await.unwrap().unwrap();
    assert_eq!(
        (e.event_type.as_str(), e.disposition),
        ("insert", Disposition::routed())
    );

    // The queue of the ticket now runs create, update 1, update 2.
    let mut order = Vec::new();
    for _ in 0..3 {
        let at = now() + time::Duration::seconds(1);
        let claimed = s.claim_due("w", at, at + LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "one head at a time: {claimed:?}");
        let d = &claimed[0];
        order.push(d.event_id);
        finish(&*s, d.id, "w", at, Success, done()).await;
    }
    assert_eq!(order, vec![Some(p.id), Some(later.id), Some(later2.id)]);
}

pub async fn a_discarded_parked_event_is_no_longer_parked_nor_replayable_and_goes_as_done(
    s: Arc<dyn Store>,
) {
    let t = ticket("OPS-9");
    let t0 = now();
    let old = t0 - time::Duration::hours(3);
    // Received long ago (the id says so too): only the discard's age decides its purge.
    let mut p = event("doomed", &t, old, vec![]);
    p.id = super::links_retention::uuid_at(old);
    p.disposition = parked("routes[0].then[0].set.impact");
    let mut kept = event("kept", &t, old, vec![]);
    kept.disposition = parked("routes[0].then[0].set.urgency");
    let routed = event("routed", &t, old, vec![delivery(&t, "r")]);
    for e in [&p, &kept, &routed] {
        s.ingest(e.clone()).await.unwrap();
    }

    let discarded_at = t0 - time::Duration::hours(2);
    assert!(s.discard_parked(p.id, discarded_at).await.unwrap());
    assert!(
        !s.discard_parked(p.id, t0).await.unwrap(),
        "a second discard changes nothing"
    );
    assert!(!s.discard_parked(routed.id, t0).await.unwrap());
    assert!(
        !s.discard_parked(itsm_bridge::domain::EventId::new(), t0)
            .await
            .unwrap()
    );
    let got = s.event(p.id).await.unwrap().unwrap();
    assert_eq!(got.disposition.parked, None);
    assert_eq!(
        got.discarded,
        Some(Discarded {
            parked: p.disposition.parked.clone().unwrap(),
            at: discarded_at,
        }),
        "why it was parked is kept, with when it was discarded"
    );
    assert_eq!(s.event(kept.id).await.unwrap().unwrap().discarded, None);
    assert!(
        !s.settle_parked(p.id, "insert", Disposition::routed(), vec![], t0)
            .await
            .unwrap(),
        "a discarded event is not replayed"
    );
    let list = |state| EventQuery {
        limit: 10,
        state: Some(state),
        ..EventQuery::default()
    };
    let ids = |es: Vec<itsm_bridge::domain::StoredEvent>| es.iter().map(|e| e.id).collect();
    let parked_now: Vec<_> = ids(s.list_events(&list(EventState::Parked)).await.unwrap());
    assert_eq!(parked_now, vec![kept.id]);
    let gone: Vec<_> = ids(s.list_events(&list(EventState::Discarded)).await.unwrap());
    assert_eq!(gone, vec![p.id]);
    let activity = s.tenant_activity(&tenant(), t0).await.unwrap();
    assert_eq!(activity.parked, 1, "only the event still parked is counted");

    // Retention: kept while `done` retention covers its discard, then purged like done work,
    // even when skipped events are kept for ever; the parked one stays.
    let rules = |done_before| PurgeRules {
        done_before: Some(done_before),
        skipped_before: None,
        dead_before: None,
        batch: 1,
    };
    super::links_retention::pass(&*s, &rules(t0 - time::Duration::hours(4)), false).await;
    assert!(s.event(p.id).await.unwrap().is_some());
    let counts =
        super::links_retention::pass(&*s, &rules(t0 - time::Duration::hours(1)), false).await;
    assert_eq!(counts.events, 1, "{counts:?}");
    assert!(s.event(p.id).await.unwrap().is_none());
    assert!(s.event(kept.id).await.unwrap().is_some());
}
