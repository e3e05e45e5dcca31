//! The dispatcher against fakes: an in-memory store that keeps the store's contract for the
//! operations the dispatcher uses (heads-only claims, leases, finish), a scripted Orange and
//! a recording ITSM writer.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::domain::call::ItsmKind;
use crate::domain::{
    DeliveryId, DeliveryState, ItsmCall, ItsmOp, Link, NewDelivery, OrangeApi, OrangeOp,
    SourceName, TenantId, TicketKey,
};
use crate::itsm::{Booked, Written};
use crate::orange::Executed;
use crate::store::{DeliveryQueue, LinkAdded, LinkStore, ManualLink, QueueStats, StoreResult};

fn t0() -> Timestamp {
    time::macros::datetime!(2026-01-01 00:00 UTC)
}

#[derive(Default)]
struct FakeStore {
    inner: Mutex<Inner>,
    /// Held by a test to keep every `finish` waiting (a slow commit).
    finishing: tokio::sync::RwLock<()>,
}

#[derive(Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    owners: HashMap<i64, (String, Timestamp)>,
    attempts: HashMap<i64, Vec<Attempt>>,
    links: HashMap<String, Link>,
}

impl FakeStore {
    fn add(&self, tenant: &str, ticket: &str, target: Target) -> DeliveryId {
        let mut i = self.inner.lock().unwrap();
        let id = DeliveryId(i.deliveries.len() as i64 + 1);
        let t = TenantId::parse(tenant).unwrap();
        let key = TicketKey::new(&t, &SourceName::parse("servicenow").unwrap(), ticket);
        i.deliveries.push(Delivery {
            id,
            tenant: t,
            event_id: None,
            ticket: key,
            seq: id.0,
            target,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: t0(),
            created_at: t0(),
            last_error: None,
            waiting_link: None,
        });
        id
    }
    fn get(&self, id: DeliveryId) -> Delivery {
        self.inner.lock().unwrap().deliveries[id.0 as usize - 1].clone()
    }
    /// Makes a delivery due now, for tests that run the dispatcher on the real clock (one
    /// overdue by a lease would be read as left behind by a worker that died mid-call).
    fn due_now(&self, id: DeliveryId) {
        let now = time::OffsetDateTime::now_utc();
        let mut i = self.inner.lock().unwrap();
        let d = &mut i.deliveries[id.0 as usize - 1];
        (d.next_attempt_at, d.created_at) = (now, now);
    }
    fn attempts_of(&self, id: DeliveryId) -> Vec<Attempt> {
        self.inner
            .lock()
            .unwrap()
            .attempts
            .get(&id.0)
            .cloned()
            .unwrap_or_default()
    }
    fn link_of(&self, ticket: &str) -> Option<String> {
        let i = self.inner.lock().unwrap();
        i.links
            .values()
            .find(|l| l.ticket.ticket() == ticket)
            .map(|l| l.orange_id.clone())
    }
}

fn fake<T>() -> StoreResult<T> {
    Err(StoreError::Unavailable("not used by the dispatcher".into()))
}

impl FakeStore {
    /// What an operator's `links add` does: records the link and wakes the deliveries
    /// waiting for it.
    fn add_link(&self, link: &ManualLink, now: Timestamp) -> LinkAdded {
        let mut i = self.inner.lock().unwrap();
        if let Some(l) = i.links.get(link.ticket.as_str()) {
            return LinkAdded::Conflict(l.clone());
        }
        i.links.insert(
            link.ticket.as_str().to_owned(),
            Link {
                tenant: link.tenant.clone(),
                source: SourceName::parse("servicenow").unwrap(),
                ticket: link.ticket.clone(),
                api: link.api,
                orange_id: link.orange_id.clone(),
                created_at: now,
            },
        );
        let mut woken = 0;
        for d in &mut i.deliveries {
            if d.ticket == link.ticket && d.state == DeliveryState::WaitingLink {
                d.state = DeliveryState::Pending;
                d.waiting_link = None;
                d.next_attempt_at = d.next_attempt_at.min(now);
                woken += 1;
            }
        }
        LinkAdded::Added { woken }
    }
}

#[async_trait]
impl LinkStore for FakeStore {
    async fn link(&self, ticket: &TicketKey) -> StoreResult<Option<Link>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .links
            .get(ticket.as_str())
            .cloned())
    }
    async fn link_by_orange(
        &self,
        _: &TenantId,
        _: OrangeApi,
        _: &str,
    ) -> StoreResult<Option<Link>> {
        fake()
    }
    async fn list_links(
        &self,
        _: &TenantId,
        _: Option<&TicketKey>,
        _: u32,
    ) -> StoreResult<Vec<Link>> {
        fake()
    }
}

