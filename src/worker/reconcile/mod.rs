//! ITSM-side reconciliation: repairs what an ITSM's webhooks missed (Jira Data Center does
//! not retry a delivery; a ServiceNow business rule does not retry unless the customer coded
//! it). Per tenant and source with `reconcile:` configured, every `interval_secs`:
//! 1. take the lease `itsm-sync:<tenant>:<source>` (one replica per source; the same name
//!    holds the watermark: the newest `updated` / `sys_updated_on` read, as the ITSM
//!    rendered it);
//! 2. list the tickets updated since the watermark − overlap (the first run: `lookback_secs`
//!    back), oldest first, a page at a time, each page continuing from the last ticket's
//!    update time (keyset, so tickets changing mid-scan shift nothing unread) — Jira:
//!    `search` with JQL; ServiceNow: the Table API with `sys_updated_on>=`, plus the page's
//!    `sys_journal_field` entries (`scan.rs`);
//! 3. per ticket, read what the store already holds for it and rebuild the webhook events
//!    that never came ([`jira::synthesize`], [`servicenow::synthesize`], both pure);
//! 4. take each event in through the intake step webhooks use (`crate::intake`): echoes
//!    dropped, the event schema and the source's mapping applied, what the mapping cannot
//!    handle parked, one `Store::ingest` — same dedupe keys as webhooks, same per-ticket queue,
//!    same dispatcher;
//! 5. only then move the watermark (`Store::commit_poll` with no deliveries, refused if the
//!    lease was lost), so it never passes an event that is not durably ingested.
//!
//! A re-run (restart, lease takeover, failed commit) plans nothing twice: what was ingested is
//! in the store, and rebuilt events carry deterministic keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub mod jira;
mod scan;
pub mod servicenow;

use crate::config::{SourceReconcile, TenantConfig};
use crate::domain::{CallFailure, SourceKind, SourceName, TenantId, TicketKey, Timestamp};
use crate::intake::{Intake, IntakeError, Outcome, Submission};
use crate::mapping::LiveMappings;
use crate::store::{EventQuery, Store, StoreError};

/// Header kept with a reconciled event, so operators tell it from a webhook.
pub const RECONCILED_HEADER: &str = "x-itsm-bridge-reconciled";

/// Where a page of a Jira search starts: Data Center pages by offset (`startAt`), Cloud by
/// the token its previous page gave (`nextPageToken`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAt {
    Offset(u32),
    Token(String),
}

/// One page of a Jira search.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// Issues, each with `fields.comment` and `changelog`.
    pub issues: Vec<Value>,
    /// Where the same query's next page starts; `None` after the last.
    pub next: Option<PageAt>,
}

/// The Jira reads reconciliation needs. Implemented on the ITSM clients; tests use fakes.
#[async_trait]
pub trait JiraSearch: Send + Sync + 'static {
    /// One page of issues matching `jql`, from `at` (`None`: the first page).
    async fn search(
        &self,
        tenant: &TenantId,
        jql: &str,
        at: Option<&PageAt>,
        max: u32,
    ) -> Result<SearchPage, CallFailure>;
}

/// The ServiceNow reads reconciliation needs (the Table API list). Implemented on the ITSM
/// clients; tests use fakes.
#[async_trait]
pub trait ServicenowTable: Send + Sync + 'static {
    /// One page of `table`'s records matching the encoded `query` (database values).
    async fn list(
        &self,
        tenant: &TenantId,
        table: &str,
        query: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Value>, CallFailure>;
}

/// A webhook event that was never received, rebuilt from what the ITSM shows now.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    pub body: Value,
    /// Headers the webhook would have carried (Jira's delivery id).
    pub headers: Vec<(String, String)>,
    /// The dedupe key, when not the one the mapping computes from the body and headers.
    pub dedupe_key: Option<String>,
    /// What it stands for, for the logs (`insert`, `journal:<id>`, a Jira delivery id).
    pub label: String,
}

impl Rebuilt {
    pub fn new(body: Value, label: &str) -> Self {
        Self {
            body,
            headers: vec![],
            dedupe_key: None,
            label: label.to_owned(),
        }
    }

    #[must_use]
    pub fn keyed(mut self, key: String) -> Self {
        self.dedupe_key = Some(key);
        self
    }
}

/// One source to reconcile.
#[derive(Debug, Clone)]
pub struct SourceSync {
    pub tenant: TenantId,
    pub source: SourceName,
    /// Jira or ServiceNow (others are refused by `check`).
    pub kind: SourceKind,
    /// The tenant's integration account / user: its changes are echoes, never repaired.
    pub integration: Option<String>,
    pub settings: SourceReconcile,
}

impl SourceSync {
    /// How far back a first run looks, and how far before its watermark a later run starts.
    fn window(&self) -> (Duration, Duration) {
        (
            Duration::from_secs(self.settings.lookback_secs),
            Duration::from_secs(self.settings.overlap_secs),
        )
    }

