//! Claims: no double claim, leases, per-ticket order, retry and defer.

use std::collections::HashSet;
use std::sync::Arc;

use itsm_bridge::domain::AttemptOutcome::{Permanent, Retryable, Success};
use itsm_bridge::domain::{Delivery, DeliveryState, OrangeOp, Timestamp};
use itsm_bridge::store::{Finish, Store, StoreError};
use time::Duration;

use super::super::{attempt, call, delivery, done, now, tenant, ticket};
use super::{LEASE, assert_due_at, finish, ingest_notes};

pub async fn concurrent_claims_never_hand_out_one_delivery_twice(s: Arc<dyn Store>) {
    let t0 = now();
    for i in 0..200 {
        let t = ticket(&format!("C-{i}"));
        ingest_notes(&*s, &format!("c{i}"), &t, t0, &["x"]).await;
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
    ingest_notes(&*s, "l", &t, t0, &["x"]).await;
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
        .finish(first[0].id, "a", &attempt(t0, Success), done())
        .await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    finish(&*s, first[0].id, "b", t0, Success, done()).await;
    assert_eq!(
        s.delivery(first[0].id).await.unwrap().unwrap().state,
        DeliveryState::Done
    );
}

pub async fn finish_by_a_non_owner_is_refused_with_lease_lost(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("N-1"));
    ingest_notes(&*s, "n", &t, t0, &["x"]).await;
    let d = s
        .claim_due("owner", t0, t0 + LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let success = async |id, owner: &str| {
        let a = attempt(t0, Success);
        s.finish(id, owner, &a, done()).await
    };
    let r = success(d.id, "intruder").await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    let still = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((still.state, still.attempts), (DeliveryState::InFlight, 0));
    assert!(s.attempts(d.id).await.unwrap().is_empty());
    let missing = itsm_bridge::domain::DeliveryId(d.id.0 + 1000);
    let r = success(missing, "owner").await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
}

pub async fn a_ticket_delivery_waits_until_its_predecessor_is_final(s: Arc<dyn Store>) {
    let (t0, a, b) = (now(), ticket("O-1"), ticket("O-2"));
    ingest_notes(&*s, "o1", &a, t0, &["first", "second"]).await;
    ingest_notes(&*s, "o2", &b, t0, &["other"]).await;
    ingest_notes(&*s, "o3", &a, t0, &["third"]).await;
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
    let retry = Finish::Retry { at: t0 };
    finish(&*s, first.id, "w", t0, Retryable, retry).await;
    let next = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![first.id]
    );
    finish(&*s, first.id, "w", t0, Permanent, Finish::Dead).await;
    let next = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].target, call(OrangeOp::AddIncidentNote, "second"));
    assert!(next[0].seq > first.seq);
    finish(&*s, next[0].id, "w", t0, Success, done()).await;
    let last = s.claim_due("w", t0, t0 + LEASE, 10).await.unwrap();
    assert_eq!(last[0].target, call(OrangeOp::AddIncidentNote, "third"));
}

/// The one delivery of ticket `name`, claimed at `t0` and handed back with `fin` after a
/// retryable attempt, as the store keeps it then (asserting it is pending again).
async fn handed_back(s: &dyn Store, name: &str, t0: Timestamp, fin: Finish) -> Delivery {
    let t = ticket(name);
    ingest_notes(s, name, &t, t0, &["x"]).await;
    let d = s.claim_due("w", t0, t0 + LEASE, 1).await.unwrap().remove(0);
    finish(s, d.id, "w", t0, Retryable, fin).await;
    let back = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(back.state, DeliveryState::Pending, "{back:?}");
    back
}

pub async fn retry_reschedules_and_is_not_claimable_before_its_time(s: Arc<dyn Store>) {
    let t0 = now();
    let at = t0 + Duration::minutes(5);
    let back = handed_back(&*s, "R-1", t0, Finish::Retry { at }).await;
    assert_eq!((back.attempts, back.next_attempt_at), (1, at));
    assert_eq!(
        back.last_error.as_deref(),
        Some("HTTP 503 upstream unavailable")
    );
    assert_due_at(&*s, back.id, at - Duration::milliseconds(1), at).await;
    let history = s.attempts(back.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0], attempt(t0, Retryable));
}

pub async fn defer_does_not_count_an_attempt(s: Arc<dyn Store>) {
    let t0 = now();
    let at = t0 + Duration::seconds(10);
    let back = handed_back(&*s, "D-1", t0, Finish::Defer { at }).await;
    assert_eq!(
        (back.attempts, back.next_attempt_at),
        (0, at),
        "no attempt counted"
    );
    assert!(s.attempts(back.id).await.unwrap().is_empty());
    assert_due_at(&*s, back.id, t0, at).await;
}

pub async fn concurrent_appends_to_one_ticket_keep_one_head_and_distinct_seqs(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("S-1"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (s, t) = (s.clone(), t.clone());
        tasks.spawn(async move {
            if i % 2 == 0 {
                ingest_notes(&*s, &format!("s{i}"), &t, t0, &[&i.to_string()]).await;
            } else {
                s.enqueue(&tenant(), vec![delivery(&t, &i.to_string())])
                    .await
                    .unwrap();
            }
        });
    }
    tasks.join_all().await;
    let later = t0 + Duration::minutes(1);
    let mut seqs = vec![];
    loop {
        let got = s.claim_due("w", later, later + LEASE, 10).await.unwrap();
        if got.is_empty() {
            break;
        }
        assert_eq!(got.len(), 1, "one head per ticket");
        assert!(
            s.claim_due("w2", later, later + LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        seqs.push(got[0].seq);
        finish(&*s, got[0].id, "w", later, Success, done()).await;
    }
    assert_eq!(seqs.len(), 40);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "handed out in seq order: {seqs:?}"
    );
}