#[async_trait]
impl DeliveryQueue for FakeStore {
    async fn enqueue(&self, _: &TenantId, _: Vec<NewDelivery>) -> StoreResult<()> {
        fake()
    }
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let mut i = self.inner.lock().unwrap();
        let mut heads: HashMap<String, usize> = HashMap::new();
        for (ix, d) in i.deliveries.iter().enumerate() {
            if !d.state.is_final() {
                heads.entry(d.ticket.as_str().to_owned()).or_insert(ix);
            }
        }
        let mut ixs: Vec<usize> = heads.into_values().collect();
        ixs.sort();
        let mut out = Vec::new();
        for ix in ixs {
            if out.len() >= limit {
                break;
            }
            let id = i.deliveries[ix].id.0;
            let d = &i.deliveries[ix];
            let due = match d.state {
                DeliveryState::Pending | DeliveryState::WaitingLink => d.next_attempt_at <= now,
                DeliveryState::InFlight => i.owners.get(&id).is_none_or(|(_, u)| *u <= now),
                _ => false,
            };
            if due {
                i.deliveries[ix].state = DeliveryState::InFlight;
                i.owners.insert(id, (owner.to_owned(), lease_until));
                out.push(i.deliveries[ix].clone());
            }
        }
        Ok(out)
    }
    async fn finish(
        &self,
        id: DeliveryId,
        owner: &str,
        attempt: &Attempt,
        finish: Finish,
    ) -> StoreResult<()> {
        let _commit = self.finishing.read().await;
        let mut i = self.inner.lock().unwrap();
        if i.owners.get(&id.0).is_none_or(|(o, _)| o != owner) {
            return Err(StoreError::LeaseLost(id.to_string()));
        }
        i.owners.remove(&id.0);
        let counted = !matches!(finish, Finish::Defer { .. } | Finish::WaitLink { .. });
        if counted {
            i.attempts.entry(id.0).or_default().push(attempt.clone());
        }
        let ix = id.0 as usize - 1;
        let d = i.deliveries[ix].clone();
        let new = &mut i.deliveries[ix];
        if counted {
            new.attempts += 1;
            new.last_error = attempt.error.clone();
        }
        if !matches!(finish, Finish::Defer { .. }) {
            new.waiting_link = None;
        }
        match finish {
            Finish::Done { link, .. } => {
                new.state = DeliveryState::Done;
                if let Some(l) = link {
                    i.links.insert(
                        d.ticket.as_str().to_owned(),
                        Link {
                            tenant: d.tenant.clone(),
                            source: SourceName::parse("servicenow").unwrap(),
                            ticket: d.ticket.clone(),
                            api: l.api,
                            orange_id: l.orange_id,
                            created_at: t0(),
                        },
                    );
                }
            }
            Finish::Retry { at } => {
                new.state = DeliveryState::Pending;
                new.next_attempt_at = at;
            }
            Finish::Defer { at } => {
                new.state = if new.waiting_link.is_some() {
                    DeliveryState::WaitingLink
                } else {
                    DeliveryState::Pending
                };
                new.next_attempt_at = at;
            }
            Finish::WaitLink { until, reason } => {
                new.state = DeliveryState::WaitingLink;
                new.next_attempt_at = until;
                new.waiting_link = Some(reason);
            }
            Finish::Dead => new.state = DeliveryState::Dead,
        }
        Ok(())
    }
    async fn delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>> {
        Ok(Some(self.get(id)))
    }
    async fn attempts(&self, id: DeliveryId) -> StoreResult<Vec<Attempt>> {
        Ok(self.attempts_of(id))
    }
    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        Ok(QueueStats::default())
    }
    async fn heartbeat(&self, _: &str, _: Timestamp, _: Timestamp) -> StoreResult<u32> {
        Ok(1)
    }
}

/// Orange as a script: answers popped in order (default success), objects "created" by
/// answers marked as applied are findable by external reference.
#[derive(Default)]
struct FakeOrange {
    script: Mutex<VecDeque<(Result<(), CallFailure>, bool)>>,
    calls: Mutex<Vec<(String, String, Option<String>)>>,
    created: Mutex<HashMap<String, String>>,
    lookups: Mutex<u32>,
    /// Bodies of non-create calls Orange applied.
    applied: Mutex<Vec<String>>,
    slow_tenants: Mutex<Vec<String>>,
}

