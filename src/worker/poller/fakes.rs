//! Test doubles for the poller: an in-memory store playing the poller's role (`PollState`), a
//! scripted Orange reader that counts its calls, and an explicit status → state table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::diff::{OrangeNote, WayBackPlanner};
use super::{Changed, OrangeReader, PlannerLookup, ScanSupport, Support};
use crate::domain::*;
use crate::store::*;

#[derive(Default)]
pub struct MemStore {
    pub links: Mutex<Vec<Link>>,
    pub leases: Mutex<HashMap<String, (String, Timestamp)>>,
    pub marks: Mutex<HashMap<String, String>>,
    pub states: Mutex<HashMap<TicketKey, RemoteState>>,
    pub queued: Mutex<Vec<NewDelivery>>,
    /// Per ticket: when last checked, and whether it is final.
    pub checks: Mutex<HashMap<TicketKey, (Timestamp, bool)>>,
    /// Poll cycles recorded, in order.
    pub cycles: Mutex<Vec<PollCycle>>,
}

impl MemStore {
    pub fn queued(&self) -> Vec<NewDelivery> {
        self.queued.lock().unwrap().clone()
    }
}

#[async_trait]
impl LinkStore for MemStore {
    async fn link_by_orange(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        id: &str,
    ) -> StoreResult<Option<Link>> {
        let links = self.links.lock().unwrap();
        Ok(links
            .iter()
            .find(|l| &l.tenant == tenant && l.api == api && l.orange_id == id)
            .cloned())
    }
    async fn list_links(
        &self,
        tenant: &TenantId,
        after: Option<&TicketKey>,
        limit: u32,
    ) -> StoreResult<Vec<Link>> {
        let mut v: Vec<Link> = self
            .links
            .lock()
            .unwrap()
            .iter()
            .filter(|l| &l.tenant == tenant)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.ticket.cmp(&b.ticket));
        Ok(v.into_iter()
            .filter(|l| after.is_none_or(|a| &l.ticket > a))
            .take(limit as usize)
            .collect())
    }
}

#[async_trait]
impl PollState for MemStore {
    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let mut l = self.leases.lock().unwrap();
        match l.get(name) {
            Some((o, exp)) if o != owner && *exp > now => Ok(false),
            _ => {
                l.insert(name.into(), (owner.into(), until));
                Ok(true)
            }
        }
    }
    async fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()> {
        let mut l = self.leases.lock().unwrap();
        if l.get(name).is_some_and(|(o, _)| o == owner) {
            l.remove(name);
        }
        Ok(())
    }
    async fn watermark(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.marks.lock().unwrap().get(name).cloned())
    }
    async fn remote_state(&self, t: &TicketKey) -> StoreResult<Option<RemoteState>> {
        Ok(self.states.lock().unwrap().get(t).cloned())
    }
    async fn commit_poll(
        &self,
        name: &str,
        owner: &str,
        _: &TenantId,
        watermark: Option<&str>,
        states: Vec<(TicketKey, RemoteState)>,
        deliveries: Vec<NewDelivery>,
    ) -> StoreResult<()> {
        if self
            .leases
            .lock()
            .unwrap()
            .get(name)
            .is_none_or(|(o, _)| o != owner)
        {
            return Err(StoreError::LeaseLost(name.into()));
        }
        if let Some(w) = watermark {
            self.marks.lock().unwrap().insert(name.into(), w.into());
        }
        self.states.lock().unwrap().extend(states);
        self.queued.lock().unwrap().extend(deliveries);
        Ok(())
    }
    async fn links_to_check(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        limit: u32,
    ) -> StoreResult<Vec<Link>> {
        let checks = self.checks.lock().unwrap();
        let mut v: Vec<(Option<Timestamp>, Link)> = self
            .links
            .lock()
            .unwrap()
            .iter()
            .filter(|l| &l.tenant == tenant && l.api == api)
            .filter(|l| !checks.get(&l.ticket).is_some_and(|(_, done)| *done))
            .map(|l| (checks.get(&l.ticket).map(|(at, _)| *at), l.clone()))
            .collect();
        v.sort_by(|a, b| (a.0, &a.1.ticket).cmp(&(b.0, &b.1.ticket)));
        Ok(v.into_iter().take(limit as usize).map(|(_, l)| l).collect())
    }
    async fn mark_checked(&self, checks: Vec<(TicketKey, bool)>, at: Timestamp) -> StoreResult<()> {
        let mut m = self.checks.lock().unwrap();
        for (t, done) in checks {
            m.insert(t, (at, done));
        }
        Ok(())
    }
    async fn record_poll_cycle(&self, cycle: &PollCycle) -> StoreResult<()> {
        self.cycles.lock().unwrap().push(cycle.clone());
        Ok(())
    }
}

