//! The conformance cases, written once against `Arc<dyn Store>`.

use std::collections::HashSet;
use std::sync::Arc;

use itsm_bridge::domain::{
    AttemptOutcome, DeliveryState, IngestOutcome, OrangeApi, OrangeOp, RemoteState, TicketKey,
};
use itsm_bridge::store::{EventQuery, Finish, NewLink, Store, StoreError};
use time::Duration;

use super::{attempt, call, delivery, done, event, now, tenant, ticket};

const LEASE: Duration = Duration::seconds(30);

pub async fn ingest_of_the_same_dedupe_key_twice_is_a_duplicate_of_the_first_event(
    s: Arc<dyn Store>,
) {
    let t = ticket("OPS-1");
    let first = event("k1", &t, now(), vec![delivery(&t, "a")]);
    let again = event("k1", &t, now(), vec![delivery(&t, "a")]);
    assert_eq!(
        s.ingest(first.clone()).await.unwrap(),
        IngestOutcome::Accepted(first.id)
    );
    assert_eq!(
        s.ingest(again.clone()).await.unwrap(),
        IngestOutcome::Duplicate(first.id)
    );
    assert!(
        s.event(again.id).await.unwrap().is_none(),
        "the duplicate is not stored"
    );
    let q = EventQuery {
        limit: 10,
        ..EventQuery::default()
    };
    assert_eq!(s.list_events(&q).await.unwrap().len(), 1);
    assert_eq!(
        s.queue_stats().await.unwrap().pending,
        1,
        "no delivery from the duplicate"
    );
    // The same key from another source is another event.
    let mut other = event("k1", &t, now(), vec![]);
    other.source = itsm_bridge::domain::SourceName::parse("servicenow").unwrap();
    assert!(matches!(
        s.ingest(other).await.unwrap(),
        IngestOutcome::Accepted(_)
    ));
}

pub async fn concurrent_ingest_of_one_key_is_accepted_exactly_once(s: Arc<dyn Store>) {
    let t = ticket("OPS-2");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let s = s.clone();
        let e = event("same", &t, now(), vec![delivery(&t, "x")]);
        tasks.spawn(async move { s.ingest(e).await.unwrap() });
    }
    let outcomes: Vec<IngestOutcome> = tasks.join_all().await;
    let accepted: Vec<_> = outcomes.iter().filter(|o| !o.is_duplicate()).collect();
    assert_eq!(accepted.len(), 1, "{outcomes:?}");
    let first = accepted[0].event_id();
    assert!(
        outcomes.iter().all(|o| o.event_id() == first),
        "duplicates name the first event"
    );
    assert_eq!(s.queue_stats().await.unwrap().pending, 1);
}

pub async fn event_body_and_headers_round_trip_byte_exact(s: Arc<dyn Store>) {
    let t = ticket("OPS-3");
    let body = "{\"d\":\"🔥 \u{200F}עברית\u{200E} line\u{2028}sep \u{2029} nul\\u0000 é\"}";
    let mut e = event("bytes", &t, now(), vec![]);
    e.body = bytes::Bytes::copy_from_slice(body.as_bytes());
    e.headers.push(("x-note".into(), "👋 \u{2028}".into()));
    s.ingest(e.clone()).await.unwrap();
    let back = s.event(e.id).await.unwrap().expect("stored");
    assert_eq!(back.body.as_ref(), body.as_bytes());
    assert_eq!(back.headers, e.headers);
    assert_eq!(back.received_at, e.received_at);
    assert_eq!(
        (back.tenant, back.source, back.ticket),
        (e.tenant, e.source, e.ticket)
    );
    assert_eq!(
        (back.dedupe_key, back.event_type),
        (e.dedupe_key, e.event_type)
    );
}

pub async fn events_are_listed_newest_first_with_filters_and_deliveries_in_order(
    s: Arc<dyn Store>,
) {
    let (a, b) = (ticket("A-1"), ticket("B-1"));
    let mut ids = vec![];
    for (i, t) in [&a, &b, &a].into_iter().enumerate() {
        let e = event(
            &format!("e{i}"),
            t,
            now(),
            vec![delivery(t, "one"), delivery(t, "two")],
        );
        ids.push(e.id);
        s.ingest(e).await.unwrap();
    }
    let all = s
        .list_events(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1], ids[0]]
    );
    let on_a = EventQuery {
        ticket: Some(a.clone()),
        limit: 10,
        ..EventQuery::default()
    };
    let on_a = s.list_events(&on_a).await.unwrap();
    assert_eq!(
        on_a.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[2], ids[0]]
    );
    let page = EventQuery {
        before: Some(ids[2]),
        limit: 1,
        tenant: Some(tenant()),
        ..EventQuery::default()
    };
    assert_eq!(s.list_events(&page).await.unwrap()[0].id, ids[1]);
    let ds = s.event_deliveries(ids[2]).await.unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0].target, call(OrangeOp::AddIncidentNote, "one"));
    assert!(ds[0].seq < ds[1].seq);
    assert_eq!(ds[0].event_id, Some(ids[2]));
    // Sequence numbers follow acceptance order across events of the ticket.
    let earlier = s.event_deliveries(ids[0]).await.unwrap();
    assert!(earlier[1].seq < ds[0].seq);
}

