//! Deliveries waiting for a link, links recorded by hand, and the retention purge.

use std::sync::Arc;

use itsm_bridge::domain::{
    AttemptOutcome::{Permanent, Success},
    DeliveryState, OrangeApi, TicketKey,
};
use itsm_bridge::store::{Finish, LinkAdded, ManualLink, PurgeCursor, PurgeRules, Store};
use time::Duration;

use super::super::{delivery, done, event, now, tenant, ticket};
use super::{LEASE, create, done_linking, finish, ingest_notes};

fn manual(t: &TicketKey, id: &str) -> ManualLink {
    ManualLink {
        tenant: tenant(),
        ticket: t.clone(),
        api: OrangeApi::Incident,
        orange_id: id.into(),
    }
}

fn wait(until: time::OffsetDateTime) -> Finish {
    Finish::WaitLink {
        until,
        reason: "no link yet".into(),
    }
}

pub async fn a_delivery_waiting_for_its_link_is_listed_counted_and_woken_by_a_link_by_hand(
    s: Arc<dyn Store>,
) {
    let t0 = now();
    let (a, b) = (ticket("W-1"), ticket("W-2"));
    ingest_notes(&*s, "w1", &a, t0, &["a1", "a2"]).await;
    ingest_notes(&*s, "w2", &b, t0, &["b"]).await;
    let ds = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(ds.len(), 2, "the heads of both tickets");
    let deadline = t0 + Duration::hours(1);
    for d in &ds {
        finish(&*s, d.id, "w", t0, Success, wait(deadline)).await;
    }
    let head_a = ds.iter().find(|d| d.ticket == a).unwrap().id;
    let d = s.delivery(head_a).await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.attempts, d.next_attempt_at),
        (DeliveryState::WaitingLink, 0, deadline)
    );
    assert_eq!(d.waiting_link.as_deref(), Some("no link yet"));
    assert!(
        s.attempts(head_a).await.unwrap().is_empty(),
        "not an attempt"
    );
    let stats = s.queue_stats().await.unwrap();
    assert_eq!((stats.waiting_link, stats.pending), (2, 1), "{stats:?}");
    assert_eq!(s.waiting_link(Some(&tenant()), 10).await.unwrap().len(), 2);
    let other = itsm_bridge::domain::TenantId::parse("other").unwrap();
    assert!(s.waiting_link(Some(&other), 10).await.unwrap().is_empty());
    // Waiting, it holds its ticket's queue and is not claimable before its deadline.
    let later = t0 + Duration::minutes(5);
    assert!(
        s.claim_due("w", later, later + LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        s.add_link(&manual(&a, "ORG-A"), later).await.unwrap(),
        LinkAdded::Added { woken: 1 }
    );
    let claimed = s.claim_due("w", later, later + LEASE, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![head_a]
    );
    assert_eq!(claimed[0].waiting_link, None);
    assert_eq!(s.link(&a).await.unwrap().unwrap().orange_id, "ORG-A");
    // The same link again changes nothing; another object, or the object for another
    // ticket, is refused with the link in the way.
    assert_eq!(
        s.add_link(&manual(&a, "ORG-A"), later).await.unwrap(),
        LinkAdded::Unchanged
    );
    match s.add_link(&manual(&a, "ORG-Z"), later).await.unwrap() {
        LinkAdded::Conflict(l) => {
            assert_eq!((l.ticket, l.orange_id.as_str()), (a.clone(), "ORG-A"))
        }
        other => panic!("{other:?}"),
    }
    match s.add_link(&manual(&b, "ORG-A"), later).await.unwrap() {
        LinkAdded::Conflict(l) => assert_eq!(l.ticket, a),
        other => panic!("{other:?}"),
    }
    let still = s.waiting_link(None, 10).await.unwrap();
    assert_eq!(still.len(), 1);
    assert_eq!(still[0].ticket, b);
}

pub async fn a_create_delivered_wakes_the_deliveries_waiting_for_its_link(s: Arc<dyn Store>) {
    let t0 = now();
    let a = ticket("C-1");
    let deliveries = vec![create(&a, "create"), delivery(&a, "note")];
    s.ingest(event("c1", &a, t0, deliveries)).await.unwrap();
    let c = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap()[0].id;
    finish(&*s, c, "w", t0, Permanent, Finish::Dead).await;
    let n = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap()[0].id;
    let until = t0 + Duration::hours(1);
    finish(&*s, n, "w", t0, Success, wait(until)).await;
    // The create is replayed and delivered: its link wakes the note at once.
    let t1 = t0 + Duration::minutes(1);
    assert!(s.replay(c, None, t1).await.unwrap());
    let again = s.claim_due("w", t1, t1 + LEASE, 10).await.unwrap();
    assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), vec![c]);
    let fin = done_linking(OrangeApi::Incident, "ORG-C");
    finish(&*s, c, "w", t1, Success, fin).await;
    let next = s.claim_due("w", t1, t1 + LEASE, 10).await.unwrap();
    assert_eq!(next.iter().map(|d| d.id).collect::<Vec<_>>(), vec![n]);
    assert_eq!(s.queue_stats().await.unwrap().waiting_link, 0);
}

/// Finishes every due head at `at` with `fin` (one per ticket per call).
async fn finish_heads(
    s: &dyn Store,
    at: time::OffsetDateTime,
    fin: impl Fn(&TicketKey) -> Option<Finish>,
) {
    for d in s.claim_due("w", at, at + LEASE, 100).await.unwrap() {
        let outcome = fin(&d.ticket).expect("a finish for every claimed ticket");
        finish(s, d.id, "w", at, Success, outcome).await;
    }
}

