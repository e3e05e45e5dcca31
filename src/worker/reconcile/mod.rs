//! ITSM-side reconciliation: repairs what an ITSM's webhooks missed (Jira Data Center does
//! not retry a delivery). Per tenant and source with `reconcile:` configured, every
//! `interval_secs`:
//! 1. take the lease `itsm-sync:<tenant>:<source>` (one replica per source; the same name
//!    holds the watermark: the newest `updated` ingested, as Jira rendered it);
//! 2. search `updated >= "<watermark − overlap>" ORDER BY updated ASC` (the first run:
//!    `lookback_secs` back), a page at a time, each page continuing from the minute of the
//!    last issue read (keyset, so issues changing mid-scan shift nothing unread);
//! 3. per issue, read what the store already holds for its ticket (its events' comment and
//!    changelog ids, whether its creation came) and rebuild the webhook events that never
//!    came ([`jira::synthesize`]);
//! 4. drop echoes exactly as the ingress does (the integration account as actor, or a
//!    remembered write fingerprint), map each event with the source's mapping and commit it
//!    with `Store::ingest` — same dedupe keys as webhooks, same per-ticket queue, same
//!    dispatcher;
//! 5. only then move the watermark (`Store::commit_poll` with no deliveries, refused if the
//!    lease was lost), so it never passes an event that is not durably ingested.
//!
//! A re-run (restart, lease takeover, failed commit) plans nothing twice: what was ingested is
//! in the store, and synthesized events carry deterministic keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub mod jira;
mod reader;

use crate::config::{Config, SourceReconcile};
use crate::domain::echo::echo_check;
use crate::domain::{
    CallFailure, EventId, NewDelivery, NewEvent, SourceKind, SourceName, Target, TenantId,
    TicketKey, Timestamp,
};
use crate::mapping::keys::JIRA_WEBHOOK_ID;
use crate::mapping::{Incoming, LiveMappings, Mapping};
use crate::store::{EventQuery, Store, StoreError};

/// Header kept with a reconciled event, so operators tell it from a webhook.
pub const RECONCILED_HEADER: &str = "x-itsm-bridge-reconciled";

/// The Jira reads reconciliation needs. Implemented on the ITSM clients; tests use fakes.
#[async_trait]
pub trait JiraSearch: Send + Sync + 'static {
    /// One page of issues matching `jql`, each with `fields.comment` and `changelog`.
    async fn search(
        &self,
        tenant: &TenantId,
        jql: &str,
        start_at: u32,
        max: u32,
    ) -> Result<Vec<Value>, CallFailure>;
}

/// One source to reconcile.
#[derive(Debug, Clone)]
pub struct SourceSync {
    pub tenant: TenantId,
    pub source: SourceName,
    /// The tenant's integration account: its changes are echoes, never repaired.
    pub integration: Option<String>,
    pub settings: SourceReconcile,
}