pub async fn concurrent_claims_never_hand_out_one_delivery_twice(s: Arc<dyn Store>) {
    let t0 = now();
    for i in 0..200 {
        let t = ticket(&format!("C-{i}"));
        s.ingest(event(&format!("c{i}"), &t, t0, vec![delivery(&t, "x")]))
            .await
            .unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let s = s.clone();
        tasks.spawn(async move {
            let owner = format!("worker-{w}");
            let mut got = vec![];
            loop {
                let batch = s.claim_due(&owner, t0, t0 + LEASE, 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|d| d.id));
            }
        });
    }
    let claimed: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
    let unique: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), 200, "every delivery claimed");
    assert_eq!(unique.len(), 200, "no delivery claimed twice");
    assert_eq!(s.queue_stats().await.unwrap().in_flight, 200);
}

pub async fn an_expired_lease_makes_a_delivery_claimable_again(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("L-1"));
    s.ingest(event("l", &t, t0, vec![delivery(&t, "x")]))
        .await
        .unwrap();
    let first = s.claim_due("a", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].state, DeliveryState::InFlight);
    assert!(
        s.claim_due(
            "b",
            t0 + LEASE - Duration::milliseconds(1),
            t0 + LEASE * 2,
            10
        )
        .await
        .unwrap()
        .is_empty()
    );
    let again = s
        .claim_due("b", t0 + LEASE, t0 + LEASE * 2, 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![first[0].id]
    );
    // The first owner lost it; the new one finishes it.
    let r = s
        .finish(
            first[0].id,
            "a",
            &attempt(t0, AttemptOutcome::Success),
            done(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    s.finish(
        first[0].id,
        "b",
        &attempt(t0, AttemptOutcome::Success),
        done(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.delivery(first[0].id).await.unwrap().unwrap().state,
        DeliveryState::Done
    );
}

pub async fn finish_by_a_non_owner_is_refused_with_lease_lost(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("N-1"));
    s.ingest(event("n", &t, t0, vec![delivery(&t, "x")]))
        .await
        .unwrap();
    let d = s
        .claim_due("owner", t0, t0 + LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let r = s
        .finish(
            d.id,
            "intruder",
            &attempt(t0, AttemptOutcome::Success),
            done(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    let still = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((still.state, still.attempts), (DeliveryState::InFlight, 0));
    assert!(s.attempts(d.id).await.unwrap().is_empty());
    let missing = itsm_bridge::domain::DeliveryId(d.id.0 + 1000);
    let r = s
        .finish(
            missing,
            "owner",
            &attempt(t0, AttemptOutcome::Success),
            done(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
}

pub async fn a_ticket_delivery_waits_until_its_predecessor_is_final(s: Arc<dyn Store>) {
    let (t0, a, b) = (now(), ticket("O-1"), ticket("O-2"));
    s.ingest(event(
        "o1",
        &a,
        t0,
        vec![delivery(&a, "first"), delivery(&a, "second")],
    ))
    .await
    .unwrap();
    s.ingest(event("o2", &b, t0, vec![delivery(&b, "other")]))
        .await
        .unwrap();
    s.ingest(event("o3", &a, t0, vec![delivery(&a, "third")]))
        .await
        .unwrap();
    let got = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    let notes: Vec<_> = got.iter().map(|d| d.target.clone()).collect();
    assert_eq!(got.len(), 2, "{notes:?}");
    assert!(notes.contains(&call(OrangeOp::AddIncidentNote, "first")));
    assert!(
        notes.contains(&call(OrangeOp::AddIncidentNote, "other")),
        "other tickets unaffected"
    );
    let first = got.iter().find(|d| d.ticket == a).unwrap().clone();
    // A retry keeps the ticket blocked: the head is not final.
    s.finish(
        first.id,
        "w",
        &attempt(t0, AttemptOutcome::Retryable),
        Finish::Retry { at: t0 },
    )
    .await
    .unwrap();
    let next = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![first.id]
    );
    s.finish(
        first.id,
        "w",
        &attempt(t0, AttemptOutcome::Permanent),
        Finish::Dead,
    )
    .await
    .unwrap();
    let next = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].target, call(OrangeOp::AddIncidentNote, "second"));
    assert!(next[0].seq > first.seq);
    s.finish(
        next[0].id,
        "w",
        &attempt(t0, AttemptOutcome::Success),
        done(),
    )
    .await
    .unwrap();
    let last = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(last[0].target, call(OrangeOp::AddIncidentNote, "third"));
}

pub async fn retry_reschedules_and_is_not_claimable_before_its_time(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("R-1"));
    s.ingest(event("r", &t, t0, vec![delivery(&t, "x")]))
        .await
        .unwrap();
    let d = s.claim_due("w", t0, t0 + LEASE, 1).await.unwrap().remove(0);
    let at = t0 + Duration::minutes(5);
    s.finish(
        d.id,
        "w",
        &attempt(t0, AttemptOutcome::Retryable),
        Finish::Retry { at },
    )
    .await
    .unwrap();
    let back = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (back.state, back.attempts, back.next_attempt_at),
        (DeliveryState::Pending, 1, at)
    );
    assert_eq!(
        back.last_error.as_deref(),
        Some("HTTP 503 upstream unavailable")
    );
    assert!(
        s.claim_due("w", at - Duration::milliseconds(1), at + LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.claim_due("w", at, at + LEASE, 1).await.unwrap()[0].id,
        d.id
    );
    let history = s.attempts(d.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0], attempt(t0, AttemptOutcome::Retryable));
}

pub async fn defer_does_not_count_an_attempt(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("D-1"));
    s.ingest(event("d", &t, t0, vec![delivery(&t, "x")]))
        .await
        .unwrap();
    let d = s.claim_due("w", t0, t0 + LEASE, 1).await.unwrap().remove(0);
    let at = t0 + Duration::seconds(10);
    s.finish(
        d.id,
        "w",
        &attempt(t0, AttemptOutcome::Retryable),
        Finish::Defer { at },
    )
    .await
    .unwrap();
    let back = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (back.state, back.attempts, back.next_attempt_at),
        (DeliveryState::Pending, 0, at)
    );
    assert!(s.attempts(d.id).await.unwrap().is_empty());
    assert!(
        s.claim_due("w", t0, t0 + LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.claim_due("w", at, at + LEASE, 1).await.unwrap().len(), 1);
}

