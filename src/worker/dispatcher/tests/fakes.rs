//! The dispatcher's fakes: an in-memory store that keeps the store's contract for the
//! operations the dispatcher uses (heads-only claims, leases, finish), a scripted Orange that
//! remembers what it applied (so a read-back finds it) and a recording ITSM writer. Each
//! implements only the role it stands in for: `DeliveryQueue` (with its `TicketLinks`),
//! `OrangeGateway`, `ItsmWriter`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::json;

use super::super::*;
use crate::domain::{
    DeliveryId, DeliveryState, ItsmCall, Link, OrangeApi, OrangeOp, SourceName, TenantId, TicketKey,
};
use crate::store::{DeliveryQueue, LinkAdded, ManualLink, QueueStats, StoreResult, TicketLinks};

pub(super) fn t0() -> Timestamp {
    time::macros::datetime!(2026-01-01 00:00 UTC)
}

#[derive(Default)]
pub(super) struct FakeStore {
    inner: Mutex<Inner>,
    /// Held by a test to keep every `finish` waiting (a slow commit).
    pub(super) finishing: tokio::sync::RwLock<()>,
    /// Held by a test to keep every claim waiting.
    pub(super) claiming: tokio::sync::RwLock<()>,
}

#[derive(Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    owners: HashMap<i64, (String, Timestamp)>,
    attempts: HashMap<i64, Vec<Attempt>>,
    links: HashMap<String, Link>,
}

