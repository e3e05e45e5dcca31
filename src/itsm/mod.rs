//! ServiceNow and Jira write-back clients, the same shape as `orange/`.
//!
//! The dispatcher only sees [`ItsmWriter`]; [`ItsmClients`] is the concrete writer `app.rs`
//! wires: one [`servicenow::ServicenowClient`] and/or [`jira::JiraClient`] per tenant, each
//! with the tenant's own credentials and rate budget (tenants never share either).
//! Retries and dead letters are the dispatcher's: a client makes one attempt and classifies
//! its failure with the shared [`crate::domain::FailureClass`]. Rate limits too: the
//! dispatcher books a write-back's requests from the tenant's budget ([`ItsmWriter::reserve`],
//! `budget.rs`) and puts it off when there is no room, so no write-back waits for its budget
//! inside a dispatcher slot.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::config::TenantConfig;
use crate::domain::{CallFailure, FailureClass, ItsmCall, ItsmOp, TenantId, call::ItsmKind};

pub mod adf;
pub mod budget;
pub mod jira;
pub mod servicenow;
mod wire;

/// What a successful write-back reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Fingerprints of what was written (e.g. `jira-comment:<id>`, a hash of a ServiceNow
    /// work note), remembered so the webhook the write triggers is dropped as an echo.
    pub echo_fingerprints: Vec<String>,
}

/// Room booked in a tenant's ITSM budget for one write-back ([`ItsmWriter::reserve`]); spent
/// by [`ItsmWriter::execute`].
#[derive(Debug)]
#[must_use = "a booking is spent by `execute`"]
pub struct Booked(());

impl Booked {
    /// A booking from no budget: for writers without a rate limit (test fakes).
    pub fn unmetered() -> Booked {
        Booked(())
    }
}

/// Carries out write-backs into a tenant's ITSM.
#[async_trait]
pub trait ItsmWriter: Send + Sync + 'static {
    /// Books, now and without waiting, the requests `call` makes from the tenant's budget
    /// towards its ITSM; `Err` with how long to put the write-back off when there is no room
    /// (its turn behind the write-backs already put off).
    fn reserve(&self, tenant: &TenantId, call: &ItsmCall) -> Result<Booked, Duration>;

    /// Carries out a write-back whose requests `reserve` booked: it never waits for budget.
    async fn execute(
        &self,
        tenant: &TenantId,
        call: &ItsmCall,
        booked: Booked,
    ) -> Result<Written, CallFailure>;
}

#[derive(Default)]
struct TenantItsm {
    servicenow: Option<Arc<servicenow::ServicenowClient>>,
    jira: Option<Arc<jira::JiraClient>>,
}

/// The write-back clients of every tenant in the config. Swappable while running
/// ([`ItsmClients::update`]): an unchanged tenant keeps its clients and their budgets.
pub struct ItsmClients {
    http: reqwest::Client,
    /// Each tenant's clients and the fingerprint of the tenant config they were built from.
    tenants: RwLock<HashMap<TenantId, (u64, Arc<TenantItsm>)>>,
}

impl ItsmClients {
    /// Builds the clients of each tenant's `itsm:` section over one shared HTTP client.
    pub fn new(http: reqwest::Client, tenants: &[TenantConfig]) -> Self {
        let clients = Self {
            http,
            tenants: RwLock::default(),
        };
        clients.update(tenants);
        clients
    }

    /// Brings the clients in line with `tenants`: new and changed tenants get new clients,
    /// removed ones lose theirs.
    pub fn update(&self, tenants: &[TenantConfig]) {
        let mut built = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        let next = tenants
            .iter()
            .map(|t| {
                let fp = t.fingerprint();
                let clients = match built.get(&t.id) {
                    Some((f, c)) if *f == fp => c.clone(),
                    _ => Arc::new(TenantItsm {
                        servicenow: t.itsm.servicenow.clone().map(|s| {
                            Arc::new(servicenow::ServicenowClient::new(self.http.clone(), s))
                        }),
                        jira: t
                            .itsm
                            .jira
                            .clone()
                            .map(|j| Arc::new(jira::JiraClient::new(self.http.clone(), j))),
                    }),
                };
                (t.id.clone(), (fp, clients))
            })
            .collect();
        *built = next;
    }

