//! The poller's and replicas' state: leases, atomic poll commits, echoes, heartbeats.

use std::sync::Arc;

use itsm_bridge::domain::{AttemptOutcome::Success, RemoteState};
use itsm_bridge::store::{Finish, Store, StoreError};
use time::Duration;

use super::super::{delivery, now, tenant, ticket};
use super::{LEASE, finish};

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
        ..RemoteState::default()
    };
    // `a`'s commit of `watermark` with `t`'s remote state and one write-back.
    let acme = tenant();
    let commit = async |watermark: &str, state: RemoteState| {
        let changes = vec![(t.clone(), state)];
        let writeback = vec![delivery(&t, "write-back")];
        s.commit_poll("poll/acme", "a", &acme, Some(watermark), changes, writeback)
            .await
    };
    let r = commit("w1", state.clone()).await;
    assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{r:?}");
    assert!(s.try_lease("poll/acme", "a", t0, t0 + LEASE).await.unwrap());
    commit("w1", state.clone()).await.unwrap();
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
    let r = commit("w2", RemoteState::default()).await;
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
    finish(&*s, d.id, "w", t0, Success, fin).await;
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
