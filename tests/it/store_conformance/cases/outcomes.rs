//! What deliveries leave behind: dead letters, links, queue figures.

use std::sync::Arc;

use itsm_bridge::domain::{
    AttemptOutcome::{Permanent, Success},
    DeliveryState, OrangeApi, OrangeOp, TicketKey,
};
use itsm_bridge::store::{Finish, Store};
use time::Duration;

use super::super::{call, event, now, tenant, ticket};
use super::{LEASE, assert_due_at, create, done_linking, finish, ingest_notes};

pub async fn dead_letters_are_listed_replayed_and_discarded(s: Arc<dyn Store>) {
    let t0 = now();
    let (a, b) = (ticket("X-1"), ticket("X-2"));
    ingest_notes(&*s, "x1", &a, t0, &["a"]).await;
    ingest_notes(&*s, "x2", &b, t0, &["b"]).await;
    let ds = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    for (i, d) in ds.iter().enumerate() {
        let at = t0 + Duration::seconds(i as i64);
        finish(&*s, d.id, "w", at, Permanent, Finish::Dead).await;
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
    assert_due_at(&*s, ds[0].id, later - Duration::milliseconds(1), later).await;

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
        s.ingest(event(&format!("k{i}"), t, t0, vec![create(t, "")]))
            .await
            .unwrap();
    }
    let ds = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(ds.len(), 5);
    for d in &ds {
        let fin = done_linking(OrangeApi::Incident, format!("INC-{}", d.ticket.ticket()));
        finish(&*s, d.id, "w", t0, Success, fin).await;
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

pub async fn queue_stats_count_each_state_and_the_oldest_pending(s: Arc<dyn Store>) {
    let t0 = now();
    assert_eq!(s.queue_stats().await.unwrap(), Default::default());
    for i in 0..3 {
        let t = ticket(&format!("Q-{i}"));
        let at = t0 + Duration::seconds(i);
        ingest_notes(&*s, &format!("q{i}"), &t, at, &["x"]).await;
    }
    let d = s.claim_due("w", t0, t0 + LEASE, 1).await.unwrap().remove(0);
    let st = s.queue_stats().await.unwrap();
    assert_eq!((st.pending, st.in_flight, st.dead), (2, 1, 0));
    assert_eq!(st.oldest_pending, Some(t0 + Duration::seconds(1)));
    finish(&*s, d.id, "w", t0, Permanent, Finish::Dead).await;
    let st = s.queue_stats().await.unwrap();
    assert_eq!((st.pending, st.in_flight, st.dead), (2, 0, 1));
}
