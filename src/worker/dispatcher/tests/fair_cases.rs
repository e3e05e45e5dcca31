//! Fair slots against fakes: write-backs put off while their ITSM budget has no room, and a
//! tenant's cap of calls in flight.

use std::sync::Mutex;

use async_trait::async_trait;

use super::*;

fn write_back(issue: &str) -> Target {
    Target::Itsm(ItsmCall {
        itsm: ItsmKind::Jira,
        op: ItsmOp::JiraComment {
            issue: issue.into(),
            body: "hi".into(),
            public: true,
        },
        fingerprint: None,
    })
}

#[tokio::test]
async fn a_write_back_with_no_room_is_deferred_to_its_turn_without_an_attempt() {
    let r = rig();
    *r.itsm.no_room.lock().unwrap() = Some(Duration::from_secs(3));
    let id = r.store.add("demo", "J-1", write_back("J-1"));
    r.d.tick(t0()).await.unwrap();
    let d = r.store.get(id);
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    assert_eq!(d.next_attempt_at, t0() + Duration::from_secs(3));
    assert!(r.store.attempts_of(id).is_empty(), "no attempt used");
    assert_eq!(*r.itsm.calls.lock().unwrap(), 0, "nothing sent");

    *r.itsm.no_room.lock().unwrap() = None;
    r.d.tick(t0() + Duration::from_secs(3)).await.unwrap();
    assert_eq!(r.store.get(id).state, DeliveryState::Done);
    assert_eq!(*r.itsm.calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_write_back_with_no_room_releases_its_slot_to_the_next_delivery() {
    let store = Arc::new(FakeStore::default());
    let gateway = Arc::new(FakeOrange::default());
    let itsm = Arc::new(FakeItsm::default());
    *itsm.no_room.lock().unwrap() = Some(Duration::from_secs(3600));
    let d = shared(&store, gateway.clone(), itsm.clone(), slots(1));
    let wb = store.add("demo", "J-1", write_back("J-1"));
    let create = store.add("demo", "INC1", orange(OrangeOp::CreateIncident, "INC1"));
    store.due_now(wb);
    store.due_now(create);
    let token = CancellationToken::new();
    let run = tokio::spawn(d.run(token.clone()));
    wait_until(
        "the only slot went to the create while the write-back waited for its turn",
        || store.get(create).state == DeliveryState::Done,
    )
    .await;
    token.cancel();
    run.await.unwrap();
    let w = store.get(wb);
    assert_eq!((w.state, w.attempts), (DeliveryState::Pending, 0));
    assert!(w.next_attempt_at > time::OffsetDateTime::now_utc() + Duration::from_secs(3000));
}

/// Orange where one tenant's calls hang until the gate is closed.
struct HangingOrange {
    gate: tokio::sync::Semaphore,
    hanging: Mutex<u32>,
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl OrangeGateway for HangingOrange {
    fn admit(&self, _: &TenantId, _: Duration) -> Result<(), Duration> {
        Ok(())
    }
    async fn deliver(
        &self,
        tenant: &TenantId,
        _: &OrangeCall,
        _: Option<&str>,
        _: Option<Timestamp>,
    ) -> Result<Delivered, CallFailure> {
        if tenant.as_str() == "stuck" {
            *self.hanging.lock().unwrap() += 1;
            let _ = self.gate.acquire().await;
        }
        self.sent.lock().unwrap().push(tenant.to_string());
        Ok(Delivered::Sent {
            created_id: Some(format!("ORG-{}", self.sent.lock().unwrap().len())),
        })
    }
}

impl HangingOrange {
    /// Every call hangs until `gate` is closed.
    fn new() -> Arc<Self> {
        Arc::new(Self {
            gate: tokio::sync::Semaphore::new(0),
            hanging: Mutex::default(),
            sent: Mutex::default(),
        })
    }
}

/// Whether every one of `ids` is done.
fn all_done(store: &FakeStore, ids: &[DeliveryId]) -> bool {
    ids.iter()
        .all(|id| store.get(*id).state == DeliveryState::Done)
}

/// `n` creates of `tenant`, one ticket each (`{prefix}0`, `{prefix}1`…), due now.
fn due_creates(store: &FakeStore, tenant: &str, prefix: &str, n: usize) -> Vec<DeliveryId> {
    (0..n)
        .map(|i| {
            let t = format!("{prefix}{i}");
            let id = store.add(tenant, &t, orange(OrangeOp::CreateIncident, &t));
            store.due_now(id);
            id
        })
        .collect()
}

#[tokio::test]
async fn a_tenant_at_its_cap_is_put_off_while_another_tenant_gets_the_free_slots() {
    let store = Arc::new(FakeStore::default());
    let gateway = HangingOrange::new();
    let config = slots(8);
    assert_eq!(config.tenant_concurrency(), 2, "a quarter of the slots");
    let d = shared(
        &store,
        gateway.clone(),
        Arc::new(FakeItsm::default()),
        config,
    );
    let stuck = due_creates(&store, "stuck", "S", 6);
    let calm = due_creates(&store, "calm", "C", 6);
    let token = CancellationToken::new();
    let run = tokio::spawn(d.clone().run(token.clone()));
    wait_until(
        "the calm tenant's deliveries all completed while the other's hung",
        || all_done(&store, &calm),
    )
    .await;
    assert_eq!(
        *gateway.hanging.lock().unwrap(),
        2,
        "only the cap of calls hangs"
    );
    assert_eq!(d.fair.in_flight(&TenantId::parse("stuck").unwrap()), 2);
    for id in &stuck {
        let s = store.get(*id);
        assert_ne!(s.state, DeliveryState::Done);
        assert_eq!(s.attempts, 0, "being put off at the cap uses no attempt");
    }
    // Released, the stuck tenant's calls go through.
    gateway.gate.close();
    token.cancel();
    run.await.unwrap();
    let sent = gateway.sent.lock().unwrap().clone();
    assert_eq!(sent.iter().filter(|t| *t == "calm").count(), 6);
}

#[test]
fn a_single_tenant_may_use_every_slot_unless_its_share_is_set() {
    let mut c = DeliveryConfig {
        concurrency: 16,
        ..DeliveryConfig::default()
    };
    assert_eq!(c.for_tenants(1).tenant_concurrency(), 16);
    assert_eq!(c.for_tenants(2).tenant_concurrency(), 4);
    c.per_tenant_concurrency = Some(3);
    assert_eq!(c.for_tenants(1).tenant_concurrency(), 3);
}

#[tokio::test]
async fn a_delivery_left_by_a_dead_worker_is_not_put_off_at_the_cap_but_marked_for_read_back() {
    let r = rig();
    // Overdue by a lease (claimable again only because a worker's lease ran out) and no
    // room in the ITSM budget: deferring it would erase the only trace that it may have
    // been sent, so an attempt of unknown outcome is recorded instead.
    *r.itsm.no_room.lock().unwrap() = Some(Duration::from_secs(60));
    let id = r.store.add("demo", "J-9", write_back("J-9"));
    let lease = Duration::from_secs(DeliveryConfig::default().lease_secs);
    r.d.tick(t0() + lease + Duration::from_secs(1))
        .await
        .unwrap();
    let d = r.store.get(id);
    assert_eq!(d.attempts, 1, "the unknown outcome is an attempt: {d:?}");
    assert!(d.last_error.is_some());
    assert_eq!(*r.itsm.calls.lock().unwrap(), 0, "nothing sent");
}

#[test]
fn a_lone_tenant_borrows_what_other_shares_leave_and_beside_another_tenant_its_cap_holds() {
    use crate::worker::dispatcher::fair::{Refused, TenantSlots};
    let slots = TenantSlots::new(2, Some(4));
    let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
    let mut held: Vec<_> = (0..4)
        .map(|_| slots.enter(&a).expect("alone, a borrows up to 4"))
        .collect();
    assert_eq!(
        slots.enter(&a).err(),
        Some(Refused::Busy),
        "a waits for its own calls"
    );
    assert_eq!(slots.borrowers(), vec![a.clone()]);
    let b1 = slots.enter(&b).expect("b finds its share free");
    drop(held.pop());
    assert!(
        matches!(slots.enter(&a), Err(Refused::Capped(_))),
        "beside b's call, a is put off at its cap"
    );
    drop(b1);
    assert!(slots.enter(&a).is_ok(), "alone again, a borrows again");
    // A set cap is a hard cap.
    let hard = TenantSlots::new(2, None);
    let _two = [hard.enter(&a).unwrap(), hard.enter(&a).unwrap()];
    assert!(matches!(hard.enter(&a), Err(Refused::Capped(_))));
}

#[test]
fn a_lone_tenant_may_borrow_only_what_every_other_tenant_s_share_leaves() {
    let c = DeliveryConfig {
        concurrency: 8,
        ..DeliveryConfig::default()
    };
    assert_eq!(
        c.for_tenants(1).lend,
        None,
        "one tenant: a cap of every slot"
    );
    assert_eq!(c.for_tenants(2).lend, Some(6));
    assert_eq!(c.for_tenants(3).lend, Some(4));
    assert_eq!(
        c.for_tenants(4).lend,
        None,
        "nothing left over beyond a share"
    );
    let set = DeliveryConfig {
        per_tenant_concurrency: Some(2),
        ..c
    };
    assert_eq!(set.for_tenants(3).lend, None, "a set share is a hard cap");
}

#[tokio::test]
async fn a_busy_lone_tenant_uses_the_slots_left_over_and_another_tenant_still_gets_its_share() {
    let store = Arc::new(FakeStore::default());
    let gateway = HangingOrange::new();
    // Three tenants, 8 slots: a share of 2 each; alone, a tenant may have 8 - 2 × 2 = 4.
    let config = slots(8).for_tenants(3);
    let d = shared(
        &store,
        gateway.clone(),
        Arc::new(FakeItsm::default()),
        config,
    );
    let stuck = due_creates(&store, "stuck", "S", 6);
    let token = CancellationToken::new();
    let run = tokio::spawn(d.clone().run(token.clone()));
    wait_until("stuck, alone, borrowed the slots left over", || {
        *gateway.hanging.lock().unwrap() == 4
    })
    .await;
    let calm = due_creates(&store, "calm", "C", 6);
    wait_until(
        "calm's deliveries all completed beside stuck's hung calls",
        || all_done(&store, &calm),
    )
    .await;
    assert_eq!(
        *gateway.hanging.lock().unwrap(),
        4,
        "stuck borrowed no more"
    );
    for id in &stuck {
        assert_eq!(store.get(*id).attempts, 0, "waiting uses no attempt");
    }
    gateway.gate.close();
    token.cancel();
    run.await.unwrap();
}