impl FakeOrange {
    fn then(&self, r: Result<(), CallFailure>, applied: bool) {
        self.script.lock().unwrap().push_back((r, applied));
    }
}

#[async_trait]
impl OrangeGateway for FakeOrange {
    async fn execute(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: Option<&str>,
    ) -> Result<Executed, CallFailure> {
        self.calls.lock().unwrap().push((
            tenant.to_string(),
            call.op.name().to_owned(),
            linked.map(str::to_owned),
        ));
        let (r, applied) = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((Ok(()), true));
        let mut id = None;
        if applied && !call.op.creates() {
            self.applied.lock().unwrap().push(call.body.to_string());
        }
        if applied && call.op.creates() {
            let mut c = self.created.lock().unwrap();
            let n = format!("ORG-{}", c.len() + 1);
            c.insert(call.external_ref.clone().unwrap_or_default(), n.clone());
            id = Some(n);
        }
        r.map(|()| Executed { created_id: id })
    }
    async fn find_created(
        &self,
        _: &TenantId,
        _: OrangeApi,
        external_ref: &str,
        _: Timestamp,
    ) -> Result<crate::orange::CreateLookup, CallFailure> {
        *self.lookups.lock().unwrap() += 1;
        Ok(
            match self.created.lock().unwrap().get(external_ref).cloned() {
                Some(id) => crate::orange::CreateLookup::Found(id),
                None => crate::orange::CreateLookup::Absent,
            },
        )
    }
    async fn already_applied(
        &self,
        _: &TenantId,
        call: &OrangeCall,
        _: &str,
    ) -> Result<bool, CallFailure> {
        *self.lookups.lock().unwrap() += 1;
        Ok(self
            .applied
            .lock()
            .unwrap()
            .contains(&call.body.to_string()))
    }
    fn expected_wait(&self, tenant: &TenantId) -> Duration {
        if self
            .slow_tenants
            .lock()
            .unwrap()
            .contains(&tenant.to_string())
        {
            Duration::from_secs(5)
        } else {
            Duration::ZERO
        }
    }
    fn defer_for(&self, tenant: &TenantId, _: Duration) -> Duration {
        self.expected_wait(tenant)
    }
}

#[derive(Default)]
struct FakeItsm {
    calls: Mutex<u32>,
    /// When set, the budget has no room: `reserve` says to come back after this long.
    no_room: Mutex<Option<Duration>>,
}

#[async_trait]
impl ItsmWriter for FakeItsm {
    fn reserve(&self, _: &TenantId, _: &ItsmCall) -> Result<Booked, Duration> {
        match *self.no_room.lock().unwrap() {
            Some(wait) => Err(wait),
            None => Ok(Booked::unmetered()),
        }
    }
    async fn execute(&self, _: &TenantId, _: &ItsmCall, _: Booked) -> Result<Written, CallFailure> {
        assert!(
            self.no_room.lock().unwrap().is_none(),
            "a write-back was sent while its budget had no room"
        );
        *self.calls.lock().unwrap() += 1;
        Ok(Written {
            echo_fingerprints: vec!["jira-comment:1".into()],
        })
    }
}

struct Rig {
    store: Arc<FakeStore>,
    orange: Arc<FakeOrange>,
    itsm: Arc<FakeItsm>,
    d: Dispatcher,
}

fn rig() -> Rig {
    let store = Arc::new(FakeStore::default());
    let orange = Arc::new(FakeOrange::default());
    let itsm = Arc::new(FakeItsm::default());
    let mut config = DeliveryConfig::default();
    config.retry.max_attempts = 3;
    let d = Dispatcher::new(store.clone(), orange.clone(), itsm.clone(), config, "w1");
    Rig {
        store,
        orange,
        itsm,
        d,
    }
}

fn orange(op: OrangeOp, ext: &str) -> Target {
    Target::Orange(OrangeCall {
        op,
        body: json!({"shortDescription": "x"}),
        external_ref: Some(ext.into()),
        lookups: vec![],
    })
}

fn failure(class: FailureClass, status: Option<u16>, code: Option<&str>) -> CallFailure {
    CallFailure {
        class,
        http_status: status,
        code: code.map(str::to_owned),
        message: "boom".into(),
    }
}