/// An Orange incident as the fake holds it.
#[derive(Clone)]
pub struct FakeIncident {
    pub id: String,
    pub updated: String,
    pub status: String,
    pub resolution: Option<String>,
    pub notes: Vec<OrangeNote>,
}

#[derive(Default)]
pub struct FakeReader {
    pub incidents: Mutex<Vec<FakeIncident>>,
    pub calls: AtomicU32,
    /// Every notes read fails (503).
    pub fail_notes: Mutex<bool>,
    /// Notes reads of these incidents fail (503).
    pub fail_notes_of: Mutex<Vec<String>>,
    /// Notes reads of these incidents are refused for good (404).
    pub refuse_notes_of: Mutex<Vec<String>>,
    /// Every notes read takes this long (tokio time).
    pub notes_delay: Mutex<std::time::Duration>,
    /// How this Orange treats `sort=-lastUpdateDate` and `lastUpdateDate>=` (both honoured
    /// when `None`); its probes report it.
    pub scan: Mutex<Option<(Support, Support)>>,
    /// Probes fail (503).
    pub probe_fails: Mutex<bool>,
    /// Probes made.
    pub probes: AtomicU32,
}

impl FakeReader {
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn update(&self, id: &str, updated: &str, f: impl FnOnce(&mut FakeIncident)) {
        let mut v = self.incidents.lock().unwrap();
        if let Some(i) = v.iter_mut().find(|i| i.id == id) {
            i.updated = updated.into();
            f(i);
        }
    }
    fn to_changed(i: &FakeIncident) -> Changed {
        let mut object = json!({"id": i.id, "status": i.status, "lastUpdateDate": i.updated});
        if let Some(r) = &i.resolution {
            object["resolution"] = json!(r);
        }
        Changed {
            id: i.id.clone(),
            last_update: i.updated.clone(),
            status: Some(i.status.clone()),
            object,
            notes: None,
        }
    }
}

pub fn note(id: &str, text: &str, orange: bool) -> OrangeNote {
    OrangeNote {
        id: id.into(),
        orange_authored: orange,
        body: json!({"id": id, "text": text, "origin": if orange {"ORANGE"} else {"CUSTOMER"}}),
    }
}