    fn tenant(&self, tenant: &TenantId) -> Option<Arc<TenantItsm>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants.get(tenant).map(|(_, c)| c.clone())
    }

    /// The tenant's Jira client, for reads (ITSM-side reconciliation).
    pub fn jira(&self, tenant: &TenantId) -> Option<Arc<jira::JiraClient>> {
        self.tenant(tenant).and_then(|t| t.jira.clone())
    }

    /// The tenant's ServiceNow client, for reads (ITSM-side reconciliation).
    pub fn servicenow(&self, tenant: &TenantId) -> Option<Arc<servicenow::ServicenowClient>> {
        self.tenant(tenant).and_then(|t| t.servicenow.clone())
    }
}

fn not_configured(tenant: &TenantId, itsm: ItsmKind) -> CallFailure {
    CallFailure {
        class: FailureClass::Permanent,
        http_status: None,
        code: Some("itsm_not_configured".into()),
        message: format!("tenant {tenant} has no itsm.{itsm:?} write-back configured")
            .to_lowercase(),
    }
}

#[async_trait]
impl ItsmWriter for ItsmClients {
    fn reserve(&self, tenant: &TenantId, call: &ItsmCall) -> Result<Booked, Duration> {
        // A tenant no longer served keeps its write-backs queued (see `UNKNOWN_TENANT_HOLD`).
        let Some(t) = self.tenant(tenant) else {
            return Err(crate::domain::UNKNOWN_TENANT_HOLD);
        };
        let t = Some(&*t);
        let (budget, requests) = match &call.op {
            ItsmOp::ServicenowPatch { .. } => {
                (t.and_then(|t| t.servicenow.as_ref()).map(|c| c.budget()), 1)
            }
            ItsmOp::JiraTransition { .. } => (
                t.and_then(|t| t.jira.as_ref()).map(|c| c.budget()),
                jira::TRANSITION_REQUESTS,
            ),
            ItsmOp::JiraComment { .. } | ItsmOp::JiraEdit { .. } => {
                (t.and_then(|t| t.jira.as_ref()).map(|c| c.budget()), 1)
            }
        };
        // No client: `execute` fails it permanently, and that needs no budget.
        match budget {
            Some(b) => b.try_take(requests).map(|()| Booked(())),
            None => Ok(Booked(())),
        }
    }

    async fn execute(
        &self,
        tenant: &TenantId,
        call: &ItsmCall,
        _booked: Booked,
    ) -> Result<Written, CallFailure> {
        use wire::Pace::Booked as Paid;
        let t = self.tenant(tenant);
        let t = t.as_deref();
        let jira = || {
            t.and_then(|t| t.jira.as_ref())
                .ok_or_else(|| not_configured(tenant, ItsmKind::Jira))
        };
        let result = match &call.op {
            ItsmOp::ServicenowPatch {
                table,
                sys_id,
                fields,
            } => {
                let c = t
                    .and_then(|t| t.servicenow.as_ref())
                    .ok_or_else(|| not_configured(tenant, ItsmKind::Servicenow))?;
                c.patch_paced(Paid, table, sys_id, fields).await
            }
            ItsmOp::JiraComment {
                issue,
                body,
                public,
            } => jira()?.comment_paced(Paid, issue, body, *public).await,
            ItsmOp::JiraTransition {
                issue,
                transition,
                fields,
            } => {
                jira()?
                    .transition_paced(Paid, issue, transition, fields.as_ref())
                    .await
            }
            ItsmOp::JiraEdit { issue, fields } => jira()?.edit_paced(Paid, issue, fields).await,
        };
        let itsm = match call.itsm {
            ItsmKind::Servicenow => "servicenow",
            ItsmKind::Jira => "jira",
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(f) if f.retryable() => "retryable",
            Err(_) => "permanent",
        };
        metrics::counter!("itsm_bridge_writebacks_total", "itsm" => itsm, "outcome" => outcome)
            .increment(1);
        let mut written = result?;
        // The planner may already know a fingerprint (e.g. the note text it rendered).
        if let Some(fp) = &call.fingerprint
            && !written.echo_fingerprints.contains(fp)
        {
            written.echo_fingerprints.push(fp.clone());
        }
        Ok(written)
    }
}
