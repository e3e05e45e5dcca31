//! The poller: Orange changes back into the ITSMs (poller → store → dispatcher → ITSM client).
//!
//! One cycle per tenant, every `poller.interval_secs`:
//! 1. take the lease `poll:<tenant>` (only one replica polls a tenant, and it renews the
//!    lease while a cycle runs; the same name holds the tenant's watermarks, one per Orange
//!    API, as a small JSON object);
//! 2. per API, list objects sorted by `-lastUpdateDate`, `page_size` at a time, and stop at
//!    the watermark: `changed ÷ page_size + 1` list calls;
//! 3. per changed object that has a link, read its notes (one call; none when the API embeds
//!    them) and diff against the stored [`RemoteState`] ([`diff::diff`]); an object whose
//!    read fails is left for the next cycle and the watermark stays below it, the others go on;
//! 4. commit the write-backs, the new states and the watermarks in ONE `PollState::commit_poll`,
//!    so the watermark never passes a change that is not durably queued. Re-reading what was
//!    already committed plans nothing: the diff is against the committed state.
//!
//! The scan trusts Orange to honour the sort and the range filter; `poller.scan: auto`
//! probes that first ([`mode`]) and otherwise re-reads the open linked objects, least recently
//! checked first, `poller.reread_budget` per cycle and API ([`reread`]), as it always does for
//! Wholesale trouble tickets (no change listing).
//!
//! Reconciliation (`reconcile_interval_secs`, off by default) re-reads every linked object
//! and repairs what the watermark scan missed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

mod batch;
pub mod diff;
#[cfg(test)]
mod fakes;
mod marks;
mod mode;
mod observe;
mod planners;
mod ports;
mod record;
mod reread;
mod sweep;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_modes;

pub use diff::{Observed, OrangeNote, WayBackPlanner};
pub use marks::{Mark, Watermarks, is_before};
pub use mode::{ScanMode, ScanSupport, Support};
pub use ports::{Changed, OrangeReader, PlannerLookup};

use crate::domain::{CallFailure, OrangeApi, TenantId, Timestamp};
use crate::store::{PollState, StoreError};
use batch::Batch;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("orange read failed: {0}")]
    Orange(#[from] CallFailure),
}

/// Settings of the poller (from `poller:` plus the APIs to poll).
#[derive(Debug, Clone)]
pub struct PollSettings {
    pub interval: Duration,
    pub page_size: u32,
    pub reconcile_every: Option<Duration>,
    /// APIs scanned by last update (`incident`, `ordering`).
    pub apis: Vec<OrangeApi>,
    /// APIs without a change listing (Wholesale trouble tickets): their open linked objects
    /// are re-read one by one, `reread_budget` per cycle; objects in a final status are not
    /// read again.
    pub per_object_apis: Vec<OrangeApi>,
    /// How `apis` are watched (`poller.scan`).
    pub scan: crate::config::ScanChoice,
    /// Objects re-read per cycle and API.
    pub reread_budget: u32,
    /// With `scan: Auto`, how long a settled mode stands before it is probed again.
    pub reprobe_every: Duration,
}

impl PollSettings {
    /// `poller:` of the config: incidents and ordering requests scanned, trouble tickets read
    /// one by one.
    pub fn from_config(c: &crate::config::PollerConfig) -> Self {
        Self {
            interval: Duration::from_secs(c.interval_secs.max(1)),
            page_size: c.page_size.max(1),
            reconcile_every: c.reconcile_interval_secs.map(Duration::from_secs),
            apis: vec![OrangeApi::Incident, OrangeApi::Ordering],
            per_object_apis: vec![OrangeApi::TroubleTicket],
            scan: c.scan,
            reread_budget: c.reread_budget.max(1),
            reprobe_every: Duration::from_secs(c.reprobe_secs.max(1)),
        }
    }
}

/// Orange reads of one cycle in flight at once (the Orange client's rate limiter still
/// governs the tenant's budget).
const READS_IN_FLIGHT: usize = 8;

/// What one tenant's cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Orange calls made (list pages, note reads, gets).
    pub calls: u32,
    /// Linked objects that changed.
    pub changes: u32,
    /// Write-backs queued.
    pub writebacks: u32,
    /// A reconciliation ran in this cycle.
    pub reconciled: bool,
    /// APIs whose listing failed this cycle (their watermarks did not move).
    pub failed_apis: Vec<OrangeApi>,
    /// Objects whose reads failed this cycle (they are read again next cycle; the rest of
    /// the cycle went on without them).
    pub failed_reads: u32,
}

/// The poller of every tenant this replica serves.
pub struct Poller {
    store: Arc<dyn PollState>,
    reader: Arc<dyn OrangeReader>,
    planners: Arc<dyn PlannerLookup>,
    /// The tenants polled; the app swaps it when the tenants are reloaded.
    tenants: TenantList,
    settings: PollSettings,
    owner: String,
    last_reconcile: Mutex<HashMap<TenantId, Timestamp>>,
    /// How each (tenant, API) is watched now ([`mode`]).
    modes: Mutex<HashMap<(TenantId, OrangeApi), mode::ModeState>>,
}