#[async_trait]
impl OrangeReader for FakeReader {
    async fn changed_page(
        &self,
        _: &TenantId,
        _: OrangeApi,
        since: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<Changed>, CallFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (sort, range) = self
            .scan
            .lock()
            .unwrap()
            .unwrap_or((Support::Honoured, Support::Honoured));
        if sort == Support::Rejected || range == Support::Rejected {
            return Err(failure(
                FailureClass::Permanent,
                400,
                Some("28"),
                "Invalid query-string parameter",
            ));
        }
        let mut v: Vec<FakeIncident> = self.incidents.lock().unwrap().clone();
        if range == Support::Honoured {
            v.retain(|i| since.is_none_or(|s| i.updated.as_str() >= s));
        }
        if sort == Support::Honoured {
            v.sort_by(|a, b| b.updated.cmp(&a.updated));
        }
        Ok(v.iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(Self::to_changed)
            .collect())
    }
    async fn notes(
        &self,
        _: &TenantId,
        _: OrangeApi,
        id: &str,
    ) -> Result<Vec<OrangeNote>, CallFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.notes_delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if *self.fail_notes.lock().unwrap()
            || self.fail_notes_of.lock().unwrap().iter().any(|x| x == id)
        {
            return Err(failure(
                FailureClass::Retryable { retry_after: None },
                503,
                None,
                "unavailable",
            ));
        }
        if self.refuse_notes_of.lock().unwrap().iter().any(|x| x == id) {
            return Err(failure(FailureClass::Permanent, 404, None, "not found"));
        }
        let v = self.incidents.lock().unwrap();
        Ok(v.iter()
            .find(|i| i.id == id)
            .map(|i| i.notes.clone())
            .unwrap_or_default())
    }
    async fn get(
        &self,
        _: &TenantId,
        _: OrangeApi,
        id: &str,
    ) -> Result<Option<Changed>, CallFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let v = self.incidents.lock().unwrap();
        Ok(v.iter().find(|i| i.id == id).map(Self::to_changed))
    }
    async fn scan_support(&self, _: &TenantId, _: OrangeApi) -> Result<ScanSupport, CallFailure> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        if *self.probe_fails.lock().unwrap() {
            return Err(failure(
                FailureClass::Retryable { retry_after: None },
                503,
                None,
                "unavailable",
            ));
        }
        let (sort, range) = self
            .scan
            .lock()
            .unwrap()
            .unwrap_or((Support::Honoured, Support::Honoured));
        Ok(ScanSupport {
            sort,
            range,
            calls: 2,
        })
    }
}

/// The explicit status → ServiceNow state table the tests plan with.
pub struct SnTable {
    pub states: Vec<(&'static str, Map<String, Value>)>,
}

impl SnTable {
    pub fn standard() -> Self {
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        Self {
            states: vec![
                ("ACKNOWLEDGED", obj(json!({"state": "2"}))),
                ("IN_PROGRESS", obj(json!({"state": "2"}))),
                (
                    "RESOLVED",
                    obj(json!({"state": "6", "close_code": "Solution provided"})),
                ),
            ],
        }
    }
}

impl WayBackPlanner for SnTable {
    fn plan_status(&self, ticket: &str, status: &str, orange: &Value) -> Option<ItsmCall> {
        let (_, fields) = self
            .states
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(status))?;
        let mut fields = fields.clone();
        if fields.contains_key("close_code") {
            let notes = orange
                .get("resolution")
                .and_then(Value::as_str)
                .unwrap_or("Resolved by Orange");
            fields.insert("close_notes".into(), json!(notes));
        }
        Some(patch(ticket, fields))
    }
    fn plan_note(
        &self,
        ticket: &str,
        orange_id: &str,
        note: &Value,
        orange_authored: bool,
    ) -> Option<ItsmCall> {
        if !orange_authored {
            return None;
        }
        let text = format!(
            "[Orange {orange_id}] {}",
            note.get("text").and_then(Value::as_str).unwrap_or_default()
        );
        let mut fields = Map::new();
        fields.insert("work_notes".into(), json!(text));
        Some(patch(ticket, fields))
    }
}

/// An Orange call that failed with HTTP `status`.
fn failure(class: FailureClass, status: u16, code: Option<&str>, message: &str) -> CallFailure {
    CallFailure {
        class,
        http_status: Some(status),
        code: code.map(str::to_owned),
        message: message.to_owned(),
    }
}

/// A ServiceNow incident's patch of `fields`.
fn patch(ticket: &str, fields: Map<String, Value>) -> ItsmCall {
    ItsmCall::servicenow_patch("incident", ticket, fields)
}

impl PlannerLookup for SnTable {
    fn planner(&self, _: &TenantId, _: &SourceName) -> Option<std::sync::Arc<dyn WayBackPlanner>> {
        Some(std::sync::Arc::new(SnTable::standard()))
    }
}
