//! Ingest: dedupe, byte-exact bodies, event listing.

use std::sync::Arc;

use itsm_bridge::domain::{IngestOutcome, OrangeOp};
use itsm_bridge::store::{EventQuery, Store};

use super::super::{call, delivery, event, now, tenant, ticket};

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