pub(super) async fn pass(
    s: &dyn Store,
    rules: &PurgeRules,
    dry_run: bool,
) -> itsm_bridge::store::PurgeCounts {
    let mut total = itsm_bridge::store::PurgeCounts::default();
    let mut cursor = PurgeCursor::default();
    loop {
        let step = s.purge_step(rules, &cursor, dry_run).await.unwrap();
        total.add(step.counts);
        match step.next {
            Some(c) => cursor = c,
            None => return total,
        }
    }
}

/// Old done, dead, skipped and live work, young done work and a link; `batch` small so a
/// pass takes several steps.
async fn history(s: &dyn Store) -> (time::OffsetDateTime, Vec<TicketKey>) {
    let t0 = now();
    let old = t0 - Duration::hours(2);
    let (done_t, dead_t, skip_t, live_t) = (
        ticket("R-DONE"),
        ticket("R-DEAD"),
        ticket("R-SKIP"),
        ticket("R-LIVE"),
    );
    for i in 0..3 {
        ingest_notes(s, &format!("d{i}"), &done_t, old, &["n"]).await;
    }
    ingest_notes(s, "x", &dead_t, old, &["n"]).await;
    // Event ids are UUIDv7 made on receipt: the skipped one's says it came in at `old`.
    let mut skipped = event("s", &skip_t, old, vec![]);
    skipped.id = uuid_at(old);
    s.ingest(skipped).await.unwrap();
    ingest_notes(s, "l", &live_t, old, &["n"]).await;
    // R-DONE: the first delivery creates the link; R-DEAD dies; R-LIVE stays in flight.
    finish_heads(s, old, |t| {
        if *t == done_t {
            Some(done_linking(OrangeApi::Incident, "ORG-R"))
        } else if *t == dead_t {
            Some(Finish::Dead)
        } else {
            Some(Finish::Retry {
                at: t0 + Duration::hours(1),
            })
        }
    })
    .await;
    for _ in 0..2 {
        finish_heads(s, old, |t| (*t == done_t).then(done)).await;
    }
    // Young: one more done event of R-DONE, now.
    ingest_notes(s, "young", &done_t, t0, &["n"]).await;
    finish_heads(s, t0, |t| (*t == done_t).then(done)).await;
    (t0, vec![done_t, dead_t, skip_t, live_t])
}

pub(super) fn uuid_at(t: time::OffsetDateTime) -> itsm_bridge::domain::EventId {
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, t.unix_timestamp() as u64, t.nanosecond());
    itsm_bridge::domain::EventId::parse(&uuid::Uuid::new_v7(ts).to_string()).unwrap()
}

fn rules(t0: time::OffsetDateTime) -> PurgeRules {
    PurgeRules {
        done_before: Some(t0 - Duration::hours(1)),
        skipped_before: Some(t0 - Duration::hours(1)),
        dead_before: None,
        batch: 2,
    }
}

pub async fn purge_removes_finished_work_past_retention_and_keeps_links_dead_letters_and_live_work(
    s: Arc<dyn Store>,
) {
    let (t0, tickets) = history(s.as_ref()).await;
    let [done_t, dead_t, skip_t, live_t] = <[TicketKey; 4]>::try_from(tickets).unwrap();
    let events_of = |t: TicketKey| {
        let s = s.clone();
        async move {
            let q = itsm_bridge::store::EventQuery {
                ticket: Some(t),
                limit: 50,
                ..Default::default()
            };
            s.list_events(&q).await.unwrap().len()
        }
    };
    let gone = pass(s.as_ref(), &rules(t0), false).await;
    assert_eq!(
        (gone.events, gone.deliveries, gone.attempts),
        (4, 3, 3),
        "{gone:?}"
    );
    assert_eq!(events_of(done_t.clone()).await, 1, "the young event stays");
    assert_eq!(events_of(skip_t).await, 0);
    assert_eq!(
        events_of(dead_t).await,
        1,
        "dead letters wait for an operator"
    );
    assert_eq!(events_of(live_t).await, 1, "live work stays");
    assert_eq!(s.dead_letters(None, 10).await.unwrap().len(), 1);
    let link = s
        .link(&done_t)
        .await
        .unwrap()
        .expect("the link is never purged");
    assert_eq!(link.orange_id, "ORG-R");
    let stats = s.queue_stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (1, 1));
    // Nothing more at the same instant; with dead letters past retention, the dead goes too.
    assert_eq!(pass(s.as_ref(), &rules(t0), false).await.total(), 0);
    let dead_too = PurgeRules {
        dead_before: Some(t0),
        ..rules(t0)
    };
    let gone = pass(s.as_ref(), &dead_too, false).await;
    assert_eq!(
        (gone.events, gone.deliveries, gone.attempts),
        (1, 1, 1),
        "{gone:?}"
    );
    assert!(s.dead_letters(None, 10).await.unwrap().is_empty());
    assert_eq!(s.queue_stats().await.unwrap().pending, 1, "live work stays");
}

pub async fn a_dry_run_purge_counts_what_would_go_and_deletes_nothing(s: Arc<dyn Store>) {
    let (t0, tickets) = history(s.as_ref()).await;
    let would = pass(s.as_ref(), &rules(t0), true).await;
    assert_eq!(
        (would.events, would.deliveries, would.attempts),
        (4, 3, 3),
        "{would:?}"
    );
    let again = pass(s.as_ref(), &rules(t0), true).await;
    assert_eq!(would, again, "a dry run deleted something");
    let q = itsm_bridge::store::EventQuery {
        ticket: Some(tickets[0].clone()),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(s.list_events(&q).await.unwrap().len(), 4);
    let gone = pass(s.as_ref(), &rules(t0), false).await;
    assert_eq!((gone.events, gone.deliveries, gone.attempts), (4, 3, 3));
}
