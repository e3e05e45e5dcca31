//! Ingest: dedupe, byte-exact bodies, event listing.

use std::sync::Arc;

use itsm_bridge::domain::{AttemptOutcome::Success, IngestOutcome, OrangeOp};
use itsm_bridge::store::{EventQuery, Store};

use super::super::{call, delivery, done, event, now, tenant, ticket};
use super::{finish, ingest_notes};

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

/// Many events at once (a backend that groups commits puts them in one batch): a key sent
/// several times is accepted once, even inside one batch, and every copy names that event;
/// each ticket's deliveries get distinct seqs, one head, and are handed out in seq order.
pub async fn concurrent_ingests_with_repeated_keys_dedupe_and_keep_each_ticket_in_order(
    s: Arc<dyn Store>,
) {
    repeated_keys_over(&[s]).await;
}

/// The same through several stores on one database (replicas): the database decides.
pub async fn repeated_keys_over(stores: &[Arc<dyn Store>]) {
    let s = &stores[0];
    let tickets = [ticket("G-1"), ticket("G-2"), ticket("G-3")];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..96 {
        let (s, key) = (stores[i % stores.len()].clone(), format!("g{}", i % 24));
        let t = tickets[i % 24 % 3].clone();
        // Some events plan two deliveries on two tickets, some none.
        let deliveries = match i % 24 % 4 {
            0 => vec![],
            1 => vec![delivery(&t, &key), delivery(&tickets[(i + 1) % 3], &key)],
            _ => vec![delivery(&t, &key)],
        };
        tasks.spawn(async move {
            let e = event(&key, &t, now(), deliveries);
            (key, s.ingest(e).await.unwrap())
        });
    }
    let outcomes: Vec<(String, IngestOutcome)> = tasks.join_all().await;
    let mut accepted = std::collections::HashMap::new();
    for (key, o) in &outcomes {
        if let IngestOutcome::Accepted(id) = o {
            assert!(accepted.insert(key.clone(), *id).is_none(), "{key} twice");
        }
    }
    assert_eq!(accepted.len(), 24, "every key accepted once");
    for (key, o) in &outcomes {
        assert_eq!(
            o.event_id(),
            accepted[key],
            "copies of {key} name the first"
        );
    }
    // 6 keys plan nothing, 6 plan two deliveries, 12 plan one.
    assert_eq!(s.queue_stats().await.unwrap().pending, 24);
    let later = now() + time::Duration::minutes(1);
    let mut seqs: std::collections::HashMap<String, Vec<i64>> = Default::default();
    for round in 0.. {
        let s = &stores[round % stores.len()];
        let got = s
            .claim_due("w", later, later + super::LEASE, 10)
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        let on: std::collections::HashSet<_> = got.iter().map(|d| d.ticket.clone()).collect();
        assert_eq!(on.len(), got.len(), "one head per ticket");
        for d in got {
            seqs.entry(d.ticket.to_string()).or_default().push(d.seq);
            finish(&**s, d.id, "w", later, Success, done()).await;
        }
    }
    assert_eq!(seqs.values().map(Vec::len).sum::<usize>(), 24);
    for (t, s) in &seqs {
        let want: Vec<i64> = (1..=s.len() as i64).collect();
        assert_eq!(s, &want, "ticket {t}: every seq once, in order");
    }
}

/// The head of a ticket finishing while new events for that ticket are committed never
/// leaves the ticket without a head: everything is handed out, one at a time, in seq order.
pub async fn appends_racing_with_the_heads_finish_never_strand_a_ticket(s: Arc<dyn Store>) {
    let t = ticket("R-1");
    ingest_notes(&*s, "r0", &t, now(), &["0"]).await;
    let later = now() + time::Duration::minutes(1);
    for round in 1..=20 {
        let head = s
            .claim_due("w", later, later + super::LEASE, 10)
            .await
            .unwrap();
        assert_eq!(head.len(), 1, "round {round}: the ticket has a head");
        let (s1, s2, t2) = (s.clone(), s.clone(), t.clone());
        let id = head[0].id;
        let finish = tokio::spawn(async move {
            finish(&*s1, id, "w", later, Success, done()).await;
        });
        let append = tokio::spawn(async move {
            let e = event(&format!("r{round}"), &t2, now(), vec![delivery(&t2, "n")]);
            s2.ingest(e).await.unwrap();
        });
        finish.await.unwrap();
        append.await.unwrap();
    }
    let last = s
        .claim_due("w", later, later + super::LEASE, 10)
        .await
        .unwrap();
    assert_eq!(last.len(), 1, "the last event is claimable");
}