    /// Every Jira and ServiceNow source of `tenants` with `reconcile:`.
    pub fn from_tenants(tenants: &[TenantConfig]) -> Vec<SourceSync> {
        tenants
            .iter()
            .flat_map(|t| {
                t.sources.iter().filter_map(move |(name, s)| {
                    let settings = s.reconcile?;
                    let kind = s.kind_for(name)?;
                    let integration = match kind {
                        SourceKind::Jira => t.itsm.jira.as_ref()?.integration_account.clone(),
                        SourceKind::Servicenow => {
                            t.itsm.servicenow.as_ref()?.integration_user.clone()
                        }
                        SourceKind::Generic => return None,
                    };
                    Some(SourceSync {
                        tenant: t.id.clone(),
                        source: name.clone(),
                        kind,
                        integration,
                        settings,
                    })
                })
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The intake refused the event for now (backlog full, mapping not loaded): the
    /// watermark stays, and the next run tries again.
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("{0} read failed: {1}")]
    Read(&'static str, CallFailure),
    #[error("no mapping is loaded for this source")]
    NoMapping,
    #[error("a generic source has no ITSM to read back from")]
    Unsupported,
}

/// What one source's run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Search / list pages read (journal pages not counted).
    pub pages: u32,
    /// Issues / records examined.
    pub issues: u32,
    /// Events committed now (repairs).
    pub ingested: u32,
    /// Events whose key the store already had.
    pub duplicates: u32,
    /// Events skipped as the gateway's own writes.
    pub echoes: u32,
    /// Of the events committed, those the mapping could not handle: parked, as a webhook
    /// would be, and replayable once the mapping is fixed (they do not hold the watermark
    /// back).
    pub parked: u32,
}

/// Pages read in one run at most; a larger backlog continues at the next run.
const MAX_PAGES: u32 = 1000;

/// The reconciler of every configured source this replica serves.
pub struct ItsmReconciler {
    store: Arc<dyn Store>,
    jira: Arc<dyn JiraSearch>,
    servicenow: Arc<dyn ServicenowTable>,
    mappings: Arc<LiveMappings>,
    /// The intake step webhooks use.
    intake: Intake,
    /// The sources reconciled; the app swaps it when the tenants are reloaded.
    sources: SourceList,
    owner: String,
    last_run: Mutex<HashMap<(TenantId, SourceName), Timestamp>>,
}

/// The sources a reconciler reads, shared so that a reload of the tenants changes them
/// between two runs.
pub type SourceList = super::LiveList<SourceSync>;

/// Lease and watermark name of a source.
pub fn lease_name(tenant: &TenantId, source: &SourceName) -> String {
    format!("itsm-sync:{tenant}:{source}")
}

impl ItsmReconciler {
    /// `reader` answers both ITSMs' reads (in production the tenants' ITSM clients).
    pub fn new<R: JiraSearch + ServicenowTable>(
        store: Arc<dyn Store>,
        reader: Arc<R>,
        mappings: Arc<LiveMappings>,
        sources: Vec<SourceSync>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            intake: Intake::new(store.clone(), mappings.clone(), u64::MAX),
            store,
            jira: reader.clone(),
            servicenow: reader,
            mappings,
            sources: Arc::new(std::sync::RwLock::new(sources)),
            owner: owner.into(),
            last_run: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses to ingest (and so holds the watermark) while more than `max` deliveries wait,
    /// as the ingress answers 429.
    #[must_use]
    pub fn with_max_backlog(mut self, max: u64) -> Self {
        self.intake = Intake::new(self.store.clone(), self.mappings.clone(), max);
        self
    }

    /// The list of sources this reconciler reads, to change it while it runs.
    pub fn source_list(&self) -> SourceList {
        self.sources.clone()
    }

    /// Runs `tick` until `token` is cancelled, then gives the leases back. It looks every
    /// shortest source interval (a minute when there is no source yet: one may be added).
    pub async fn run(self, token: CancellationToken) {
        loop {
            self.tick(time::OffsetDateTime::now_utc()).await;
            let every = super::snapshot(&self.sources)
                .iter()
                .map(|s| Duration::from_secs(s.settings.interval_secs.max(1)))
                .min()
                .unwrap_or(Duration::from_secs(60));
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        for s in &super::snapshot(&self.sources) {
            let name = lease_name(&s.tenant, &s.source);
            if let Err(e) = self.store.release_lease(&name, &self.owner).await {
                tracing::warn!(tenant = %s.tenant, error = %e, "reconcile lease not released; it will expire");
            }
        }
    }

    /// One run of every source that is due. `Ok(None)` for a source whose lease another
    /// replica holds.
    pub async fn tick(
        &self,
        now: Timestamp,
    ) -> Vec<(TenantId, SourceName, Result<Option<SyncReport>, SyncError>)> {
        let mut out = Vec::new();
        for s in &super::snapshot(&self.sources) {
            let key = (s.tenant.clone(), s.source.clone());
            let every = Duration::from_secs(s.settings.interval_secs.max(1));
            let last = self.last_run.lock().ok().and_then(|m| m.get(&key).copied());
            if last.is_some_and(|l| now - l < every) {
                continue;
            }
            let r = self.sync_source(s, now).await;
            match &r {
                Ok(Some(rep)) => {
                    metrics::counter!("itsm_bridge_reconcile_repairs_total", "tenant" => s.tenant.to_string())
                        .increment(u64::from(rep.ingested));
                    tracing::debug!(tenant = %s.tenant, source = %s.source, issues = rep.issues, ingested = rep.ingested, "itsm reconciliation");
                    if let Ok(mut m) = self.last_run.lock() {
                        m.insert(key, now);
                    }
                }
                Ok(None) => {
                    tracing::debug!(tenant = %s.tenant, "reconcile lease held by another replica")
                }
                Err(e) => {
                    tracing::warn!(tenant = %s.tenant, source = %s.source, error = %e, "itsm reconciliation failed; the watermark did not move")
                }
            }
            out.push((s.tenant.clone(), s.source.clone(), r));
        }
        out
    }

    /// One run of one source, due or not.
    pub async fn sync_source(
        &self,
        s: &SourceSync,
        now: Timestamp,
    ) -> Result<Option<SyncReport>, SyncError> {
        let servicenow = match s.kind {
            SourceKind::Servicenow => true,
            SourceKind::Jira => false,
            SourceKind::Generic => return Err(SyncError::Unsupported),
        };
        let name = lease_name(&s.tenant, &s.source);
        let every = Duration::from_secs(s.settings.interval_secs.max(1));
        if !self
            .store
            .try_lease(
                &name,
                &self.owner,
                now,
                now + every * 2 + Duration::from_secs(60),
            )
            .await?
        {
            return Ok(None);
        }
        let mapping = self
            .mappings
            .current()
            .get(&s.tenant, &s.source)
            .ok_or(SyncError::NoMapping)?;
        let committed = self.store.watermark(&name).await?;
        let mut rep = SyncReport::default();
        let mark = if servicenow {
            self.scan_servicenow(s, &mapping, committed.as_deref(), now, &mut rep)
                .await?
        } else {
            self.scan_jira(s, committed.as_deref(), now, &mut rep)
                .await?
        };
        if mark != committed {
            self.store
                .commit_poll(
                    &name,
                    &self.owner,
                    &s.tenant,
                    mark.as_deref(),
                    vec![],
                    vec![],
                )
                .await?;
        }
        Ok(Some(rep))
    }

    /// The bodies of every event the store holds for `ticket`, newest first, to `each`.
    async fn stored_bodies(
        &self,
        tenant: &TenantId,
        ticket: &TicketKey,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), SyncError> {
        let mut before = None;
        loop {
            let q = EventQuery {
                tenant: Some(tenant.clone()),
                ticket: Some(ticket.clone()),
                before,
                limit: 200,
                ..EventQuery::default()
            };
            let events = self.store.list_events(&q).await?;
            for e in &events {
                each(&e.body);
            }
            match events.last() {
                Some(e) if events.len() == 200 => before = Some(e.id),
                _ => return Ok(()),
            }
        }
    }

    /// Takes one rebuilt event in through the intake step webhooks use (echo check, event
    /// schema, mapping or parking, backlog, one `Store::ingest`).
    async fn ingest(
        &self,
        s: &SourceSync,
        rebuilt: Rebuilt,
        now: Timestamp,
        rep: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let raw = serde_json::to_vec(&rebuilt.body).unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        for (k, v) in &rebuilt.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                headers.insert(k, v);
            }
        }
        let mut kept = rebuilt.headers;
        kept.push((RECONCILED_HEADER.to_owned(), "true".to_owned()));
        let outcome = self
            .intake
            .submit(Submission {
                tenant: &s.tenant,
                source: &s.source,
                kind: s.kind,
                integration_user: s.integration.as_deref(),
                headers: &headers,
                kept_headers: kept,
                body: &rebuilt.body,
                raw: raw.into(),
                dedupe_key: rebuilt.dedupe_key,
                received_at: now,
            })
            .await?;
        match outcome {
            Outcome::Echo(_) => rep.echoes += 1,
            Outcome::Committed { ingest, .. } if ingest.is_duplicate() => rep.duplicates += 1,
            Outcome::Committed { disposition, .. } => {
                rep.ingested += 1;
                if disposition.parked.is_some() {
                    tracing::warn!(tenant = %s.tenant, source = %s.source, event = %rebuilt.label, "a reconciled event is parked");
                    rep.parked += 1;
                }
            }
        }
        Ok(())
    }
}
