//! Claims: no double claim, leases, per-ticket order, retry and defer.

use std::collections::HashSet;
use std::sync::Arc;

use itsm_bridge::domain::{AttemptOutcome, DeliveryState, OrangeOp};
use itsm_bridge::store::{Finish, Store, StoreError};
use time::Duration;

use super::super::{attempt, call, delivery, done, event, now, tenant, ticket};
use super::LEASE;

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

pub async fn concurrent_appends_to_one_ticket_keep_one_head_and_distinct_seqs(s: Arc<dyn Store>) {
    let (t0, t) = (now(), ticket("S-1"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (s, t) = (s.clone(), t.clone());
        tasks.spawn(async move {
            if i % 2 == 0 {
                s.ingest(event(
                    &format!("s{i}"),
                    &t,
                    t0,
                    vec![delivery(&t, &i.to_string())],
                ))
                .await
                .unwrap();
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
        s.finish(
            got[0].id,
            "w",
            &attempt(later, AttemptOutcome::Success),
            done(),
        )
        .await
        .unwrap();
    }
    assert_eq!(seqs.len(), 40);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "handed out in seq order: {seqs:?}"
    );
}