/// The tenants a poller polls, shared so that a reload of the tenants changes them between
/// two cycles.
pub type TenantList = super::LiveList<TenantId>;

/// Lease and watermark name of a tenant.
pub fn lease_name(tenant: &TenantId) -> String {
    format!("poll:{tenant}")
}

impl Poller {
    pub fn new(
        store: Arc<dyn PollState>,
        reader: Arc<dyn OrangeReader>,
        planners: Arc<dyn PlannerLookup>,
        tenants: Vec<TenantId>,
        settings: PollSettings,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            store,
            reader,
            planners,
            tenants: Arc::new(std::sync::RwLock::new(tenants)),
            settings,
            owner: owner.into(),
            last_reconcile: Mutex::new(HashMap::new()),
            modes: Mutex::new(HashMap::new()),
        }
    }

    /// The list of tenants this poller polls, to change it while it runs.
    pub fn tenant_list(&self) -> TenantList {
        self.tenants.clone()
    }

    /// Runs cycles every interval until `token` is cancelled, then gives the leases back.
    pub async fn run(self, token: CancellationToken) {
        loop {
            self.tick(time::OffsetDateTime::now_utc()).await;
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(self.settings.interval) => {}
            }
        }
        for t in &super::snapshot(&self.tenants) {
            if let Err(e) = self.store.release_lease(&lease_name(t), &self.owner).await {
                tracing::warn!(tenant = %t, error = %e, "poll lease not released; it will expire");
            }
        }
    }

    /// One cycle for every tenant. `None` for a tenant whose lease another replica holds.
    pub async fn tick(
        &self,
        now: Timestamp,
    ) -> Vec<(TenantId, Result<Option<CycleReport>, PollError>)> {
        let tenants = super::snapshot(&self.tenants);
        let mut out = Vec::with_capacity(tenants.len());
        for t in &tenants {
            let r = self.poll_and_record(t, now).await;
            match &r {
                Ok(Some(rep)) => {
                    metrics::counter!("itsm_bridge_poll_cycles_total", "tenant" => t.to_string())
                        .increment(1);
                    metrics::histogram!("itsm_bridge_poll_calls", "tenant" => t.to_string())
                        .record(f64::from(rep.calls));
                    metrics::counter!("itsm_bridge_poll_changes_total", "tenant" => t.to_string())
                        .increment(u64::from(rep.changes));
                    metrics::counter!("itsm_bridge_poll_read_failures_total", "tenant" => t.to_string())
                        .increment(u64::from(rep.failed_reads));
                    tracing::debug!(tenant = %t, calls = rep.calls, changes = rep.changes, writebacks = rep.writebacks, "poll cycle");
                }
                Ok(None) => tracing::debug!(tenant = %t, "poll lease held by another replica"),
                Err(e) => {
                    tracing::warn!(tenant = %t, error = %e, "poll cycle failed; the watermark did not move")
                }
            }
            out.push((t.clone(), r));
        }
        out
    }

    /// One tenant's cycle; `Ok(None)` when another replica holds its lease.
    pub async fn poll_tenant(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Option<CycleReport>, PollError> {
        let name = lease_name(tenant);
        // Taken or renewed at every cycle, and renewed while a cycle runs (a slow Orange, a
        // long catch-up) so no other replica starts the same cycle over; a dead replica's
        // lease is taken over when it runs out. Should renewal still lose it, `commit_poll`
        // refuses the stale cycle and nothing is queued twice.
        let ttl = self.lease_ttl();
        if !self
            .store
            .try_lease(&name, &self.owner, now, now + ttl)
            .await?
        {
            return Ok(None);
        }
        tokio::select! {
            r = self.cycle(tenant, &name, now) => r.map(Some),
            () = self.keep_lease(&name, now, ttl) => {
                tracing::warn!(tenant = %tenant, "poll lease taken over mid-cycle; this cycle is dropped");
                Ok(None)
            }
        }
    }

    /// How long a lease lasts without renewal: a missed cycle or two, plus slack.
    fn lease_ttl(&self) -> Duration {
        self.settings.interval * 2 + Duration::from_secs(10)
    }

    /// Renews the lease every third of its life, from `started` on (the cycle's clock plus
    /// elapsed time); returns only when another replica holds it. A store hiccup is not a
    /// loss: the next renewal tries again, and the lease is still ours until it runs out.
    async fn keep_lease(&self, name: &str, started: Timestamp, ttl: Duration) {
        let clock = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(ttl / 3).await;
            let now = started + clock.elapsed();
            match self
                .store
                .try_lease(name, &self.owner, now, now + ttl)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(lease = name, error = %e, "poll lease not renewed; trying again")
                }
            }
        }
    }

    /// One tenant's cycle under its lease `name`.
    async fn cycle(
        &self,
        tenant: &TenantId,
        name: &str,
        now: Timestamp,
    ) -> Result<CycleReport, PollError> {
        let committed = Watermarks::parse(self.store.watermark(name).await?.as_deref());
        let mut marks = committed.clone();
        let mut rep = CycleReport::default();
        let mut batch = Batch::default();
        for &api in &self.settings.apis {
            if self.mode_for(tenant, api, now, &mut rep).await == ScanMode::Reread {
                self.reread(tenant, api, &mut rep, &mut batch).await?;
                continue;
            }
            // One API failing (no access to Ordering, an outage) keeps its watermark and
            // holds nothing else back.
            let mut sub = Batch::default();
            let mut sub_marks = marks.clone();
            match self
                .poll_api(tenant, api, &committed, &mut sub_marks, &mut rep, &mut sub)
                .await
            {
                Ok(()) => {
                    marks = sub_marks;
                    batch.absorb(sub);
                }
                Err(PollError::Orange(e)) => {
                    tracing::warn!(tenant = %tenant, orange.api = api.as_str(), error = %e, "poll of this API failed; its watermark stays");
                    // Perhaps Orange stopped honouring the scan: probe again, and re-read
                    // this cycle if it did.
                    self.unsettle(tenant, api);
                    if self.mode_for(tenant, api, now, &mut rep).await == ScanMode::Reread {
                        self.reread(tenant, api, &mut rep, &mut batch).await?;
                    } else {
                        rep.failed_apis.push(api);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        for &api in &self.settings.per_object_apis {
            self.reread(tenant, api, &mut rep, &mut batch).await?;
        }
        if self.reconcile_due(tenant, now) {
            self.reconcile(tenant, &mut rep, &mut batch).await?;
            rep.reconciled = true;
        }
        rep.writebacks = u32::try_from(batch.deliveries.len()).unwrap_or(u32::MAX);
        // A quiet cycle writes nothing (the lease was renewed by `try_lease`).
        if !batch.states.is_empty() || marks != committed {
            let mark = marks.to_string();
            self.store
                .commit_poll(
                    name,
                    &self.owner,
                    tenant,
                    Some(&mark),
                    batch.states,
                    batch.deliveries,
                )
                .await?;
        }
        // After the commit: a crash in between only reads these objects again.
        self.store.mark_checked(batch.checks, now).await?;
        if rep.reconciled
            && let Ok(mut m) = self.last_reconcile.lock()
        {
            m.insert(tenant.clone(), now);
        }
        Ok(rep)
    }

    /// Scans one API and observes its changed linked objects into `batch`.
    async fn poll_api(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        committed: &Watermarks,
        marks: &mut Watermarks,
        rep: &mut CycleReport,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let changed: Vec<Changed> = self
            .scan(tenant, api, committed.get(api), rep)
            .await?
            .into_iter()
            .filter(|c| !committed.covers(api, c))
            .collect();
        let mut linked = Vec::new();
        for c in &changed {
            if let Some(link) = self.store.link_by_orange(tenant, api, &c.id).await? {
                linked.push((link, c.clone()));
            }
        }
        let failed = self.observe_all(linked, rep, batch).await?;
        // The watermark stays below the oldest object whose read failed, so the next scan
        // reads it again; what was observed above it is committed now and re-reading it then
        // plans nothing.
        let floor = failed
            .iter()
            .map(|c| c.last_update.as_str())
            .reduce(|a, b| if is_before(b, a) { b } else { a });
        for c in &changed {
            if floor.is_none_or(|f| is_before(&c.last_update, f)) {
                marks.raise(api, c);
            }
        }
        Ok(())
    }

    /// Lists pages newest first until the watermark (or the end) is reached.
    async fn scan(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        since: Option<&str>,
        rep: &mut CycleReport,
    ) -> Result<Vec<Changed>, PollError> {
        let limit = self.settings.page_size.max(1);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0;
        loop {
            let page = self
                .reader
                .changed_page(tenant, api, since, offset, limit)
                .await?;
            rep.calls += 1;
            let full = page.len() >= limit as usize;
            let mut reached = false;
            for c in page {
                if since.is_some_and(|m| is_before(&c.last_update, m)) {
                    reached = true;
                    break;
                }
                // Offsets shift when objects change mid-scan: the same one may come twice.
                if seen.insert(c.id.clone()) {
                    out.push(c);
                }
            }
            if reached || !full {
                return Ok(out);
            }
            offset += limit;
        }
    }

    fn reconcile_due(&self, tenant: &TenantId, now: Timestamp) -> bool {
        let Some(every) = self.settings.reconcile_every else {
            return false;
        };
        let last = self
            .last_reconcile
            .lock()
            .ok()
            .and_then(|m| m.get(tenant).copied());
        last.is_none_or(|l| now - l >= every)
    }
}
