//! The dispatcher against fakes (`fakes.rs`): order per ticket, retries and dead letters,
//! duplicates never made (a linked create skipped, an earlier try read back before sending
//! again), deferrals, and deliveries waiting for their link.

use super::*;
use crate::domain::call::ItsmKind;
use crate::domain::{DeliveryId, DeliveryState, ItsmCall, ItsmOp, OrangeApi, OrangeOp, TenantId};
use crate::store::{LinkAdded, ManualLink};
use fakes::*;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_create_then_its_update_reach_the_same_incident_in_order() {
    let r = rig();
    let c = r.add_orange("demo", "INC1", OrangeOp::CreateIncident);
    let u = r.add_orange("demo", "INC1", OrangeOp::UpdateIncident);
    assert_eq!(
        r.d.tick(t0()).await.unwrap(),
        1,
        "only the ticket's head is claimed"
    );
    assert_eq!(r.d.tick(t0()).await.unwrap(), 1);
    assert_eq!(r.store.get(c).state, DeliveryState::Done);
    assert_eq!(r.store.get(u).state, DeliveryState::Done);
    assert_eq!(r.store.link_of("INC1").as_deref(), Some("ORG-1"));
    let calls = r.orange.calls.lock().unwrap().clone();
    assert_eq!(
        calls[1],
        (
            "demo".into(),
            "update_incident".into(),
            Some("ORG-1".into())
        )
    );
    let a = r.store.attempts_of(c);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].outcome, AttemptOutcome::Success);
}

#[tokio::test]
async fn an_update_whose_create_is_dead_waits_without_burning_attempts() {
    let r = rig();
    let c = r.add_orange("demo", "INC2", OrangeOp::CreateIncident);
    let u = r.add_orange("demo", "INC2", OrangeOp::AddIncidentNote);
    r.orange.then(
        Err(failure(FailureClass::Permanent, Some(400), Some("24"))),
        false,
    );
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(c).state, DeliveryState::Dead);
    r.d.tick(t0()).await.unwrap();
    let d = r.store.get(u);
    assert_eq!((d.state, d.attempts), (DeliveryState::WaitingLink, 0));
    assert_eq!(d.next_attempt_at, t0() + Duration::from_secs(3600));
    assert!(d.waiting_link.as_deref().unwrap().contains("no link"));
    assert!(r.store.attempts_of(u).is_empty());
    assert_eq!(
        r.orange.calls.lock().unwrap().len(),
        1,
        "no call without a link"
    );
    let a = &r.store.attempts_of(c)[0];
    assert_eq!(
        (a.http_status, a.error_code.as_deref()),
        (Some(400), Some("24"))
    );
}

#[tokio::test]
async fn retryable_failures_back_off_honour_retry_after_and_end_dead() {
    let r = rig();
    let id = r.add_orange("demo", "INC3", OrangeOp::CreateIncident);
    let ra = Duration::from_secs(120);
    r.orange.then(
        Err(failure(
            FailureClass::Retryable {
                retry_after: Some(ra),
            },
            Some(429),
            Some("53"),
        )),
        false,
    );
    r.d.tick(t0()).await.unwrap();
    let d = r.store.get(id);
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 1));
    assert!(d.next_attempt_at >= t0() + ra, "Retry-After is a floor");
    assert_eq!(r.d.tick(t0()).await.unwrap(), 0, "not due before its time");
    for n in 1..=2 {
        r.orange.then(
            Err(failure(
                FailureClass::Retryable { retry_after: None },
                Some(500),
                None,
            )),
            false,
        );
        r.d.tick(t0() + Duration::from_secs(3600 * n))
            .await
            .unwrap();
    }
    let d = r.store.get(id);
    assert_eq!(
        (d.state, d.attempts),
        (DeliveryState::Dead, 3),
        "exhausted after max_attempts"
    );
    assert_eq!(r.store.attempts_of(id).len(), 3);
}