pub async fn dead_letters_are_listed_replayed_and_discarded(s: Arc<dyn Store>) {
    let t0 = now();
    let (a, b) = (ticket("X-1"), ticket("X-2"));
    s.ingest(event("x1", &a, t0, vec![delivery(&a, "a")]))
        .await
        .unwrap();
    s.ingest(event("x2", &b, t0, vec![delivery(&b, "b")]))
        .await
        .unwrap();
    let ds = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    for (i, d) in ds.iter().enumerate() {
        let at = t0 + Duration::seconds(i as i64);
        s.finish(
            d.id,
            "w",
            &attempt(at, AttemptOutcome::Permanent),
            Finish::Dead,
        )
        .await
        .unwrap();
    }
    let dead = s.dead_letters(None, 10).await.unwrap();
    assert_eq!(
        dead.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ds[1].id, ds[0].id],
        "newest first"
    );
    assert_eq!(s.dead_letters(Some(&tenant()), 1).await.unwrap().len(), 1);
    let other = itsm_bridge::domain::TenantId::parse("other").unwrap();
    assert!(s.dead_letters(Some(&other), 10).await.unwrap().is_empty());
    assert_eq!(s.queue_stats().await.unwrap().dead, 2);

    let fixed = call(OrangeOp::AddIncidentNote, "fixed");
    let later = t0 + Duration::minutes(1);
    assert!(
        s.replay(ds[0].id, Some(fixed.clone()), later)
            .await
            .unwrap()
    );
    assert!(
        !s.replay(ds[0].id, None, later).await.unwrap(),
        "not dead any more"
    );
    let replayed = s.delivery(ds[0].id).await.unwrap().unwrap();
    assert_eq!(
        (replayed.state, replayed.attempts),
        (DeliveryState::Pending, 0)
    );
    assert_eq!((replayed.target, replayed.next_attempt_at), (fixed, later));
    assert!(
        s.claim_due("w", later - Duration::milliseconds(1), later + LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.claim_due("w", later, later + LEASE, 10).await.unwrap()[0].id,
        ds[0].id
    );

    assert!(s.discard(ds[1].id).await.unwrap());
    assert!(!s.discard(ds[1].id).await.unwrap());
    assert!(
        !s.discard(ds[0].id).await.unwrap(),
        "only dead deliveries are discarded"
    );
    assert_eq!(
        s.delivery(ds[1].id).await.unwrap().unwrap().state,
        DeliveryState::Discarded
    );
    assert!(s.dead_letters(None, 10).await.unwrap().is_empty());
}