impl SourceSync {
    /// Every Jira source with `reconcile:` in the config.
    pub fn from_config(config: &Config) -> Vec<SourceSync> {
        config
            .tenants
            .iter()
            .flat_map(|t| {
                t.sources.iter().filter_map(move |(name, s)| {
                    let settings = s.reconcile?;
                    (s.kind_for(name) == Some(SourceKind::Jira)).then(|| SourceSync {
                        tenant: t.id.clone(),
                        source: name.clone(),
                        integration: t
                            .itsm
                            .jira
                            .as_ref()
                            .and_then(|j| j.integration_account.clone()),
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
    #[error("jira search failed: {0}")]
    Jira(#[from] CallFailure),
    #[error("no mapping is loaded for this source")]
    NoMapping,
}

/// What one source's run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Search pages read.
    pub pages: u32,
    /// Issues examined.
    pub issues: u32,
    /// Events committed now (repairs).
    pub ingested: u32,
    /// Events whose key the store already had.
    pub duplicates: u32,
    /// Events skipped as the gateway's own writes.
    pub echoes: u32,
    /// Events the mapping or the event schema refused (logged; they do not hold the
    /// watermark back, as a 422 does not make Jira retry).
    pub rejected: u32,
}

/// Pages read in one run at most; a larger backlog continues at the next run.
const MAX_PAGES: u32 = 1000;

/// The reconciler of every configured source this replica serves.
pub struct ItsmReconciler {
    store: Arc<dyn Store>,
    jira: Arc<dyn JiraSearch>,
    mappings: Arc<LiveMappings>,
    sources: Vec<SourceSync>,
    owner: String,
    last_run: Mutex<HashMap<(TenantId, SourceName), Timestamp>>,
}

/// Lease and watermark name of a source.
pub fn lease_name(tenant: &TenantId, source: &SourceName) -> String {
    format!("itsm-sync:{tenant}:{source}")
}

impl ItsmReconciler {
    pub fn new(
        store: Arc<dyn Store>,
        jira: Arc<dyn JiraSearch>,
        mappings: Arc<LiveMappings>,
        sources: Vec<SourceSync>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            store,
            jira,
            mappings,
            sources,
            owner: owner.into(),
            last_run: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `tick` until `token` is cancelled, then gives the leases back.
    pub async fn run(self, token: CancellationToken) {
        let every = self
            .sources
            .iter()
            .map(|s| Duration::from_secs(s.settings.interval_secs.max(1)))
            .min()
            .unwrap_or(Duration::from_secs(60));
        loop {
            self.tick(time::OffsetDateTime::now_utc()).await;
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        for s in &self.sources {
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
        for s in &self.sources {
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
        let start = jira::start(
            committed.as_deref(),
            now,
            Duration::from_secs(s.settings.lookback_secs),
            Duration::from_secs(s.settings.overlap_secs),
        );
        let mut mark = committed.clone();
        let mut rep = SyncReport::default();
        let size = s.settings.page_size.max(1);
        let (mut jql, mut start_at) = (start.jql.clone(), 0);
        let mut seen = std::collections::HashSet::new();
        while rep.pages < MAX_PAGES {
            let page = self.jira.search(&s.tenant, &jql, start_at, size).await?;
            rep.pages += 1;
            let full = page.len() >= size as usize;
            let last = page
                .last()
                .and_then(|i| i.pointer("/fields/updated"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            for issue in &page {
                let updated = issue.pointer("/fields/updated").and_then(Value::as_str);
                let id = issue.get("id").map(Value::to_string).unwrap_or_default();
                if !seen.insert((id, updated.map(str::to_owned))) {
                    continue;
                }
                rep.issues += 1;
                self.repair(s, &mapping, issue, start.from, now, &mut rep)
                    .await?;
                if let Some(u) = updated
                    && jira::is_later(u, mark.as_deref())
                {
                    mark = Some(u.to_owned());
                }
            }
            let next = last.as_deref().and_then(jira::continue_from);
            match next {
                Some(n) if full && n != jql => (jql, start_at) = (n, 0),
                Some(_) if full => start_at += size,
                _ => break,
            }
        }
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

    /// Ingests what one issue's missed webhooks would have carried.
    async fn repair(
        &self,
        s: &SourceSync,
        mapping: &Mapping,
        issue: &Value,
        from: Timestamp,
        now: Timestamp,
        rep: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let Some(id) = crate::mapping::keys::id_at(issue, "/id") else {
            return Ok(());
        };
        let ticket = TicketKey::new(&s.tenant, &s.source, &id);
        let linked = self.store.link(&ticket).await?.is_some();
        let received = self.received(&s.tenant, &ticket).await?;
        for syn in jira::synthesize(issue, from, &received, linked) {
            self.ingest(s, mapping, syn, now, rep).await?;
        }
        Ok(())
    }

    async fn received(
        &self,
        tenant: &TenantId,
        ticket: &TicketKey,
    ) -> Result<jira::Received, SyncError> {
        let mut received = jira::Received::default();
        let mut before = None;
        loop {
            let q = EventQuery {
                tenant: Some(tenant.clone()),
                ticket: Some(ticket.clone()),
                before,
                limit: 200,
            };
            let events = self.store.list_events(&q).await?;
            for e in &events {
                received.add(&e.body);
            }
            match events.last() {
                Some(e) if events.len() == 200 => before = Some(e.id),
                _ => return Ok(received),
            }
        }
    }

    async fn ingest(
        &self,
        s: &SourceSync,
        mapping: &Mapping,
        syn: jira::Synthetic,
        now: Timestamp,
        rep: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let check = echo_check(SourceKind::Jira, s.integration.as_deref(), &syn.body);
        let mut echo = check.by_integration;
        for fp in &check.fingerprints {
            echo = echo || self.store.is_echo(&s.tenant, fp, now).await?;
        }
        if echo {
            rep.echoes += 1;
            return Ok(());
        }
        let violations = crate::mapping::schemas::check_event(SourceKind::Jira, &syn.body);
        let raw = serde_json::to_vec(&syn.body).unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&syn.delivery_id) {
            headers.insert(JIRA_WEBHOOK_ID, v);
        }
        let incoming = Incoming {
            kind: SourceKind::Jira,
            headers: &headers,
            body: &syn.body,
            raw: &raw,
        };
        let mapped = match (violations.first(), mapping.apply(&incoming)) {
            (None, Ok(m)) => m,
            (Some(v), _) => {
                tracing::warn!(tenant = %s.tenant, delivery = %syn.delivery_id, pointer = %v.pointer, "reconciled event does not match the event schema; skipped");
                rep.rejected += 1;
                return Ok(());
            }
            (None, Err(e)) => {
                tracing::warn!(tenant = %s.tenant, delivery = %syn.delivery_id, error = %e, "the mapping rejected a reconciled event; skipped");
                rep.rejected += 1;
                return Ok(());
            }
        };
        let ticket = TicketKey::new(&s.tenant, &s.source, mapped.ticket.as_deref().unwrap_or(""));
        let event = NewEvent {
            id: EventId::new(),
            tenant: s.tenant.clone(),
            source: s.source.clone(),
            dedupe_key: mapped.dedupe_key,
            ticket: ticket.clone(),
            event_type: mapped.event_type,
            body: raw.into(),
            headers: vec![
                (JIRA_WEBHOOK_ID.to_owned(), syn.delivery_id),
                (RECONCILED_HEADER.to_owned(), "true".to_owned()),
            ],
            received_at: now,
            deliveries: mapped
                .calls
                .into_iter()
                .map(|c| NewDelivery {
                    ticket: ticket.clone(),
                    target: Target::Orange(c),
                })
                .collect(),
        };
        if self.store.ingest(event).await?.is_duplicate() {
            rep.duplicates += 1;
        } else {
            rep.ingested += 1;
        }
        Ok(())
    }
}