/// Far enough ahead that every retry and deferral is due.
fn later() -> Timestamp {
    t0() + Duration::from_secs(3600)
}

#[tokio::test]
async fn a_create_then_its_update_reach_the_same_incident_in_order() {
    let r = rig();
    let c = r
        .store
        .add("demo", "INC1", orange(OrangeOp::CreateIncident, "INC1"));
    let u = r
        .store
        .add("demo", "INC1", orange(OrangeOp::UpdateIncident, "INC1"));
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
    let c = r
        .store
        .add("demo", "INC2", orange(OrangeOp::CreateIncident, "INC2"));
    let u = r
        .store
        .add("demo", "INC2", orange(OrangeOp::AddIncidentNote, "INC2"));
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
    let id = r
        .store
        .add("demo", "INC3", orange(OrangeOp::CreateIncident, "INC3"));
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
    let id = r
        .store
        .add("demo", "INC4", orange(OrangeOp::CreateIncident, "INC4"));
    // Applied at Orange, but the connection dropped before the answer.
    r.orange
        .then(Err(failure(FailureClass::Unknown, None, None)), true);
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
    let id = r
        .store
        .add("demo", "INC5", orange(OrangeOp::CreateIncident, "INC5"));
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
    let s = r
        .store
        .add("slow", "A", orange(OrangeOp::CreateIncident, "A"));
    let f = r
        .store
        .add("fast", "B", orange(OrangeOp::CreateIncident, "B"));
    assert_eq!(r.d.tick(t0()).await.unwrap(), 2);
    assert_eq!(r.store.get(f).state, DeliveryState::Done);
    let d = r.store.get(s);
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    assert!(d.next_attempt_at >= t0() + Duration::from_secs(5));
}

#[tokio::test]
async fn a_repeated_create_on_a_linked_ticket_creates_nothing() {
    let r = rig();
    r.store
        .add("demo", "INC6", orange(OrangeOp::CreateIncident, "INC6"));
    let again = r
        .store
        .add("demo", "INC6", orange(OrangeOp::CreateIncident, "INC6"));
    r.d.tick(t0()).await.unwrap();
    r.d.tick(t0()).await.unwrap();
    assert_eq!(r.store.get(again).state, DeliveryState::Done);
    assert_eq!(r.orange.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_note_applied_before_its_connection_dropped_is_not_sent_again() {
    let r = rig();
    r.store
        .add("demo", "INC7", orange(OrangeOp::CreateIncident, "INC7"));
    let n = r
        .store
        .add("demo", "INC7", orange(OrangeOp::AddIncidentNote, "INC7"));
    r.d.tick(t0()).await.unwrap();
    r.orange
        .then(Err(failure(FailureClass::Unknown, None, None)), true);
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
    let id = r
        .store
        .add("demo", "INC8", orange(OrangeOp::CreateIncident, "INC8"));
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
    let config = DeliveryConfig {
        concurrency: 1,
        ..DeliveryConfig::default()
    };
    let d = Arc::new(Dispatcher::new(
        store.clone(),
        gateway.clone(),
        Arc::new(FakeItsm::default()),
        config,
        "w1",
    ));
    let a = store.add("demo", "INC1", orange(OrangeOp::CreateIncident, "INC1"));
    let b = store.add("demo", "INC2", orange(OrangeOp::CreateIncident, "INC2"));
    let slow_commit = store.finishing.write().await;
    let token = CancellationToken::new();
    let run = tokio::spawn(d.run(token.clone()));
    let both_sent = async {
        while gateway.calls.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), both_sent)
        .await
        .expect("with one slot, the second call went out while the first outcome was unrecorded");
    assert_eq!(store.get(a).state, DeliveryState::InFlight);
    drop(slow_commit);
    let recorded = async {
        while ![a, b]
            .iter()
            .all(|id| store.get(*id).state == DeliveryState::Done)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), recorded)
        .await
        .expect("both outcomes recorded once the commit went through");
    token.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn a_delivery_waiting_for_its_link_is_dead_lettered_no_link_at_its_deadline() {
    let r = rig();
    let u = r
        .store
        .add("demo", "OLD1", orange(OrangeOp::AddIncidentNote, "OLD1"));
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
    let u = r
        .store
        .add("demo", "OLD2", orange(OrangeOp::AddIncidentNote, "OLD2"));
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
    let u = r
        .store
        .add("slow", "OLD3", orange(OrangeOp::AddIncidentNote, "OLD3"));
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