impl FakeStore {
    pub(super) fn add(&self, tenant: &str, ticket: &str, target: Target) -> DeliveryId {
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
    pub(super) fn get(&self, id: DeliveryId) -> Delivery {
        self.inner.lock().unwrap().deliveries[id.0 as usize - 1].clone()
    }
    /// Makes a delivery due now, for tests that run the dispatcher on the real clock (one
    /// overdue by a lease would be read as left behind by a worker that died mid-call).
    pub(super) fn due_now(&self, id: DeliveryId) {
        let now = time::OffsetDateTime::now_utc();
        let mut i = self.inner.lock().unwrap();
        let d = &mut i.deliveries[id.0 as usize - 1];
        (d.next_attempt_at, d.created_at) = (now, now);
    }
    pub(super) fn attempts_of(&self, id: DeliveryId) -> Vec<Attempt> {
        self.inner
            .lock()
            .unwrap()
            .attempts
            .get(&id.0)
            .cloned()
            .unwrap_or_default()
    }
    pub(super) fn link_of(&self, ticket: &str) -> Option<String> {
        let i = self.inner.lock().unwrap();
        i.links
            .values()
            .find(|l| l.ticket.ticket() == ticket)
            .map(|l| l.orange_id.clone())
    }
}

impl FakeStore {
    /// What an operator's `links add` does: records the link and wakes the deliveries
    /// waiting for it.
    pub(super) fn add_link(&self, link: &ManualLink, now: Timestamp) -> LinkAdded {
        let mut i = self.inner.lock().unwrap();
        if let Some(l) = i.links.get(link.ticket.as_str()) {
            return LinkAdded::Conflict(l.clone());
        }
        let new = servicenow_link(
            &link.tenant,
            &link.ticket,
            link.api,
            link.orange_id.clone(),
            now,
        );
        i.links.insert(link.ticket.as_str().to_owned(), new);
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

/// The link of a ServiceNow ticket (every ticket of these tests is one) to `orange_id`.
fn servicenow_link(
    tenant: &TenantId,
    ticket: &TicketKey,
    api: OrangeApi,
    orange_id: String,
    at: Timestamp,
) -> Link {
    Link {
        tenant: tenant.clone(),
        source: SourceName::parse("servicenow").unwrap(),
        ticket: ticket.clone(),
        api,
        orange_id,
        created_at: at,
    }
}

#[async_trait]
impl TicketLinks for FakeStore {
    async fn link(&self, ticket: &TicketKey) -> StoreResult<Option<Link>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .links
            .get(ticket.as_str())
            .cloned())
    }
}

#[async_trait]
impl DeliveryQueue for FakeStore {
    async fn claim_skipping(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        skip: &[TenantId],
    ) -> StoreResult<Vec<Delivery>> {
        let _claim = self.claiming.read().await;
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
            if skip.contains(&d.tenant) {
                continue;
            }
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
                    let new = servicenow_link(&d.tenant, &d.ticket, l.api, l.orange_id, t0());
                    i.links.insert(d.ticket.as_str().to_owned(), new);
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
pub(super) struct FakeOrange {
    script: Mutex<VecDeque<(Result<(), CallFailure>, bool)>>,
    pub(super) calls: Mutex<Vec<(String, String, Option<String>)>>,
    pub(super) created: Mutex<HashMap<String, String>>,
    pub(super) lookups: Mutex<u32>,
    /// Bodies of non-create calls Orange applied.
    pub(super) applied: Mutex<Vec<String>>,
    pub(super) slow_tenants: Mutex<Vec<String>>,
}

impl FakeOrange {
    pub(super) fn then(&self, r: Result<(), CallFailure>, applied: bool) {
        self.script.lock().unwrap().push_back((r, applied));
    }
    /// The next call is applied at Orange, but its connection drops before the answer.
    pub(super) fn then_applied_unanswered(&self) {
        self.then(Err(failure(FailureClass::Unknown, None, None)), true);
    }
}

impl FakeOrange {
    /// The create applied at Orange for `external_ref`, as a lookup by reference finds it.
    fn find_created(&self, external_ref: &str) -> Option<String> {
        *self.lookups.lock().unwrap() += 1;
        self.created.lock().unwrap().get(external_ref).cloned()
    }

    /// Whether a non-create call is already reflected on its object, as a read-back finds.
    fn already_applied(&self, call: &OrangeCall) -> bool {
        *self.lookups.lock().unwrap() += 1;
        self.applied
            .lock()
            .unwrap()
            .contains(&call.body.to_string())
    }

    fn execute(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: Option<&str>,
    ) -> Result<Option<String>, CallFailure> {
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
        r.map(|()| id)
    }
}

#[async_trait]
impl OrangeGateway for FakeOrange {
    fn admit(&self, tenant: &TenantId, max_wait: Duration) -> Result<(), Duration> {
        let slow = self
            .slow_tenants
            .lock()
            .unwrap()
            .contains(&tenant.to_string());
        let wait = if slow {
            Duration::from_secs(5)
        } else {
            Duration::ZERO
        };
        if wait <= max_wait { Ok(()) } else { Err(wait) }
    }

    async fn deliver(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: Option<&str>,
        earlier: Option<Timestamp>,
    ) -> Result<Delivered, CallFailure> {
        if earlier.is_some() {
            let found = match (&call.external_ref, linked) {
                (Some(ext), _) if call.op.creates() => {
                    self.find_created(ext).map(|id| Delivered::AlreadyApplied {
                        created_id: Some(id),
                    })
                }
                (_, Some(_)) if !call.op.creates() && self.already_applied(call) => {
                    Some(Delivered::AlreadyApplied { created_id: None })
                }
                _ => None,
            };
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let created_id = self.execute(tenant, call, linked)?;
        Ok(Delivered::Sent { created_id })
    }
}

#[derive(Default)]
pub(super) struct FakeItsm {
    pub(super) calls: Mutex<u32>,
    /// When set, the budget has no room: `reserve` says to come back after this long.
    pub(super) no_room: Mutex<Option<Duration>>,
}

#[async_trait]
impl ItsmWriter for FakeItsm {
    fn reserve(&self, _: &TenantId, _: &ItsmCall) -> Result<Booked, Duration> {
        match *self.no_room.lock().unwrap() {
            Some(wait) => Err(wait),
            None => Ok(Booked::new()),
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

pub(super) struct Rig {
    pub(super) store: Arc<FakeStore>,
    pub(super) orange: Arc<FakeOrange>,
    pub(super) itsm: Arc<FakeItsm>,
    pub(super) d: Dispatcher,
}

pub(super) fn rig() -> Rig {
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

impl Rig {
    /// Queues an Orange call `op` for `ticket` of `tenant`, with the ticket as its external
    /// reference.
    pub(super) fn add_orange(&self, tenant: &str, ticket: &str, op: OrangeOp) -> DeliveryId {
        self.store.add(tenant, ticket, orange(op, ticket))
    }
}

/// A delivery config with `concurrency` slots, the rest default.
pub(super) fn slots(concurrency: usize) -> DeliveryConfig {
    DeliveryConfig {
        concurrency,
        ..DeliveryConfig::default()
    }
}

/// A dispatcher on `store`, shared so that `run` can own it while the test looks on.
pub(super) fn shared(
    store: &Arc<FakeStore>,
    orange: Arc<dyn OrangeGateway>,
    itsm: Arc<dyn ItsmWriter>,
    config: DeliveryConfig,
) -> Arc<Dispatcher> {
    Arc::new(Dispatcher::new(store.clone(), orange, itsm, config, "w1"))
}

/// Waits, on the real clock and for ten seconds at most, until `done` holds; fails with
/// `what` (what should have happened) otherwise.
pub(super) async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let happened = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), happened)
        .await
        .expect(what);
}

pub(super) fn orange(op: OrangeOp, ext: &str) -> Target {
    Target::Orange(OrangeCall {
        op,
        body: json!({"shortDescription": "x"}),
        external_ref: Some(ext.into()),
        lookups: vec![],
    })
}

pub(super) fn failure(class: FailureClass, status: Option<u16>, code: Option<&str>) -> CallFailure {
    CallFailure {
        class,
        http_status: status,
        code: code.map(str::to_owned),
        message: "boom".into(),
    }
}

/// Far enough ahead that every retry and deferral is due.
pub(super) fn later() -> Timestamp {
    t0() + Duration::from_secs(3600)
}