pub async fn links_are_recorded_with_done_and_found_both_ways(s: Arc<dyn Store>) {
    let t0 = now();
    let tickets: Vec<TicketKey> = (0..5).map(|i| ticket(&format!("K-{i}"))).collect();
    for (i, t) in tickets.iter().enumerate() {
        let create = itsm_bridge::domain::NewDelivery {
            ticket: t.clone(),
            target: call(OrangeOp::CreateIncident, ""),
        };
        s.ingest(event(&format!("k{i}"), t, t0, vec![create]))
            .await
            .unwrap();
    }
    let ds = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(ds.len(), 5);
    for d in &ds {
        let link = NewLink {
            api: OrangeApi::Incident,
            orange_id: format!("INC-{}", d.ticket.ticket()),
        };
        let fin = Finish::Done {
            link: Some(link),
            echoes: vec![],
            echo_until: None,
        };
        s.finish(d.id, "w", &attempt(t0, AttemptOutcome::Success), fin)
            .await
            .unwrap();
    }
    let l = s.link(&tickets[2]).await.unwrap().expect("linked");
    assert_eq!(
        (l.api, l.orange_id.as_str(), l.created_at),
        (OrangeApi::Incident, "INC-K-2", t0)
    );
    assert_eq!((l.tenant, l.source.as_str()), (tenant(), "jira"));
    let by = s
        .link_by_orange(&tenant(), OrangeApi::Incident, "INC-K-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by.ticket, tickets[2]);
    assert!(
        s.link_by_orange(&tenant(), OrangeApi::TroubleTicket, "INC-K-2")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.link(&ticket("none")).await.unwrap().is_none());
    let page1 = s.list_links(&tenant(), None, 2).await.unwrap();
    let page2 = s
        .list_links(&tenant(), Some(&page1[1].ticket), 2)
        .await
        .unwrap();
    let page3 = s
        .list_links(&tenant(), Some(&page2[1].ticket), 2)
        .await
        .unwrap();
    let all: Vec<_> = [page1, page2, page3]
        .concat()
        .into_iter()
        .map(|l| l.ticket)
        .collect();
    assert_eq!(all, tickets, "keyset pages in ticket order");
}

pub async fn poller_lease_is_exclusive_and_taken_over_after_expiry(s: Arc<dyn Store>) {
    let t0 = now();
    assert!(s.try_lease("poller", "a", t0, t0 + LEASE).await.unwrap());
    assert!(!s.try_lease("poller", "b", t0, t0 + LEASE).await.unwrap());
    assert!(
        s.try_lease("poller", "a", t0 + Duration::seconds(10), t0 + LEASE * 2)
            .await
            .unwrap(),
        "renewed"
    );
    assert!(
        !s.try_lease("poller", "b", t0 + LEASE, t0 + LEASE * 3)
            .await
            .unwrap(),
        "renewal counts"
    );
    assert!(
        s.try_lease("other", "b", t0, t0 + LEASE).await.unwrap(),
        "leases are per name"
    );
    assert!(
        s.try_lease("poller", "b", t0 + LEASE * 2, t0 + LEASE * 3)
            .await
            .unwrap(),
        "taken over"
    );
    assert!(
        !s.try_lease("poller", "a", t0 + LEASE * 2, t0 + LEASE * 3)
            .await
            .unwrap()
    );
    s.release_lease("poller", "a").await.unwrap();
    assert!(
        !s.try_lease("poller", "a", t0 + LEASE * 2, t0 + LEASE * 3)
            .await
            .unwrap(),
        "not a's to release"
    );
    s.release_lease("poller", "b").await.unwrap();
    assert!(
        s.try_lease("poller", "a", t0 + LEASE * 2, t0 + LEASE * 3)
            .await
            .unwrap()
    );
}

pub async fn commit_poll_is_atomic_and_refused_without_the_lease(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("P-1"));
    let state = RemoteState {
        status: Some("resolved".into()),
        seen_notes: vec!["n1".into()],
        resolution: None,
    };
    let writeback = || vec![delivery(&t, "write-back")];
    let r = s
        .commit_poll(
            "poll/acme",
            "a",
            &tenant(),
            Some("w1"),
            vec![(t.clone(), state.clone())],
            writeback(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    assert!(s.try_lease("poll/acme", "a", t0, t0 + LEASE).await.unwrap());
    s.commit_poll(
        "poll/acme",
        "a",
        &tenant(),
        Some("w1"),
        vec![(t.clone(), state.clone())],
        writeback(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.watermark("poll/acme").await.unwrap().as_deref(),
        Some("w1")
    );
    assert_eq!(s.remote_state(&t).await.unwrap(), Some(state));
    let queued = s
        .claim_due("w", t0 + LEASE, t0 + LEASE * 2, 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].event_id, queued[0].ticket.clone()),
        (None, t.clone())
    );
    // Taken over: the old owner's commit changes nothing.
    assert!(
        s.try_lease("poll/acme", "b", t0 + LEASE, t0 + LEASE * 2)
            .await
            .unwrap()
    );
    let r = s
        .commit_poll(
            "poll/acme",
            "a",
            &tenant(),
            Some("w2"),
            vec![(t.clone(), RemoteState::default())],
            writeback(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    assert_eq!(
        s.watermark("poll/acme").await.unwrap().as_deref(),
        Some("w1")
    );
    assert_eq!(
        s.remote_state(&t).await.unwrap().unwrap().status.as_deref(),
        Some("resolved")
    );
    let stats = s.queue_stats().await.unwrap();
    assert_eq!((stats.pending, stats.in_flight), (0, 1));
    assert!(s.watermark("never").await.unwrap().is_none());
}

pub async fn echoes_are_remembered_until_they_expire(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("E-1"));
    s.enqueue(&tenant(), vec![delivery(&t, "write-back")])
        .await
        .unwrap();
    let d = s
        .claim_due("w", t0 + Duration::seconds(5), t0 + LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let until = t0 + Duration::minutes(10);
    let fin = Finish::Done {
        link: None,
        echoes: vec!["fp-1".into(), "fp-2".into()],
        echo_until: Some(until),
    };
    s.finish(d.id, "w", &attempt(t0, AttemptOutcome::Success), fin)
        .await
        .unwrap();
    assert!(s.is_echo(&tenant(), "fp-1", t0).await.unwrap());
    assert!(
        s.is_echo(&tenant(), "fp-2", until - Duration::milliseconds(1))
            .await
            .unwrap()
    );
    assert!(
        !s.is_echo(&tenant(), "fp-2", until).await.unwrap(),
        "expired"
    );
    assert!(!s.is_echo(&tenant(), "fp-3", t0).await.unwrap());
    let other = itsm_bridge::domain::TenantId::parse("other").unwrap();
    assert!(
        !s.is_echo(&other, "fp-1", t0).await.unwrap(),
        "echoes are per tenant"
    );
}

pub async fn heartbeat_counts_live_replicas(s: Arc<dyn Store>) {
    let t0 = now();
    assert_eq!(s.heartbeat("r1", t0, t0 + LEASE).await.unwrap(), 1);
    assert_eq!(s.heartbeat("r2", t0, t0 + LEASE).await.unwrap(), 2);
    assert_eq!(
        s.heartbeat("r1", t0 + Duration::seconds(1), t0 + LEASE * 2)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.heartbeat("r1", t0 + LEASE, t0 + LEASE * 2).await.unwrap(),
        1,
        "r2 expired"
    );
    assert_eq!(
        s.heartbeat("r3", t0 + LEASE * 3, t0 + LEASE * 2)
            .await
            .unwrap(),
        1,
        "at least one"
    );
}

pub async fn queue_stats_count_each_state_and_the_oldest_pending(s: Arc<dyn Store>) {
    let t0 = now();
    assert_eq!(s.queue_stats().await.unwrap(), Default::default());
    for i in 0..3 {
        let t = ticket(&format!("Q-{i}"));
        let at = t0 + Duration::seconds(i);
        s.ingest(event(&format!("q{i}"), &t, at, vec![delivery(&t, "x")]))
            .await
            .unwrap();
    }
    let d = s.claim_due("w", t0, t0 + LEASE, 1).await.unwrap().remove(0);
    let st = s.queue_stats().await.unwrap();
    assert_eq!((st.pending, st.in_flight, st.dead), (2, 1, 0));
    assert_eq!(st.oldest_pending, Some(t0 + Duration::seconds(1)));
    s.finish(
        d.id,
        "w",
        &attempt(t0, AttemptOutcome::Permanent),
        Finish::Dead,
    )
    .await
    .unwrap();
    let st = s.queue_stats().await.unwrap();
    assert_eq!((st.pending, st.in_flight, st.dead), (2, 0, 1));
}