#[tokio::test]
async fn a_create_with_unknown_outcome_is_found_and_linked_not_created_again() {
    let r = rig();
    let id = r.add_orange("demo", "INC4", OrangeOp::CreateIncident);
    r.orange.then_applied_unanswered();
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(id).state, DeliveryState::Pending);
    r.d.tick(later()).await.unwrap();
    assert_eq!(r.store.get(id).state, DeliveryState::Done);
    assert_eq!(r.store.link_of("INC4").as_deref(), Some("ORG-1"));
    assert_eq!(r.orange.calls.lock().unwrap().len(), 1, "one create only");
    assert_eq!(*r.orange.lookups.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_retried_create_that_never_landed_is_created_once() {
    let r = rig();
    let id = r.add_orange("demo", "INC5", OrangeOp::CreateIncident);
    r.orange.then(
        Err(failure(
            FailureClass::Retryable { retry_after: None },
            Some(503),
            None,
        )),
        false,
    );
    r.d.tick(t0()).await.unwrap();
    r.d.tick(later()).await.unwrap();
    assert_eq!(r.store.get(id).state, DeliveryState::Done);
    assert_eq!(r.orange.created.lock().unwrap().len(), 1);
    assert_eq!(r.orange.calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn itsm_write_backs_finish_with_their_echo_fingerprints() {
    let r = rig();
    let id = r.store.add(
        "demo",
        "J-1",
        Target::Itsm(ItsmCall {
            itsm: ItsmKind::Jira,
            op: ItsmOp::JiraComment {
                issue: "J-1".into(),
                body: "hi".into(),
                public: false,
            },
            fingerprint: None,
        }),
    );
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(id).state, DeliveryState::Done);
    assert_eq!(*r.itsm.calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_throttled_tenant_is_deferred_while_another_proceeds() {
    let r = rig();
    r.orange.slow_tenants.lock().unwrap().push("slow".into());
    let s = r.add_orange("slow", "A", OrangeOp::CreateIncident);
    let f = r.add_orange("fast", "B", OrangeOp::CreateIncident);
    assert_eq!(r.d.tick(t0()).await.unwrap(), 2);
    assert_eq!(r.store.get(f).state, DeliveryState::Done);
    let d = r.store.get(s);
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    assert!(d.next_attempt_at >= t0() + Duration::from_secs(5));
}

#[tokio::test]
async fn a_repeated_create_on_a_linked_ticket_creates_nothing() {
    let r = rig();
    r.add_orange("demo", "INC6", OrangeOp::CreateIncident);
    let again = r.add_orange("demo", "INC6", OrangeOp::CreateIncident);
    r.d.tick(t0()).await.unwrap();
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(again).state, DeliveryState::Done);
    assert_eq!(r.orange.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_note_applied_before_its_connection_dropped_is_not_sent_again() {
    let r = rig();
    r.add_orange("demo", "INC7", OrangeOp::CreateIncident);
    let n = r.add_orange("demo", "INC7", OrangeOp::AddIncidentNote);
    r.d.tick(t0()).await.unwrap();
    r.orange.then_applied_unanswered();
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(n).state, DeliveryState::Pending);
    r.d.tick(later()).await.unwrap();
    assert_eq!(r.store.get(n).state, DeliveryState::Done);
    assert_eq!(r.orange.calls.lock().unwrap().len(), 2, "create + one note");
    assert_eq!(r.orange.applied.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_create_reclaimed_after_its_worker_died_is_looked_up_before_sending() {
    let r = rig();
    let id = r.add_orange("demo", "INC8", OrangeOp::CreateIncident);
    // The first worker sent it (Orange applied it) and died before recording anything.
    r.orange
        .created
        .lock()
        .unwrap()
        .insert("INC8".into(), "ORG-77".into());
    let lease = Duration::from_secs(DeliveryConfig::default().lease_secs);
    r.d.tick(t0() + lease).await.unwrap();
    assert_eq!(r.store.get(id).state, DeliveryState::Done);
    assert_eq!(r.store.link_of("INC8").as_deref(), Some("ORG-77"));
    assert!(
        r.orange.calls.lock().unwrap().is_empty(),
        "not created again"
    );
}

#[tokio::test]
async fn a_slot_is_free_for_the_next_call_while_an_outcome_waits_for_its_commit() {
    let store = Arc::new(FakeStore::default());
    let gateway = Arc::new(FakeOrange::default());
    let d = shared(
        &store,
        gateway.clone(),
        Arc::new(FakeItsm::default()),
        slots(1),
    );
    let a = store.add("demo", "INC1", orange(OrangeOp::CreateIncident, "INC1"));
    let b = store.add("demo", "INC2", orange(OrangeOp::CreateIncident, "INC2"));
    let slow_commit = store.finishing.write().await;
    let token = CancellationToken::new();
    let run = tokio::spawn(d.run(token.clone()));
    wait_until(
        "with one slot, the second call went out while the first outcome was unrecorded",
        || gateway.calls.lock().unwrap().len() >= 2,
    )
    .await;
    assert_eq!(store.get(a).state, DeliveryState::InFlight);
    drop(slow_commit);
    wait_until(
        "both outcomes recorded once the commit went through",
        || {
            [a, b]
                .iter()
                .all(|id| store.get(*id).state == DeliveryState::Done)
        },
    )
    .await;
    token.cancel();
    run.await.unwrap();
}

/// Orange whose calls each wait for a permit of `gate`; `started` counts the calls begun.
struct GatedOrange {
    gate: tokio::sync::Semaphore,
    started: std::sync::Mutex<usize>,
}

impl Default for GatedOrange {
    fn default() -> Self {
        Self {
            gate: tokio::sync::Semaphore::new(0),
            started: std::sync::Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl OrangeGateway for GatedOrange {
    fn admit(&self, _: &TenantId, _: Duration) -> Result<(), Duration> {
        Ok(())
    }
    async fn deliver(
        &self,
        _: &TenantId,
        _: &OrangeCall,
        _: Option<&str>,
        _: Option<Timestamp>,
    ) -> Result<Delivered, CallFailure> {
        *self.started.lock().unwrap() += 1;
        let _ = self.gate.acquire().await.map(|p| p.forget());
        Ok(Delivered::Sent {
            created_id: Some("ORG-1".into()),
        })
    }
}

/// One slot, two due creates: returns once the first call is out (held at the gate) and the
/// second delivery is claimed ahead of a free slot.
struct AheadRig {
    store: Arc<FakeStore>,
    gateway: Arc<GatedOrange>,
    a: DeliveryId,
    b: DeliveryId,
    token: CancellationToken,
    run: tokio::task::JoinHandle<()>,
}

async fn one_slot_with_the_second_claimed_ahead() -> AheadRig {
    let store = Arc::new(FakeStore::default());
    let gateway = Arc::new(GatedOrange::default());
    let d = shared(
        &store,
        gateway.clone(),
        Arc::new(FakeItsm::default()),
        slots(1),
    );
    let a = store.add("demo", "INC1", orange(OrangeOp::CreateIncident, "INC1"));
    let b = store.add("demo", "INC2", orange(OrangeOp::CreateIncident, "INC2"));
    store.due_now(a);
    store.due_now(b);
    let token = CancellationToken::new();
    let run = tokio::spawn(d.run(token.clone()));
    wait_until(
        "the first call is out and the second delivery claimed ahead of a free slot",
        || *gateway.started.lock().unwrap() == 1 && store.get(b).state == DeliveryState::InFlight,
    )
    .await;
    AheadRig {
        store,
        gateway,
        a,
        b,
        token,
        run,
    }
}

#[tokio::test]
async fn a_delivery_claimed_ahead_starts_when_its_slot_frees_without_a_claim_or_a_commit() {
    let AheadRig {
        store,
        gateway,
        a,
        b,
        token,
        run,
    } = one_slot_with_the_second_claimed_ahead().await;
    // From here no claim and no commit answers.
    let no_claims = store.claiming.write().await;
    let no_commits = store.finishing.write().await;
    gateway.gate.add_permits(1);
    wait_until(
        "the second call went out as soon as the first ended",
        || *gateway.started.lock().unwrap() == 2,
    )
    .await;
    assert_eq!(
        store.get(a).state,
        DeliveryState::InFlight,
        "a's outcome is not recorded yet"
    );
    gateway.gate.add_permits(1);
    drop((no_claims, no_commits));
    wait_until("both outcomes recorded", || {
        [a, b]
            .iter()
            .all(|id| store.get(*id).state == DeliveryState::Done)
    })
    .await;
    token.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn claimed_deliveries_not_started_are_handed_back_at_shutdown() {
    let AheadRig {
        store,
        gateway,
        a,
        b,
        token,
        run,
    } = one_slot_with_the_second_claimed_ahead().await;
    token.cancel();
    gateway.gate.add_permits(1);
    run.await.unwrap();
    assert_eq!(
        store.get(a).state,
        DeliveryState::Done,
        "the call under way finished"
    );
    let b = store.get(b);
    assert_eq!(
        (b.state, b.attempts),
        (DeliveryState::Pending, 0),
        "b was handed back unstarted, no attempt used"
    );
    assert!(
        b.next_attempt_at <= time::OffsetDateTime::now_utc(),
        "due at once"
    );
    assert_eq!(*gateway.started.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_delivery_waiting_for_its_link_is_dead_lettered_no_link_at_its_deadline() {
    let r = rig();
    let u = r.add_orange("demo", "OLD1", OrangeOp::AddIncidentNote);
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(u).state, DeliveryState::WaitingLink);
    // Not due before its deadline, and the deadline does not move while it waits.
    let just_before = t0() + Duration::from_secs(3599);
    assert_eq!(r.d.tick(just_before).await.unwrap(), 0);
    assert_eq!(r.d.tick(later()).await.unwrap(), 1);
    let d = r.store.get(u);
    assert_eq!((d.state, d.attempts), (DeliveryState::Dead, 1));
    assert_eq!(d.waiting_link, None);
    let a = &r.store.attempts_of(u)[0];
    assert_eq!(a.outcome, AttemptOutcome::Permanent);
    assert_eq!(a.error_code.as_deref(), Some(crate::domain::NO_LINK));
    assert!(a.error.as_deref().unwrap().contains("links add"), "{a:?}");
    assert!(r.orange.calls.lock().unwrap().is_empty(), "nothing sent");
}

#[tokio::test]
async fn a_delivery_waiting_for_its_link_proceeds_once_it_is_linked_by_hand() {
    let r = rig();
    let u = r.add_orange("demo", "OLD2", OrangeOp::AddIncidentNote);
    r.d.tick(t0()).await.unwrap();
    let t = r.store.get(u).ticket;
    let link = ManualLink {
        tenant: TenantId::parse("demo").unwrap(),
        ticket: t,
        api: OrangeApi::Incident,
        orange_id: "ORG-77".into(),
    };
    let at = t0() + Duration::from_secs(60);
    assert_eq!(r.store.add_link(&link, at), LinkAdded::Added { woken: 1 });
    assert_eq!(r.d.tick(at).await.unwrap(), 1);
    assert_eq!(r.store.get(u).state, DeliveryState::Done);
    let calls = r.orange.calls.lock().unwrap();
    assert_eq!(calls[0].2.as_deref(), Some("ORG-77"));
}

#[tokio::test]
async fn a_throttled_delivery_keeps_waiting_for_its_link_with_its_deadline() {
    let r = rig();
    let u = r.add_orange("slow", "OLD3", OrangeOp::AddIncidentNote);
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(u).state, DeliveryState::WaitingLink);
    r.orange.slow_tenants.lock().unwrap().push("slow".into());
    r.d.tick(later()).await.unwrap();
    let d = r.store.get(u);
    assert_eq!(
        d.state,
        DeliveryState::WaitingLink,
        "deferred, still waiting"
    );
    r.orange.slow_tenants.lock().unwrap().clear();
    r.d.tick(d.next_attempt_at).await.unwrap();
    assert_eq!(r.store.get(u).state, DeliveryState::Dead);
}

mod fair_cases;
mod fakes;
